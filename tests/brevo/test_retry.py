"""Retry maths as pure functions: backoff with jitter fixed, header parsing, the decision table."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from etl.brevo.retry import (
    Decision,
    RetryPolicy,
    backoff_seconds,
    decide,
    default_jitter,
    is_idempotent,
    parse_ratelimit_remaining,
    parse_ratelimit_reset,
    parse_retry_after,
    rate_limit_wait,
    should_retry,
    transport_kind,
)


def no_jitter(delay: float) -> float:
    return delay


POLICY = RetryPolicy(max_attempts=4, base_s=0.5, cap_s=5.0, max_wait_s=30.0)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (50, 5.0), (10_000, 5.0)],
)
def test_backoff_is_capped_exponential(attempt, expected):
    assert backoff_seconds(attempt, policy=POLICY, jitter=no_jitter) == pytest.approx(expected)


def test_backoff_honours_retry_after_and_caps_it():
    assert backoff_seconds(1, 7.0, policy=POLICY, jitter=no_jitter) == 7.0
    assert backoff_seconds(1, 0.0, policy=POLICY, jitter=no_jitter) == 0.0
    assert backoff_seconds(1, 999.0, policy=POLICY, jitter=no_jitter) == 30.0
    assert backoff_seconds(1, -3.0, policy=POLICY, jitter=no_jitter) == 0.0


def test_backoff_never_exceeds_max_wait_even_with_a_generous_cap():
    policy = RetryPolicy(base_s=10, cap_s=1000, max_wait_s=12)
    assert backoff_seconds(5, policy=policy, jitter=no_jitter) == 12


def test_jitter_is_applied_to_the_capped_delay():
    assert backoff_seconds(3, policy=POLICY, jitter=lambda d: d / 4) == pytest.approx(0.5)


def test_default_jitter_stays_between_half_and_full():
    random.seed(1234)
    values = [default_jitter(2.0) for _ in range(500)]
    assert all(1.0 <= v <= 2.0 for v in values)
    assert max(values) - min(values) > 0.5  # it does spread


def test_zero_base_means_no_sleep():
    assert backoff_seconds(3, policy=RetryPolicy(base_s=0)) == 0.0


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match=">= 0"):
        RetryPolicy(base_s=-1)


NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-4", 0.0),
        (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
        (format_datetime(NOW - timedelta(seconds=42), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("45", 45.0),
        ("0", 0.0),
        ("3600", 3600.0),  # an hour: still seconds
        ("3601", 3.601),  # implausible as seconds: milliseconds
        ("45000", 45.0),
        ("1.5", 1.5),
        ("-1", None),
        ("later", None),
        (None, None),
    ],
)
def test_parse_ratelimit_reset_seconds_or_milliseconds(value, expected):
    result = parse_ratelimit_reset(value)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("12", 12), ("3.0", 3), ("x", None)])
def test_parse_ratelimit_remaining(value, expected):
    assert parse_ratelimit_remaining(value) == expected


@pytest.mark.parametrize(
    ("headers", "attempt", "expected"),
    [
        ({"Retry-After": "3", "x-sib-ratelimit-reset": "20"}, 1, 3.0),  # Retry-After wins
        ({"x-sib-ratelimit-reset": "20"}, 1, 20.0),
        ({"X-Sib-RateLimit-Reset": "20000"}, 1, 20.0),  # ms; header names are case-insensitive
        ({"x-sib-ratelimit-reset": "3000"}, 1, 30.0),  # capped at max_wait_s
        ({}, 1, 0.5),  # neither: backoff
        ({}, 3, 2.0),
        ({"Retry-After": "bogus"}, 2, 1.0),
        ({"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "7"}, 1, 7.0),
        # requests remain: the reset does not explain this 429, so back off
        ({"x-sib-ratelimit-remaining": "40", "x-sib-ratelimit-reset": "3500"}, 2, 1.0),
        ({"x-sib-ratelimit-remaining": "40", "Retry-After": "4"}, 1, 4.0),
    ],
)
def test_rate_limit_wait_precedence(headers, attempt, expected):
    wait = rate_limit_wait(CaseInsensitiveDict(headers), attempt, policy=POLICY, jitter=no_jitter)
    assert wait == pytest.approx(expected)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/contacts", True),
        ("GET", "/processes/7", True),
        ("PUT", "/contacts/a%40b.c", True),
        ("DELETE", "/contacts/12", True),
        ("POST", "/contacts/import", False),
        ("POST", "/contacts/export", False),
        ("POST", "/contacts", False),
        ("POST", "/contacts/lists/3/contacts/add", True),
        ("POST", "/contacts/lists/3/contacts/remove", True),
        ("POST", "/contacts/attributes/normal/AGE", True),
        ("POST", "/contacts/folders", False),  # reconciled by name in the client
        ("POST", "/contacts/lists", False),
        ("POST", "/contacts/doSomethingNew", False),  # unknown POST: assume the worst
        ("PATCH", "/contacts/1", False),
    ],
)
def test_is_idempotent(method, path, expected):
    assert is_idempotent(method, path) is expected


R, F, U = Decision.RETRY, Decision.FAIL, Decision.UNCERTAIN


@pytest.mark.parametrize(
    ("method", "path", "status", "kind", "attempt", "expected"),
    [
        # reads and idempotent writes
        ("GET", "/contacts", 429, None, 1, R),
        ("GET", "/contacts", 500, None, 1, R),
        ("GET", "/contacts", 503, None, 3, R),
        ("GET", "/contacts", 503, None, 4, F),  # attempts exhausted
        ("GET", "/contacts", 400, None, 1, F),
        ("GET", "/contacts", 401, None, 1, F),
        ("GET", "/contacts", 404, None, 1, F),
        ("PUT", "/contacts/1", 502, None, 1, R),
        ("DELETE", "/contacts/1", None, "reset", 1, R),
        ("GET", "/processes/1", None, "timeout", 1, R),
        ("GET", "/processes/1", None, "connect", 1, R),
        ("GET", "/processes/1", None, "other", 1, F),
        ("POST", "/contacts/lists/2/contacts/add", 503, None, 1, R),
        # the non-idempotent submissions
        ("POST", "/contacts/import", 429, None, 1, R),
        ("POST", "/contacts/import", 429, None, 4, F),
        ("POST", "/contacts/import", 425, None, 1, R),
        ("POST", "/contacts/import", None, "connect", 1, R),
        ("POST", "/contacts/import", None, "connect", 4, F),
        ("POST", "/contacts/import", 503, None, 1, U),
        ("POST", "/contacts/import", 500, None, 1, U),
        ("POST", "/contacts/import", None, "timeout", 1, U),
        ("POST", "/contacts/import", None, "reset", 1, U),
        ("POST", "/contacts/import", None, "other", 1, U),
        ("POST", "/contacts/import", 400, None, 1, F),
        ("POST", "/contacts/export", 502, None, 1, U),
        ("POST", "/contacts/export", None, "reset", 2, U),
        ("POST", "/contacts", 503, None, 1, U),
        ("POST", "/contacts", None, "timeout", 1, U),
        ("POST", "/contacts", 400, None, 1, F),
    ],
)
def test_decision_table(method, path, status, kind, attempt, expected):
    got = decide(method, path, status=status, kind=kind, attempt=attempt, policy=POLICY)
    assert got is expected


def _connect_error() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/v3/contacts", reason))  # type: ignore[arg-type]


def test_transport_kind_of_constructed_errors():
    assert transport_kind(_connect_error()) == "connect"
    assert transport_kind(requests.ConnectTimeout("x")) == "connect"
    assert transport_kind(requests.ReadTimeout("x")) == "timeout"
    reset = requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    assert transport_kind(reset) == "reset"
    assert transport_kind(requests.exceptions.ChunkedEncodingError("short")) == "reset"
    assert transport_kind(requests.exceptions.InvalidURL("bad")) == "other"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_transport_kind_of_a_real_refused_connection():
    with pytest.raises(requests.ConnectionError) as info:
        requests.post(f"http://127.0.0.1:{_free_port()}/v3/contacts/import", timeout=2)
    assert transport_kind(info.value) == "connect"


def test_transport_kind_of_a_real_reset_after_sending():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    import threading

    def accept_read_close() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.close()  # the request arrived; the answer never comes

    t = threading.Thread(target=accept_read_close)
    t.start()
    try:
        with pytest.raises(requests.ConnectionError) as info:
            requests.post(f"http://127.0.0.1:{port}/v3/contacts/import", data=b"{}", timeout=5)
    finally:
        t.join()
        server.close()
    assert transport_kind(info.value) == "reset"


def test_transport_kind_of_a_real_read_timeout():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with pytest.raises(requests.ReadTimeout) as info:
            requests.get(f"http://127.0.0.1:{port}/v3/processes/1", timeout=0.2)
    finally:
        server.close()
    assert transport_kind(info.value) == "timeout"


def test_should_retry_wraps_the_decision():
    assert should_retry("GET", "/contacts", status=503, exc=None, attempt=1)
    assert not should_retry("POST", "/contacts/import", status=503, exc=None, attempt=1)
    assert should_retry("POST", "/contacts/import", status=None, exc=_connect_error(), attempt=1)
    assert not should_retry(
        "POST", "/contacts/import", status=None, exc=requests.ReadTimeout("x"), attempt=1
    )
    assert not should_retry("GET", "/contacts", status=503, exc=None, attempt=4, policy=POLICY)
