"""When to retry a Brevo call and how long to wait: pure functions, testable without sleeping.

The client asks :func:`decide` after every failed attempt and sleeps :func:`backoff_seconds` or
:func:`rate_limit_wait`. Nothing here sleeps, reads a clock it was not given, or does I/O.
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

TransportKind = Literal["connect", "timeout", "reset", "other"]
Jitter = Callable[[float], float]

# A reset header above this many "seconds" (an hour, Brevo's longest window) cannot be seconds:
# one third-party integration reads x-sib-ratelimit-reset as milliseconds, so accept both.
RESET_MS_THRESHOLD_S = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently the client retries.

    Attributes:
        max_attempts: attempts per call, the first included.
        base_s: first backoff; doubles per attempt.
        cap_s: ceiling of the exponential backoff.
        max_wait_s: ceiling of any single wait, including Retry-After and rate-limit resets.
    """

    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 60.0
    max_wait_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if min(self.base_s, self.cap_s, self.max_wait_s) < 0:
            raise ValueError("backoff durations must be >= 0")


class Decision(enum.Enum):
    """What the client does after a failed attempt."""

    RETRY = "retry"
    FAIL = "fail"
    UNCERTAIN = "uncertain"


# POSTs that create something new on every call and take no idempotency key. Resending one
# after its body may have reached Brevo could import (or export, or create) twice, so they are
# retried only when Brevo certainly did not act: a 429, a 425, or a connection never made.
# (The client reconciles folder and list creation by name itself; see BrevoClient.)
_NON_IDEMPOTENT_POSTS: tuple[re.Pattern[str], ...] = (
    re.compile(r"/contacts/import"),
    re.compile(r"/contacts/export"),
    re.compile(r"/contacts"),
    re.compile(r"/contacts/folders"),
    re.compile(r"/contacts/lists"),
)
# POSTs that are safe to repeat: list membership converges (a repeat reports "already in
# list"; `all: true` empties the list again), and an attribute cannot be created twice.
_RETRY_SAFE_POSTS: tuple[re.Pattern[str], ...] = (
    re.compile(r"/contacts/lists/\d+/contacts/(add|remove)"),
    re.compile(r"/contacts/attributes/[^/]+/[^/]+"),
)
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_idempotent(method: str, path: str) -> bool:
    """True when repeating ``method path`` cannot make Brevo act twice.

    Unknown POSTs count as non-idempotent: guessing wrong there doubles data.
    """
    method = method.upper()
    if method in _IDEMPOTENT_METHODS:
        return True
    if method != "POST":
        return False
    if any(p.fullmatch(path) for p in _NON_IDEMPOTENT_POSTS):
        return False
    return any(p.fullmatch(path) for p in _RETRY_SAFE_POSTS)


