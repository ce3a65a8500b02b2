"""Prepare a run locally: every file streamed, normalised, validated, deduplicated and chunked.

In bounded memory. Pass 1 (:func:`normalise_file`, one file at a time, so files can go in
parallel) streams a file in batches, normalises each batch, writes row rejects, and spills the
kept rows with their original values (:mod:`etl.imports.spill`) and their identifier keys.
Pass 2 (:func:`finish_prepare`) decides run-wide duplicates (:mod:`etl.imports.dedupe`), rejects
the losers as ``duplicate``, validates the rows it sends with Great Expectations (up to
``batch_rows`` rows a call, files with the same columns together: GX's cost is mostly per call)
and cuts them into ``;`` bodies under the byte budget, written to chunk files. Nothing is held
whole, and the memory each batch freed goes back to the system (:func:`release_memory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from etl.fingerprints import siphash64
from etl.imports.body import Chunk, ChunkBuilder
from etl.imports.csv import RawBatch, arrow_strings, iter_csv_batches
from etl.imports.dedupe import (
    KEY_DTYPE,
    decide_duplicates_in_file,
    gather_keys,
    hash_identifiers,
    read_at,
)
from etl.imports.mapping import ColumnMapping
from etl.imports.normalise import (
    IDENTIFIER,
    LINE,
    AttributeSpec,
    NormalisedBatch,
    NormaliseOptions,
    normalise_batch,
)
from etl.imports.options import ImportOptions, Progress, no_progress
from etl.imports.plan import ImportPlan
from etl.imports.rejects import RejectsWriter, render_dropped, render_rejected
from etl.imports.snapshot import (
    PendingSnapshot,
    Snapshot,
    SnapshotBuilder,
    unchanged_mask,
    value_hashes,
)
from etl.imports.spill import BODY, duplicate_rejects, originals, raw_rows, spill_table
from etl.imports.validate import ValidationReport, merge_reports, validator_for
from etl.imports.workers import ordered_map, resolve_workers, stop_idle_workers

WORKER_MIN_ROWS = 100_000
"""Files of fewer rows are normalised in the run's own process (see :mod:`etl.imports.workers`)."""
WORKER_BATCH_ROWS = 50_000
"""Rows a batch holds when worker processes normalise (at most ``batch_rows``)."""


@dataclass
class FileAccount:
    """Per-file row accounting: rows_read == rows_to_send + rows_rejected + rows_unchanged.

    ``rows_to_send`` are the rows that passed every local check and went into chunks; the
    report's run-level counts say which of them this run sent and Brevo accepted.
    ``rows_unchanged`` (``--changed-only``): rows the last successful run already sent with the
    same values, not sent again.
    """

    path: str
    rows_read: int = 0
    rows_to_send: int = 0
    rows_rejected: int = 0
    rows_unchanged: int = 0


@dataclass(frozen=True)
class ChunkFile:
    """A prepared body on disk."""

    index: int
    path: Path
    rows: int
    bytes: int
    sha256: str
    columns: tuple[str, ...]


@dataclass
class PreparedImport:
    """Result of the local half of an import."""

    chunks: list[ChunkFile]
    files: list[FileAccount]
    rejects_by_reason: dict[str, int]
    rejects_path: Path
    validation: ValidationReport
    dropped_values: int = 0
    phones_reassigned_region: int = 0
    """Phone values read as another region's (``06 92 ...`` under FR: Réunion), kept rows."""
    snapshot: PendingSnapshot | None = None
    """With ``--changed-only`` or ``--unlink-missing``: the snapshot this run leaves if it
    succeeds (committed by the flow after every chunk completed)."""

    @property
    def rows_read(self) -> int:
        """Data rows read over every file."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows that went to the rejects file."""
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_unchanged(self) -> int:
        """Rows not sent because the last successful run sent the same values."""
        return sum(f.rows_unchanged for f in self.files)


@dataclass
class FileStage:
    """What normalising one file left on disk for the central dedupe-and-chunk step."""

    file_idx: int
    account: FileAccount
    reasons: dict[str, int]
    report: ValidationReport
    """Empty since pass 2 validates the rows sent (kept for callers that merge reports)."""
    dropped: int
    rejects_part: Path
    spill_path: Path | None = None
    keys_path: Path | None = None  # .hash (uint64) and .line (int64) files of the kept rows
    kept_rows: int = 0
    phones_reassigned: int = 0
    protect_path: Path | None = None
    """Identifier hashes of rejected rows (uint64), when the run keeps a snapshot."""


