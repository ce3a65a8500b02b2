"""Parse Brevo export CSVs into typed Arrow batches and merge every file of a run into one table.

The exported file (FACTS.md, top table): UTF-8, ``;``-separated, a header row, double quotes
when needed. ``EMAIL``, ``ADDED_TIME`` and ``MODIFIED_TIME`` (mandatory attributes), then the
requested attributes; metadata ``_listIds`` as ``[2|7]``; ``ADDED_TIME AS _ADDED_TIME`` aliases
rename a column; ``_SUBSCRIBED``/``_BLOCKLISTED`` hold ``|``-joined channels. Date-times are
``dd-mm-yyyy HH:MM:SS`` in the account's timezone, or ISO 8601 UTC with ``exportDateInUTC``;
date attributes ``YYYY-MM-DD``; booleans ``true``/``false``; category attributes the label;
multiple-choice attributes comma-joined. Parsing is tolerant of the variants seen in the wild
(``yyyy-mm-dd HH:MM:SS``, a missing time, ``True``/``Yes``...), and loud about anything else.

Speed: every file is read as strings by ``pyarrow.csv.open_csv`` (streaming, blocks of at most
4 MiB) and converted with vectorised ``pyarrow.compute`` kernels; repetitive columns (channels,
booleans, choices, list ids) are converted once per distinct cell through a dictionary. Per-value
Python only runs for the rare cells no vectorised format recognised.

Merging (:func:`merge_exports`):

* one source (one export, in one file or several ``skipFilesMerge`` parts): a Brevo export lists
  each contact once, so the files stream straight through, one output stream per file (written in
  parallel), with no global grouping. The identifiers met are kept (in memory up to
  ``KEY_MEMORY_BYTES``, else spilled; quick 64-bit fingerprints of them decide the usual case,
  the keys are counted by DuckDB under ``KEY_CHECK_MEMORY_LIMIT`` when two fingerprints are
  equal) to prove that; should an export ever repeat a contact, :meth:`MergeResult.finish` raises
  :class:`DuplicateIdentifiers` and :meth:`MergeResult.regroup` redoes the merge the grouping way
  (``etl.exports.parquet.write_partition`` does both, so the repeat never becomes visible).
* several sources: typed rows are staged as Parquet in ``work_dir`` (files in parallel), DuckDB
  (database file in ``work_dir``, ``memory_limit``, spilling to disk) finds the identifiers met
  more than once (EMAIL lower-cased, else EXT_ID, SMS, WHATSAPP, LANDLINE_NUMBER). Rows met once
  pass straight through; repeated rows come back sorted by (identifier, file order) and are
  folded a batch at a time with pyarrow: list ids and ``_sources`` are unioned (sorted), for
  other columns the first non-null value in file order wins. Memory is bounded by DuckDB's cap
  plus a few batches, whatever the size of the exports. Row order in the output is unspecified.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import logging
import os
import re
import shutil
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from etl.brevo.models import Attribute
from etl.errors import InputError
from etl.fingerprints import quick_fingerprints

logger = logging.getLogger(__name__)

ColumnCase = Literal["snake", "brevo"]
Strategy = Literal["auto", "stream", "duckdb"]

SOURCES_COLUMN = "_sources"
SCHEMA_VERSION = "1"
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
# Identifier columns, in the order used to fold duplicates across exports.
IDENTIFIER_COLUMNS: tuple[str, ...] = ("EMAIL", "EXT_ID", "SMS", "WHATSAPP", "LANDLINE_NUMBER")
DATE_METADATA: tuple[str, ...] = ("ADDED_TIME", "MODIFIED_TIME")
LIST_IDS_COLUMN = "_listIds"
CHANNEL_COLUMNS: tuple[str, ...] = ("_SUBSCRIBED", "_BLOCKLISTED")
# pyarrow parses mid-sized blocks fastest (measured: 1-4 MiB beat 16+ MiB by 1.5-2x).
MAX_BLOCK_BYTES = 4 << 20
KEY_MEMORY_BYTES = 128 << 20  # about four million e-mail addresses
QUICK_CHECK_MIN_KEYS = 200_000  # below: one exact pc.unique beats starting DuckDB
KEY_CHECK_MEMORY_LIMIT = "256MB"  # DuckDB's cap when the spilled keys are counted
ORDINAL_FILE_SHIFT = 40  # up to 2**40 rows per file, 2**23 files
_KEY_SCHEMA = pa.schema([pa.field("k", pa.string())])
DATE_FORMATS: tuple[str, ...] = ("dd-mm-yyyy", "mm-dd-yyyy", "yyyy-mm-dd")
TIME_FORMATS: tuple[str, ...] = ("24", "12")
# A cell of at most this many characters has no time of day (``12-25-2026``, ``2026-12-25``).
DAY_ONLY_MAX_CHARS = 10

_TRUE = ("true", "yes", "y", "1", "t", "oui", "vrai")
_FALSE = ("false", "no", "n", "0", "f", "non", "faux")
_TRUE_SPELLINGS = pa.array(sorted({w for t in _TRUE for w in (t, t.upper(), t.title())}))
_FALSE_SPELLINGS = pa.array(sorted({w for f in _FALSE for w in (f, f.upper(), f.title())}))
_CHANNELS = pa.array(["email_marketing", "sms_marketing"])
_KIND_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "float": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "category": pa.string(),
    "multiple-choice": pa.list_(pa.string()),
    "timestamp": TIMESTAMP_TYPE,
    "list_ids": pa.list_(pa.int64()),
    "channels": pa.list_(pa.string()),
}
# Attribute categories whose definition wins when one name exists in several categories.
_CATEGORY_RANK = {"normal": 0, "category": 0, "calculated": 1, "global": 2, "transactional": 3}


class ExportFormatError(ValueError):
    """An export file does not look like a Brevo export; the message names file, column, value."""


class DuplicateIdentifiers(RuntimeError):
    """A single-source stream met the same contact twice; regroup the merge (see MergeResult)."""


@dataclass(frozen=True)
class ExportFile:
    """One downloaded export file (or one part of a ``skipFilesMerge`` export)."""

    path: Path
    source: str
    process_id: int | None = None


@dataclass(frozen=True)
class ColumnSpec:
    """How one CSV column becomes one (or, for categories, two) output columns."""

    header: tuple[str, int]
    name: str
    kind: str
    labels: tuple[str, ...] = ()
    values: tuple[int, ...] = ()
    value_name: str | None = None

    @property
    def source(self) -> str:
        """The column's name in the export file."""
        return self.header[0]


