"""Every fault kind of the sandbox's /_sandbox/faults, and what the client makes of it."""

from __future__ import annotations

import hashlib
import socket
import time
from datetime import datetime, timedelta

import pytest

from etl.brevo import (
    BrevoRateLimited,
    BrevoServerError,
    BrevoTransportError,
    ContactFilter,
    CreateContact,
    DownloadError,
    ExportRequest,
    ImportRequest,
    RetryPolicy,
    SubmissionUncertain,
    encode_body,
)

from ._support import csv_body, rows, when

IMPORT = "/v3/contacts/import"


@pytest.fixture
def list_id(client) -> int:
    return client.create_list("L", folder_id=client.create_folder("F"))


def an_import(list_id: int, email: str = "u@x.org") -> ImportRequest:
    return ImportRequest(file_body=csv_body([email]), list_ids=(list_id,))


def statuses(sandbox, method: str, path: str) -> list[int]:
    return [r["status"] for r in rows(sandbox, method, path)]


# ------------------------------------------------------------------ 429


def test_a_429_burst_is_waited_out(client, fast_sandbox, list_id):
    fast_sandbox.add_fault(
        kind="status", status=429, path_prefix=f"/v3/contacts/lists/{list_id}", method="GET",
        count=3,
    )  # fmt: skip
    before = client.request_count
    assert client.get_list(list_id).id == list_id
    assert client.request_count - before == 4
    assert statuses(fast_sandbox, "GET", f"/v3/contacts/lists/{list_id}") == [429, 429, 429, 200]


def test_a_longer_429_burst_than_the_attempts_raises(make_client, fast_sandbox):
    client = make_client(retry=RetryPolicy(max_attempts=3, base_s=0.01, max_wait_s=1))
    fast_sandbox.add_fault(kind="status", status=429, path_prefix="/v3/contacts/attributes")
    with pytest.raises(BrevoRateLimited, match=r"GET /contacts/attributes -> 429"):
        client.get_attributes()
    assert statuses(fast_sandbox, "GET", "/v3/contacts/attributes") == [429, 429, 429]


def test_retry_after_is_honoured(client, fast_sandbox):
    fast_sandbox.add_fault(
        kind="status", status=429, path_prefix="/v3/contacts/attributes", count=1,
        headers={"Retry-After": "0.5"},
    )  # fmt: skip
    started = time.monotonic()
    client.get_attributes()
    assert time.monotonic() - started >= 0.5
    log = rows(fast_sandbox, "GET", "/v3/contacts/attributes")
    assert when(log[1]) - when(log[0]) >= 0.45


def test_an_exhausted_window_waits_for_the_reset(client, fast_sandbox):
    fast_sandbox.add_fault(
        kind="status", status=429, path_prefix="/v3/processes", count=1,
        headers={
            "x-sib-ratelimit-limit": "100",
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": "1",
        },
    )  # fmt: skip
    started = time.monotonic()
    assert list(client.iter_processes()) == []
    assert time.monotonic() - started >= 1.0


def test_a_429_on_an_import_is_resent_and_imports_once(client, fast_sandbox, list_id):
    fast_sandbox.add_fault(kind="status", status=429, path_prefix=IMPORT, count=2)
    pid = client.start_import(an_import(list_id))
    client.wait_for_process(pid, timeout_s=20)
    log = rows(fast_sandbox, "POST", IMPORT)
    assert [r["status"] for r in log] == [429, 429, 202]
    assert [r["processed"] for r in log] == [False, False, True]


def test_rate_limits_of_the_sandbox_itself_never_reach_the_caller(make_client, fast_sandbox):
    # The client believes it may send 1000/s; the sandbox allows 5/s and says so in headers.
    fast_sandbox.configure(contacts_rps=5)
    client = make_client(retry=RetryPolicy(base_s=0.01, max_wait_s=2, max_attempts=10))
    for _ in range(12):
        client.get_attributes()
    log = rows(fast_sandbox, "GET", "/v3/contacts/attributes")
    assert sum(r["status"] == 200 for r in log) == 12


