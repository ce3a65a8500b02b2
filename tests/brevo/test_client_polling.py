"""Polling a young process: 1 s, 2 s, 4 s ... up to the budget's even spread (wait_for_process)."""

from __future__ import annotations

import itertools

import pytest

from etl.brevo import RateLimits
from etl.brevo.client import young_poll_delay
from etl.brevo.models import ImportRequest
from tests.brevo._support import csv_body, rows, when


@pytest.mark.parametrize(
    ("polls", "steady_s", "min_s", "expected"),
    [
        (1, 18.0, 0.1, 1.0),  # after the first poll: 1 s
        (2, 18.0, 0.1, 2.0),
        (3, 18.0, 0.1, 4.0),
        (5, 18.0, 0.1, 16.0),
        (6, 18.0, 0.1, 18.0),  # the doubling stops at the even spread of the budget
        (40, 18.0, 0.1, 18.0),
        (1, 0.5, 0.1, 0.5),  # a generous budget polls at its spread from the start
        (1, 18.0, 5.0, 5.0),  # never below poll_interval_s (5 s on Brevo)
        (4, 18.0, 5.0, 8.0),
        (1, 2.0, 30.0, 30.0),  # poll_interval_s wins over everything
    ],
)
def test_young_poll_delay(polls, steady_s, min_s, expected):
    assert young_poll_delay(polls, steady_s=steady_s, min_s=min_s) == expected


def test_a_young_process_is_polled_after_1_then_2_seconds(make_client, fast_sandbox):
    # Brevo's general tier: 100 requests an hour spread evenly would mean a poll every 18 s.
    client = make_client(limits=RateLimits(contacts_per_second=500, other_per_hour=100))
    list_id = client.create_list("Young", folder_id=client.create_folder("Polling"))
    fast_sandbox.configure(process_stall=True)
    pid = client.start_import(
        ImportRequest(file_body=csv_body(["young@x.org"]), list_ids=(list_id,))
    )
    statuses: list[str] = []

    def on_poll(process):
        statuses.append(process.status)
        if len(statuses) == 2:  # let it finish now: the third poll sees it completed
            fast_sandbox.configure(process_stall=False)

    done = client.wait_for_process(pid, timeout_s=120, on_poll=on_poll)
    assert done.is_completed
    assert statuses == ["queued", "queued", "completed"]
    polls = [when(r) for r in rows(fast_sandbox, "GET", f"/v3/processes/{pid}")]
    assert len(polls) == 3
    first, second = (b - a for a, b in itertools.pairwise(polls))
    # Lower bounds only: the sleeps are 1 s then 2 s, the second twice the first (an even
    # spread would sleep 18 s both times).
    assert first >= 0.9
    assert second >= 1.9
    assert second >= 1.5 * first