def normalise_file(
    plan: ImportPlan,
    file_idx: int,
    options: ImportOptions,
    *,
    work_dir: Path,
    progress: Progress = no_progress,
) -> FileStage:
    """Pass 1 for one file: stream, normalise, write rejects, spill the kept rows.

    Independent of every other file, so files can be normalised in parallel (threads or a Dask
    cluster, see the import flow); only paths and small counts come back.
    """
    planned = plan.files[file_idx]
    account = FileAccount(path=str(planned.path))
    columns = planned.attributes
    norm_options = plan.normalise
    reasons: Counter[str] = Counter()
    dropped = 0
    kept_rows = 0
    reassigned = 0
    keys_path = work_dir / f"keys-{file_idx:04d}"
    expected = count_lines(planned.path) - 1  # the header
    track = options.keeps_snapshot
    protect_path = keys_path.with_suffix(".protect") if track else None
    spill_path = work_dir / f"spill-{file_idx:04d}.arrow"
    rejects_part = work_dir / f"rejects-{file_idx:04d}.csv"
    writer: ipc.RecordBatchFileWriter | None = None
    # Identifier hashes and line numbers go straight to disk (16 bytes a row), so memory does
    # not grow with the file; finish_prepare reads them back to decide duplicates.
    with (
        RejectsWriter(rejects_part) as rejects,
        keys_path.with_suffix(".hash").open("wb") as hash_file,
        keys_path.with_suffix(".line").open("wb") as line_file,
        ExitStack() as stack,
    ):
        protect_file = stack.enter_context(protect_path.open("wb")) if protect_path else None
        try:
            work = partial(
                _pass_one,
                source_file=str(planned.path),
                mapping=planned.mapping,
                specs=plan.specs,
                options=norm_options,
                columns=tuple(columns),
                track=track,
            )
            # A small file is normalised here: workers would only add their start-up. With
            # workers, batches are smaller, so that a file of a few batches keeps them all busy.
            workers = resolve_workers(options.workers) if expected > WORKER_MIN_ROWS else 0
            batch_rows = (
                min(options.batch_rows, WORKER_BATCH_ROWS) if workers else options.batch_rows
            )
            batches = iter_csv_batches(planned.path, planned.fmt, batch_rows=batch_rows)
            for out in ordered_map(work, batches, workers=workers):
                account.rows_read += out.rows_read
                reassigned += out.phones_reassigned
                if protect_file is not None and out.protect is not None:
                    protect_file.write(out.protect.tobytes())
                rejects.write_rendered(out.rejects, by_reason=out.reasons, dropped=out.dropped)
                reasons.update(out.reasons)
                account.rows_rejected += sum(out.reasons.values())
                dropped += out.dropped
                if out.kept is not None:
                    spill, hashes, lines = out.kept
                    if writer is None:
                        writer = ipc.new_file(spill_path, spill.schema)
                    writer.write_table(spill)
                    hash_file.write(hashes.tobytes())
                    line_file.write(lines.tobytes())
                    kept_rows += spill.num_rows
                    del spill, hashes, lines
                # The total counts lines: a quoted newline or a footer make it a little high
                # until the file ends, when it becomes the rows read.
                progress("read", account.rows_read, max(expected, account.rows_read))
                # Free this batch's spill before the next batch is read: held over, it raised
                # every batch's peak but a file's first by ~70-80 MiB at 200k rows.
                del out
                release_memory()
        finally:
            if writer is not None:
                writer.close()
    progress("read", account.rows_read, account.rows_read)
    return FileStage(
        file_idx=file_idx,
        account=account,
        reasons=dict(reasons),
        report=merge_reports(()),
        dropped=dropped,
        rejects_part=rejects_part,
        spill_path=spill_path if writer is not None else None,
        keys_path=keys_path,
        kept_rows=kept_rows,
        phones_reassigned=reassigned,
        protect_path=protect_path,
    )