# ------------------------------------------------------------------ 5xx


@pytest.mark.parametrize("when_", ["before", "after"])
def test_a_503_on_a_read_is_retried(client, fast_sandbox, list_id, when_):
    path = f"/v3/contacts/lists/{list_id}"
    fast_sandbox.add_fault(kind="status", status=503, path_prefix=path, count=2, when=when_)
    assert client.get_list(list_id).name == "L"
    log = rows(fast_sandbox, "GET", path)
    assert [r["status"] for r in log] == [503, 503, 200]
    assert [r["processed"] for r in log] == [when_ == "after"] * 2 + [True]


@pytest.mark.parametrize("when_", ["before", "after"])
def test_a_503_on_an_import_raises_submission_uncertain(client, fast_sandbox, list_id, when_):
    fast_sandbox.add_fault(kind="status", status=503, path_prefix=IMPORT, count=1, when=when_)
    request = an_import(list_id)
    with pytest.raises(SubmissionUncertain) as info:
        client.start_import(request)
    exc = info.value
    log = rows(fast_sandbox, "POST", IMPORT)
    assert len(log) == 1  # never resent
    assert log[0]["processed"] is (when_ == "after")
    assert exc.method == "POST"
    assert exc.path == "/contacts/import"
    assert exc.body_sha256 == log[0]["body_sha256"]  # exactly the bytes that were sent
    assert exc.body_sha256 == hashlib.sha256(encode_body(request.to_wire())).hexdigest()
    assert exc.request is request
    assert isinstance(exc.cause, BrevoServerError)
    assert exc.sent_at.tzinfo is not None
    assert abs(exc.sent_at.timestamp() - when(log[0])) < 1.0
    assert "POST /contacts/import -> outcome unknown" in str(exc)
    created = [p for page in client.iter_processes() for p in page]
    assert len(created) == (1 if when_ == "after" else 0)


def test_a_503_on_an_export_or_a_contact_create_raises_submission_uncertain(
    client, fast_sandbox, list_id
):
    fast_sandbox.add_fault(kind="status", status=502, path_prefix="/v3/contacts/export")
    fast_sandbox.add_fault(kind="status", status=500, path_prefix="/v3/contacts", method="POST")
    export = ExportRequest(
        custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id)
    )
    with pytest.raises(SubmissionUncertain) as info:
        client.start_export(export)
    assert info.value.request is export
    contact = CreateContact(email="c@x.org")
    with pytest.raises(SubmissionUncertain) as info2:
        client.create_contact(contact)
    assert info2.value.request is contact
    assert len(rows(fast_sandbox, "POST", "/v3/contacts/export")) == 1
    assert len(rows(fast_sandbox, "POST", "/v3/contacts")) == 1


def test_list_membership_is_retried_through_a_503(client, fast_sandbox, list_id):
    client.create_contact(CreateContact(email="m@x.org"))
    path = f"/v3/contacts/lists/{list_id}/contacts/add"
    fast_sandbox.add_fault(kind="status", status=503, path_prefix=path, count=1, when="after")
    result = client.add_contacts_to_list(list_id, emails=["m@x.org"])
    assert statuses(fast_sandbox, "POST", path) == [503, 201]
    # the lost first reply did the work; the repeat finds the contact already in the list
    assert result.success + result.failure == ("m@x.org",)
    assert client.get_contact("m@x.org").list_ids == (list_id,)


