"""Profiles: named sets of the config switches where real Brevo and its specs disagree.

docs/brevo/FACTS.md section 12 (evidence gathered 2026-12-01) lists where the sandbox had been optimistic
(rows F1-F10). ``minimal`` is the pessimistic reading of that evidence and the default;
``spec-2026-02`` is the sandbox as it was before, built on the February 2026 spec edition.
Setting ``profile`` (``POST /_sandbox/config``, ``SandboxServer(profile=...)``, the CLI's
``--profile``) sets every switch of the table below at once, and the account's default
``dateTimePreferences``; keys given in the same request override single switches afterwards.

This module also holds the account's identity (``GET /account``): its defaults, derived from
the API key so two sandboxes with different keys are different accounts, and the validation
of ``POST /_sandbox/config {"account": {...}}`` (partial updates merge).
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.sandbox.errors import invalid
from etl.sandbox.values import is_email

MINIMAL: Final = "minimal"
SPEC_2026_02: Final = "spec-2026-02"
DEFAULT_PROFILE: Final = MINIMAL

# switch -> (minimal value, spec-2026-02 value); see docs/sandbox.md "Profiles" for evidence.
SWITCHES: Final[dict[str, tuple[Any, Any]]] = {
    "statuses": ("2026", "2025"),  # F8: `processing` in the current reference
    "process_times": (False, True),  # F2: no created_at / completed_at / error
    "import_info": ("links", "counts"),  # F3: info.import.* are CSV URLs or null
    "export_info": (False, True),  # F3: no info.export
    "expired_link_status": (403, 410),  # F5: presigned S3 links answer 403
    "export_process_name": ("SEARCH_EXPORT_USERS_API", "SEARCH_EXPORT_USERS"),  # F8
    "export_times": ("day", "datetime"),  # F1, F1b: day-only cells in the account's format
    "boolean_false_overwrites": (False, True),  # F4: importing false leaves true
    "category_labels": (False, True),  # F10: labels ignored, only enumeration values
    "ascii_local_parts": (True, False),  # non-ASCII local parts refused
}
PROFILES: Final[dict[str, dict[str, Any]]] = {
    MINIMAL: {key: pair[0] for key, pair in SWITCHES.items()},
    SPEC_2026_02: {key: pair[1] for key, pair in SWITCHES.items()},
}
SWITCH_CHOICES: Final[dict[str, tuple[Any, ...]]] = {
    "statuses": ("2025", "2026"),
    "import_info": ("links", "counts"),
    "expired_link_status": (403, 410),
    "export_process_name": ("SEARCH_EXPORT_USERS_API", "SEARCH_EXPORT_USERS"),
    "export_times": ("day", "datetime"),
}
SWITCH_BOOLS: Final = (
    "process_times",
    "export_info",
    "boolean_false_overwrites",
    "category_labels",
    "ascii_local_parts",
)

DATE_TIME_PREFERENCES: Final[dict[str, dict[str, str]]] = {
    # The 2026 spec's getAccount example (mm-dd-yyyy, 12 h, New York): F1b.
    MINIMAL: {"dateFormat": "mm-dd-yyyy", "timeFormat": "12", "timezone": "America/New_York"},
    # What the sandbox always did: dd-mm-yyyy in a UTC account.
    SPEC_2026_02: {"dateFormat": "dd-mm-yyyy", "timeFormat": "24", "timezone": "UTC"},
}
_DATE_FORMAT = re.compile(r"^(dd|mm|yyyy)([-/.])(dd|mm|yyyy)\2(dd|mm|yyyy)$")
_ACCOUNT_TEXT = ("email", "firstName", "lastName", "companyName", "organization_id")
_ADDRESS_KEYS = ("street", "city", "zipCode", "country")


def check_profile(name: Any) -> str:
    """The profile name, or a 400 naming the allowed ones."""
    if name not in PROFILES:
        raise invalid(f"profile must be one of {', '.join(PROFILES)}")
    return str(name)


def check_switch(key: str, value: Any) -> Any:
    """Validate one profile switch value; return it in canonical form."""
    if key in SWITCH_BOOLS:
        if not isinstance(value, bool):
            raise invalid(f"{key} must be a boolean")
        return value
    choices = SWITCH_CHOICES[key]
    if key == "statuses" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, bool) or value not in choices:
        raise invalid(f"{key} must be one of {', '.join(str(c) for c in choices)}")
    return value


# ---------------------------------------------------------------------------- account identity


def default_account(api_key: str, *, profile: str, email: str | None = None) -> dict[str, Any]:
    """The identity of a sandbox started with this key (``GET /account``'s own fields)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    return {
        "email": (email or f"sandbox-{digest[:8]}@example.com").strip().lower(),
        "firstName": "Sandbox",
        "lastName": "Account",
        "companyName": f"Sandbox {digest[:8]}",
        "organization_id": digest[:24],
        "user_id": int(digest[24:31], 16),
        "address": {
            "street": "1 Loopback Road",
            "city": "Localhost",
            "zipCode": "00000",
            "country": "Nowhere",
        },
        "dateTimePreferences": dict(DATE_TIME_PREFERENCES[profile]),
    }


