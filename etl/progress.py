"""A process-wide progress hook: the CLI installs a progress bar, flows and tasks report to it.

Flows run in the CLI's own process (thread-pool task runner), so a module-level hook reaches
them without making a callable a flow parameter. Without a hook, reports are dropped, but the
last report of each step is kept: after Ctrl-C the CLI says how far the run got.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Reporter = Callable[[str, int, int], None]
"""reporter(step, done, total); total is 0 when unknown."""

_lock = threading.Lock()
_reporter: Reporter | None = None
_last: dict[str, tuple[int, int]] = {}


def set_reporter(reporter: Reporter | None) -> None:
    """Install (or remove, with None) the process-wide reporter."""
    global _reporter
    with _lock:
        _reporter = reporter


def report(step: str, done: int, total: int = 0) -> None:
    """Report progress of ``step``; never raises."""
    with _lock:
        _last[step] = (done, total)
    reporter = _reporter
    if reporter is None:
        return
    try:
        reporter(step, done, total)
    except Exception:  # noqa: S110 - a broken progress bar must not break an import
        pass


def last_reports() -> dict[str, tuple[int, int]]:
    """The last ``(done, total)`` of every step reported since :func:`forget`, in report order."""
    with _lock:
        return dict(_last)


def forget() -> None:
    """Forget the steps reported so far (a new command starts)."""
    with _lock:
        _last.clear()
