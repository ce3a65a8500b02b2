"""The grouping merge: several exports of one run folded into one row per contact.

A contact is its identifier (EMAIL lower-cased, else EXT_ID, SMS, WHATSAPP, LANDLINE_NUMBER).
Rows whose identifier is met once (or that have none) pass straight through; the rows of a
repeated identifier are folded into one, in file order: list ids and ``_sources`` are unioned
(sorted), for other columns the first non-null value in file order wins. Row order in the output
is unspecified. Two engines give the same rows:

* **in memory** (:func:`grouped_in_memory`: exports up to ``memory_merge_bytes`` of CSV, 256 MiB
  by default, about 1.5 million rows): the files are read and typed in parallel into Arrow
  batches, identifiers are dictionary-encoded once, the repeated rows are ordered by (group,
  file order) with a stable sort of their group ids, and each column's folded values are taken
  from those positions with Arrow and numpy kernels. Nothing is written to disk; memory is the
  typed exports plus the folded rows (about 720 MiB peak for 1M contacts in 1.6M rows).
* **DuckDB**, past that size: typed rows are staged as Parquet in ``work_dir`` (files in
  parallel) and DuckDB (database file in ``work_dir``, ``memory_limit``, spilling to disk) finds
  the repeated identifiers; the repeated rows come back sorted by (identifier, file order) and are
  folded a batch at a time. Memory is bounded by DuckDB's cap plus a few batches, whatever the
  size of the exports.

Below a few hundred MiB the first is several times faster: DuckDB's start, the staging writes
and reads, and the sort of whole rows by identifier cost more than the fold itself.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.exports.convert import ParseSettings
from etl.exports.layout import ExportLayout
from etl.exports.read import ChannelFilter, ExportFile
from etl.exports.result import MergeResult, MergeTracker, note_day_only, read_counted

ORDINAL_FILE_SHIFT = 40  # up to 2**40 rows per file, 2**23 files
MEMORY_MERGE_BYTES = 256 << 20
"""Exports up to this many bytes of CSV in all are grouped in memory; larger ones by DuckDB."""


def grouped_in_memory(files: Sequence[ExportFile], memory_merge_bytes: int) -> bool:
    """Whether :func:`duckdb_merge` groups ``files`` in memory (else through DuckDB)."""
    return sum(f.path.stat().st_size for f in files) <= memory_merge_bytes


def duckdb_connect(db_path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB database at ``db_path`` capped at ``memory_limit``, spilling beside it."""
    con = duckdb.connect(str(db_path))
    spill = db_path.with_suffix(".spill")
    con.execute(f"SET temp_directory = '{sql_text(str(spill))}'")
    con.execute(f"SET memory_limit = '{sql_text(memory_limit)}'")
    con.execute("SET TimeZone = 'UTC'")
    # Every query that needs an order says so; not keeping insertion order saves memory.
    con.execute("SET preserve_insertion_order = false")
    return con


def sql_text(value: str) -> str:
    """``value`` escaped for a single-quoted SQL string."""
    return value.replace("'", "''")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow_reader(relation: duckdb.DuckDBPyRelation, batch_rows: int) -> pa.RecordBatchReader:
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


def union_per_group(column: pa.Array, group_ids: np.ndarray, groups: int) -> pa.Array:
    """The sorted distinct union of each group's lists; null when every list was null."""
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(column)
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    if flat.null_count == 0:
        union = _union_codes(flat, group_ids[parents], groups)
        if union is not None:
            offsets, values = union
            valid_rows = column.is_valid().to_numpy(zero_copy_only=False)
            present = np.bincount(group_ids[valid_rows], minlength=groups) > 0
            return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))
    return union_reference(column, group_ids, groups)


def union_reference(column: pa.Array, group_ids: np.ndarray, groups: int) -> pa.Array:
    """:func:`union_per_group` by Arrow's hash grouping and sort: the reference the fast path
    is tested against, and what lists holding null values take."""
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(column)
    valid_rows = column.is_valid().to_numpy(zero_copy_only=False)
    present = np.bincount(group_ids[valid_rows], minlength=groups) > 0
    pairs = pa.table({"g": pa.array(group_ids[parents]), "v": flat})
    pairs = (
        pairs.group_by(["g", "v"]).aggregate([]).sort_by([("g", "ascending"), ("v", "ascending")])
    )
    counts = np.bincount(pairs.column("g").to_numpy(), minlength=groups)
    offsets = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = pairs.column("v").combine_chunks()
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))


