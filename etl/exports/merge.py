"""Merge every file of a run into one typed table (:func:`merge_exports`), streaming when it can.

* one source (one export, in one file or several ``skipFilesMerge`` parts): a Brevo export lists
  each contact once, so the files stream straight through, one output stream per file (written in
  parallel), with no global grouping. The identifiers met are kept (in memory up to
  :attr:`KeyCheck.memory_bytes`, else spilled; quick 64-bit fingerprints of them decide the usual
  case, the keys are counted by DuckDB under :attr:`KeyCheck.memory_limit` when two fingerprints
  are equal) to prove that; should an export ever repeat a contact, :meth:`MergeResult.finish`
  raises :class:`DuplicateIdentifiers` and :meth:`MergeResult.regroup` redoes the merge the
  grouping way (``etl.exports.parquet.write_partition`` does both, so the repeat never becomes
  visible).
* several sources: the grouping merge of ``etl.exports.merge_duckdb`` (in memory up to
  ``memory_merge_bytes`` of CSV, through DuckDB past it).

Reading and converting each file is ``etl.exports.read`` and ``etl.exports.convert``; the column
layout is ``etl.exports.layout``. With fewer files than cores (the default export: one file),
each file's CSV is parsed a block ahead of its typing, and ``write_partition`` types a batch
ahead of the Parquet writer (``etl.exports.prefetch``): three stages of one stream on two cores.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.brevo.models import Attribute
from etl.errors import InputError
from etl.exports.convert import ParseSettings
from etl.exports.layout import ColumnCase, ExportLayout, plan_layout
from etl.exports.merge_duckdb import MEMORY_MERGE_BYTES, duckdb_connect, duckdb_merge, sql_text
from etl.exports.read import ChannelFilter, ExportFile, union_columns
from etl.exports.result import (
    DuplicateIdentifiers,
    MergeResult,
    MergeTracker,
    note_day_only,
    read_counted,
)
from etl.fingerprints import quick_fingerprints

logger = logging.getLogger(__name__)

Strategy = Literal["auto", "stream", "duckdb"]

KEY_MEMORY_BYTES = 128 << 20  # about four million e-mail addresses
QUICK_CHECK_MIN_KEYS = 200_000  # below: one exact pc.unique beats starting DuckDB
KEY_CHECK_MEMORY_LIMIT = "256MB"  # DuckDB's cap when the spilled keys are counted
_KEY_SCHEMA = pa.schema([pa.field("k", pa.string())])


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """How a single-source merge proves that no contact is met twice (see :class:`_KeyLog`).

    The defaults suit every run; tests lower them to reach the fingerprint or spill paths with
    a handful of rows.
    """

    quick_check_min_keys: int = QUICK_CHECK_MIN_KEYS
    """Below this many keys, one exact ``pc.unique`` at the end; from it on, fingerprints."""
    memory_bytes: int = KEY_MEMORY_BYTES
    """Keys kept in memory up to this size, then spilled to Parquet."""
    memory_limit: str = KEY_CHECK_MEMORY_LIMIT
    """DuckDB's cap when keys with equal fingerprints are counted exactly."""
    fingerprint: Callable[[pa.Array], np.ndarray] = quick_fingerprints
    """64-bit fingerprints of string keys (a seam for testing collisions)."""


