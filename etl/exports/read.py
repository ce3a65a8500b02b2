"""Read Brevo export files: typed Arrow batches, identifier keys and the modified-since filter.

The exported file (docs/brevo/FACTS.md, top table): UTF-8, ``;``-separated, a header row, double quotes
when needed. Every file is read as strings by ``pyarrow.csv.open_csv`` (streaming, blocks of at
most ``MAX_BLOCK_BYTES``) and converted column by column (``etl.exports.convert``) into the
layout of the whole run (``etl.exports.layout``), so every file yields the same schema.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from etl.brevo.models import Attribute
from etl.exports.convert import (
    ExportFormatError,
    ParseSettings,
    Where,
    convert_column,
    day_only_mask,
    lower,
)
from etl.exports.layout import (
    KIND_TYPES,
    TIMESTAMP_TYPE,
    ColumnCase,
    ExportLayout,
    HeaderKey,
    header_keys,
    plan_layout,
)
from etl.exports.prefetch import prefetch

# pyarrow parses mid-sized blocks fastest (measured: 1-4 MiB beat 16+ MiB by 1.5-2x).
MAX_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class ExportFile:
    """One downloaded export file (or one part of a ``skipFilesMerge`` export)."""

    path: Path
    source: str
    process_id: int | None = None


@dataclass
class FileState:
    """What reading one file noticed, beyond its rows."""

    warned: set[str] = field(default_factory=set)  # columns warned about (unknown categories)
    day_only: set[str] = field(default_factory=set)  # timestamp columns with day-only cells
    timed: set[str] = field(default_factory=set)  # timestamp columns with a time of day


def read_header(path: Path) -> list[str]:
    """The header row of an export file (empty for an empty file)."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        row = next(csv.reader(fh, delimiter=";", quotechar='"'), None)
    if row is None:
        return []
    return [cell.strip() for cell in row]


def union_columns(files: Sequence[ExportFile]) -> list[HeaderKey]:
    """The header columns of all files, in order of first appearance."""
    seen: dict[HeaderKey, None] = {}
    for f in files:
        for key in header_keys(read_header(f.path)):
            seen.setdefault(key, None)
    return list(seen)


def identifier_keys(raw: Mapping[HeaderKey, pa.Array], layout: ExportLayout) -> pa.Array:
    """Per row: the lower-cased e-mail, else NUL + ``<id column>:<value>`` of the first id present.

    The NUL prefix keeps other identifiers from ever colliding with an e-mail address.
    """
    result: pa.Array | None = None
    for header in layout.identifier_headers:
        column = raw.get(header)
        if column is None:
            continue
        if header[0].upper() == "EMAIL":
            key = lower(column)
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


def iter_file_batches(
    path: Path,
    layout: ExportLayout,
    *,
    source: str,
    batch_rows: int,
    settings: ParseSettings,
    with_keys: bool = False,
    state: FileState | None = None,
    read_ahead: bool = False,
) -> Iterator[tuple[pa.RecordBatch, pa.Array | None, pa.Array | None]]:
    """Typed batches, with identifier keys (``with_keys``) and the day-only mask of MODIFIED_TIME.

    ``read_ahead`` parses the CSV in a thread of its own, a block ahead of the typing (for a
    stream that would otherwise leave a core idle: one file on a machine of several cores).

    The mask (None when the layout has no MODIFIED_TIME column) marks the rows whose
    MODIFIED_TIME is a day without a time of day; ``state`` collects which timestamp columns
    had day-only cells and which had times.
    """
    header = read_header(path)
    position = {key: i for i, key in enumerate(header_keys(header))}
    state = state if state is not None else FileState()
    raw_batches = (
        prefetch(lambda: _iter_raw(path, header, batch_rows), name="export-csv")
        if read_ahead
        else _iter_raw(path, header, batch_rows)
    )
    for raw_batch in raw_batches:
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
                arrays.append(pa.nulls(n, KIND_TYPES[spec.kind]))
                if spec.kind == "category":
                    arrays.append(pa.nulls(n, pa.int64()))
                continue
            where = Where(path, spec.source)
            arrays.extend(convert_column(column, spec, where, settings, state.warned))
        arrays.append(_list_from_scalar(source, n))
        batch = pa.RecordBatch.from_arrays(arrays, schema=layout.schema)
        keys = identifier_keys(raw, layout) if with_keys else None
        day_only = None
        for spec in layout.columns:
            column = raw.get(spec.header)
            if spec.kind != "timestamp" or column is None or column.null_count == n:
                continue
            mask = day_only_mask(column)
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
    for batch, _, _ in iter_file_batches(
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

    Rows marked in ``day_only`` only know the day they were modified (docs/brevo/FACTS.md F1): they are
    kept when that day (in the account's timezone, ``settings``) is ``since``'s day or later,
    so a contact changed later on the same day is never dropped.
    """
    return batch.filter(
        modified_since_mask(batch.column(column), since, day_only, settings or ParseSettings())
    )


@dataclass(frozen=True)
class ChannelFilter:
    """Keep the rows whose subscription-status column does (or does not) hold a channel.

    Legacy v2 filters that name no list (``{"blacklisted": 1}``: every email-blacklisted
    contact) run as one whole-account export with the subscription-status columns, filtered
    here, since Brevo's v3 filters have no account-wide "blocklisted" action.
    """

    column: str  # the export file's header: ``_BLOCKLISTED`` or ``_SUBSCRIBED``
    channel: str  # ``email_marketing`` or ``sms_marketing``
    present: bool = True

    def describe(self) -> str:
        """E.g. ``_BLOCKLISTED holds email_marketing``."""
        verb = "holds" if self.present else "does not hold"
        return f"{self.column} {verb} {self.channel}"

    def mask(self, batch: pa.RecordBatch, layout: ExportLayout) -> pa.Array:
        """Rows of ``batch`` to keep.

        Raises:
            ExportFormatError: the export has no such column.
        """
        name = next((c.name for c in layout.columns if c.source.upper() == self.column), None)
        if name is None:
            raise ExportFormatError(f"the export has no {self.column} column to filter on")
        column = batch.column(name)
        flat = pc.list_flatten(column)
        hits = np.zeros(batch.num_rows, dtype=bool)
        if len(flat):
            parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
            matched = pc.equal(flat, self.channel).to_numpy(zero_copy_only=False)
            hits[parents[matched.astype(bool)]] = True
        return pa.array(hits if self.present else ~hits)


def modified_since_mask(
    values: pa.Array, since: datetime, day_only: pa.Array | None, settings: ParseSettings
) -> pa.Array:
    """Mask of the rows ``filter_modified_since`` keeps."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    # Brevo writes times to the second at best: a contact modified in the bound's own second,
    # after it, is written as that whole second and must not fall below the bound.
    since = since.replace(microsecond=0)
    keep = pc.greater_equal(values, pa.scalar(since, type=TIMESTAMP_TYPE))
    if day_only is not None and pc.any(day_only).as_py():
        day = pa.scalar(settings.day_start(since), type=TIMESTAMP_TYPE)
        keep = pc.or_kleene(keep, pc.and_kleene(day_only, pc.greater_equal(values, day)))
    return pc.or_kleene(keep, pc.is_null(values))


# --------------------------------------------------------------------------- merging
