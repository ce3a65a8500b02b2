"""Switchable behaviour of the sandbox (``POST /_sandbox/config``), with docs/brevo/FACTS.md's defaults."""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from etl.sandbox.errors import invalid
from etl.sandbox.profiles import (
    DATE_TIME_PREFERENCES,
    DEFAULT_PROFILE,
    PROFILES,
    SWITCHES,
    check_profile,
    check_switch,
    default_account,
    merge_account,
)

_CHOICES: dict[str, tuple[str, ...]] = {
    "export_url": ("plain", "anchor"),
    "notify": ("empty", "v2form"),
}
_INTS = {
    "contacts_rps": 0,
    "other_rph": 0,
    "export_part_rows": 1,
    "seed": None,
    "batch_max_contacts": 1,
}
_FLOATS = {"process_delay_s": 0.0, "export_link_ttl_s": 0.0, "notify_timeout_s": 0.01}
_BOOLS = ("process_stall", "process_fail")


@dataclass(slots=True)
class SandboxConfig:
    """Every knob, with the default the sandbox starts with (and returns to on reset).

    ``process_stall`` keeps processes ``queued`` for as long as it is true (turning it off
    releases them); ``process_fail`` makes every process that starts running end ``failed``
    without touching the account. ``seed`` seeds the random generator behind fault
    ``probability``. ``notify_timeout_s`` bounds each notify callback attempt.
    ``batch_max_contacts`` caps ``POST /contacts/batch`` (no spec edition states a maximum).

    ``profile`` and the switches after it come from ``profiles.py``; the defaults written here
    are the ``minimal`` profile's. ``account`` is the identity ``GET /account`` shows.
    """

    contacts_rps: int = 10
    other_rph: int = 100
    statuses: str = "2026"
    export_url: str = "plain"
    notify: str = "empty"
    process_delay_s: float = 0.5
    export_part_rows: int = 100_000
    export_link_ttl_s: float = 604_800.0
    process_stall: bool = False
    process_fail: bool = False
    seed: int = 0
    notify_timeout_s: float = 5.0
    batch_max_contacts: int = 100
    profile: str = DEFAULT_PROFILE
    process_times: bool = False
    import_info: str = "links"
    export_info: bool = False
    expired_link_status: int = 403
    export_process_name: str = "SEARCH_EXPORT_USERS_API"
    export_times: str = "day"
    boolean_false_overwrites: bool = False
    category_labels: bool = False
    ascii_local_parts: bool = True
    account: dict[str, Any] = field(
        default_factory=lambda: default_account("", profile=DEFAULT_PROFILE)
    )

    def as_dict(self) -> dict[str, Any]:
        """Return the config as JSON-ready values."""
        return asdict(self)


def initial_config(profile: str, account: dict[str, Any]) -> SandboxConfig:
    """The config a sandbox starts with (and returns to on reset) for this profile."""
    return SandboxConfig(**PROFILES[profile], profile=profile, account=copy.deepcopy(account))


class ConfigStore:
    """The live config, shared by every thread; updates are validated as a whole first.

    ``profile`` and ``account`` are what the sandbox was started with: ``reset()`` returns to
    them (an account's ``dateTimePreferences`` follow the profile unless set explicitly).
    """

    def __init__(
        self, *, profile: str = DEFAULT_PROFILE, account: dict[str, Any] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._profile = check_profile(profile)
        self._account = copy.deepcopy(account or default_account("", profile=profile))
        self.current = initial_config(self._profile, self._account)

    def reset(self) -> None:
        """Return to the defaults of the profile and account the sandbox started with."""
        with self._lock:
            self.current = initial_config(self._profile, self._account)

    def update(self, changes: dict[str, Any]) -> SandboxConfig:
        """Validate every key of ``changes``, then apply them all; return the new config.

        ``profile`` goes first (every switch, and the account's ``dateTimePreferences``),
        then the other keys, then ``account`` (merged into the current identity).
        """
        known = {f.name for f in fields(SandboxConfig)}
        clean: dict[str, Any] = {}
        profile: str | None = None
        account_changes: Any = None
        for key, value in changes.items():
            if key not in known:
                raise invalid(f"Unknown config key: {key}")
            if key == "profile":
                profile = check_profile(value)
            elif key == "account":
                account_changes = value
            elif key in SWITCHES:
                clean[key] = check_switch(key, value)
            else:
                clean[key] = _check(key, value)
        with self._lock:
            merged = self.current.as_dict()
            if profile is not None:
                merged.update(PROFILES[profile], profile=profile)
                merged["account"]["dateTimePreferences"] = dict(DATE_TIME_PREFERENCES[profile])
            merged.update(clean)
            if account_changes is not None:
                merged["account"] = merge_account(merged["account"], account_changes)
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
