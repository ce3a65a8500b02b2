"""Typed comparison of a value sent in an import body with the value Brevo holds.

Pure: no I/O. A body holds normalised text (:mod:`etl.imports.normalise`): booleans
``true``/``false``, dates ``YYYY-MM-DD``, floats as plain decimals, categories as their
enumeration value, multiple-choice values as option names joined by commas, phones in E.164.
What Brevo gives back is not promised in any one format (docs/brevo/FACTS.md sections 11 and
12): ``GET /contacts/{id}`` answers JSON (a boolean, a number, a category's label or value), an
export answers text typed by :mod:`etl.exports.convert` (``bool``, ``date``, ``float``, lists).
So both sides are read into Python values by the attribute's kind and compared as such, never as
text: a held ``true`` differs from a sent ``false``, a held ``03-02-2024`` (the account's
``dd-mm-yyyy``) equals a sent ``2024-02-03``, a held label ``Gold`` equals a sent ``2``.
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from etl.exports.convert import ParseSettings
from etl.imports.normalise import AttributeSpec

_TRUE = frozenset({"true", "yes", "y", "1", "t", "oui", "vrai"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "non", "faux"})
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FORMATS = {"dd-mm-yyyy": "%d-%m-%Y", "mm-dd-yyyy": "%m-%d-%Y", "yyyy-mm-dd": "%Y-%m-%d"}

DateSettingsSource = Callable[[], ParseSettings]
"""Returns the account's date settings; called only when a held date is not ISO 8601."""


class _Unreadable:
    """A held value that cannot be read as the attribute's kind (it then differs)."""

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = _Unreadable()


def _text(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def _boolean(value: Any) -> bool | _Unreadable:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return UNREADABLE


def _date(value: Any, settings: DateSettingsSource | None) -> date | _Unreadable:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    iso = _ISO_DAY.match(text)
    if iso:
        with contextlib.suppress(ValueError):
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    if settings is None:
        return UNREADABLE
    # Not ISO: Brevo writes dates in the account's dateFormat (docs/brevo/FACTS.md F1b).
    fmt = _DAY_FORMATS.get(settings().date_format)
    if fmt is None:
        return UNREADABLE
    day = text.split(" ", 1)[0].split("T", 1)[0]
    for candidate in (fmt, fmt.replace("-", "/"), fmt.replace("-", ".")):
        with contextlib.suppress(ValueError):
            return datetime.strptime(day, candidate).date()  # noqa: DTZ007 - a day, no zone
    return UNREADABLE


def _float(value: Any) -> float | _Unreadable:
    if isinstance(value, bool):
        return UNREADABLE
    if isinstance(value, int | float):
        return float(value)
    text = _text(value).replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return UNREADABLE
    return number if math.isfinite(number) else UNREADABLE


def _category(value: Any, spec: AttributeSpec) -> int | str | _Unreadable:
    if isinstance(value, bool):
        return UNREADABLE
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _text(value)
    # spec.enumeration maps both the lower-cased label and str(value) to the value.
    found = spec.enumeration.get(text.lower())
    if found is not None:
        return found
    return text.casefold() if text else UNREADABLE


def _choices(value: Any) -> frozenset[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return frozenset(_text(i).casefold() for i in items if _text(i))


def read_sent(text: str, spec: AttributeSpec) -> Any:
    """A body value (normalised text) as the Python value of its kind."""
    return read_held(text, spec, None)


def read_held(value: Any, spec: AttributeSpec, settings: DateSettingsSource | None) -> Any:
    """A held value (JSON or typed export cell) as the Python value of its kind.

    Returns None for an absent or empty value, :data:`UNREADABLE` for one that is not of the
    kind (such a value differs from anything sent).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, list | tuple) and not value and spec.kind == "multiple-choice":
        return None
    kind = spec.kind
    if kind == "boolean":
        return _boolean(value)
    if kind == "date":
        return _date(value, settings)
    if kind == "float":
        return _float(value)
    if kind == "category":
        return _category(value, spec)
    if kind == "multiple-choice":
        return _choices(value)
    if kind == "phone":
        return _digits(value) or UNREADABLE
    if kind == "email":
        return _text(value).casefold()
    return _text(value)


def same(sent: str, held: Any, spec: AttributeSpec, settings: DateSettingsSource | None) -> bool:
    """Whether Brevo holds the value sent (``sent``: body text; ``held``: JSON or typed cell)."""
    want = read_sent(sent, spec)
    got = read_held(held, spec, settings)
    if got is None or got is UNREADABLE or want is None or want is UNREADABLE:
        return False
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9)
    return bool(want == got)


def show(value: Any) -> str:
    """A held value as one cell of the outcomes file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(str(v) for v in value)
    return str(value)


def wire_value(sent: str, spec: AttributeSpec) -> Any:
    """The JSON value that sets ``sent`` through Brevo's update endpoints.

    Booleans as JSON booleans (the import's ``false`` is what Brevo has been seen to ignore,
    docs/brevo/FACTS.md F4), floats as numbers, categories as their enumeration value (labels
    are ignored on update, F10), multiple-choice as a list of option names; the rest as text.
    """
    kind = spec.kind
    if kind == "boolean":
        return sent.strip().lower() == "true"
    if kind == "float":
        number = float(sent)
        return int(number) if number.is_integer() and abs(number) < 1e15 else number
    if kind == "category":
        found = spec.enumeration.get(sent.strip().lower())
        return found if found is not None else sent
    if kind == "multiple-choice":
        return [part.strip() for part in sent.split(",") if part.strip()]
    return sent


def held_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A contact's attributes keyed by upper-case name (Brevo's names are upper-case)."""
    return {str(k).upper(): v for k, v in attributes.items()}
