"""What a merge returns (:class:`MergeResult`), and the bookkeeping its streams share.

Both merge strategies (``etl.exports.merge`` streams, ``etl.exports.merge_duckdb`` groups) read
files through :func:`read_counted` and count what they wrote in one :class:`MergeTracker`;
``etl.exports.parquet`` consumes the result's streams.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from etl.exports.convert import ParseSettings
from etl.exports.layout import ExportLayout
from etl.exports.read import (
    ChannelFilter,
    ExportFile,
    FileState,
    iter_file_batches,
    modified_since_mask,
)


class DuplicateIdentifiers(RuntimeError):
    """A single-source stream met the same contact twice; regroup the merge (see MergeResult)."""


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


class MergeTracker:
    """Thread-safe counters shared by the streams of one merge."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows_read: dict[str, int] = {}
        self.rows_out = 0
        self.max_modified: datetime | None = None
        self.day_only: set[str] = set()
        self.timed: set[str] = set()

    def read(self, source: str, n: int) -> None:
        """Count ``n`` rows read from ``source`` (before any filter)."""
        with self.lock:
            self.rows_read[source] = self.rows_read.get(source, 0) + n

    def saw(self, state: FileState) -> None:
        """Collect which timestamp columns of a file had day-only cells and which had times."""
        with self.lock:
            self.day_only |= state.day_only
            self.timed |= state.timed

    def day_only_columns(self, layout: ExportLayout) -> list[str]:
        """Timestamp columns (in layout order) whose cells were all day-only."""
        only = self.day_only - self.timed
        return [f.name for f in layout.schema if f.name in only]

    def wrote(self, batch: pa.RecordBatch, modified_column: str | None) -> None:
        """Count a batch handed to the writer; keep the latest ``modified_column`` seen."""
        latest = None
        if modified_column is not None and batch.num_rows:
            latest = pc.max(batch.column(modified_column)).as_py()
        with self.lock:
            self.rows_out += batch.num_rows
            if latest is not None and (self.max_modified is None or latest > self.max_modified):
                self.max_modified = latest


def read_counted(
    export_file: ExportFile,
    layout: ExportLayout,
    *,
    batch_rows: int,
    settings: ParseSettings,
    modified_since: datetime | None,
    tracker: MergeTracker,
    row_filter: ChannelFilter | None = None,
    read_ahead: bool = False,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    """One file's typed batches with their identifier keys: counted as read, then filtered.

    ``read_ahead``: parse the CSV a block ahead in a thread (``iter_file_batches``).
    """
    state = FileState()
    for batch, keys, day_only in iter_file_batches(
        export_file.path,
        layout,
        source=export_file.source,
        batch_rows=batch_rows,
        settings=settings,
        with_keys=True,
        state=state,
        read_ahead=read_ahead,
    ):
        assert keys is not None  # with_keys=True
        tracker.read(export_file.source, batch.num_rows)
        if modified_since is not None and layout.modified_column is not None:
            keep = modified_since_mask(
                batch.column(layout.modified_column), modified_since, day_only, settings
            )
            batch, keys = batch.filter(keep), keys.filter(keep)
        if row_filter is not None:
            keep = row_filter.mask(batch, layout)
            batch, keys = batch.filter(keep), keys.filter(keep)
        yield batch, keys
    tracker.saw(state)


def note_day_only(result: MergeResult, tracker: MergeTracker) -> None:
    """Record (once) which timestamp columns only had days, and say so in the notes."""
    columns = tracker.day_only_columns(result.layout)
    if not columns or result.day_only_columns == columns:
        return
    result.day_only_columns = columns
    result.notes.append(
        f"{', '.join(columns)}: Brevo gave days without a time of day; they are stored as 00:00 "
        f"of that day in the account's timezone ({result.settings.timezone})"
    )
