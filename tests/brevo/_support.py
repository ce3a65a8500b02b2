"""Helpers over the sandbox's request log (``GET /_sandbox/requests``)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any


def rows(sandbox: Any, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
    """Logged requests, optionally only those with this method and exact path."""
    return [
        r
        for r in sandbox.requests_log()
        if (method is None or r["method"] == method) and (path is None or r["path"] == path)
    ]


def when(row: dict[str, Any]) -> float:
    """A row's time as epoch seconds."""
    return datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00")).timestamp()


def max_in_window(times: list[float], window: float) -> int:
    """The most events that fall inside any window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def csv_body(emails: list[str], **columns: list[str]) -> str:
    """A ``;``-separated fileBody with an EMAIL column and any attribute columns."""
    header = ["EMAIL", *columns]
    lines = [";".join(header)]
    for i, email in enumerate(emails):
        lines.append(";".join([email, *(values[i] for values in columns.values())]))
    return "\n".join(lines)


class RecordingEvent(threading.Event):
    """An Event that remembers how each wait ended: True when set() woke it, False on timeout.

    Lets a test prove that a callback woke a poller (not its poll interval) without timing it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[bool] = []

    def wait(self, timeout: float | None = None) -> bool:
        woke = super().wait(timeout)
        self.waits.append(woke)
        return woke