def _walk(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (args, reason), and its causes, nearest first."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 16:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        if isinstance(cur, MaxRetryError) and cur.reason is not None:
            todo.append(cur.reason)
        todo.extend(a for a in cur.args if isinstance(a, BaseException))
        if cur.__cause__ is not None:
            todo.append(cur.__cause__)
    return seen


def transport_kind(exc: BaseException) -> TransportKind:
    """Classify a transport error by whether the request can have reached the server.

    ``connect``: no connection was made, so nothing was sent (safe to resend anything).
    ``timeout``: the server took too long to answer; ``reset``: the connection broke after it
    was made. For both, the body may have been received and acted on.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return "connect"
    chain = _walk(exc)
    if any(isinstance(e, NewConnectionError | ConnectTimeoutError) for e in chain):
        return "connect"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "reset"
    if isinstance(exc, ConnectionError | TimeoutError):
        return "timeout" if isinstance(exc, TimeoutError) else "reset"
    return "other"


def decide(
    method: str,
    path: str,
    *,
    status: int | None,
    kind: TransportKind | None,
    attempt: int,
    policy: RetryPolicy,
) -> Decision:
    """Decide after a failed attempt (``status`` >= 400, or a transport ``kind``).

    Args:
        method: HTTP method.
        path: path relative to the API base, e.g. ``/contacts/import``.
        status: HTTP status, or None when no response arrived.
        kind: transport error kind, or None when a response arrived.
        attempt: attempts made so far (1 after the first).
        policy: the retry policy.

    Returns:
        RETRY, FAIL, or UNCERTAIN (a non-idempotent call whose effect is unknown).
    """
    idempotent = is_idempotent(method, path)
    more = attempt < policy.max_attempts
    if status is not None:
        # 429 and 425 mean Brevo refused before acting: safe to resend anything.
        if status in (425, 429):
            return Decision.RETRY if more else Decision.FAIL
        if 500 <= status <= 599:
            if not idempotent:
                # The body went out; a 5xx (also one from a proxy) does not prove it was dropped.
                return Decision.UNCERTAIN
            return Decision.RETRY if more else Decision.FAIL
        return Decision.FAIL
    if kind == "connect":
        return Decision.RETRY if more else Decision.FAIL
    if kind in ("timeout", "reset"):
        if not idempotent:
            return Decision.UNCERTAIN
        return Decision.RETRY if more else Decision.FAIL
    if kind == "other" and not idempotent:
        return Decision.UNCERTAIN
    return Decision.FAIL


def should_retry(
    method: str,
    path: str,
    *,
    status: int | None,
    exc: BaseException | None,
    attempt: int,
    policy: RetryPolicy | None = None,
) -> bool:
    """True when the client should send the request again (see :func:`decide`)."""
    kind = transport_kind(exc) if exc is not None and status is None else None
    decision = decide(
        method, path, status=status, kind=kind, attempt=attempt, policy=policy or RetryPolicy()
    )
    return decision is Decision.RETRY


def default_jitter(delay: float) -> float:
    """Spread retries of many clients: a uniform point in [delay/2, delay] (stripe's shape)."""
    return delay * random.uniform(0.5, 1.0)


def backoff_seconds(
    attempt: int,
    retry_after: float | None = None,
    *,
    policy: RetryPolicy | None = None,
    jitter: Jitter = default_jitter,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    The server may tell us how long to wait (Retry-After, a rate-limit reset): then that wins,
    capped at ``max_wait_s``. Otherwise capped exponential backoff with jitter.
    """
    policy = policy or RetryPolicy()
    if retry_after is not None and math.isfinite(retry_after):
        return min(max(retry_after, 0.0), policy.max_wait_s)
    exponent = min(max(attempt - 1, 0), 60)
    delay = min(policy.cap_s, policy.base_s * (2.0**exponent))
    return min(max(jitter(delay), 0.0), policy.max_wait_s)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def parse_ratelimit_reset(value: str | None) -> float | None:
    """Seconds from ``x-sib-ratelimit-reset``: seconds per Brevo's docs, but a value over an
    hour is read as milliseconds (one integration found it so). None if unusable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    if seconds > RESET_MS_THRESHOLD_S:
        seconds /= 1000.0
    return seconds


def parse_ratelimit_remaining(value: str | None) -> int | None:
    """``x-sib-ratelimit-remaining`` as an int, or None."""
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def rate_limit_wait(
    headers: Mapping[str, str],
    attempt: int,
    *,
    policy: RetryPolicy | None = None,
    jitter: Jitter = default_jitter,
    now: datetime | None = None,
) -> float:
    """Seconds to wait after a 429: Retry-After if present, else the reset header, else backoff.

    The reset header only explains a 429 when the window is spent: if
    ``x-sib-ratelimit-remaining`` says requests remain, the refusal came from elsewhere (a
    burst guard, a proxy) and waiting for an hourly reset would be wrong, so back off instead.
    ``headers`` should be case-insensitive (requests' are). The result is capped at
    ``policy.max_wait_s``.
    """
    wait = parse_retry_after(headers.get("Retry-After"), now=now)
    if wait is None:
        remaining = parse_ratelimit_remaining(headers.get("x-sib-ratelimit-remaining"))
        if remaining is None or remaining <= 0:
            wait = parse_ratelimit_reset(headers.get("x-sib-ratelimit-reset"))
    return backoff_seconds(attempt, wait, policy=policy, jitter=jitter)


def describe_transport(exc: BaseException, kind: TransportKind, timeout: float) -> str:
    """A one-line, URL-free description (requests' own messages carry the query string)."""
    names = [type(exc).__name__]
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    reason = getattr(inner, "reason", None)
    for nested in (inner, reason):
        if isinstance(nested, BaseException) and type(nested).__name__ not in names:
            names.append(type(nested).__name__)
    what = {
        "connect": "could not connect (nothing sent)",
        "timeout": f"no answer within {timeout:g}s",
        "reset": "connection broken before the answer arrived",
        "other": "request failed",
    }[kind]
    return f"{what} [{'/'.join(names)}]"