_BITS = 63  # distinct values a union keeps as bits of one integer per group


def _union_codes(
    flat: pa.Array, owners: np.ndarray, groups: int
) -> tuple[np.ndarray, pa.Array] | None:
    """(offsets, values) of each group's sorted distinct values, from integer codes.

    ``owners`` (each value's group) is non-decreasing. The values are dictionary-encoded (one
    hash pass) and only the distinct ones are sorted, giving each value its rank. Few distinct
    values (list ids, source labels: the usual case) become one bit each, OR-ed per group;
    otherwise each (group, rank) pair becomes one integer, sorted (nearly sorted already:
    timsort's runs) and de-duplicated. None when the pairs do not fit in an int64.
    """
    encoded = pc.dictionary_encode(flat)
    dictionary = encoded.dictionary
    distinct = max(len(dictionary), 1)
    if groups > (2**62) // distinct:
        return None
    order = pc.array_sort_indices(dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    if distinct <= _BITS:
        bits = np.zeros(groups, dtype=np.uint64)
        np.bitwise_or.at(bits, owners, np.left_shift(np.uint64(1), codes.astype(np.uint64)))
        member = (bits[:, None] >> np.arange(distinct, dtype=np.uint64)) & np.uint64(1)
        counts = member.sum(axis=1, dtype=np.int64)
        ranks = np.nonzero(member)[1]  # row by row, each row's ranks ascending
    else:
        pairs = np.sort(owners.astype(np.int64) * distinct + codes, kind="stable")
        if len(pairs):
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        counts = np.bincount(pairs // distinct, minlength=groups)
        ranks = pairs % distinct
    offsets = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = pc.take(dictionary, pa.array(order[ranks]))
    return offsets, values


def _fold_table(table: pa.Table, layout: ExportLayout) -> pa.RecordBatch:
    keys = table.column("__key").combine_chunks()
    starts = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        starts[1:] = pc.not_equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False)
    return _fold_groups(table, starts, layout)


def _fold_groups(table: pa.Table, starts: np.ndarray, layout: ExportLayout) -> pa.RecordBatch:
    """Fold rows that come grouped (``starts`` marks each group's first row), in file order
    within a group, into one row per group."""
    group_ids = np.cumsum(starts) - 1
    groups = int(group_ids[-1]) + 1 if len(group_ids) else 0
    arrays = []
    for fld in layout.schema:
        column = table.column(fld.name).combine_chunks()
        kind = (fld.metadata or {}).get(b"brevo_type", b"").decode()
        if kind in ("list_ids", "sources"):
            arrays.append(union_per_group(column, group_ids, groups))
        else:
            arrays.append(_first_valid_per_group(column, group_ids, groups))
    return pa.RecordBatch.from_arrays(arrays, names=layout.schema.names)


def _fold_positions(
    table: pa.Table,
    positions: np.ndarray,
    starts: np.ndarray,
    valid: dict[str, np.ndarray],
    layout: ExportLayout,
) -> pa.RecordBatch:
    """:func:`_fold_groups` over the rows of ``table`` at ``positions`` (grouped, file order
    within a group) without taking whole rows: ``valid`` holds the validity of the columns
    that have nulls."""
    group_ids = np.cumsum(starts) - 1
    groups = int(group_ids[-1]) + 1 if len(group_ids) else 0
    arrays = []
    for fld in layout.schema:
        column = table.column(fld.name)
        kind = (fld.metadata or {}).get(b"brevo_type", b"").decode()
        if kind in ("list_ids", "sources"):
            lists = column.take(pa.array(positions)).combine_chunks()
            arrays.append(union_per_group(lists, group_ids, groups))
            continue
        if fld.name not in valid:  # no nulls: the group's first row wins
            chosen = positions[starts]
            arrays.append(column.take(pa.array(chosen)).combine_chunks())
            continue
        has = np.flatnonzero(valid[fld.name][positions])
        owners = group_ids[has]
        first = np.ones(len(has), dtype=bool)
        first[1:] = owners[1:] != owners[:-1]
        picked = np.full(groups, -1, dtype=np.int64)
        picked[owners[first]] = positions[has[first]]
        taken = column.take(pa.array(picked, mask=picked < 0))
        arrays.append(taken.combine_chunks())
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


def _memory_merge(
    *,
    files: list[ExportFile],
    layout: ExportLayout,
    batch_rows: int,
    read: Callable[[ExportFile], Iterator[tuple[pa.RecordBatch, pa.Array]]],
    tracker: MergeTracker,
    settings: ParseSettings,
) -> MergeResult:
    """The grouping merge in memory (see the module docstring): same rows as DuckDB's."""

    def load(export_file: ExportFile) -> list[tuple[pa.RecordBatch, pa.Array]]:
        return [(batch, keys) for batch, keys in read(export_file) if batch.num_rows]

    for f in files:
        tracker.rows_read.setdefault(f.source, 0)
    workers = max(1, min(len(files), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Concatenated in file order, so a row's position is its place in file order.
        loaded = [pair for pairs in pool.map(load, files) for pair in pairs]
    batches = [batch.cast(layout.schema) for batch, _ in loaded]
    keys = (
        pa.chunked_array([k for _, k in loaded], type=pa.string()).combine_chunks()
        if loaded
        else pa.array([], pa.string())
    )
    del loaded
    # One hash pass: group ids in order of first appearance; rows without identifier get -1.
    encoded = pc.dictionary_encode(keys)
    del keys
    group_of = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(group_of[group_of >= 0], minlength=len(encoded.dictionary))
    del encoded
    repeated_row = np.zeros(len(group_of), dtype=bool)
    has_key = group_of >= 0
    repeated_row[has_key] = counts[group_of[has_key]] > 1
    groups = int(np.count_nonzero(counts > 1))
    repeated = int(counts[counts > 1].sum())
    total = len(group_of)
    # The streams read the typed exports from here; close() empties it to free them.
    held: dict[str, list[pa.RecordBatch]] = {"batches": batches}
    del batches

    def unique_stream() -> Iterator[pa.RecordBatch]:
        at = 0
        for batch in held["batches"]:
            keep = ~repeated_row[at : at + batch.num_rows]
            at += batch.num_rows
            out = batch if keep.all() else batch.filter(pa.array(keep))
            if out.num_rows:
                tracker.wrote(out, layout.modified_column)
                yield out

    def repeated_stream() -> Iterator[pa.RecordBatch]:
        positions = np.flatnonzero(repeated_row)
        owners = group_of[positions]
        # Stable: within a group the rows stay in file order.
        order = np.argsort(owners, kind="stable")
        positions, owners = positions[order], owners[order]
        del order
        starts = np.ones(len(owners), dtype=bool)
        starts[1:] = owners[1:] != owners[:-1]
        table = pa.Table.from_batches(held["batches"], schema=layout.schema)
        # Where each column has values: a group's first value in file order is found from
        # positions alone, and only the chosen cells are taken.
        valid = {
            fld.name: table.column(fld.name).is_valid().to_numpy(zero_copy_only=False)
            for fld in layout.schema
            if table.column(fld.name).null_count
        }
        # One pass over all groups: a take on a chunked column costs about a copy of the
        # column whatever the number of rows taken, so each column is taken from once.
        folded = _fold_positions(table, positions, starts, valid, layout)
        del table, valid, positions, starts
        typed = pa.Table.from_batches([folded]).cast(layout.schema)
        del folded
        for out in typed.to_batches(max_chunksize=batch_rows):
            tracker.wrote(out, layout.modified_column)
            yield out

    streams: list[Callable[[], Iterator[pa.RecordBatch]]] = [unique_stream]
    if groups:
        streams.append(repeated_stream)
    return _grouped_result(
        streams,
        tracker,
        layout=layout,
        settings=settings,
        total=total,
        repeated=repeated,
        groups=groups,
        cleanup=held.clear,
    )


def duckdb_merge(
    *,
    files: list[ExportFile],
    layout: ExportLayout,
    work_dir: Path,
    batch_rows: int,
    settings: ParseSettings,
    modified_since: datetime | None,
    row_filter: ChannelFilter | None = None,
    memory_limit: str,
    memory_merge_bytes: int = MEMORY_MERGE_BYTES,
) -> MergeResult:
    """Fold several exports into one row per contact (see the module docstring).

    Up to ``memory_merge_bytes`` of CSV in all, in memory; past it, typed rows are staged as
    Parquet and DuckDB finds the keys met more than once. Either way rows whose key is met
    once (usually most of them) pass through untouched; only the repeated keys are grouped, so
    the cost follows the overlap between exports.
    """
    tracker = MergeTracker()
    read = functools.partial(
        read_counted,
        layout=layout,
        batch_rows=batch_rows,
        settings=settings,
        modified_since=modified_since,
        row_filter=row_filter,
        tracker=tracker,
    )
    if grouped_in_memory(files, memory_merge_bytes):
        return _memory_merge(
            files=files,
            layout=layout,
            batch_rows=batch_rows,
            read=read,
            tracker=tracker,
            settings=settings,
        )
    stage_dir = work_dir / f"merge-{uuid.uuid4().hex[:12]}"
    stage_dir.mkdir(parents=True)
    staging = pa.schema(
        [*layout.schema, pa.field("__key", pa.string()), pa.field("__ord", pa.int64())]
    )
    con: duckdb.DuckDBPyConnection | None = None

    def cleanup() -> None:
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()
        shutil.rmtree(stage_dir, ignore_errors=True)

    def stage(index: int, export_file: ExportFile) -> Path:
        path = stage_dir / f"stage-{index:05d}.parquet"
        # Ordinal = file index, then row: "file order" even though files are staged in parallel.
        next_row = index << ORDINAL_FILE_SHIFT
        # Read back once by DuckDB: no compression, dictionaries or statistics to build.
        with pq.ParquetWriter(
            path, staging, compression="none", use_dictionary=False, write_statistics=False
        ) as writer:
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
        con = duckdb_connect(stage_dir / "merge.duckdb", memory_limit)
        sources = "[" + ", ".join(f"'{sql_text(str(p))}'" for p in staged) + "]"
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
    connection = con  # the streams' cursors come from it; cleanup() closes it

    columns = ", ".join(_quote(f.name) for f in layout.schema)
    unique_query = f"SELECT {columns} FROM read_parquet({sources}) ANTI JOIN dup USING (__key)"
    repeated_query = (
        f"SELECT {columns}, __key FROM read_parquet({sources}) SEMI JOIN dup USING (__key)"
        " ORDER BY __key, __ord"
    )

    def make_stream(query: str, *, fold: bool) -> Callable[[], Iterator[pa.RecordBatch]]:
        def stream() -> Iterator[pa.RecordBatch]:
            cursor = connection.cursor()  # one per stream: streams may run in parallel threads
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
    return _grouped_result(
        streams,
        tracker,
        layout=layout,
        settings=settings,
        total=total,
        repeated=int(repeated),
        groups=int(groups),
        cleanup=cleanup,
    )


def _grouped_result(
    streams: list[Callable[[], Iterator[pa.RecordBatch]]],
    tracker: MergeTracker,
    *,
    layout: ExportLayout,
    settings: ParseSettings,
    total: int,
    repeated: int,
    groups: int,
    cleanup: Callable[[], None],
) -> MergeResult:
    """The result of a grouping merge (in memory or DuckDB): the unique rows' stream, the
    folded groups' stream, and the counts; the tracker fills in the rest once both ran."""
    result = MergeResult(
        schema=layout.schema,
        streams=streams,
        rows_per_source=dict(tracker.rows_read),
        merged_rows=total - repeated + groups,
        folded_rows=repeated - groups,
        strategy="duckdb",
        layout=layout,
        complete=True,
        settings=settings,
    )

    def finish() -> None:
        result.max_modified = tracker.max_modified
        note_day_only(result, tracker)

    result._finish = finish
    result._cleanup = cleanup
    return result
