"""Scripted faults (``POST /_sandbox/faults``): error statuses, resets, delays, truncation.

A fault matches requests by ``path_prefix`` and ``method``. Each matching request advances the
fault's counter; the fault fires on every ``every``-th match, with ``probability`` (drawn from
a generator seeded by the config ``seed``), at most ``count`` times. Kinds:

- ``status``: answer ``status`` (JSON ``{code, message}`` unless ``body`` is given, plus any
  ``headers``) instead of processing (``when: before``) or after processing (``when: after``:
  the request did its work, only the response is lost);
- ``reset``: close the TCP connection abruptly (RST) without any response, before or after
  processing;
- ``delay``: sleep ``delay_s`` seconds (before or after processing), then carry on;
- ``truncate``: process, then send the headers with the full ``Content-Length`` but only the
  first half of the body, and close. ``when`` is ignored (there is nothing to cut before).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from etl.sandbox.errors import invalid

KINDS = ("status", "reset", "delay", "truncate")
WHENS = ("before", "after")


@dataclass(slots=True)
class Fault:
    """One scripted fault and its counters."""

    id: int
    kind: str
    path_prefix: str = "/"
    method: str | None = None
    status: int = 503
    when: str = "before"
    every: int = 1
    probability: float = 1.0
    count: int | None = None
    delay_s: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    matched: int = 0
    fired: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON view, counters included."""
        return asdict(self)


def parse_fault(raw: dict[str, Any], fault_id: int) -> Fault:
    """Validate a fault body (same keys as ``POST /_sandbox/faults``)."""
    allowed = {
        "kind",
        "path_prefix",
        "method",
        "status",
        "when",
        "every",
        "probability",
        "count",
        "delay_s",
        "headers",
        "body",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise invalid(f"Unknown fault keys: {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise invalid(f"kind must be one of {', '.join(KINDS)}")
    fault = Fault(id=fault_id, kind=str(kind))
    prefix = raw.get("path_prefix", "/")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise invalid("path_prefix must be a path starting with /")
    fault.path_prefix = prefix
    method = raw.get("method")
    if method is not None:
        if not isinstance(method, str) or not method.isalpha():
            raise invalid("method must be an HTTP method")
        fault.method = method.upper()
    status = raw.get("status", 503)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise invalid("status must be an HTTP status code")
    fault.status = status
    when = raw.get("when", "before")
    if when not in WHENS:
        raise invalid("when must be before or after")
    fault.when = str(when)
    every = raw.get("every", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise invalid("every must be an integer >= 1")
    fault.every = every
    prob = raw.get("probability", 1.0)
    if isinstance(prob, bool) or not isinstance(prob, int | float) or not 0 <= prob <= 1:
        raise invalid("probability must be between 0 and 1")
    fault.probability = float(prob)
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise invalid("count must be an integer >= 1")
    fault.count = count
    delay = raw.get("delay_s", 1.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise invalid("delay_s must be a number >= 0")
    fault.delay_s = float(delay)
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise invalid("headers must be an object of strings")
    fault.headers = dict(headers)
    fault.body = raw.get("body")
    return fault


class FaultSet:
    """The active faults; ``select`` decides, per request, which of them fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._rng = random.Random(0)

    def add(self, raw: dict[str, Any]) -> Fault:
        """Validate and append a fault; return it."""
        with self._lock:
            fault = parse_fault(raw, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def reseed(self, seed: int) -> None:
        """Restart the random generator behind ``probability``."""
        with self._lock:
            self._rng = random.Random(seed)

    def as_list(self) -> list[dict[str, Any]]:
        """JSON view of the faults."""
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def select(self, method: str, path: str) -> list[Fault]:
        """Return the faults that fire for this request, in the order they were added."""
        fired: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.method is not None and fault.method != method.upper():
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                fault.matched += 1
                if fault.matched % fault.every:
                    continue
                if fault.probability < 1 and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                fired.append(fault)
        return fired
