"""Attribute definitions and the coercion of values to an attribute's type.

Brevo ignores a value that doesn't fit its attribute's type ("Values that don't match the
attribute type ... will be ignored", spec), so coercers return ``INVALID`` rather than raise.
Stored forms (inside each contact's JSON ``attrs``): text as str; date as ``YYYY-MM-DD``; float
as a JSON number; boolean as true/false; category as the option's integer value;
multiple-choice as a list of option names; phone numbers (SMS, WHATSAPP, LANDLINE_NUMBER) as
digits with the country code and no ``+``, as the spec's examples show (``"33058407250"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Final


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()

_EMAIL_DOMAIN = (
    r"(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)
EMAIL_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}(?<!\.)@" + _EMAIL_DOMAIN
)
# Config ``ascii_local_parts: false``: the local part may also hold non-ASCII characters
# (RFC 6531), e.g. ``josé@example.com``; the domain stays ASCII (or punycode).
EMAIL_UNICODE_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]|[^\x00-\x7f\s@]){1,64}(?<!\.)@"
    + _EMAIL_DOMAIN
)
PHONE_ATTRIBUTES: Final = frozenset({"SMS", "WHATSAPP", "LANDLINE_NUMBER"})
# Attributes whose value identifies at most one contact (duplicates are refused or counted).
UNIQUE_ATTRIBUTES: Final = ("SMS", "EXT_ID")

# Brevo's default account attributes. The spec's getAttributes example lists FIRSTNAME and
# LASTNAME as normal text; the identifiers are shown here as normal text as well.
DEFAULT_ATTRIBUTES: Final = (
    ("EMAIL", "normal", "text"),
    ("FIRSTNAME", "normal", "text"),
    ("LASTNAME", "normal", "text"),
    ("SMS", "normal", "text"),
    ("WHATSAPP", "normal", "text"),
    ("LANDLINE_NUMBER", "normal", "text"),
    ("EXT_ID", "normal", "text"),
)

_PHONE_JUNK = re.compile(r"[\s().\-/]")
_DATE_YMD = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
_DATE_DMY = re.compile(r"^(\d{1,2})[-/](\d{1,2})[-/](\d{4})$")
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})


def utc_now_iso() -> str:
    """Now, as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (millisecond precision, sortable as text)."""
    return to_iso(datetime.now(UTC))


def to_iso(moment: datetime) -> str:
    """Format an aware datetime as the sandbox's UTC timestamp text."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_moment(text: str) -> str | None:
    """Parse an ISO date-time (``Z``/offset, or naive meaning UTC) to timestamp text."""
    text = text.strip()
    if "T" in text and " " in text:
        # An offset whose "+" was not URL-encoded arrives as a space.
        text = text.replace(" ", "+")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_iso(moment)


def is_email(text: str, *, ascii_local: bool = True) -> bool:
    """True for a syntactically valid email address (non-ASCII local part unless ascii_local)."""
    pattern = EMAIL_RE if ascii_local else EMAIL_UNICODE_RE
    return pattern.match(text) is not None


