"""Dates: the numeric forms vectorised (ISO, d/m/y or m/d/y, d.m.y, Excel serials), then
month names in Python once per distinct value; the output is ``YYYY-MM-DD``.

Only the slash form (``03/02/2024``) is ambiguous: ``.`` and ``-`` forms are read day-first, as
they are written. The order of a slash column is decided for the whole column, never value by
value: a value that reads as a date in one order only (``25/12/2023``: there is no month 25)
settles it (:func:`order_evidence` finds such values, the run's pre-scan keeps the first one per
attribute); a settled column reads every value in its order, so a value that only reads the
other way is invalid. A column nothing settles reads its ambiguous values as ``--dayfirst`` or
``--monthfirst`` says; without either they are flagged ambiguous (the row is rejected
``ambiguous_date``) rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.normalise.kernels import PARSE_CACHE_SIZE, blank, bool_np, lit, parse_each, scatter

_TIME = (
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?\s*"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    # The common shapes first, without the optional time: much cheaper to extract.
    ("ymd", r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    ("slash", r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})$"),
    ("dmy", r"^(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4})$"),
    ("ymd", rf"^(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){_TIME}$"),
    ("ymd", rf"^(?P<y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}}){_TIME}$"),
    ("ymd", rf"^(?P<y>\d{{4}})\.(?P<m>\d{{1,2}})\.(?P<d>\d{{1,2}}){_TIME}$"),
    ("slash", rf"^(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("dmy", rf"^(?P<a>\d{{1,2}})\.(?P<b>\d{{1,2}})\.(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("dmy", rf"^(?P<a>\d{{1,2}})-(?P<b>\d{{1,2}})-(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("ymd", r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
    ("serial", r"^(?P<n>\d{5})(?:\.0+)?$"),
)
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january janv janvier",
        "feb febr february fev fevr fevrier",
        "mar march mars",
        "apr april avr avril",
        "may mai",
        "jun june juin",
        "jul july juil juillet",
        "aug august aou aout",
        "sep sept september septembre",
        "oct october octobre",
        "nov november novembre",
        "dec december decembre",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
_DAY_MONTH_YEAR = re.compile(
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th|er)?[\s\-./]+(?P<mon>[^\W\d_]+)\.?,?[\s\-./]+"
    rf"(?P<y>\d{{4}}|\d{{2}}){_TIME}"
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?P<mon>[^\W\d_]+)\.?[\s\-./]+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?[\s\-./]+"
    rf"(?P<y>\d{{4}}){_TIME}"
)
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")

DayOrder = Literal["day-first", "month-first"]
DAY_FIRST: DayOrder = "day-first"
MONTH_FIRST: DayOrder = "month-first"
_SLASH_PATTERNS: tuple[str, ...] = tuple(p for kind, p in _DATE_FORMATS if kind == "slash")


def _full_year(years: np.ndarray, two_digit: np.ndarray) -> np.ndarray:
    # strptime's %y rule: 69-99 -> 1900s, 00-68 -> 2000s.
    return np.where(two_digit, np.where(years >= 69, 1900 + years, 2000 + years), years)


def _valid_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    ok = (y >= 1000) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    days = days + ((m == 2) & leap)
    valid: np.ndarray = ok & (d <= days)
    return valid


def _format_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> pa.Array:
    text = pa.array((y * 10000 + m * 100 + d).astype(np.int64)).cast(pa.large_string())
    return pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 4),
        pc.utf8_slice_codeunits(text, 4, 6),
        pc.utf8_slice_codeunits(text, 6, 8),
        lit("-"),
    )


def _ints(parts: pa.StructArray, name: str) -> np.ndarray:
    values: np.ndarray = pc.cast(parts.field(name), pa.int64()).to_numpy(zero_copy_only=False)
    return values


def _slash_parts(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the slash-form values, their year, and their first and second numbers."""
    n = len(values)
    done = np.zeros(n, dtype=bool)
    idx_parts: list[np.ndarray] = []
    y_parts: list[np.ndarray] = []
    a_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    for pattern in _SLASH_PATTERNS:
        todo = np.flatnonzero(~done)
        if not len(todo):
            break
        parts = pc.extract_regex(values.take(pa.array(todo)), pattern)
        matched = bool_np(parts.is_valid())
        if not matched.any():
            continue
        sel = todo[matched]
        parts = parts.filter(pa.array(matched))
        y_text = parts.field("y")
        idx_parts.append(sel)
        y_parts.append(_full_year(_ints(parts, "y"), pc.utf8_length(y_text).to_numpy() == 2))
        a_parts.append(_ints(parts, "a"))
        b_parts.append(_ints(parts, "b"))
        done[sel] = True
    if not idx_parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    idx = np.concatenate(idx_parts)
    order = np.argsort(idx, kind="stable")
    return (
        idx[order],
        np.concatenate(y_parts)[order],
        np.concatenate(a_parts)[order],
        np.concatenate(b_parts)[order],
    )