@dataclass(frozen=True)
class ExportLayout:
    """The typed layout of a set of export files: column specs and the output schema."""

    columns: tuple[ColumnSpec, ...]
    schema: pa.Schema
    modified_column: str | None
    identifier_headers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ParseSettings:
    """Account settings that change how date-times are written in an export.

    They come from ``GET /account`` ``dateTimePreferences`` (FACTS.md F1b): Brevo writes export
    dates in the account's ``dateFormat``, ``timeFormat`` (``12``/``24``) and timezone. ISO 8601
    cells are always accepted too. Cells without a time of day (FACTS.md F1: real exports are
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
        value = _localise(naive, self)[0].as_py()
        assert isinstance(value, datetime)
        return value


# --------------------------------------------------------------------------- names and layout


def snake_name(name: str) -> str:
    """``_listIds`` -> ``list_ids``, ``ADDED_TIME`` -> ``added_time``, ``Prénom`` -> ``prenom``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text:
        return "column"
    return f"col_{text}" if text[0].isdigit() else text


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``...; case-insensitive, as most warehouses compare."""
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def read_header(path: Path) -> list[str]:
    """The header row of an export file (empty for an empty file)."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        row = next(csv.reader(fh, delimiter=";", quotechar='"'), None)
    if row is None:
        return []
    return [cell.strip() for cell in row]