@dataclass
class _PassOne:
    """What pass 1 keeps of one batch (made in a worker process, or here), ready to write."""

    rows_read: int
    reasons: dict[str, int]
    """Rejected rows per reason."""
    rejects: str
    """The rejects-file records of the rejected rows and dropped values."""
    dropped: int
    phones_reassigned: int
    protect: np.ndarray | None
    kept: tuple[pa.Table, np.ndarray, np.ndarray] | None = None
    """The kept rows' spill table, identifier hashes and lines."""


def _pass_one(
    batch: RawBatch,
    *,
    source_file: str,
    mapping: ColumnMapping,
    specs: Mapping[str, AttributeSpec],
    options: NormaliseOptions,
    columns: tuple[str, ...],
    track: bool,
) -> _PassOne:
    """Normalise one batch and make everything pass 1 writes of it (spill table, identifier
    hashes and lines, rejects records); a module-level function, so workers can run it."""
    result = normalise_batch(batch, mapping, specs, options)
    rejected_text, reasons = render_rejected(source_file, result.rejected)
    out = _PassOne(
        rows_read=len(batch.rows) + len(batch.malformed),
        reasons=reasons,
        rejects=rejected_text + render_dropped(source_file, result.dropped),
        dropped=len(result.dropped),
        phones_reassigned=result.phones_reassigned,
        protect=_protected_hashes(result, batch) if track else None,
    )
    kept = result.contacts
    if len(kept):
        lines = kept[LINE].to_numpy(dtype=KEY_DTYPE["line"])
        spill = spill_table(kept, raw_rows(batch, lines), columns)  # lines: int64 already
        out.kept = (spill, hash_identifiers(kept[IDENTIFIER]), lines)
    return out


class _SentValidation:
    """Great Expectations over the rows sent, batches of files with the same columns together.

    GX costs a fixed ~40 ms a call whatever the rows, so one call per ``batch_rows`` sent rows
    (not per file and batch read) validates every row for a fraction of the cost.
    """

    def __init__(self, plan: ImportPlan, batch_rows: int) -> None:
        self._plan = plan
        self._batch_rows = batch_rows
        self._columns: tuple[str, ...] = ()
        self._frames: list[pd.DataFrame] = []
        self._rows = 0
        self.reports: list[ValidationReport] = []

    def add(self, columns: tuple[str, ...], sent: pd.DataFrame) -> None:
        if columns != self._columns:
            self.flush()
            self._columns = columns
        validator = validator_for(self._plan.specs, columns)
        self._frames.append(sent[[c for c in validator.validated_columns if c in sent.columns]])
        self._rows += len(sent)
        if self._rows >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._frames:
            validator = validator_for(self._plan.specs, self._columns)
            self.reports.append(validator.validate_frames(self._frames))
        self._frames = []
        self._rows = 0


@cache
def _malloc_trim() -> Callable[[int], object] | None:
    """glibc's ``malloc_trim``, where the C library has one."""
    name = ctypes.util.find_library("c")
    try:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
    return cast("Callable[[int], object] | None", trim)


