"""Client-side rate limiting per Brevo endpoint family, shared by every thread of one client.

Brevo limits ``/v3/contacts/*`` per second (10 RPS on the general tier) and every other endpoint,
``/v3/processes`` included, per hour (100 RPH). The limiter keeps the client under both before
Brevo has to say 429, and also obeys what Brevo reports: when ``x-sib-ratelimit-remaining``
reaches 0 the family waits for ``x-sib-ratelimit-reset``.

- ``contacts``: a sliding window, at most N requests in any window of N / rate seconds (plus a
  small safety margin for network jitter), so no second ever sees more than the rate.
- ``other``: a token bucket holding the full hourly budget, usable as a burst, refilling at
  rate / 3600 per second. Process polls spread what is left (:func:`spread_interval`).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

Family = Literal["contacts", "other"]
FAMILIES: tuple[Family, ...] = ("contacts", "other")
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Request budgets per endpoint family (defaults: Brevo's general tier).

    Attributes:
        contacts_per_second: the ``/contacts/*`` family (advanced tier: 20, enterprise: 60).
        other_per_hour: every other endpoint, e.g. ``/processes`` (advanced tier: 200).
    """

    contacts_per_second: float = 10.0
    other_per_hour: float = 100.0

    def __post_init__(self) -> None:
        if not (self.contacts_per_second > 0 and self.other_per_hour > 0):
            raise ValueError("rate limits must be > 0")


def family_for(path: str) -> Family:
    """The family of a path relative to the API base (``/contacts/lists`` -> ``contacts``)."""
    return "contacts" if path == "/contacts" or path.startswith("/contacts/") else "other"


class SlidingWindow:
    """At most ``limit`` events in any window of ``window_s`` seconds. Not thread-safe."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds until one more event fits (0.0 if it fits now)."""
        # Same expression as the delay below, so rounding can never leave a full window that
        # reports no delay.
        while self._times and self._times[0] + self.window_s <= now:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window_s - now

    def take(self, now: float) -> None:
        """Record an event at ``now`` (call only when :meth:`delay` returned 0)."""
        self._times.append(now)

    def available(self, now: float) -> int:
        """Events that fit at ``now``."""
        self.delay(now)
        return self.limit - len(self._times)


class TokenBucket:
    """``capacity`` tokens refilling at ``rate_per_s``; starts full. Not thread-safe."""

    def __init__(self, capacity: float, rate_per_s: float, now: float) -> None:
        if capacity < 1 or rate_per_s <= 0:
            raise ValueError("capacity must be >= 1 and rate_per_s > 0")
        self.capacity = capacity
        self.rate_per_s = rate_per_s
        self._tokens = capacity
        self._at = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now``."""
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now
        return self._tokens

    def delay(self, now: float) -> float:
        """Seconds until a whole token is available (0.0 if one is)."""
        have = self.tokens(now)
        return 0.0 if have >= 1.0 else (1.0 - have) / self.rate_per_s

    def take(self, now: float) -> None:
        """Spend one token (call only when :meth:`delay` returned 0)."""
        self._tokens = self.tokens(now) - 1.0

    def clamp(self, remaining: float, now: float) -> None:
        """Never believe we have more than the server says remain."""
        self._tokens = min(self.tokens(now), max(remaining, 0.0))


def spread_interval(
    *, tokens: float, rate_per_s: float, waiters: int, min_s: float, horizon_s: float = HOUR_S
) -> float:
    """Poll interval that spends the budget evenly over the next ``horizon_s``.

    Over the horizon a family can spend what it holds plus what refills; ``waiters`` concurrent
    pollers share it, so each waits ``waiters`` times longer. Never below ``min_s``.
    """
    budget = max(tokens, 0.0) + rate_per_s * horizon_s
    if budget <= 0:
        return max(min_s, horizon_s)
    return max(min_s, max(waiters, 1) * horizon_s / budget)


class RateLimiter:
    """Thread-safe limiter for both families; one per client, shared by its threads.

    ``clock`` and ``sleep`` are seams for tests (a fake clock that ``sleep`` advances).
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        safety_s: float = 0.05,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        # floor(rate) per second keeps every 1-second window within a fractional rate too;
        # below 1/s, one request per 1/rate seconds.
        rate = self.limits.contacts_per_second
        per_window = max(1, math.floor(rate))
        self._contacts = SlidingWindow(per_window, max(1.0, 1.0 / rate) + safety_s)
        self._other = TokenBucket(
            max(1.0, self.limits.other_per_hour), self.limits.other_per_hour / HOUR_S, now
        )
        self._blocked_until: dict[Family, float] = dict.fromkeys(FAMILIES, now)
        self._waiters = 0

    def reserve(self, family: Family) -> float:
        """Take a slot now and return 0.0, or take nothing and return the seconds to wait."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._blocked_until[family] - now)
            if wait <= 0:
                wait = self._contacts.delay(now) if family == "contacts" else self._other.delay(now)
            if wait > 0:
                return wait
            if family == "contacts":
                self._contacts.take(now)
            else:
                self._other.take(now)
            return 0.0

    def acquire(self, family: Family) -> float:
        """Block until the family has room, take the slot, and return the seconds waited."""
        waited = 0.0
        while True:
            wait = self.reserve(family)
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def block_for(self, family: Family, seconds: float) -> None:
        """Hold every request of the family for ``seconds`` (after a 429 or remaining == 0)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if until > self._blocked_until[family]:
                self._blocked_until[family] = until

    def observe(
        self, family: Family, *, remaining: int | None, reset_s: float | None, cap_s: float
    ) -> None:
        """Follow Brevo's ``x-sib-ratelimit-remaining``/``-reset`` of a response."""
        if remaining is None:
            return
        if family == "other":
            with self._lock:
                self._other.clamp(remaining, self._clock())
        if remaining <= 0 and reset_s is not None:
            self.block_for(family, min(reset_s, cap_s))

    def blocked_for(self, family: Family) -> float:
        """Seconds the family is still held by :meth:`block_for`."""
        with self._lock:
            return max(0.0, self._blocked_until[family] - self._clock())

    def tokens(self, family: Family) -> float:
        """Requests the family could send right now."""
        with self._lock:
            now = self._clock()
            if family == "other":
                return self._other.tokens(now)
            return float(self._contacts.available(now))

    def poll_interval(self, *, min_s: float) -> float:
        """Interval between process polls: the ``other`` budget spread over the active waits."""
        with self._lock:
            tokens = self._other.tokens(self._clock())
            waiters = self._waiters
        return spread_interval(
            tokens=tokens, rate_per_s=self._other.rate_per_s, waiters=waiters, min_s=min_s
        )

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Count one active process wait while the block runs."""
        with self._lock:
            self._waiters += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiters -= 1