@pytest.mark.parametrize("when_", ["before", "after"])
def test_folder_and_list_creation_is_reconciled_by_name(client, fast_sandbox, when_):
    fast_sandbox.add_fault(
        kind="status", status=503, path_prefix="/v3/contacts/folders", method="POST", count=1,
        when=when_,
    )  # fmt: skip
    fast_sandbox.add_fault(
        kind="status", status=503, path_prefix="/v3/contacts/lists", method="POST", count=1,
        when=when_,
    )  # fmt: skip
    folder_id = client.create_folder("Once")
    list_id = client.create_list("Once", folder_id=folder_id)
    assert [(f.id, f.name) for p in client.iter_folders() for f in p] == [(folder_id, "Once")]
    assert [(li.id, li.name) for p in client.iter_lists() for li in p] == [(list_id, "Once")]
    sent = len(rows(fast_sandbox, "POST", "/v3/contacts/folders"))
    assert sent == (1 if when_ == "after" else 2)


def test_polling_rides_out_a_run_of_failures(client, fast_sandbox, list_id):
    pid = client.start_import(an_import(list_id))
    # more consecutive 503s than one get_process may retry: the wait polls on regardless
    fast_sandbox.add_fault(kind="status", status=503, path_prefix="/v3/processes/", count=8)
    assert client.wait_for_process(pid, timeout_s=20).is_completed
    assert statuses(fast_sandbox, "GET", f"/v3/processes/{pid}").count(503) == 8


# ------------------------------------------------------------------ connection resets


@pytest.mark.parametrize("when_", ["before", "after"])
def test_a_reset_on_a_read_is_retried(client, fast_sandbox, when_):
    fast_sandbox.add_fault(kind="reset", path_prefix="/v3/contacts/attributes", count=2, when=when_)
    assert client.get_attributes()
    assert len(rows(fast_sandbox, "GET", "/v3/contacts/attributes")) == 3


@pytest.mark.parametrize("when_", ["before", "after"])
def test_a_reset_on_an_import_raises_submission_uncertain(client, fast_sandbox, list_id, when_):
    fast_sandbox.add_fault(kind="reset", path_prefix=IMPORT, count=1, when=when_)
    with pytest.raises(SubmissionUncertain) as info:
        client.start_import(an_import(list_id))
    assert isinstance(info.value.cause, BrevoTransportError)
    assert info.value.cause.kind == "reset"
    log = rows(fast_sandbox, "POST", IMPORT)
    assert len(log) == 1
    assert log[0]["processed"] is (when_ == "after")


def test_a_refused_connection_is_retried_even_for_an_import():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from etl.brevo import BrevoClient

    client = BrevoClient(
        "k", base_url=f"http://127.0.0.1:{port}/v3", retry=RetryPolicy(max_attempts=3, base_s=0)
    )
    with pytest.raises(BrevoTransportError) as info:
        client.start_import(an_import(1))
    assert info.value.kind == "connect"
    assert client.request_count == 3  # nothing was ever sent, so resending was safe
    assert "could not connect" in str(info.value)


# ------------------------------------------------------------------ delays past the timeout


def test_a_delay_past_the_timeout_is_retried_for_a_read(make_client, fast_sandbox):
    client = make_client(timeout=0.3)
    fast_sandbox.add_fault(
        kind="delay", delay_s=0.8, path_prefix="/v3/contacts/attributes", count=1
    )
    assert client.get_attributes()
    # Gave up on the slow answer and asked again: two requests, the first one abandoned (it is
    # logged once the sandbox finishes it).
    deadline = time.monotonic() + 10
    while len(rows(fast_sandbox, "GET", "/v3/contacts/attributes")) < 2:
        assert time.monotonic() < deadline, "the retry never reached the sandbox"
        time.sleep(0.05)
    assert len(rows(fast_sandbox, "GET", "/v3/contacts/attributes")) == 2


def test_a_delay_within_the_timeout_is_just_slow(client, fast_sandbox):
    fast_sandbox.add_fault(
        kind="delay", delay_s=0.3, path_prefix="/v3/contacts/attributes", count=1
    )
    assert client.get_attributes()
    assert len(rows(fast_sandbox, "GET", "/v3/contacts/attributes")) == 1


