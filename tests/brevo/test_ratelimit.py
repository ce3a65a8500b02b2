"""Limiter maths with an injected clock, and the limiter under real threads."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from etl.brevo.ratelimit import (
    RateLimiter,
    RateLimits,
    SlidingWindow,
    TokenBucket,
    family_for,
    spread_interval,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/contacts", "contacts"),
        ("/contacts/import", "contacts"),
        ("/contacts/lists/3/contacts/add", "contacts"),
        ("/processes/4", "other"),
        ("/processes", "other"),
        ("/contactsfoo", "other"),
        ("/account", "other"),
    ],
)
def test_family_for(path, family):
    assert family_for(path) == family


def test_sliding_window_maths():
    window = SlidingWindow(3, 1.0)
    for t in (0.0, 0.1, 0.2):
        assert window.delay(t) == 0.0
        window.take(t)
    assert window.available(0.3) == 0
    assert window.delay(0.3) == pytest.approx(0.7)
    assert window.delay(1.0) == 0.0
    assert window.available(1.15) == 2


def test_token_bucket_maths():
    bucket = TokenBucket(100, 100 / 3600, now=0.0)
    for _ in range(100):
        assert bucket.delay(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(36.0)
    assert bucket.tokens(18.0) == pytest.approx(0.5)
    assert bucket.delay(36.0) == pytest.approx(0.0)
    assert bucket.tokens(10**6) == 100  # never more than the capacity
    bucket.clamp(3, 10**6)
    assert bucket.tokens(10**6) == 3


def test_contacts_burst_of_200_stays_under_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(contacts_per_second=10), clock=clock, sleep=clock.sleep)
    start = clock.now
    times = []
    for _ in range(200):
        limiter.acquire("contacts")
        times.append(clock.now)
    assert max_in_window(times, 1.0) <= 10
    # ...and does not dawdle: 20 windows of a little over a second each.
    assert clock.now - start < 20 * 1.06


def test_fractional_contacts_rate():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(contacts_per_second=2.5), clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(20):
        limiter.acquire("contacts")
        times.append(clock.now)
    assert max_in_window(times, 1.0) <= 2
    assert times[-1] - times[0] < 20 / 2 * 1.06


def test_slow_contacts_rate():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(contacts_per_second=0.5), clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(4):
        limiter.acquire("contacts")
        times.append(clock.now)
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([2.05] * 3)


def test_other_family_bursts_the_hourly_budget_then_refills():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(other_per_hour=100), clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(100):
        assert limiter.acquire("other") == 0.0
    assert clock.now == start  # the whole budget as a burst
    assert limiter.acquire("other") == pytest.approx(36.0)
    assert limiter.acquire("other") == pytest.approx(36.0)
    # the families do not share a budget
    assert limiter.acquire("contacts") == 0.0


def test_block_for_holds_a_family_only():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.block_for("contacts", 2.5)
    assert limiter.blocked_for("contacts") == pytest.approx(2.5)
    assert limiter.reserve("other") == 0.0
    assert limiter.acquire("contacts") == pytest.approx(2.5)
    limiter.block_for("contacts", 1.0)
    limiter.block_for("contacts", 0.2)  # a shorter hold never shortens a longer one
    assert limiter.blocked_for("contacts") == pytest.approx(1.0)


def test_observe_follows_remaining_and_reset():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.observe("contacts", remaining=4, reset_s=1.0, cap_s=60)
    assert limiter.blocked_for("contacts") == 0.0
    limiter.observe("contacts", remaining=0, reset_s=1.0, cap_s=60)
    assert limiter.blocked_for("contacts") == pytest.approx(1.0)
    limiter.observe("other", remaining=0, reset_s=3000.0, cap_s=120)  # capped
    assert limiter.blocked_for("other") == pytest.approx(120.0)
    limiter.observe("other", remaining=None, reset_s=None, cap_s=120)


def test_observe_never_trusts_more_tokens_than_brevo_reports():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(other_per_hour=100), clock=clock, sleep=clock.sleep)
    limiter.observe("other", remaining=7, reset_s=100.0, cap_s=120)
    assert limiter.tokens("other") == pytest.approx(7)


@pytest.mark.parametrize(
    ("tokens", "rate_per_h", "waiters", "min_s", "expected"),
    [
        (100, 100, 1, 5.0, 18.0),  # full bucket: budget 200 over the hour
        (0, 100, 1, 5.0, 36.0),  # empty: the refill rate
        (0, 100, 2, 5.0, 72.0),  # two waits share it
        (100, 200, 1, 5.0, 12.0),
        (100000, 100000, 1, 0.1, 0.1),  # generous sandbox: the floor
        (100000, 100000, 3, 0.0, 3 * 3600 / 200000),
    ],
)
def test_spread_interval(tokens, rate_per_h, waiters, min_s, expected):
    got = spread_interval(tokens=tokens, rate_per_s=rate_per_h / 3600, waiters=waiters, min_s=min_s)
    assert got == pytest.approx(expected)


def test_poll_interval_counts_active_waits():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(other_per_hour=100), clock=clock, sleep=clock.sleep)
    assert limiter.poll_interval(min_s=5) == pytest.approx(18.0)
    with limiter.waiting(), limiter.waiting():
        assert limiter.poll_interval(min_s=5) == pytest.approx(36.0)
    assert limiter.poll_interval(min_s=5) == pytest.approx(18.0)


def test_threads_share_one_limiter():
    limiter = RateLimiter(RateLimits(contacts_per_second=100), safety_s=0.01)
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(40):
            limiter.acquire("contacts")
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    assert len(times) == 200
    assert max_in_window(times, 1.0) <= 100
    assert times[-1] - times[0] >= 1.0  # 200 at 100/s cannot all go in the first second


def test_rate_limits_validate():
    with pytest.raises(ValueError, match="> 0"):
        RateLimits(contacts_per_second=0)