def normalise_phone(value: Any) -> str | None:
    """Digits with country code and no ``+``/``00`` prefix, or None when not a phone number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = _PHONE_JUNK.sub("", str(value))
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not text.isdigit() or not 6 <= len(text) <= 17:
        return None
    return text


@dataclass(slots=True)
class AttrDef:
    """One attribute of the account."""

    name: str
    category: str
    type: str
    enumeration: list[tuple[int, str]] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    value: str | None = None

    @property
    def kind(self) -> str:
        """How values are coerced: text, phone, date, float, boolean, category, multi, none."""
        if self.name in PHONE_ATTRIBUTES:
            return "phone"
        if self.category == "category":
            return "category"
        if self.category in ("calculated", "global"):
            return "none"
        if self.type == "multiple-choice":
            return "multi"
        if self.type in ("date", "float", "boolean"):
            return self.type
        return "text"

    def as_wire(self) -> dict[str, Any]:
        """The ``GET /contacts/attributes`` entry."""
        out: dict[str, Any] = {"name": self.name, "category": self.category}
        # The spec's example shows category attributes with type "text" (its response enum
        # has no "category" type).
        out["type"] = "text" if self.category == "category" else self.type
        if self.category == "category":
            out["enumeration"] = [{"value": v, "label": lab} for v, lab in self.enumeration]
        if self.type == "multiple-choice":
            out["multiCategoryOptions"] = list(self.options)
        if self.value is not None:
            out["calculatedValue"] = self.value
        return out

    def coercer(self, *, labels: bool = True) -> Callable[[Any], Any]:
        """Return a function mapping an input value to the stored form, or ``INVALID``.

        ``labels=False`` (config ``category_labels: false``): a category attribute takes only
        an enumeration value; a label is ignored like any value that doesn't fit.
        """
        kind = self.kind
        if kind == "text":
            return _coerce_text
        if kind == "phone":
            return _coerce_phone
        if kind == "date":
            return _coerce_date
        if kind == "float":
            return _coerce_float
        if kind == "boolean":
            return _coerce_bool
        if kind == "category":
            by_value = {v for v, _ in self.enumeration}
            by_label = {lab.strip().lower(): v for v, lab in self.enumeration}

            def coerce_category(value: Any) -> Any:
                if isinstance(value, bool):
                    return INVALID
                if isinstance(value, int):
                    return value if value in by_value else INVALID
                if isinstance(value, str):
                    text = value.strip()
                    if text.lstrip("-").isdigit() and int(text) in by_value:
                        return int(text)
                    return by_label.get(text.lower(), INVALID) if labels else INVALID
                return INVALID

            return coerce_category
        if kind == "multi":
            canon = {o.strip().lower(): o for o in self.options}

            def coerce_multi(value: Any) -> Any:
                if isinstance(value, str):
                    parts = value.split(",")
                elif isinstance(value, list):
                    parts = [p for p in value if isinstance(p, str)]
                else:
                    return INVALID
                chosen: list[str] = []
                for part in parts:
                    option = canon.get(part.strip().lower())
                    if option is not None and option not in chosen:
                        chosen.append(option)
                return chosen or INVALID

            return coerce_multi
        return _coerce_none

    def render(self, stored: Any) -> Any:
        """Stored form -> the value ``GET /contacts`` shows (category: the option's label)."""
        if self.category == "category" and isinstance(stored, int):
            for value, label in self.enumeration:
                if value == stored:
                    return label
        return stored

    def to_cell(self, stored: Any) -> str:
        """Stored form -> the text of an export cell."""
        if stored is None:
            return ""
        if isinstance(stored, bool):
            return "true" if stored else "false"
        if isinstance(stored, float):
            return format_float(stored)
        if isinstance(stored, list):
            return ",".join(str(s) for s in stored)
        if self.category == "category":
            return str(self.render(stored))
        return str(stored)


def format_float(value: float) -> str:
    """``12.0`` -> ``12``, ``12.5`` -> ``12.5`` (shortest round-trip text)."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _coerce_text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_float(float(value)) if isinstance(value, float) else str(value)
    return INVALID


def _coerce_phone(value: Any) -> Any:
    phone = normalise_phone(value)
    return INVALID if phone is None else phone


@lru_cache(maxsize=65536)
def _parse_date(text: str) -> str | None:
    text = text.strip()
    match = _DATE_YMD.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DATE_DMY.match(text)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _coerce_date(value: Any) -> Any:
    if not isinstance(value, str):
        return INVALID
    parsed = _parse_date(value)
    return INVALID if parsed is None else parsed


def _coerce_float(value: Any) -> Any:
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return INVALID
    else:
        return INVALID
    return number if math.isfinite(number) else INVALID


def _coerce_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value, INVALID)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return INVALID


def _coerce_none(value: Any) -> Any:
    return INVALID