def check_account_email(email: str) -> str:
    """A usable account email (the CLI's ``--account-email``), else ValueError."""
    if not is_email(email.strip()):
        raise ValueError(f"not an email address: {email!r}")
    return email.strip().lower()


def merge_account(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """Validate a partial ``account`` update and merge it (nested objects merge too)."""
    if not isinstance(changes, dict):
        raise invalid("account must be an object")
    merged = copy.deepcopy(current)
    for key, value in changes.items():
        if key in _ACCOUNT_TEXT:
            if not isinstance(value, str) or not value.strip():
                raise invalid(f"account.{key} must be a non-empty string")
            if key == "email":
                if not is_email(value.strip()):
                    raise invalid("account.email must be an email address")
                value = value.strip().lower()
            merged[key] = value
        elif key == "user_id":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise invalid("account.user_id must be a non-negative integer")
            merged[key] = value
        elif key == "address":
            merged[key] = _merge_strings(merged.get(key, {}), value, _ADDRESS_KEYS, key)
        elif key == "dateTimePreferences":
            prefs = _merge_strings(
                merged.get(key, {}), value, ("dateFormat", "timeFormat", "timezone"), key
            )
            _check_preferences(prefs)
            merged[key] = prefs
        else:
            raise invalid(f"Unknown account key: {key}")
    return merged


def _merge_strings(
    current: dict[str, Any], changes: Any, keys: tuple[str, ...], label: str
) -> dict[str, Any]:
    if not isinstance(changes, dict):
        raise invalid(f"account.{label} must be an object")
    out = dict(current)
    for key, value in changes.items():
        if key not in keys:
            raise invalid(f"Unknown account.{label} key: {key}")
        if not isinstance(value, str):
            raise invalid(f"account.{label}.{key} must be a string")
        out[key] = value
    return out


def _check_preferences(prefs: dict[str, Any]) -> None:
    match = _DATE_FORMAT.match(prefs.get("dateFormat", ""))
    if match is None or {match.group(1), match.group(3), match.group(4)} != {"dd", "mm", "yyyy"}:
        raise invalid("dateTimePreferences.dateFormat must be like dd-mm-yyyy or mm/dd/yyyy")
    if prefs.get("timeFormat") not in ("12", "24"):
        raise invalid('dateTimePreferences.timeFormat must be "12" or "24"')
    try:
        ZoneInfo(str(prefs.get("timezone")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid("dateTimePreferences.timezone must be an IANA time zone") from exc


def account_wire(account: dict[str, Any]) -> dict[str, Any]:
    """``GET /account``: the identity plus the plan/relay parts the spec requires."""
    out = copy.deepcopy(account)
    out["enterprise"] = False
    out["plan"] = [{"type": "free", "credits": 300.0, "creditsType": "sendLimit"}]
    out["relay"] = {
        "enabled": True,
        "data": {"userName": account["email"], "relay": "smtp-relay.brevo.com", "port": 587},
    }
    out["marketingAutomation"] = {"enabled": False}
    return out