@pytest.mark.parametrize("when_", ["before", "after"])
def test_a_delay_past_the_timeout_on_an_export_is_uncertain(make_client, fast_sandbox, when_):
    client = make_client(timeout=0.3)
    list_id = client.create_list("L", folder_id=client.create_folder("F"))
    fast_sandbox.add_fault(
        kind="delay", delay_s=0.8, path_prefix="/v3/contacts/export", count=1, when=when_
    )
    with pytest.raises(SubmissionUncertain) as info:
        client.start_export(
            ExportRequest(
                custom_contact_filter=ContactFilter(
                    action_for_contacts="allContacts", list_id=list_id
                )
            )
        )
    assert isinstance(info.value.cause, BrevoTransportError)
    assert info.value.cause.kind == "timeout"
    time.sleep(0.7)  # let the sandbox finish the delayed request
    log = rows(fast_sandbox, "POST", "/v3/contacts/export")
    assert len(log) == 1
    assert log[0]["processed"] is True  # it did reach Brevo: resending would export twice


# ------------------------------------------------------------------ truncated bodies


def test_a_truncated_json_answer_is_retried_for_a_read(client, fast_sandbox):
    fast_sandbox.add_fault(kind="truncate", path_prefix="/v3/contacts/attributes", count=1)
    assert {a.name for a in client.get_attributes()} >= {"EMAIL"}
    assert len(rows(fast_sandbox, "GET", "/v3/contacts/attributes")) == 2


def test_a_truncated_import_answer_is_uncertain(client, fast_sandbox, list_id):
    fast_sandbox.add_fault(kind="truncate", path_prefix=IMPORT, count=1)
    with pytest.raises(SubmissionUncertain):
        client.start_import(an_import(list_id))
    assert [r["processed"] for r in rows(fast_sandbox, "POST", IMPORT)] == [True]


def _finished_export(client, list_id):
    pid = client.start_import(an_import(list_id, "dl@x.org"))
    client.wait_for_process(pid, timeout_s=20)
    export_id = client.start_export(
        ExportRequest(
            custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id)
        )
    )
    return client.wait_for_process(export_id, timeout_s=20)


def test_a_truncated_download_is_retried(client, fast_sandbox, list_id, tmp_path):
    export = _finished_export(client, list_id)
    fast_sandbox.add_fault(kind="truncate", path_prefix="/exports/", count=2)
    dest = client.download(export.export_url, tmp_path / "e.csv")
    assert "dl@x.org" in dest.read_text()
    download_rows = [r for r in fast_sandbox.requests_log() if r["path"].startswith("/exports/")]
    assert len(download_rows) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def test_a_download_that_stays_truncated_fails_cleanly(make_client, fast_sandbox, tmp_path):
    client = make_client(retry=RetryPolicy(max_attempts=3, base_s=0.01))
    list_id = client.create_list("L", folder_id=client.create_folder("F"))
    export = _finished_export(client, list_id)
    fast_sandbox.add_fault(kind="truncate", path_prefix="/exports/")
    with pytest.raises(DownloadError, match="truncated"):
        client.download(export.export_url, tmp_path / "e.csv")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file


def test_sent_at_is_taken_just_before_sending(client, fast_sandbox, list_id):
    # Only the 2026-02 spec edition stamps processes with a time (docs/brevo/FACTS.md F2).
    fast_sandbox.configure(profile="spec-2026-02")
    fast_sandbox.add_fault(kind="status", status=503, path_prefix=IMPORT, count=1, when="after")
    with pytest.raises(SubmissionUncertain) as info:
        client.start_import(an_import(list_id))
    created = next(p for page in client.iter_processes() for p in page)
    assert created.created_at is not None
    created_at = datetime.fromisoformat(created.created_at.replace("Z", "+00:00"))
    # a reconciler can look for processes created after sent_at
    assert info.value.sent_at - timedelta(milliseconds=5) <= created_at