def _header_keys(names: Sequence[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    keys = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        keys.append((name, counts[name]))
    return keys


def _attribute_index(attributes: Sequence[Attribute]) -> dict[str, Attribute]:
    index: dict[str, Attribute] = {}
    for attr in sorted(attributes, key=lambda a: _CATEGORY_RANK.get(a.category, 9), reverse=True):
        index[attr.name.upper()] = attr
    return index


def _kind_of(name: str, attr: Attribute | None, timestamp_columns: set[str]) -> str:
    upper = name.upper()
    if upper == "EMAIL":
        return "text"
    if upper in timestamp_columns or upper.lstrip("_") in DATE_METADATA:
        return "timestamp"
    if upper == LIST_IDS_COLUMN.upper():
        return "list_ids"
    if upper in CHANNEL_COLUMNS:
        return "channels"
    if attr is None:
        return "text"
    kind = attr.kind
    if kind == "multiple-choice" or (attr.multi_category_options and kind == "text"):
        return "multiple-choice"
    return kind if kind in _KIND_TYPES else "text"


def plan_layout(
    attributes: Sequence[Attribute],
    columns: Sequence[str] | Sequence[tuple[str, int]],
    *,
    column_case: ColumnCase = "snake",
    timestamp_columns: Sequence[str] = (),
) -> ExportLayout:
    """Work out the typed output layout of export files with these header columns."""
    if column_case not in ("snake", "brevo"):
        raise InputError(f"column case must be 'snake' or 'brevo', got {column_case!r}")
    keys = (
        [c for c in columns if isinstance(c, tuple)]
        if columns and isinstance(columns[0], tuple)
        else _header_keys([str(c) for c in columns])
    )
    index = _attribute_index(attributes)
    stamps = {c.upper() for c in timestamp_columns}
    taken: set[str] = {SOURCES_COLUMN.lower()}
    specs: list[ColumnSpec] = []
    fields: list[pa.Field] = []
    modified: str | None = None
    for key in keys:
        header = key[0]
        attr = index.get(header.upper())
        kind = _kind_of(header, attr, stamps)
        base = snake_name(header) if column_case == "snake" else (header or "column")
        name = _unique(base, taken)
        meta = {"brevo_name": header, "brevo_type": kind}
        labels: tuple[str, ...] = ()
        values: tuple[int, ...] = ()
        value_name = None
        if kind == "category" and attr is not None:
            labels = tuple(e.label for e in attr.enumeration)
            values = tuple(e.value for e in attr.enumeration)
        fields.append(pa.field(name, _KIND_TYPES[kind], metadata=meta))
        if kind == "category":
            value_name = _unique(f"{name}_value", taken)
            fields.append(
                pa.field(
                    value_name,
                    pa.int64(),
                    metadata={"brevo_name": header, "brevo_type": "category_value"},
                )
            )
        if (
            kind == "timestamp"
            and header.upper().lstrip("_") == "MODIFIED_TIME"
            and modified is None
        ):
            modified = name
        specs.append(ColumnSpec(key, name, kind, labels, values, value_name))
    fields.append(
        pa.field(SOURCES_COLUMN, pa.list_(pa.string()), metadata={"brevo_type": "sources"})
    )
    present = {k[0].upper(): k for k in keys}
    identifiers = tuple(present[c] for c in IDENTIFIER_COLUMNS if c in present)
    schema = pa.schema(fields, metadata={"schema_version": SCHEMA_VERSION})
    return ExportLayout(tuple(specs), schema, modified, identifiers)


def export_schema(
    attributes: Sequence[Attribute],
    columns: Sequence[str],
    *,
    column_case: ColumnCase = "snake",
    timestamp_columns: Sequence[str] = (),
) -> pa.Schema:
    """The Arrow schema of an export with these header ``columns`` (plus ``_sources``).

    Types come from ``GET /contacts/attributes``: text -> string, float -> float64, date ->
    date32, boolean -> bool, category -> label string plus ``<name>_value`` int64,
    multiple-choice -> list<string>; ``ADDED_TIME``/``MODIFIED_TIME`` and their aliases (and
    ``timestamp_columns``) -> timestamp[us, UTC]; ``_listIds`` -> list<int64>;
    ``_SUBSCRIBED``/``_BLOCKLISTED`` -> list<string>; anything else -> string.
    """
    return plan_layout(
        attributes, columns, column_case=column_case, timestamp_columns=timestamp_columns
    ).schema


# --------------------------------------------------------------------------- conversions


@dataclass
class _Where:
    path: Path
    column: str

    def error(self, value: object, what: str) -> ExportFormatError:
        return ExportFormatError(
            f"{self.path.name}: column {self.column}: cannot read {value!r} as {what}"
        )


def _leftovers(original: pa.Array, result: pa.Array) -> pa.Array:
    """Mask of cells that hold text but were not converted."""
    return pc.and_(pc.is_valid(original), pc.is_null(result))


def _patch(result: pa.Array, mask: pa.Array, values: list[Any], typ: pa.DataType) -> pa.Array:
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


def _localise(naive: pa.Array, settings: ParseSettings) -> pa.Array:
    if settings.timezone == "UTC":
        return pc.cast(naive, TIMESTAMP_TYPE)
    local = pc.assume_timezone(
        naive, timezone=settings.timezone, ambiguous="earliest", nonexistent="earliest"
    )
    return pc.cast(local, TIMESTAMP_TYPE)


def _to_timestamp(arr: pa.Array, settings: ParseSettings, where: _Where) -> pa.Array:
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
            return _localise(pc.cast(a, pa.timestamp("us")), settings)
        except pa.ArrowInvalid:
            return None

    formats = _strptime_formats(settings, with_time=True)
    if len(sample.strip()) <= DAY_ONLY_MAX_CHARS:  # day-only cells (FACTS.md F1): days first
        days = _strptime_formats(settings, with_time=False)
        formats = days + [f for f in formats if f not in days]

    def local_formats(a: pa.Array) -> pa.Array | None:
        out = None
        for fmt in formats:
            parsed = pc.strptime(a, format=fmt, unit="us", error_is_null=True)
            out = parsed if out is None else pc.coalesce(out, parsed)
            if pc.sum(_leftovers(a, out)).as_py() in (0, None):
                break
        return _localise(out, settings) if out is not None else None

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


def _to_date(arr: pa.Array, settings: ParseSettings, where: _Where) -> pa.Array:
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


def _to_float(arr: pa.Array, where: _Where) -> pa.Array:
    try:
        return pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        pass
    values = []
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


def _lower(arr: pa.Array) -> pa.Array:
    """Lower-case; the ASCII kernel is ~20x faster and exact when every value is ASCII."""
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return pc.ascii_lower(arr)
    return pc.utf8_lower(arr)


def _to_bool(arr: pa.Array, where: _Where) -> pa.Array:
    # Fast path: the spellings Brevo writes, as they are; anything else is lower-cased, trimmed.
    truthy = pc.is_in(arr, value_set=_TRUE_SPELLINGS)
    falsy = pc.is_in(arr, value_set=_FALSE_SPELLINGS)
    if pc.sum(pc.or_(truthy, falsy)).as_py() != len(arr) - arr.null_count:
        lowered = _lower(pc.utf8_trim_whitespace(arr))
        truthy = pc.is_in(lowered, value_set=pa.array(_TRUE))
        falsy = pc.is_in(lowered, value_set=pa.array(_FALSE))
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.or_(truthy, falsy)))
    if pc.any(bad).as_py():
        raise where.error(pc.filter(arr, bad)[0].as_py(), "a boolean")
    return pc.if_else(pc.or_(truthy, falsy), truthy, pa.nulls(len(arr), pa.bool_()))


def _to_category(
    arr: pa.Array, spec: ColumnSpec, where: _Where, warned: set[str]
) -> tuple[pa.Array, pa.Array]:
    labels = pa.array(spec.labels, type=pa.string())
    values = pa.array(spec.values, type=pa.int64())
    by_label = pc.index_in(arr, value_set=labels)
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


def _to_list_ids(arr: pa.Array, where: _Where) -> pa.Array:
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


def _identifier_keys(raw: Mapping[tuple[str, int], pa.Array], layout: ExportLayout) -> pa.Array:
    """Per row: the lower-cased e-mail, else NUL + ``<id column>:<value>`` of the first id present.

    The NUL prefix keeps other identifiers from ever colliding with an e-mail address.
    """
    result: pa.Array | None = None
    for header in layout.identifier_headers:
        column = raw.get(header)
        if column is None:
            continue
        if header[0].upper() == "EMAIL":
            key = _lower(column)
        else:
            key = pc.binary_join_element_wise(f"\x00{header[0].lower()}:", column, "")
        result = key if result is None else pc.coalesce(result, key)
        if result.null_count == 0:
            break
    if result is None:
        length = len(next(iter(raw.values()))) if raw else 0
        return pa.nulls(length, pa.string())
    return result


# --------------------------------------------------------------------------- reading


def _block_size(path: Path, batch_rows: int) -> int:
    """Bytes per CSV block so that a block holds about ``batch_rows`` rows."""
    with path.open("rb") as fh:
        sample = fh.read(1 << 20)
    lines = max(sample.count(b"\n"), 1)
    per_row = max(len(sample) / lines, 16.0)
    return int(min(max(per_row * batch_rows, 64 << 10), MAX_BLOCK_BYTES))