def merge_exports(
    files: Sequence[ExportFile],
    attributes: Sequence[Attribute],
    *,
    column_case: ColumnCase = "snake",
    work_dir: Path,
    batch_rows: int = 100_000,
    timestamp_columns: Sequence[str] = (),
    modified_since: datetime | None = None,
    row_filter: ChannelFilter | None = None,
    account_timezone: str = "UTC",
    account_date_format: str = "dd-mm-yyyy",
    account_time_format: str = "24",
    strategy: Strategy = "auto",
    memory_limit: str = "512MB",
    memory_merge_bytes: int = MEMORY_MERGE_BYTES,
    key_check: KeyCheck | None = None,
) -> MergeResult:
    """Merge every file of a run into one typed table (see the module docstring).

    Args:
        files: every downloaded file and part, with the label of its export.
        attributes: the account's attributes (``GET /contacts/attributes``), for types.
        column_case: ``snake`` (warehouse-safe lower-case names) or ``brevo`` (as exported).
        work_dir: scratch space (DuckDB database, key spill); removed by :meth:`MergeResult.close`.
        modified_since: keep only contacts modified at or after this instant; a day-only
            MODIFIED_TIME is kept from ``modified_since``'s day (account timezone) on.
        row_filter: keep only the rows it selects (a legacy filter run account-wide).
        account_timezone, account_date_format, account_time_format: the account's
            ``dateTimePreferences`` (``GET /account``), how Brevo writes export dates.
        strategy: ``auto`` streams a single source and groups several; force one to test.
        memory_limit: DuckDB's memory cap when grouping (it spills to ``work_dir`` beyond it).
        memory_merge_bytes: exports up to this many bytes of CSV in all are grouped in memory
            (Arrow kernels), larger ones by DuckDB (``etl.exports.merge_duckdb``); same rows.
        key_check: limits of the single-source proof that no contact repeats.

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
    grouped = functools.partial(
        duckdb_merge,
        files=list(files),
        layout=layout,
        work_dir=work_dir,
        batch_rows=batch_rows,
        settings=settings,
        modified_since=modified_since,
        row_filter=row_filter,
        memory_limit=memory_limit,
        memory_merge_bytes=memory_merge_bytes,
    )
    if chosen == "stream":
        return _stream_merge(
            files=list(files),
            layout=layout,
            work_dir=work_dir,
            batch_rows=batch_rows,
            settings=settings,
            modified_since=modified_since,
            row_filter=row_filter,
            key_check=key_check or KeyCheck(),
            regroup=grouped,
        )
    if chosen == "duckdb":
        return grouped()
    raise InputError(f"unknown merge strategy {strategy!r}")


class _KeyLog:
    """The identifiers met by a single-source merge, to prove each is met once.

    Small merges (under ``KeyCheck.quick_check_min_keys`` keys) count the distinct keys once at
    the end (``pc.unique``: ~10 ms per 100k keys, less than starting DuckDB). Past that, each
    stream thread takes quick 64-bit fingerprints of its keys (``KeyCheck.fingerprint``, by
    default :func:`etl.fingerprints.quick_fingerprints`, GIL released), so the usual proof at the
    end only sorts integers: distinct fingerprints prove distinct keys, several times cheaper than
    hashing millions of strings into one table after the writers are done. Only when two
    fingerprints are equal (a real repeat, or a collision: the quick hash is not
    collision-resistant) are the keys themselves counted, exactly, by DuckDB.

    Keys stay in memory up to ``KeyCheck.memory_bytes`` (by default about four million e-mail
    addresses), then spill to a Parquet file that DuckDB counts with bounded memory; fingerprints
    (8 bytes a key) stay in memory.
    """

    def __init__(self, spill_dir: Path, check: KeyCheck) -> None:
        self.lock = threading.Lock()
        self.keys_seen = 0
        self.unhashed: list[pa.Array] = []  # keys not fingerprinted yet (small merges: all)
        self.fingerprints: list[np.ndarray] = []
        self.chunks: list[pa.Array] = []
        self.nbytes = 0
        self.spill_dir = spill_dir
        self.check = check
        self.writer: pq.ParquetWriter | None = None

    def _hash(self, pending: list[pa.Array]) -> None:
        for keys in pending:  # outside the lock: streams hash in parallel
            fingerprints = self.check.fingerprint(keys)
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
            if self.keys_seen >= self.check.quick_check_min_keys:
                pending, self.unhashed = self.unhashed, []
            if self.writer is None and self.nbytes + keys.nbytes <= self.check.memory_bytes:
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
        if self.keys_seen < self.check.quick_check_min_keys and self.writer is None:
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
        con = duckdb_connect(self.spill_dir / "count.duckdb", self.check.memory_limit)
        try:
            if self.writer is None:
                keys = pa.table({"k": pa.chunked_array(self.chunks, pa.string())})
                rows = con.execute(count.format("keys")).fetchall()
            else:
                self.writer.close()
                self.writer = None
                path = sql_text(str(self.spill_dir / "keys.parquet"))
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
    row_filter: ChannelFilter | None,
    key_check: KeyCheck,
    regroup: Callable[[], MergeResult],
) -> MergeResult:
    """One stream per file, no grouping; ``finish`` proves no contact was met twice."""
    tracker = MergeTracker()
    read = functools.partial(
        read_counted,
        layout=layout,
        batch_rows=batch_rows,
        settings=settings,
        modified_since=modified_since,
        row_filter=row_filter,
        tracker=tracker,
        # Fewer files than cores: parse each file's CSV a block ahead of its typing.
        read_ahead=len(files) < (os.cpu_count() or 1),
    )
    key_log = _KeyLog(work_dir / f"keys-{uuid.uuid4().hex[:12]}", key_check)

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
        note_day_only(result, tracker)
        if duplicates:
            raise DuplicateIdentifiers(
                f"export {files[0].source} lists {duplicates} contact(s) more than once"
            )

    def regroup_once_repeated() -> MergeResult:
        key_log.close()
        grouped = regroup()
        if grouped.folded_rows:
            grouped.notes.append(
                f"export {files[0].source} repeated some contacts ({grouped.folded_rows} extra "
                "row(s)); they were folded into one row each"
            )
        else:
            logger.info("two identifier fingerprints collided; the grouped merge found no repeat")
        return grouped

    result._finish = finish
    result._regroup = regroup_once_repeated
    result._cleanup = key_log.close
    return result
