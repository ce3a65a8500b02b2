"""Switchable behaviour of the sandbox (``POST /_sandbox/config``), with FACTS.md's defaults."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from etl.brevo.sandbox.errors import invalid

_CHOICES: dict[str, tuple[str, ...]] = {
    "statuses": ("2025", "2026"),
    "export_url": ("plain", "anchor"),
    "notify": ("empty", "v2form"),
}
_INTS = {"contacts_rps": 0, "other_rph": 0, "export_part_rows": 1, "seed": None}
_FLOATS = {"process_delay_s": 0.0, "export_link_ttl_s": 0.0, "notify_timeout_s": 0.01}
_BOOLS = ("process_stall", "process_fail")


@dataclass(slots=True)
class SandboxConfig:
    """Every knob, with the default the sandbox starts with (and returns to on reset).

    ``process_stall`` keeps processes ``queued`` for as long as it is true (turning it off
    releases them); ``process_fail`` makes every process that starts running end ``failed``
    without touching the account. ``seed`` seeds the random generator behind fault
    ``probability``. ``notify_timeout_s`` bounds each notify callback attempt.
    """

    contacts_rps: int = 10
    other_rph: int = 100
    statuses: str = "2025"
    export_url: str = "plain"
    notify: str = "empty"
    process_delay_s: float = 0.5
    export_part_rows: int = 100_000
    export_link_ttl_s: float = 604_800.0
    process_stall: bool = False
    process_fail: bool = False
    seed: int = 0
    notify_timeout_s: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        """Return the config as JSON-ready values."""
        return asdict(self)


class ConfigStore:
    """The live config, shared by every thread; updates are validated as a whole first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = SandboxConfig()

    def reset(self) -> None:
        """Return to the defaults."""
        with self._lock:
            self.current = SandboxConfig()

    def update(self, changes: dict[str, Any]) -> SandboxConfig:
        """Validate every key of ``changes``, then apply them all; return the new config."""
        known = {f.name for f in fields(SandboxConfig)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise invalid(f"Unknown config key: {key}")
            clean[key] = _check(key, value)
        with self._lock:
            merged = self.current.as_dict() | clean
            self.current = SandboxConfig(**merged)
            return self.current


def _check(key: str, value: Any) -> Any:
    if key in _CHOICES:
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
        if text not in _CHOICES[key]:
            raise invalid(f"{key} must be one of {', '.join(_CHOICES[key])}")
        return text
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise invalid(f"{key} must be a boolean")
        return value
    if key in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"{key} must be an integer")
        low = _INTS[key]
        if low is not None and value < low:
            raise invalid(f"{key} must be >= {low}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{key} must be a number")
    if value < _FLOATS[key]:
        raise invalid(f"{key} must be >= {_FLOATS[key]}")
    return float(value)