def _iter_raw(path: Path, header: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    names = [f"c{i}" for i in range(len(header))]
    if not names:
        return
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=_block_size(path, batch_rows)
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=";", quote_char='"', double_quote=True, newlines_in_values=True
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        yield from reader
    except pa.ArrowInvalid as exc:
        message = str(exc).splitlines()[0]
        raise ExportFormatError(f"{path.name}: not a ';' separated export: {message}") from exc


@dataclass
class _FileState:
    warned: set[str] = field(default_factory=set)
    day_only: set[str] = field(default_factory=set)  # timestamp columns with day-only cells
    timed: set[str] = field(default_factory=set)  # timestamp columns with a time of day


def _day_only_mask(column: pa.Array) -> pa.Array:
    """Per cell: true when it holds a day without a time of day (``12-25-2026``)."""
    return pc.fill_null(pc.less_equal(pc.binary_length(column), DAY_ONLY_MAX_CHARS), False)


def _typed_batches(
    path: Path,
    layout: ExportLayout,
    *,
    source: str,
    batch_rows: int,
    settings: ParseSettings,
    with_keys: bool = False,
    state: _FileState | None = None,
) -> Iterator[tuple[pa.RecordBatch, pa.Array | None, pa.Array | None]]:
    """Typed batches, with identifier keys (``with_keys``) and the day-only mask of MODIFIED_TIME.

    The mask (None when the layout has no MODIFIED_TIME column) marks the rows whose
    MODIFIED_TIME is a day without a time of day; ``state`` collects which timestamp columns
    had day-only cells and which had times.
    """
    header = read_header(path)
    position = {key: i for i, key in enumerate(_header_keys(header))}
    state = state if state is not None else _FileState()
    for raw_batch in _iter_raw(path, header, batch_rows):
        n = raw_batch.num_rows
        if n == 0:
            continue
        raw = {
            spec.header: raw_batch.column(position[spec.header])
            for spec in layout.columns
            if spec.header in position
        }
        arrays: list[pa.Array] = []
        for spec in layout.columns:
            column = raw.get(spec.header)
            if column is None:
                arrays.append(pa.nulls(n, _KIND_TYPES[spec.kind]))
                if spec.kind == "category":
                    arrays.append(pa.nulls(n, pa.int64()))
                continue
            where = _Where(path, spec.source)
            arrays.extend(_convert(column, spec, where, settings, state))
        arrays.append(_list_from_scalar(source, n))
        batch = pa.RecordBatch.from_arrays(arrays, schema=layout.schema)
        keys = _identifier_keys(raw, layout) if with_keys else None
        day_only = None
        for spec in layout.columns:
            column = raw.get(spec.header)
            if spec.kind != "timestamp" or column is None or column.null_count == n:
                continue
            mask = _day_only_mask(column)
            days = pc.sum(mask).as_py() or 0
            if days:
                state.day_only.add(spec.name)
            if days < n - column.null_count:
                state.timed.add(spec.name)
            if spec.name == layout.modified_column:
                day_only = mask
        if day_only is None and layout.modified_column is not None:
            day_only = pa.repeat(pa.scalar(False), n)
        yield batch, keys, day_only


def _list_from_scalar(value: str, n: int) -> pa.Array:
    offsets = pa.array(np.arange(n + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.repeat(value, n).cast(pa.string()))


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


def _convert(
    column: pa.Array,
    spec: ColumnSpec,
    where: _Where,
    settings: ParseSettings,
    state: _FileState,
) -> list[pa.Array]:
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
        return [_by_dictionary(column, lambda a: _to_bool(a, where))]
    if kind == "category":
        label, value = _to_category(column, spec, where, state.warned)
        return [label, value]
    if kind == "multiple-choice":
        return [_by_dictionary(column, _to_multiple_choice)]
    if kind == "list_ids":
        return [_by_dictionary(column, lambda a: _to_list_ids(a, where))]
    if kind == "channels":
        return [_by_dictionary(column, _to_channels)]
    raise AssertionError(f"unhandled column kind {kind}")


def iter_typed_batches(
    path: Path,
    attributes: Sequence[Attribute],
    *,
    source: str,
    column_case: ColumnCase = "snake",
    batch_rows: int = 100_000,
    timestamp_columns: Sequence[str] = (),
    align_to: Sequence[str] | None = None,
    account_timezone: str = "UTC",
    account_date_format: str = "dd-mm-yyyy",
    account_time_format: str = "24",
) -> Iterator[pa.RecordBatch]:
    """Stream one export file as typed record batches (schema: :func:`export_schema`).

    ``align_to`` gives the header columns of the whole run, so that every file yields the same
    schema (columns a file lacks are null). Memory is bounded by ``batch_rows``.

    Raises:
        ExportFormatError: a row or a value that is not in Brevo's export format.
    """
    settings = ParseSettings(account_timezone, account_date_format, account_time_format)
    columns = list(align_to) if align_to is not None else read_header(path)
    layout = plan_layout(
        attributes, columns, column_case=column_case, timestamp_columns=timestamp_columns
    )
    for batch, _, _ in _typed_batches(
        path, layout, source=source, batch_rows=batch_rows, settings=settings
    ):
        yield batch


def filter_modified_since(
    batch: pa.RecordBatch,
    since: datetime,
    column: str,
    *,
    day_only: pa.Array | None = None,
    settings: ParseSettings | None = None,
) -> pa.RecordBatch:
    """Keep rows modified at or after ``since`` (naive means UTC); rows without a date stay.

    Rows marked in ``day_only`` only know the day they were modified (FACTS.md F1): they are
    kept when that day (in the account's timezone, ``settings``) is ``since``'s day or later,
    so a contact changed later on the same day is never dropped.
    """
    return batch.filter(
        _modified_since(batch.column(column), since, day_only, settings or ParseSettings())
    )


def _modified_since(
    values: pa.Array, since: datetime, day_only: pa.Array | None, settings: ParseSettings
) -> pa.Array:
    """Mask of the rows ``filter_modified_since`` keeps."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    keep = pc.greater_equal(values, pa.scalar(since, type=TIMESTAMP_TYPE))
    if day_only is not None and pc.any(day_only).as_py():
        day = pa.scalar(settings.day_start(since), type=TIMESTAMP_TYPE)
        keep = pc.or_kleene(keep, pc.and_kleene(day_only, pc.greater_equal(values, day)))
    return pc.or_kleene(keep, pc.is_null(values))


# --------------------------------------------------------------------------- merging


def union_columns(files: Sequence[ExportFile]) -> list[tuple[str, int]]:
    """The header columns of all files, in order of first appearance."""
    seen: dict[tuple[str, int], None] = {}
    for f in files:
        for key in _header_keys(read_header(f.path)):
            seen.setdefault(key, None)
    return list(seen)


@dataclass
class MergeResult:
    """The merged table of a run, as output streams of record batches.

    ``streams`` are independent: a writer may consume them in parallel, one output file each.
    For the ``stream`` strategy the counts are final once every stream has been consumed and
    :meth:`finish` has returned; for ``duckdb`` they are final from the start.
    """

    schema: pa.Schema
    streams: list[Callable[[], Iterator[pa.RecordBatch]]]
    rows_per_source: dict[str, int]
    merged_rows: int
    strategy: str
    layout: ExportLayout
    notes: list[str] = field(default_factory=list)
    max_modified: datetime | None = None
    complete: bool = False
    folded_rows: int = 0  # rows folded into another row of the same contact (grouped merges)
    # Timestamp columns whose cells had no time of day (00:00 in the account's timezone).
    day_only_columns: list[str] = field(default_factory=list)
    settings: ParseSettings = field(default_factory=lambda: ParseSettings())
    _finish: Callable[[], None] | None = None
    _regroup: Callable[[], MergeResult] | None = None
    _cleanup: Callable[[], None] | None = None

    @property
    def batches(self) -> Iterator[pa.RecordBatch]:
        """Every batch, stream after stream; checks the result when exhausted."""
        for stream in self.streams:
            yield from stream()
        self.finish()

    def finish(self) -> None:
        """Finalise counts once every stream was consumed.

        Raises:
            DuplicateIdentifiers: a single-source stream repeated a contact; use :meth:`regroup`.
        """
        if self._finish is not None:
            self._finish()
        self.complete = True

    def regroup(self) -> MergeResult:
        """The same merge done by grouping (for a source that repeated a contact)."""
        if self._regroup is None:
            raise RuntimeError("this merge is already grouped")
        return self._regroup()

    def close(self) -> None:
        """Remove temporary files (DuckDB database, key spill)."""
        if self._cleanup is not None:
            self._cleanup()


class _Tracker:
    """Thread-safe counters shared by the streams of one merge."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows_read: dict[str, int] = {}
        self.rows_out = 0
        self.max_modified: datetime | None = None
        self.day_only: set[str] = set()
        self.timed: set[str] = set()

    def read(self, source: str, n: int) -> None:
        with self.lock:
            self.rows_read[source] = self.rows_read.get(source, 0) + n

    def saw(self, state: _FileState) -> None:
        with self.lock:
            self.day_only |= state.day_only
            self.timed |= state.timed

    def day_only_columns(self, layout: ExportLayout) -> list[str]:
        """Timestamp columns (in layout order) whose cells were all day-only."""
        only = self.day_only - self.timed
        return [f.name for f in layout.schema if f.name in only]

    def wrote(self, batch: pa.RecordBatch, modified_column: str | None) -> None:
        latest = None
        if modified_column is not None and batch.num_rows:
            latest = pc.max(batch.column(modified_column)).as_py()
        with self.lock:
            self.rows_out += batch.num_rows
            if latest is not None and (self.max_modified is None or latest > self.max_modified):
                self.max_modified = latest


def merge_exports(
    files: Sequence[ExportFile],
    attributes: Sequence[Attribute],
    *,
    column_case: ColumnCase = "snake",
    work_dir: Path,
    batch_rows: int = 100_000,
    timestamp_columns: Sequence[str] = (),
    modified_since: datetime | None = None,
    account_timezone: str = "UTC",
    account_date_format: str = "dd-mm-yyyy",
    account_time_format: str = "24",
    strategy: Strategy = "auto",
    memory_limit: str = "512MB",
) -> MergeResult:
    """Merge every file of a run into one typed table (see the module docstring).

    Args:
        files: every downloaded file and part, with the label of its export.
        attributes: the account's attributes (``GET /contacts/attributes``), for types.
        column_case: ``snake`` (warehouse-safe lower-case names) or ``brevo`` (as exported).
        work_dir: scratch space (DuckDB database, key spill); removed by :meth:`MergeResult.close`.
        modified_since: keep only contacts modified at or after this instant; a day-only
            MODIFIED_TIME is kept from ``modified_since``'s day (account timezone) on.
        account_timezone, account_date_format, account_time_format: the account's
            ``dateTimePreferences`` (``GET /account``), how Brevo writes export dates.
        strategy: ``auto`` streams a single source and groups several; force one to test.
        memory_limit: DuckDB's memory cap when grouping (it spills to ``work_dir`` beyond it).

    Raises:
        InputError: no files, or ``modified_since`` without a MODIFIED_TIME column.
        ExportFormatError: a file that is not in Brevo's export format.
    """
    if not files:
        raise InputError("no export files to merge")
    settings = ParseSettings(account_timezone, account_date_format, account_time_format)
    layout = plan_layout(
        attributes,
        union_columns(files),
        column_case=column_case,
        timestamp_columns=timestamp_columns,
    )
    if modified_since is not None and layout.modified_column is None:
        raise InputError(
            "--modified-since needs MODIFIED_TIME in the export (keep the mandatory attributes "
            "or add MODIFIED_TIME to the metadata)"
        )
    sources = list(dict.fromkeys(f.source for f in files))
    chosen = strategy
    if chosen == "auto":
        chosen = "stream" if len(sources) == 1 else "duckdb"
    work_dir.mkdir(parents=True, exist_ok=True)
    common = {
        "files": list(files),
        "layout": layout,
        "work_dir": work_dir,
        "batch_rows": batch_rows,
        "settings": settings,
        "modified_since": modified_since,
        "memory_limit": memory_limit,
    }
    if chosen == "stream":
        return _stream_merge(**common)
    if chosen == "duckdb":
        return _duckdb_merge(**common)
    raise InputError(f"unknown merge strategy {strategy!r}")


def _read_file(
    export_file: ExportFile,
    layout: ExportLayout,
    *,
    batch_rows: int,
    settings: ParseSettings,
    modified_since: datetime | None,
    tracker: _Tracker,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    """One file's typed batches with their identifier keys: counted as read, then filtered."""
    state = _FileState()
    for batch, keys, day_only in _typed_batches(
        export_file.path,
        layout,
        source=export_file.source,
        batch_rows=batch_rows,
        settings=settings,
        with_keys=True,
        state=state,
    ):
        assert keys is not None  # with_keys=True
        tracker.read(export_file.source, batch.num_rows)
        if modified_since is not None and layout.modified_column is not None:
            keep = _modified_since(
                batch.column(layout.modified_column), modified_since, day_only, settings
            )
            batch, keys = batch.filter(keep), keys.filter(keep)
        yield batch, keys
    tracker.saw(state)


class _KeyLog:
    """The identifiers met by a single-source merge, to prove each is met once.

    Small merges (under ``QUICK_CHECK_MIN_KEYS`` keys) count the distinct keys once at the end
    (``pc.unique``: ~10 ms per 100k keys, less than starting DuckDB). Past that, each stream
    thread takes quick 64-bit fingerprints of its keys (:func:`etl.fingerprints.quick_fingerprints`,
    GIL released), so the usual proof at the end only sorts integers: distinct fingerprints prove
    distinct keys, several times cheaper than hashing millions of strings into one table after
    the writers are done. Only when two fingerprints are equal (a real repeat, or a collision:
    the quick hash is not collision-resistant) are the keys themselves counted, exactly, by
    DuckDB.

    Keys stay in memory up to ``KEY_MEMORY_BYTES`` (about four million e-mail addresses), then
    spill to a Parquet file that DuckDB counts with bounded memory; fingerprints (8 bytes a key)
    stay in memory.
    """

    def __init__(self, spill_dir: Path, memory_limit: str) -> None:
        self.lock = threading.Lock()
        self.keys_seen = 0
        self.unhashed: list[pa.Array] = []  # keys not fingerprinted yet (small merges: all)
        self.fingerprints: list[np.ndarray] = []
        self.chunks: list[pa.Array] = []
        self.nbytes = 0
        self.spill_dir = spill_dir
        self.memory_limit = memory_limit
        self.writer: pq.ParquetWriter | None = None

    def _fingerprints(self, keys: pa.Array) -> np.ndarray:
        return quick_fingerprints(keys)

    def _hash(self, pending: list[pa.Array]) -> None:
        for keys in pending:  # outside the lock: streams hash in parallel
            fingerprints = self._fingerprints(keys)
            with self.lock:
                self.fingerprints.append(fingerprints)

    def add(self, keys: pa.Array) -> None:
        keys = pc.drop_null(keys)
        if not len(keys):
            return
        with self.lock:
            self.keys_seen += len(keys)
            self.unhashed.append(keys)
            pending: list[pa.Array] = []
            if self.keys_seen >= QUICK_CHECK_MIN_KEYS:
                pending, self.unhashed = self.unhashed, []
            if self.writer is None and self.nbytes + keys.nbytes <= KEY_MEMORY_BYTES:
                self.chunks.append(keys)
                self.nbytes += keys.nbytes
            else:
                if self.writer is None:
                    self.spill_dir.mkdir(parents=True, exist_ok=True)
                    self.writer = pq.ParquetWriter(
                        self.spill_dir / "keys.parquet", _KEY_SCHEMA, compression="none"
                    )
                    for chunk in self.chunks:
                        self.writer.write_batch(pa.record_batch([chunk], schema=_KEY_SCHEMA))
                    self.chunks, self.nbytes = [], 0
                self.writer.write_batch(pa.record_batch([keys], schema=_KEY_SCHEMA))
        self._hash(pending)

    def duplicates(self) -> int:
        """How many keys were met more than once."""
        if not self.keys_seen:
            return 0
        if self.keys_seen < QUICK_CHECK_MIN_KEYS and self.writer is None:
            keys = pa.chunked_array(self.chunks, pa.string())
            return len(keys) - len(pc.unique(keys))
        pending, self.unhashed = self.unhashed, []
        self._hash(pending)
        if not _repeated_values(np.concatenate(self.fingerprints)):
            return 0
        # Equal fingerprints: count the keys themselves (GROUP BY spills to disk under
        # memory_limit; COUNT(DISTINCT) may not).
        count = (
            "SELECT coalesce(sum(n - 1), 0) FROM "
            "(SELECT count(*) AS n FROM {} GROUP BY k HAVING count(*) > 1)"
        )
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        con = _duckdb_connect(self.spill_dir / "count.duckdb", self.memory_limit)
        try:
            if self.writer is None:
                keys = pa.table({"k": pa.chunked_array(self.chunks, pa.string())})
                rows = con.execute(count.format("keys")).fetchall()
            else:
                self.writer.close()
                self.writer = None
                path = _sql_text(str(self.spill_dir / "keys.parquet"))
                rows = con.execute(count.format(f"read_parquet('{path}')")).fetchall()
        finally:
            con.close()
        return int(rows[0][0])

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
            self.writer = None
        self.chunks = []
        self.unhashed = []
        self.fingerprints = []
        shutil.rmtree(self.spill_dir, ignore_errors=True)


def _repeated_values(values: np.ndarray) -> int:
    """How many of ``values`` (uniform 64-bit hashes) repeat an earlier one.

    The hashes are split on their top bit and the halves sorted in two threads (numpy releases
    the GIL while sorting): about half the wall time of one sort on the check's critical path.
    """
    top = values >= np.uint64(1 << 63)
    halves = [values[top], values[~top]]

    def repeats(half: np.ndarray) -> int:
        half.sort()
        return int(np.count_nonzero(half[1:] == half[:-1]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(repeats, halves))


def _stream_merge(
    *,
    files: list[ExportFile],
    layout: ExportLayout,
    work_dir: Path,
    batch_rows: int,
    settings: ParseSettings,
    modified_since: datetime | None,
    memory_limit: str,
) -> MergeResult:
    tracker = _Tracker()
    read = functools.partial(
        _read_file,
        layout=layout,
        batch_rows=batch_rows,
        settings=settings,
        modified_since=modified_since,
        tracker=tracker,
    )
    key_log = _KeyLog(work_dir / f"keys-{uuid.uuid4().hex[:12]}", KEY_CHECK_MEMORY_LIMIT)

    def make_stream(export_file: ExportFile) -> Callable[[], Iterator[pa.RecordBatch]]:
        def stream() -> Iterator[pa.RecordBatch]:
            for batch, keys in read(export_file):
                key_log.add(keys)
                tracker.wrote(batch, layout.modified_column)
                if batch.num_rows:
                    yield batch

        return stream

    result = MergeResult(
        schema=layout.schema,
        streams=[make_stream(f) for f in files],
        rows_per_source={},
        merged_rows=0,
        strategy="stream",
        layout=layout,
        settings=settings,
    )
    for f in files:
        tracker.rows_read.setdefault(f.source, 0)

    def finish() -> None:
        duplicates = key_log.duplicates()
        result.rows_per_source = dict(tracker.rows_read)
        result.merged_rows = tracker.rows_out
        result.max_modified = tracker.max_modified
        _note_day_only(result, tracker)
        if duplicates:
            raise DuplicateIdentifiers(
                f"export {files[0].source} lists {duplicates} contact(s) more than once"
            )

    def regroup() -> MergeResult:
        key_log.close()
        grouped = _duckdb_merge(
            files=files,
            layout=layout,
            work_dir=work_dir,
            batch_rows=batch_rows,
            settings=settings,
            modified_since=modified_since,
            memory_limit=memory_limit,
        )
        if grouped.folded_rows:
            grouped.notes.append(
                f"export {files[0].source} repeated some contacts ({grouped.folded_rows} extra "
                "row(s)); they were folded into one row each"
            )
        else:
            logger.info("two identifier fingerprints collided; the grouped merge found no repeat")
        return grouped

    result._finish = finish
    result._regroup = regroup
    result._cleanup = key_log.close
    return result


def _note_day_only(result: MergeResult, tracker: _Tracker) -> None:
    """Record (once) which timestamp columns only had days, and say so in the notes."""
    columns = tracker.day_only_columns(result.layout)
    if not columns or result.day_only_columns == columns:
        return
    result.day_only_columns = columns
    result.notes.append(
        f"{', '.join(columns)}: Brevo gave days without a time of day; they are stored as 00:00 "
        f"of that day in the account's timezone ({result.settings.timezone})"
    )


def _duckdb_connect(db_path: Path, memory_limit: str) -> Any:
    con = duckdb.connect(str(db_path))
    spill = db_path.with_suffix(".spill")
    con.execute(f"SET temp_directory = '{_sql_text(str(spill))}'")
    con.execute(f"SET memory_limit = '{_sql_text(memory_limit)}'")
    con.execute("SET TimeZone = 'UTC'")
    # Every query that needs an order says so; not keeping insertion order saves memory.
    con.execute("SET preserve_insertion_order = false")
    return con


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow_reader(relation: Any, batch_rows: int) -> Any:
    # DuckDB 2 names it to_arrow_reader; 1.x (pyproject allows >= 1.1) fetch_arrow_reader.
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(batch_rows)
    return relation.fetch_arrow_reader(batch_rows)


def _first_valid_per_group(column: pa.Array, group_ids: np.ndarray, groups: int) -> pa.Array:
    """The first non-null value of each group (rows are in file order within a group)."""
    valid = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    owners = group_ids[valid]
    first = np.ones(len(valid), dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    chosen = np.full(groups, -1, dtype=np.int64)
    chosen[owners[first]] = valid[first]
    return pc.take(column, pa.array(chosen, mask=chosen < 0))


def _union_per_group(column: pa.Array, group_ids: np.ndarray, groups: int) -> pa.Array:
    """The sorted distinct union of each group's lists; null when every list was null."""
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    pairs = pa.table({"g": pa.array(group_ids[parents]), "v": pc.list_flatten(column)})
    pairs = (
        pairs.group_by(["g", "v"]).aggregate([]).sort_by([("g", "ascending"), ("v", "ascending")])
    )
    counts = np.bincount(pairs.column("g").to_numpy(), minlength=groups)
    offsets = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    valid_rows = column.is_valid().to_numpy(zero_copy_only=False)
    present = np.bincount(group_ids[valid_rows], minlength=groups) > 0
    values = pairs.column("v").combine_chunks()
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))


def _fold_table(table: pa.Table, layout: ExportLayout) -> pa.RecordBatch:
    keys = table.column("__key").combine_chunks()
    starts = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        starts[1:] = pc.not_equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False)
    group_ids = np.cumsum(starts) - 1
    groups = int(group_ids[-1]) + 1 if len(group_ids) else 0
    arrays = []
    for fld in layout.schema:
        column = table.column(fld.name).combine_chunks()
        kind = (fld.metadata or {}).get(b"brevo_type", b"").decode()
        if kind in ("list_ids", "sources"):
            arrays.append(_union_per_group(column, group_ids, groups))
        else:
            arrays.append(_first_valid_per_group(column, group_ids, groups))
    return pa.RecordBatch.from_arrays(arrays, names=layout.schema.names)


def _fold_sorted(
    batches: Iterator[pa.RecordBatch], layout: ExportLayout
) -> Iterator[pa.RecordBatch]:
    """Fold rows sorted by (key, file order) into one row per key, a batch at a time.

    The last key of a batch may continue in the next one, so its rows are carried over.
    """
    carry: pa.Table | None = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        if carry is not None:
            table = pa.concat_tables([carry, table.cast(carry.schema)])
        if table.num_rows == 0:
            continue
        keys = table.column("__key")
        last = keys[table.num_rows - 1]
        tail = pc.sum(pc.equal(keys, last)).as_py() or 0
        done, carry = table.slice(0, table.num_rows - tail), table.slice(table.num_rows - tail)
        if done.num_rows:
            yield _fold_table(done, layout)
    if carry is not None and carry.num_rows:
        yield _fold_table(carry, layout)


def _duckdb_merge(
    *,
    files: list[ExportFile],
    layout: ExportLayout,
    work_dir: Path,
    batch_rows: int,
    settings: ParseSettings,
    modified_since: datetime | None,
    memory_limit: str,
) -> MergeResult:
    """Stage typed rows as Parquet, find the keys met more than once, fold only those.

    Rows whose key is met once (usually most of them) pass through untouched; only the
    repeated keys are grouped, so the cost follows the overlap between exports.
    """
    stage_dir = work_dir / f"merge-{uuid.uuid4().hex[:12]}"
    stage_dir.mkdir(parents=True)
    tracker = _Tracker()
    read = functools.partial(
        _read_file,
        layout=layout,
        batch_rows=batch_rows,
        settings=settings,
        modified_since=modified_since,
        tracker=tracker,
    )
    staging = pa.schema(
        [*layout.schema, pa.field("__key", pa.string()), pa.field("__ord", pa.int64())]
    )
    con: Any = None

    def cleanup() -> None:
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()
        shutil.rmtree(stage_dir, ignore_errors=True)

    def stage(index: int, export_file: ExportFile) -> Path:
        path = stage_dir / f"stage-{index:05d}.parquet"
        # Ordinal = file index, then row: "file order" even though files are staged in parallel.
        next_row = index << ORDINAL_FILE_SHIFT
        with pq.ParquetWriter(path, staging, compression="none") as writer:
            for batch, keys in read(export_file):
                if batch.num_rows:
                    order = pa.array(np.arange(next_row, next_row + batch.num_rows, dtype=np.int64))
                    next_row += batch.num_rows
                    writer.write_batch(
                        pa.RecordBatch.from_arrays([*batch.columns, keys, order], schema=staging)
                    )
        return path

    try:
        for f in files:
            tracker.rows_read.setdefault(f.source, 0)
        workers = max(1, min(len(files), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            staged = list(pool.map(stage, range(len(files)), files))
        con = _duckdb_connect(stage_dir / "merge.duckdb", memory_limit)
        sources = "[" + ", ".join(f"'{_sql_text(str(p))}'" for p in staged) + "]"
        con.execute(
            "CREATE TABLE dup AS SELECT __key, count(*) AS n FROM read_parquet("
            f"{sources}) WHERE __key IS NOT NULL GROUP BY __key HAVING count(*) > 1"
        )
        groups, repeated = con.execute("SELECT count(*), coalesce(sum(n), 0) FROM dup").fetchall()[
            0
        ]
        total = int(con.execute(f"SELECT count(*) FROM read_parquet({sources})").fetchall()[0][0])
    except BaseException:
        cleanup()
        raise

    columns = ", ".join(_quote(f.name) for f in layout.schema)
    unique_query = f"SELECT {columns} FROM read_parquet({sources}) ANTI JOIN dup USING (__key)"
    repeated_query = (
        f"SELECT {columns}, __key FROM read_parquet({sources}) SEMI JOIN dup USING (__key)"
        " ORDER BY __key, __ord"
    )

    def make_stream(query: str, *, fold: bool) -> Callable[[], Iterator[pa.RecordBatch]]:
        def stream() -> Iterator[pa.RecordBatch]:
            cursor = con.cursor()  # one per stream: streams may run in parallel threads
            try:
                batches = _arrow_reader(cursor.sql(query), batch_rows)
                if fold:
                    batches = _fold_sorted(batches, layout)
                for batch in batches:
                    typed = pa.Table.from_batches([batch]).cast(layout.schema)
                    for out in typed.to_batches():
                        tracker.wrote(out, layout.modified_column)
                        yield out
            finally:
                cursor.close()

        return stream

    streams = [make_stream(unique_query, fold=False)]
    if groups:
        streams.append(make_stream(repeated_query, fold=True))
    result = MergeResult(
        schema=layout.schema,
        streams=streams,
        rows_per_source=dict(tracker.rows_read),
        merged_rows=total - int(repeated) + int(groups),
        folded_rows=int(repeated) - int(groups),
        strategy="duckdb",
        layout=layout,
        complete=True,
        settings=settings,
    )

    def finish() -> None:
        result.max_modified = tracker.max_modified
        _note_day_only(result, tracker)

    result._finish = finish
    result._cleanup = cleanup
    return result
