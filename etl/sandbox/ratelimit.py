"""Fixed-window rate limits per endpoint family, with Brevo's ``x-sib-ratelimit-*`` headers.

``/v3/contacts`` and everything under it share a per-second window (``contacts_rps``); every
other ``/v3`` endpoint (``/v3/processes`` included) shares a per-hour window (``other_rph``),
as DOC-LIMITS gives for the general tier. ``x-sib-ratelimit-reset`` is in whole seconds, and
there is no ``Retry-After`` (docs/brevo/FACTS.md section 2).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of counting one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """The ``x-sib-ratelimit-*`` headers."""
        return {
            "x-sib-ratelimit-limit": str(self.limit),
            "x-sib-ratelimit-remaining": str(self.remaining),
            "x-sib-ratelimit-reset": str(self.reset_s),
        }


def family(path: str) -> str:
    """``contacts`` for ``/v3/contacts[/...]``, else ``other``."""
    if path == "/v3/contacts" or path.startswith("/v3/contacts/"):
        return "contacts"
    return "other"


class RateLimiter:
    """Counts requests per family in fixed windows."""

    def __init__(self, limits: Callable[[], dict[str, int]]) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def reset(self) -> None:
        """Forget every counter."""
        with self._lock:
            self._windows.clear()

    def hit(self, path: str, *, count: bool = True) -> Verdict:
        """Count a request on ``path`` (or only peek when ``count`` is false)."""
        fam = family(path)
        width = 1.0 if fam == "contacts" else 3600.0
        limit = self._limits()[fam]
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(fam, (now, 0))
            if now - start >= width:
                start, used = now, 0
            allowed = used < limit
            if count and allowed:
                used += 1
            self._windows[fam] = (start, used)
        reset_s = max(0, math.ceil(start + width - now))
        return Verdict(allowed or not count, limit, max(0, limit - used), reset_s)
