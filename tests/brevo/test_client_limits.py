"""The limiter against the sandbox's own 10 req/s: a burst of 200 contact calls, no 429."""

from __future__ import annotations

import threading

from etl.brevo import RateLimits

from ._support import max_in_window, rows, when


def test_a_burst_of_200_contact_calls_stays_under_10_per_second(make_client, fast_sandbox):
    fast_sandbox.configure(contacts_rps=10)  # Brevo's general tier, enforced by the sandbox
    client = make_client(limits=RateLimits(contacts_per_second=10, other_per_hour=100_000))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(50):
                client.get_attributes()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]  # one client, four threads
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    log = rows(fast_sandbox, "GET", "/v3/contacts/attributes")
    assert len(log) == 200  # no 429 and no retry: every request was sent once
    assert {r["status"] for r in log} == {200}
    times = [when(r) for r in log]
    assert max_in_window(times, 1.0) <= 10
    assert max(times) - min(times) < 25  # and it did not crawl
    assert client.request_count == 200