def release_memory() -> None:
    """Give the memory freed by the last batch back to the system.

    Both allocators keep freed memory for reuse: Arrow's pool (mimalloc) and glibc's malloc,
    whose heaps and per-thread arenas fragment under the megabyte-sized blocks, strings and
    buffers of each batch. Kept, it made the peak grow with the number of batches (by ~50 MiB
    from 5 to 25 batches of 20k rows) although live data stays the size of one batch; Dask's
    workers trim their unmanaged memory the same way. A few milliseconds a batch.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_EMAIL_IN_TEXT = re.compile(r"[^\s,;\t\"'<>|]+@[^\s,;\t\"'<>|]+\.[^\s,;\t\"'<>|]+")


def _protected_hashes(result: NormalisedBatch, batch: RawBatch) -> np.ndarray:
    """Identifier hashes of the batch's rejected rows: valid identifiers, and every e-mail-like
    token of malformed records (whose fields cannot be told apart)."""
    parts = []
    if result.rejected_identifiers is not None and len(result.rejected_identifiers):
        parts.append(siphash64(result.rejected_identifiers))
    tokens = [t.lower() for _, raw, _ in batch.malformed for t in _EMAIL_IN_TEXT.findall(raw)]
    if tokens:
        parts.append(siphash64(pa.array(tokens)))
    if not parts:
        return np.empty(0, dtype=KEY_DTYPE["hash"])
    return np.concatenate(parts).astype(KEY_DTYPE["hash"])


def count_lines(path: Path, *, block: int = 1 << 20) -> int:
    """Lines of a file (a last line without a newline counts): a progress total, cheap (~0.1 s
    per 100 MB from the page cache)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while chunk := f.read(block):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _concat_rejects(parts: Sequence[Path], dest: Path) -> None:
    """Join the per-file rejects CSVs into one (one header, one BOM)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        for i, part in enumerate(parts):
            with part.open("rb") as src:
                if i:
                    src.readline()  # the header; it holds no quoted newline
                shutil.copyfileobj(src, out)
            part.unlink()


def prepare_import(
    plan: ImportPlan,
    options: ImportOptions,
    *,
    work_dir: Path,
    progress: Progress = no_progress,
) -> PreparedImport:
    """Read, normalise, validate, dedupe and chunk every file, one file after another."""
    work_dir.mkdir(parents=True, exist_ok=True)
    stages = [
        normalise_file(plan, i, options, work_dir=work_dir, progress=progress)
        for i in range(len(plan.files))
    ]
    return finish_prepare(plan, stages, options, work_dir=work_dir, progress=progress)


def finish_prepare(
    plan: ImportPlan,
    stages: Sequence[FileStage],
    options: ImportOptions,
    *,
    work_dir: Path,
    progress: Progress = no_progress,
    previous: Snapshot | None = None,
) -> PreparedImport:
    """Pass 2: decide run-wide duplicates, reject the losers, cut the rest into chunk files.

    With ``--changed-only``, rows that ``previous`` (the last successful run's snapshot for this
    account and target) holds with the same values are counted unchanged and not chunked; when
    the run keeps a snapshot, every row's identifier and value hash go to the pending one.
    """
    stages = sorted(stages, key=lambda st: st.file_idx)
    # What pass 1 left: its worker processes (a next run starts them again) and what the
    # allocators keep, before pass 2's own peak.
    stop_idle_workers()
    release_memory()
    chunk_dir = work_dir / "chunks"
    shutil.rmtree(chunk_dir, ignore_errors=True)
    chunk_dir.mkdir(parents=True)
    _, rejects_path = options.paths_for_reports()
    _concat_rejects([st.rejects_part for st in stages], rejects_path)
    accounts = [st.account for st in stages]
    reasons: Counter[str] = Counter()
    for st in stages:
        reasons.update(st.reasons)
    dropped = sum(st.dropped for st in stages)

    # Decide run-wide duplicates on identifier hashes (on disk; 9 bytes a row in memory while
    # deciding). Only the losers are held through pass 2 (their positions and their winners'),
    # and the lines of the winners, for the rejects message.
    keys = gather_keys([(st.keys_path, st.kept_rows) for st in stages], work_dir)
    winner_of = decide_duplicates_in_file(keys, options.keep)
    winner_pos = winner_of.winner_positions()
    winner_lines = read_at(keys.line_path, winner_pos, KEY_DTYPE["line"])
    keys.line_path.unlink(missing_ok=True)
    # A run that keeps a snapshot reads each batch's identifier hashes back from the hash
    # file (pass 1 computed them) instead of hashing the identifiers again.
    if not options.keeps_snapshot:
        keys.unlink()
    release_memory()
    starts = np.cumsum([0] + [st.kept_rows for st in stages])
    file_names = [str(f.path) for f in plan.files]

    def where(pos: int) -> str:
        idx = int(np.searchsorted(starts, pos, side="right")) - 1
        line = int(winner_lines[np.searchsorted(winner_pos, pos)])
        return f"{file_names[stages[idx].file_idx]} line {line}"

    snapshot = SnapshotBuilder(work_dir) if options.keeps_snapshot else None
    if snapshot is not None:
        for st in stages:
            if st.protect_path is not None:
                snapshot.protect(np.fromfile(st.protect_path, dtype=KEY_DTYPE["hash"]))
                st.protect_path.unlink()
    compare = previous if options.changed_only else None
    validation = _SentValidation(plan, options.batch_rows)
    chunks: list[ChunkFile] = []
    builder: ChunkBuilder | None = None
    builder_columns: tuple[str, ...] = ()
    seq = 0

    def emit(chunk: Chunk) -> None:
        idx = len(chunks) + 1
        path = chunk_dir / f"chunk-{idx:05d}.csv"
        path.write_bytes(chunk.data)
        chunks.append(
            ChunkFile(
                index=idx,
                path=path,
                rows=chunk.rows,
                bytes=chunk.bytes,
                sha256=chunk.sha256,
                columns=tuple(chunk.columns),
            )
        )
        progress("chunk", len(chunks), 0)

    with RejectsWriter(rejects_path, append=True) as rejects:
        for st in stages:
            spill_path = st.spill_path
            if spill_path is None:
                continue
            planned = plan.files[st.file_idx]
            account = accounts[stages.index(st)]
            columns = planned.attributes
            if builder is None or columns != builder_columns:
                if builder is not None and (last := builder.flush()) is not None:
                    emit(last)
                builder = ChunkBuilder(columns, chunk_bytes=options.chunk_bytes)
                builder_columns = columns
            # A plain file, not a memory map: mapped pages would count in RSS as they are read.
            with pa.OSFile(str(spill_path)) as source:
                reader = ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    frame = reader.get_batch(i).to_pandas()
                    n = len(frame)
                    batch_start = seq
                    positions = winner_of.losers_in(seq, seq + n)
                    keep_mask = np.ones(n, dtype=bool)
                    keep_mask[positions - seq] = False
                    seq += n
                    dropped_rows = frame[~keep_mask]
                    if len(dropped_rows):
                        rejected = duplicate_rejects(
                            dropped_rows,
                            [where(w) for w in winner_of.winners_of(positions).tolist()],
                        )
                        rejects.write(str(planned.path), rejected)
                        reasons["duplicate"] += len(rejected)
                        account.rows_rejected += len(rejected)
                    sent = frame[keep_mask]
                    if not len(sent):
                        continue
                    ids = values = None
                    if snapshot is not None:
                        ids = np.fromfile(
                            keys.hash_path,
                            dtype=KEY_DTYPE["hash"],
                            count=n,
                            offset=batch_start * KEY_DTYPE["hash"].itemsize,
                        )[keep_mask]
                        values = value_hashes(sent, columns)
                        same = unchanged_mask(compare, ids, values)
                        if same.any():
                            account.rows_unchanged += int(same.sum())
                            snapshot.add(
                                sent[IDENTIFIER][same], ids[same], values[same], ~same[same]
                            )
                            sent, ids, values = sent[~same], ids[~same], values[~same]
                    account.rows_to_send += len(sent)
                    validation.add(columns, sent)
                    body = arrow_strings(sent[BODY])
                    for chunk in builder.add(sent[[*columns, LINE]], lines=body):
                        emit(chunk)
                    too_large = builder.pop_rejected()
                    if len(too_large):
                        rejected = originals(sent, too_large)
                        rejects.write(str(planned.path), rejected)
                        reasons.update(rejected["reason"].astype(str))
                        account.rows_to_send -= len(rejected)
                        account.rows_rejected += len(rejected)
                    if snapshot is not None and ids is not None and values is not None:
                        fits = ~np.isin(
                            sent[LINE].to_numpy(dtype=np.int64),
                            too_large[LINE].to_numpy(dtype=np.int64) if len(too_large) else [],
                        )
                        snapshot.add(sent[IDENTIFIER][fits], ids[fits], values[fits], fits[fits])
                        snapshot.protect(ids[~fits])
                    del frame, sent, body
                    release_memory()
            spill_path.unlink()
        if builder is not None and (last := builder.flush()) is not None:
            emit(last)
    keys.unlink()
    validation.flush()
    rejects_by_reason = dict(sorted(reasons.items()))

    for account in accounts:
        if account.rows_read != (
            account.rows_to_send + account.rows_rejected + account.rows_unchanged
        ):
            raise AssertionError(
                f"accounting broken for {account.path}: read {account.rows_read}, "
                f"to send {account.rows_to_send}, rejected {account.rows_rejected}, "
                f"unchanged {account.rows_unchanged}"
            )
    return PreparedImport(
        chunks=chunks,
        files=accounts,
        rejects_by_reason=rejects_by_reason,
        rejects_path=rejects_path,
        validation=merge_reports([*(st.report for st in stages), *validation.reports]),
        dropped_values=dropped,
        phones_reassigned_region=sum(st.phones_reassigned for st in stages),
        snapshot=snapshot.close() if snapshot is not None else None,
    )
