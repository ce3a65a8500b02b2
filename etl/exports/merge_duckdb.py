"""The grouping merge: several exports of one run folded into one row per contact, by DuckDB.

Typed rows are staged as Parquet in ``work_dir`` (files in parallel), DuckDB (database file in
``work_dir``, ``memory_limit``, spilling to disk) finds the identifiers met more than once (EMAIL
lower-cased, else EXT_ID, SMS, WHATSAPP, LANDLINE_NUMBER). Rows met once pass straight through;
repeated rows come back sorted by (identifier, file order) and are folded a batch at a time with
pyarrow: list ids and ``_sources`` are unioned (sorted), for other columns the first non-null
value in file order wins. Memory is bounded by DuckDB's cap plus a few batches, whatever the size
of the exports. Row order in the output is unspecified.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
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
) -> MergeResult:
    """Stage typed rows as Parquet, find the keys met more than once, fold only those.

    Rows whose key is met once (usually most of them) pass through untouched; only the
    repeated keys are grouped, so the cost follows the overlap between exports.
    """
    stage_dir = work_dir / f"merge-{uuid.uuid4().hex[:12]}"
    stage_dir.mkdir(parents=True)
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
        note_day_only(result, tracker)

    result._finish = finish
    result._cleanup = cleanup
    return result
