"""Value converters: export CSV cells (strings) -> typed Arrow arrays, and the account's dates.

Formats (docs/brevo/FACTS.md, top table): date-times are ``dd-mm-yyyy HH:MM:SS`` in the account's timezone,
or ISO 8601 UTC with ``exportDateInUTC``; date attributes ``YYYY-MM-DD``; booleans
``true``/``false``; category attributes the label; multiple-choice attributes comma-joined;
``_listIds`` ``[2|7]``; channels ``|``-joined. Parsing is tolerant of the variants seen in the wild
(``yyyy-mm-dd HH:MM:SS``, a missing time, ``True``/``Yes``...), and loud about anything else.

Speed: every column is converted with vectorised ``pyarrow.compute`` kernels; repetitive columns
(channels, booleans, choices, list ids) are converted once per distinct cell through a
dictionary. Per-value Python only runs for the rare cells no vectorised format recognised.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import InputError
from etl.exports.layout import TIMESTAMP_TYPE, ColumnSpec

logger = logging.getLogger(__name__)

DATE_FORMATS: tuple[str, ...] = ("dd-mm-yyyy", "mm-dd-yyyy", "yyyy-mm-dd")
TIME_FORMATS: tuple[str, ...] = ("24", "12")
# A cell of at most this many characters has no time of day (``12-25-2026``, ``2026-12-25``).
DAY_ONLY_MAX_CHARS = 10

_TRUE = ("true", "yes", "y", "1", "t", "oui", "vrai")
_FALSE = ("false", "no", "n", "0", "f", "non", "faux")
_TRUE_SPELLINGS = pa.array(sorted({w for t in _TRUE for w in (t, t.upper(), t.title())}))
_FALSE_SPELLINGS = pa.array(sorted({w for f in _FALSE for w in (f, f.upper(), f.title())}))
_CHANNELS = pa.array(["email_marketing", "sms_marketing"])


class ExportFormatError(ValueError):
    """An export file does not look like a Brevo export; the message names file, column, value."""


@dataclass(frozen=True)
class ParseSettings:
    """Account settings that change how date-times are written in an export.

    They come from ``GET /account`` ``dateTimePreferences`` (docs/brevo/FACTS.md F1b): Brevo writes export
    dates in the account's ``dateFormat``, ``timeFormat`` (``12``/``24``) and timezone. ISO 8601
    cells are always accepted too. Cells without a time of day (docs/brevo/FACTS.md F1: real exports are
    day-only, even with ``exportDateInUTC``) become 00:00 of that day in the account's timezone.
    """

    timezone: str = "UTC"
    date_format: str = "dd-mm-yyyy"
    time_format: str = "24"

    def __post_init__(self) -> None:
        if self.date_format not in DATE_FORMATS:
            raise InputError(
                f"unknown account date format {self.date_format!r}; expected one of "
                + ", ".join(DATE_FORMATS)
            )
        if self.time_format not in TIME_FORMATS:
            raise InputError(
                f"unknown account time format {self.time_format!r}; expected one of "
                + ", ".join(TIME_FORMATS)
            )
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:
            raise InputError(f"unknown timezone {self.timezone!r}") from exc

    def day_start(self, moment: datetime) -> datetime:
        """00:00 (account timezone) of ``moment``'s day there, as a UTC instant (naive = UTC).

        Localised exactly as day-only cells are, so comparing with them is exact.
        """
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        day = moment.astimezone(ZoneInfo(self.timezone)).date()
        naive = pc.cast(pa.array([day], pa.date32()), pa.timestamp("us"))
        value = localise(naive, self)[0].as_py()
        assert isinstance(value, datetime)
        return value


@dataclass
class Where:
    """The file and column being converted, to name them in errors."""

    path: Path
    column: str

    def error(self, value: object, what: str) -> ExportFormatError:
        """An error naming the file, the column and the value that could not be read."""
        return ExportFormatError(
            f"{self.path.name}: column {self.column}: cannot read {value!r} as {what}"
        )


def _leftovers(original: pa.Array, result: pa.Array) -> pa.Array:
    """Mask of cells that hold text but were not converted."""
    return pc.and_(pc.is_valid(original), pc.is_null(result))


def _patch(
    result: pa.Array, mask: pa.Array, values: Sequence[object], typ: pa.DataType
) -> pa.Array:
    return pc.replace_with_mask(result, mask, pa.array(values, type=typ))


def _first_valid(arr: pa.Array) -> str | None:
    head = pc.drop_null(arr.slice(0, 256))
    if len(head) == 0:
        head = pc.drop_null(arr)
    return head[0].as_py() if len(head) else None


def _strptime_formats(settings: ParseSettings, *, with_time: bool) -> list[str]:
    day = {"dd-mm-yyyy": "%d-%m-%Y", "mm-dd-yyyy": "%m-%d-%Y", "yyyy-mm-dd": "%Y-%m-%d"}[
        settings.date_format
    ]
    days = [day, day.replace("-", "/"), day.replace("-", ".")]
    if with_time:
        clock = ["%H:%M:%S", "%H:%M"]
        am_pm = ["%I:%M:%S %p", "%I:%M %p"]
        times = am_pm + clock if settings.time_format == "12" else clock + am_pm
        return [f"{d} {t}" for d in days for t in times] + days
    return days


def _py_datetime(text: str, settings: ParseSettings) -> datetime | None:
    value = text.strip()
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return parsed
    for fmt in _strptime_formats(settings, with_time=True):
        with contextlib.suppress(ValueError):
            return datetime.strptime(value, fmt)  # noqa: DTZ007 - localised by the caller
    return None


def localise(naive: pa.Array, settings: ParseSettings) -> pa.Array:
    """Naive local date-times (account timezone) -> UTC instants; DST gaps take the earliest."""
    if settings.timezone == "UTC":
        return pc.cast(naive, TIMESTAMP_TYPE)
    local = pc.assume_timezone(
        naive, timezone=settings.timezone, ambiguous="earliest", nonexistent="earliest"
    )
    return pc.cast(local, TIMESTAMP_TYPE)


def _to_timestamp(arr: pa.Array, settings: ParseSettings, where: Where) -> pa.Array:
    sample = _first_valid(arr)
    if sample is None:
        return pa.nulls(len(arr), TIMESTAMP_TYPE)

    def iso_zoned(a: pa.Array) -> pa.Array | None:
        try:
            return pc.cast(a, TIMESTAMP_TYPE)
        except pa.ArrowInvalid:
            return None

    def iso_naive(a: pa.Array) -> pa.Array | None:
        try:
            return localise(pc.cast(a, pa.timestamp("us")), settings)
        except pa.ArrowInvalid:
            return None

    formats = _strptime_formats(settings, with_time=True)
    if (
        len(sample.strip()) <= DAY_ONLY_MAX_CHARS
    ):  # day-only cells (docs/brevo/FACTS.md F1): days first
        days = _strptime_formats(settings, with_time=False)
        formats = days + [f for f in formats if f not in days]

    def local_formats(a: pa.Array) -> pa.Array | None:
        out = None
        for fmt in formats:
            parsed = pc.strptime(a, format=fmt, unit="us", error_is_null=True)
            out = parsed if out is None else pc.coalesce(out, parsed)
            if pc.sum(_leftovers(a, out)).as_py() in (0, None):
                break
        return localise(out, settings) if out is not None else None

    if re.match(r"^\s*\d{4}-", sample):
        zoned = bool(re.search(r"(Z|[+-]\d\d:?\d\d)\s*$", sample))
        parsers = [iso_zoned, iso_naive] if zoned else [iso_naive, iso_zoned]
        parsers.append(local_formats)
    else:
        parsers = [local_formats, iso_zoned, iso_naive]
    result: pa.Array | None = None
    for parser in parsers:
        parsed = parser(arr)
        if parsed is None:
            continue
        result = parsed if result is None else pc.coalesce(result, parsed)
        if not pc.any(_leftovers(arr, result)).as_py():
            return result
    if result is None:
        result = pa.nulls(len(arr), TIMESTAMP_TYPE)
    mask = _leftovers(arr, result)
    zone = ZoneInfo(settings.timezone)
    fixed: list[datetime] = []
    for text in pc.filter(arr, mask).to_pylist():
        value = _py_datetime(text, settings)
        if value is None:
            raise where.error(
                text,
                f"a date-time (account format {settings.date_format}, "
                f"{settings.time_format}-hour clock, or ISO 8601)",
            )
        fixed.append(value if value.tzinfo else value.replace(tzinfo=zone))
    return _patch(result, mask, [v.astimezone(UTC) for v in fixed], TIMESTAMP_TYPE)


def _py_date(text: str, settings: ParseSettings) -> date | None:
    value = text.strip()
    with contextlib.suppress(ValueError):
        return date.fromisoformat(value[:10])
    parsed = _py_datetime(value, settings)
    return parsed.date() if parsed is not None else None


def _to_date(arr: pa.Array, settings: ParseSettings, where: Where) -> pa.Array:
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), pa.date32())
    try:
        return pc.cast(arr, pa.date32())
    except pa.ArrowInvalid:
        pass
    result = pa.nulls(len(arr), pa.date32())
    for fmt in _strptime_formats(settings, with_time=False):
        parsed = pc.cast(pc.strptime(arr, format=fmt, unit="s", error_is_null=True), pa.date32())
        result = pc.coalesce(result, parsed)
    mask = _leftovers(arr, result)
    if not pc.any(mask).as_py():
        return result
    fixed = []
    for text in pc.filter(arr, mask).to_pylist():
        value = _py_date(text, settings)
        if value is None:
            raise where.error(text, "a date")
        fixed.append(value)
    return _patch(result, mask, fixed, pa.date32())


def _to_float(arr: pa.Array, where: Where) -> pa.Array:
    try:
        return pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        pass
    values: list[float | None] = []
    for text in arr.to_pylist():
        if text is None:
            values.append(None)
            continue
        cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            values.append(float(cleaned) if cleaned else None)
        except ValueError:
            raise where.error(text, "a number") from None
    return pa.array(values, type=pa.float64())


def lower(arr: pa.Array) -> pa.Array:
    """Lower-case; the ASCII kernel is ~20x faster and exact when every value is ASCII."""
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return pc.ascii_lower(arr)
    return pc.utf8_lower(arr)


def _to_bool(arr: pa.Array, where: Where) -> pa.Array:
    # Fast path: the spellings Brevo writes, as they are; anything else is lower-cased, trimmed.
    truthy = pc.is_in(arr, value_set=_TRUE_SPELLINGS)
    falsy = pc.is_in(arr, value_set=_FALSE_SPELLINGS)
    if pc.sum(pc.or_(truthy, falsy)).as_py() != len(arr) - arr.null_count:
        lowered = lower(pc.utf8_trim_whitespace(arr))
        truthy = pc.is_in(lowered, value_set=pa.array(_TRUE))
        falsy = pc.is_in(lowered, value_set=pa.array(_FALSE))
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.or_(truthy, falsy)))
    if pc.any(bad).as_py():
        raise where.error(pc.filter(arr, bad)[0].as_py(), "a boolean")
    return pc.if_else(pc.or_(truthy, falsy), truthy, pa.nulls(len(arr), pa.bool_()))


def _exact_bool(arr: pa.Array) -> pa.Array | None:
    """``true``/``false`` cells (as Brevo writes them) by two comparisons; else None.

    The same values as :func:`_to_bool` (nulls stay null), without hashing any cell.
    """
    truthy = pc.equal(arr, "true")
    if pc.sum(truthy).as_py() == len(arr) - arr.null_count:
        return truthy
    falsy = pc.equal(arr, "false")
    if pc.sum(pc.or_(truthy, falsy)).as_py() != len(arr) - arr.null_count:
        return None
    return truthy


def _to_category(
    arr: pa.Array, spec: ColumnSpec, where: Where, warned: set[str], *, fast: bool = True
) -> tuple[pa.Array, pa.Array]:
    """The label and value columns of a category (``fast=False``: the general path alone)."""
    labels = pa.array(spec.labels, type=pa.string())
    values = pa.array(spec.values, type=pa.int64())
    by_label = pc.index_in(arr, value_set=labels)
    if fast and by_label.null_count == arr.null_count:
        # Every cell is a label (what Brevo writes): the labels are the cells themselves.
        return arr, pc.take(values, by_label)
    # Tolerate files that carry the enumeration value instead of its label.
    by_value = pc.index_in(arr, value_set=pa.array([str(v) for v in spec.values], pa.string()))
    idx = pc.coalesce(by_label, by_value)
    label = pc.if_else(pc.is_valid(by_label), arr, pc.take(labels, by_value))
    label = pc.coalesce(label, arr)
    value = pc.take(values, idx)
    unknown = pc.sum(pc.and_(pc.is_valid(arr), pc.is_null(idx))).as_py() or 0
    if unknown and spec.name not in warned:
        warned.add(spec.name)
        logger.warning(
            "%s: column %s: %d value(s) are not in the category's enumeration; their %s is null",
            where.path.name,
            where.column,
            unknown,
            spec.value_name,
        )
    return label, value


def _list_from(split: pa.Array, values: pa.Array, *, keep_nulls: bool) -> pa.Array:
    lengths = pc.fill_null(pc.list_value_length(split), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(split) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    mask = pc.is_null(split) if keep_nulls else None
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


def _split_cells(arr: pa.Array, *, tolerant: bool) -> tuple[pa.Array, pa.Array]:
    """``[2|7]`` -> list cells and their flattened items; ``[]`` and empty cells -> no items.

    The fast path splits on ``|`` only; ``tolerant`` also accepts ``,`` and padding (the caller
    retries with it when the fast path's items do not convert).
    """
    text = pc.utf8_trim(arr, characters="[] \t" if tolerant else "[]")
    if tolerant:
        text = pc.replace_substring(text, ",", "|")
    text = pc.if_else(pc.equal(text, ""), pa.nulls(len(text), pa.string()), text)
    split = pc.split_pattern(text, "|")
    items = pc.list_flatten(split)
    if tolerant:
        items = pc.utf8_trim_whitespace(items)
    return split, items


def _to_list_ids(arr: pa.Array, where: Where) -> pa.Array:
    split, items = _split_cells(arr, tolerant=False)
    try:
        ints = pc.cast(items, pa.int64())
    except pa.ArrowInvalid:
        split, items = _split_cells(arr, tolerant=True)
        try:
            ints = pc.cast(items, pa.int64())
        except pa.ArrowInvalid:
            raise where.error(_first_bad_list(arr), "a list id") from None
    # An empty cell or "[]" both mean "in no list".
    return _list_from(split, ints, keep_nulls=False)


def _first_bad_list(arr: pa.Array) -> str | None:
    for cell in arr.to_pylist():
        items = (cell or "").strip("[] \t").replace(",", "|").split("|")
        if cell and any(not re.fullmatch(r"\s*[+-]?\d+\s*", item) for item in items if item):
            return str(cell)
    return None


def _to_channels(arr: pa.Array) -> pa.Array:
    split, items = _split_cells(arr, tolerant=False)
    if not pc.all(pc.is_in(items, value_set=_CHANNELS)).as_py():
        split, items = _split_cells(arr, tolerant=True)
    return _list_from(split, items, keep_nulls=False)


def _to_multiple_choice(arr: pa.Array) -> pa.Array:
    split = pc.split_pattern(arr, ",")
    return _list_from(split, pc.utf8_trim_whitespace(pc.list_flatten(split)), keep_nulls=True)


def _by_dictionary(arr: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Convert each distinct cell once when there are few (channels, booleans, choices...).

    Such columns repeat a handful of values over millions of rows: hashing them and converting
    the dictionary is several times cheaper than splitting or matching every cell.
    """
    if len(arr) < 1024:
        return convert(arr)
    encoded = pc.dictionary_encode(arr, null_encoding="encode")
    if len(encoded.dictionary) * 16 > len(arr):
        return convert(arr)
    return pc.take(convert(encoded.dictionary), encoded.indices)


def convert_column(
    column: pa.Array,
    spec: ColumnSpec,
    where: Where,
    settings: ParseSettings,
    warned: set[str],
) -> list[pa.Array]:
    """The output array(s) of one raw string column: two for a category (label and value).

    ``warned`` names the columns already warned about (unknown category values), once a file.
    """
    kind = spec.kind
    if kind == "text":
        return [column]
    if kind == "timestamp":
        return [_to_timestamp(column, settings, where)]
    if kind == "date":
        return [_to_date(column, settings, where)]
    if kind == "float":
        return [_to_float(column, where)]
    if kind == "boolean":
        exact = _exact_bool(column)
        if exact is not None:
            return [exact]
        return [_by_dictionary(column, lambda a: _to_bool(a, where))]
    if kind == "category":
        label, value = _to_category(column, spec, where, warned)
        return [label, value]
    if kind == "multiple-choice":
        return [_by_dictionary(column, _to_multiple_choice)]
    if kind == "list_ids":
        return [_by_dictionary(column, lambda a: _to_list_ids(a, where))]
    if kind == "channels":
        return [_by_dictionary(column, _to_channels)]
    raise AssertionError(f"unhandled column kind {kind}")


def day_only_mask(column: pa.Array) -> pa.Array:
    """Per cell: true when it holds a day without a time of day (``12-25-2026``)."""
    return pc.fill_null(pc.less_equal(pc.binary_length(column), DAY_ONLY_MAX_CHARS), False)