@dataclass(frozen=True)
class OrderEvidence:
    """What a column's slash-form values say about its day/month order (first of each kind)."""

    day_first: int | None = None
    """Position of the first value that is a date read day-first only (``25/12/2023``)."""
    month_first: int | None = None
    """Position of the first value that is a date read month-first only (``12/25/2023``)."""
    ambiguous: int | None = None
    """Position of the first value that is a different date in each order (``03/02/2024``)."""


def order_evidence(values: pa.Array) -> OrderEvidence:
    """Where ``values`` (trimmed, in row order) first settle day-first, month-first, or neither."""
    idx, y, a, b = _slash_parts(values)
    if not len(idx):
        return OrderEvidence()
    as_day_first = _valid_ymd(y, b, a)
    as_month_first = _valid_ymd(y, a, b)

    def first(mask: np.ndarray) -> int | None:
        hits = np.flatnonzero(mask)
        return int(idx[hits[0]]) if len(hits) else None

    return OrderEvidence(
        day_first=first(as_day_first & ~as_month_first),
        month_first=first(as_month_first & ~as_day_first),
        ambiguous=first(as_day_first & as_month_first & (a != b)),
    )


def normalise_dates(
    uniques: pa.Array, *, dayfirst: bool | None, order: DayOrder | None = None
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """``YYYY-MM-DD`` of the valid dates ('' elsewhere), which are invalid, which ambiguous.

    ``order`` is the column's settled order: every slash value is read so (no swap). Without
    it, a value that is a date in one order only is read so, and the others as ``dayfirst``
    says; with ``dayfirst`` None they are left out and flagged ambiguous instead.
    """
    n = len(uniques)
    ambiguous = np.zeros(n, dtype=bool)
    done = pc.equal(uniques, "").to_numpy(zero_copy_only=False).copy()
    parsed = np.zeros(n, dtype=bool)
    found_idx: list[np.ndarray] = []
    found_text: list[pa.Array] = []
    for kind, pattern in _DATE_FORMATS:
        todo = np.flatnonzero(~done)
        if not len(todo):
            break
        parts = pc.extract_regex(uniques.take(pa.array(todo)), pattern)
        matched = bool_np(parts.is_valid())
        if not matched.any():
            continue
        sel = todo[matched]
        parts = parts.filter(pa.array(matched))
        if kind == "serial":
            days = _EXCEL_EPOCH + _ints(parts, "n").astype("timedelta64[D]")
            y = days.astype("datetime64[Y]").astype(np.int64) + 1970
            m = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
            d = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
            ok = np.ones(len(sel), dtype=bool)
        elif kind == "ymd":
            y, m, d = _ints(parts, "y"), _ints(parts, "m"), _ints(parts, "d")
            ok = _valid_ymd(y, m, d)
        else:
            y_text = parts.field("y")
            y = _full_year(_ints(parts, "y"), pc.utf8_length(y_text).to_numpy() == 2)
            a, b = _ints(parts, "a"), _ints(parts, "b")
            settled = kind == "slash" and order is not None
            day_first = order == DAY_FIRST if settled else (kind == "dmy" or bool(dayfirst))
            d, m = (a, b) if day_first else (b, a)
            ok = _valid_ymd(y, m, d)
            if not settled:
                # Swap when only the other order makes a date (25/12 cannot be month 25).
                swap = ~ok & _valid_ymd(y, d, m)
                if kind == "slash" and dayfirst is None:
                    unsure = ok & _valid_ymd(y, d, m) & (a != b)
                    ambiguous[sel[unsure]] = True
                    ok = ok & ~unsure
                d, m = np.where(swap, m, d), np.where(swap, d, m)
                ok = ok | swap
        good = np.flatnonzero(ok)
        if len(good):
            found_idx.append(sel[good])
            found_text.append(_format_ymd(y[good], m[good], d[good]).cast(pa.large_string()))
            parsed[sel[good]] = True
        done[sel] = True  # matched a numeric form: valid or not, no other form applies
    out = blank(n)
    if found_idx:
        out = scatter(out, np.concatenate(found_idx), pa.concat_arrays(found_text))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~parsed & ~empty & ~ambiguous)
    bad = np.zeros(n, dtype=bool)
    return parse_each(out, uniques, rest, bad, _parse_named_date), bad, ambiguous


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_named_date(text: str) -> str | None:
    """Dates with a month name: ``12 Mar 1990``, ``12-mars-90``, ``March 12, 1990``."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        match = pattern.fullmatch(folded)
        if not match:
            continue
        month = _MONTHS.get(match.group("mon"))
        if month is None:
            continue
        year_text = match.group("y")
        y = _full_year(np.array([int(year_text)]), np.array([len(year_text) == 2]))
        m, d = np.array([month]), np.array([int(match.group("d"))])
        if _valid_ymd(y, m, d)[0]:
            return f"{int(y[0]):04d}-{month:02d}-{int(d[0]):02d}"
    return None
