"""Import orchestration: plan -> prepare chunks -> submit exactly once -> wait -> report.

Each phase is a plain function over small, serialisable values (paths, ids, dataclasses), so
the Prefect flow wraps one task around each and the CLI or a test can call them directly.

Data path, in bounded memory:

* **plan**: resolve paths/globs, sniff every file, map headers to Brevo attributes, check the
  identifier column and unknown columns. Unusable input raises :class:`InputError` here, before
  anything is sent.
* **prepare**: pass 1 streams every file in batches, normalises and validates each batch, writes
  row rejects, and spills the kept rows (with their original values) to Arrow IPC files. Run-wide
  duplicates (by EMAIL, else SMS) are then decided on 64-bit hashes of the identifiers; pass 2
  streams the spill, rejects the losers as ``duplicate`` and cuts the rest into ``;`` bodies under
  the byte budget, written to chunk files. Nothing is held whole.
* **send**: every chunk goes through the ledger (see :mod:`etl.ledger`); completed chunks are
  skipped, in-flight ones are waited for, uncertain ones are reconciled against ``GET /processes``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from etl.body import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, Chunk, ChunkBuilder
from etl.brevo.client import BrevoClient
from etl.brevo.errors import (
    BrevoError,
    ProcessFailed,
    ProcessTimeout,
    SubmissionUncertain,
)
from etl.brevo.models import Attribute, ImportRequest, Process
from etl.csv_io import CsvFormat, RawBatch, arrow_strings, iter_csv_batches, sniff_csv
from etl.errors import InputError
from etl.fingerprints import siphash64
from etl.ledger import DEFAULT_STATE_DIR, Ledger
from etl.mapping import ColumnMapping, load_mapping_file, map_columns
from etl.normalise import (
    AttributeSpec,
    NormaliseOptions,
    build_specs,
    normalise_batch,
)
from etl.rejects import RejectsWriter
from etl.validate import ContactValidator, ValidationReport, merge_reports

logger = logging.getLogger(__name__)

Via = Literal["body", "url", "auto"]
Keep = Literal["first", "last"]
Progress = Callable[[str, int, int], None]
"""progress(step, done, total): total 0 when unknown."""

IDENTIFIER = "_identifier"
LINE = "_line"
RAW_PREFIX = "_raw:"
# A process may be stamped a little before our clock says we sent the request.
_CLOCK_SKEW = timedelta(minutes=2)


def _no_progress(step: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class ImportOptions:
    """Everything a user can choose for one import run."""

    paths: tuple[str, ...]
    list_ids: tuple[int, ...] = ()
    new_list: str | None = None
    folder_id: int | None = None
    mapping_file: Path | None = None
    strict: bool = False
    default_region: str | None = None
    dayfirst: bool = False
    drop_invalid_values: bool = False
    keep: Keep = "last"
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    via: Via = "auto"
    update_existing: bool = True
    empty_attributes: bool = False
    email_blacklist: bool = False
    sms_blacklist: bool = False
    disable_notification: bool = False
    notify_url: str | None = None
    # GX has a fixed cost per validation call (~0.15 s): large batches amortise it; memory
    # stays bounded by the batch, not the file.
    batch_rows: int = 200_000
    wait_timeout_s: float = 3600.0
    state_dir: Path = DEFAULT_STATE_DIR
    report_path: Path | None = None
    rejects_path: Path | None = None

    def check(self) -> None:
        """Refuse contradictory options (exit 2) before any work."""
        if not self.paths:
            raise InputError("no input files given")
        if bool(self.list_ids) == bool(self.new_list):
            raise InputError("give either --list-id (one or more) or --new-list with --folder-id")
        if self.new_list and self.folder_id is None:
            raise InputError("--new-list needs --folder-id (Brevo requires a folder for a list)")
        if not 0 < self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise InputError(
                f"--chunk-bytes must be between 1 and {MAX_CHUNK_BYTES} (Brevo's 10 MB limit)"
            )
        if self.keep not in ("first", "last"):
            raise InputError("--keep must be first or last")
        if self.via not in ("body", "url", "auto"):
            raise InputError("--via must be body, url or auto")
        if self.empty_attributes and not self.update_existing:
            raise InputError(
                "--empty-attributes only works when existing contacts are updated "
                "(drop --no-update-existing)"
            )

    def paths_for_reports(self) -> tuple[Path, Path]:
        """Where the report and the rejects file go."""
        report = self.report_path or self.state_dir / "import-report.json"
        rejects = self.rejects_path or report.with_name(report.stem + ".rejects.csv")
        return report, rejects


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedFile:
    """One input file, sniffed and mapped."""

    path: Path
    fmt: CsvFormat
    mapping: ColumnMapping

    @property
    def attributes(self) -> tuple[str, ...]:
        """The Brevo attributes this file provides, identifiers first."""
        return order_attributes(set(self.mapping.columns.values()))


@dataclass(frozen=True)
class ImportPlan:
    """The checked input of a run."""

    files: tuple[PlannedFile, ...]
    unknown_columns: tuple[str, ...]
    specs: dict[str, AttributeSpec]


def order_attributes(names: Iterable[str]) -> tuple[str, ...]:
    """EMAIL, then SMS, then the rest alphabetically: a stable body header."""
    first = [n for n in ("EMAIL", "SMS") if n in names]
    return (*first, *sorted(n for n in names if n not in ("EMAIL", "SMS")))


def resolve_paths(patterns: Sequence[str]) -> list[Path]:
    """Expand paths and globs, in order, without duplicates; InputError when one matches nothing."""
    seen: dict[Path, None] = {}
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 - absolute patterns too
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            for m in matches:
                seen.setdefault(Path(m), None)
        else:
            path = Path(pattern)
            if not path.exists():
                raise InputError(f"{pattern}: no such file")
            if path.is_dir():
                raise InputError(f"{pattern}: is a directory, not a CSV file")
            seen.setdefault(path, None)
    return list(seen)


def plan_import(options: ImportOptions, attributes: Sequence[Attribute]) -> ImportPlan:
    """Sniff and map every input file; raise InputError for anything unusable."""
    options.check()
    user_mapping = load_mapping_file(options.mapping_file) if options.mapping_file else None
    known = {a.name for a in attributes}
    files: list[PlannedFile] = []
    unknown: dict[str, None] = {}
    for path in resolve_paths(options.paths):
        fmt = sniff_csv(path)
        try:
            mapping = map_columns(fmt.header, user_mapping=user_mapping, known_attributes=known)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        for col in mapping.unknown:
            unknown.setdefault(mapping.columns.get(col, col), None)
        files.append(PlannedFile(path=path, fmt=fmt, mapping=mapping))
    if options.strict and unknown:
        raise InputError(
            "unknown attributes (not in the account; Brevo would ignore them): "
            + ", ".join(unknown)
            + " (create them, map them with --mapping, or drop --strict)"
        )
    return ImportPlan(
        files=tuple(files), unknown_columns=tuple(unknown), specs=build_specs(attributes)
    )


# ---------------------------------------------------------------------------- preparing


@dataclass
class FileAccount:
    """Per-file row accounting: rows_read == rows_sent + rows_rejected at the end."""

    path: str
    rows_read: int = 0
    rows_sent: int = 0
    rows_rejected: int = 0


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

    @property
    def rows_read(self) -> int:
        """Data rows read over every file."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows that went to the rejects file."""
        return sum(f.rows_rejected for f in self.files)


def _hash_identifiers(values: pd.Series) -> np.ndarray:
    return siphash64(arrow_strings(values))


def _raw_rows(batch: RawBatch, lines: np.ndarray) -> pd.DataFrame:
    """The original values of the rows starting at ``lines`` (a subset of the batch's lines).

    Lines increase through a batch, so a binary search finds the rows: a fraction of the cost of
    indexing the frame by line (a hash index over every row of every batch).
    """
    positions = np.searchsorted(batch.lines, lines)
    found = positions < len(batch.lines)
    if found.all() and np.array_equal(batch.lines[positions], lines):
        return batch.rows.take(positions).set_axis(lines)
    return batch.rows.set_axis(batch.lines).loc[lines]


def _spill_table(contacts: pd.DataFrame, raw: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    arrays = {c: arrow_strings(contacts[c]) for c in columns}
    arrays[LINE] = pa.array(contacts[LINE].to_numpy(dtype=np.int64))
    for col in raw.columns:
        arrays[RAW_PREFIX + str(col)] = arrow_strings(raw[col])
    return pa.table(arrays)


@dataclass
class FileStage:
    """What normalising one file left on disk for the central dedupe-and-chunk step."""

    file_idx: int
    account: FileAccount
    reasons: dict[str, int]
    report: ValidationReport
    dropped: int
    rejects_part: Path
    spill_path: Path | None = None
    keys_path: Path | None = None  # .hash (uint64) and .line (int64) files of the kept rows
    kept_rows: int = 0


def normalise_file(
    plan: ImportPlan,
    file_idx: int,
    options: ImportOptions,
    *,
    work_dir: Path,
    progress: Progress = _no_progress,
) -> FileStage:
    """Pass 1 for one file: stream, normalise, validate, write rejects, spill the kept rows.

    Independent of every other file, so files can be normalised in parallel (threads or a Dask
    cluster, see the import flow); only paths and small counts come back.
    """
    planned = plan.files[file_idx]
    account = FileAccount(path=str(planned.path))
    columns = planned.attributes
    norm_options = NormaliseOptions(
        default_region=options.default_region,
        dayfirst=options.dayfirst,
        drop_invalid_values=options.drop_invalid_values,
    )
    validator = ContactValidator(plan.specs, columns)
    reasons: Counter[str] = Counter()
    reports: list[ValidationReport] = []
    dropped = 0
    kept_rows = 0
    keys_path = work_dir / f"keys-{file_idx:04d}"
    spill_path = work_dir / f"spill-{file_idx:04d}.arrow"
    rejects_part = work_dir / f"rejects-{file_idx:04d}.csv"
    writer: ipc.RecordBatchFileWriter | None = None
    # Identifier hashes and line numbers go straight to disk (16 bytes a row), so memory does
    # not grow with the file; finish_prepare reads them back to decide duplicates.
    with (
        RejectsWriter(rejects_part) as rejects,
        keys_path.with_suffix(".hash").open("wb") as hash_file,
        keys_path.with_suffix(".line").open("wb") as line_file,
    ):
        try:
            for batch in iter_csv_batches(planned.path, planned.fmt, batch_rows=options.batch_rows):
                account.rows_read += len(batch.rows) + len(batch.malformed)
                result = normalise_batch(batch, planned.mapping, plan.specs, norm_options)
                if len(result.rejected):
                    rejects.write(str(planned.path), result.rejected)
                    reasons.update(result.rejected["reason"].astype(str))
                    account.rows_rejected += len(result.rejected)
                if len(result.dropped):
                    dropped += len(result.dropped)
                    rejects.write_dropped(str(planned.path), result.dropped)
                kept = result.contacts
                if len(kept):
                    reports.append(validator.validate(kept))
                    raw = _raw_rows(batch, kept[LINE].to_numpy(dtype=np.int64))
                    table = _spill_table(kept, raw, columns)
                    if writer is None:
                        writer = ipc.new_file(spill_path, table.schema)
                    writer.write_table(table)
                    hashes = _hash_identifiers(kept[IDENTIFIER]).astype(KEY_DTYPE["hash"])
                    hash_file.write(hashes.tobytes())
                    line_file.write(kept[LINE].to_numpy(dtype=KEY_DTYPE["line"]).tobytes())
                    kept_rows += len(kept)
                progress("read", account.rows_read, 0)
        finally:
            if writer is not None:
                writer.close()
    return FileStage(
        file_idx=file_idx,
        account=account,
        reasons=dict(reasons),
        report=merge_reports(reports),
        dropped=dropped,
        rejects_part=rejects_part,
        spill_path=spill_path if writer is not None else None,
        keys_path=keys_path,
        kept_rows=kept_rows,
    )


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
    progress: Progress = _no_progress,
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
    progress: Progress = _no_progress,
) -> PreparedImport:
    """Pass 2: decide run-wide duplicates, reject the losers, cut the rest into chunk files."""
    stages = sorted(stages, key=lambda st: st.file_idx)
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

    # Decide run-wide duplicates on identifier hashes (8 bytes a row); only the losers get
    # more than a bit each (where their winner is, for the rejects message).
    hashes, lines = _read_keys(stages, work_dir)
    losers, winner_of = _decide_duplicates(hashes, options.keep)
    del hashes
    starts = np.cumsum([0] + [st.kept_rows for st in stages])
    file_names = [str(f.path) for f in plan.files]

    def where(pos: int) -> str:
        idx = int(np.searchsorted(starts, pos, side="right")) - 1
        return f"{file_names[stages[idx].file_idx]} line {int(lines[pos])}"

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
                    keep_mask = ~losers[seq : seq + n]
                    positions = np.flatnonzero(~keep_mask) + seq
                    seq += n
                    dropped_rows = frame[~keep_mask]
                    if len(dropped_rows):
                        rejected = _duplicate_rejects(
                            dropped_rows, [where(winner_of[int(p)]) for p in positions]
                        )
                        rejects.write(str(planned.path), rejected)
                        reasons["duplicate"] += len(rejected)
                        account.rows_rejected += len(rejected)
                    sent = frame[keep_mask]
                    if not len(sent):
                        continue
                    account.rows_sent += len(sent)
                    for chunk in builder.add(sent[[*columns, LINE]]):
                        emit(chunk)
                    too_large = builder.pop_rejected()
                    if len(too_large):
                        rejected = _originals(sent, too_large)
                        rejects.write(str(planned.path), rejected)
                        reasons.update(rejected["reason"].astype(str))
                        account.rows_sent -= len(rejected)
                        account.rows_rejected += len(rejected)
            spill_path.unlink()
        if builder is not None and (last := builder.flush()) is not None:
            emit(last)
    rejects_by_reason = dict(sorted(reasons.items()))

    for account in accounts:
        if account.rows_read != account.rows_sent + account.rows_rejected:
            raise AssertionError(
                f"accounting broken for {account.path}: read {account.rows_read}, "
                f"sent {account.rows_sent}, rejected {account.rows_rejected}"
            )
    return PreparedImport(
        chunks=chunks,
        files=accounts,
        rejects_by_reason=rejects_by_reason,
        rejects_path=rejects_path,
        validation=merge_reports(st.report for st in stages),
        dropped_values=dropped,
    )


KEY_DTYPE = {"hash": np.dtype("<u8"), "line": np.dtype("<i8")}


def _read_keys(stages: Sequence[FileStage], work_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """All kept rows' identifier hashes (in memory) and lines (memory-mapped), in run order.

    Only the lines of a few rows are ever read (the winners named in duplicate messages), so
    they stay on disk; the key files are removed.
    """
    total = sum(st.kept_rows for st in stages)
    hashes = np.empty(total, dtype=KEY_DTYPE["hash"])
    lines_path = work_dir / "keys-all.line"
    pos = 0
    with lines_path.open("wb") as all_lines:
        for st in stages:
            if st.keys_path is None:
                continue
            hash_path = st.keys_path.with_suffix(".hash")
            values = np.fromfile(hash_path, dtype=KEY_DTYPE["hash"])
            hashes[pos : pos + len(values)] = values
            del values
            hash_path.unlink()
            line_path = st.keys_path.with_suffix(".line")
            with line_path.open("rb") as src:
                shutil.copyfileobj(src, all_lines)
            line_path.unlink()
            pos += st.kept_rows
    if total == 0:
        return hashes, np.empty(0, dtype=KEY_DTYPE["line"])
    return hashes, np.memmap(lines_path, dtype=KEY_DTYPE["line"], mode="r", shape=(total,))


def _decide_duplicates(hashes: np.ndarray, keep: Keep) -> tuple[np.ndarray, dict[int, int]]:
    """Which rows lose to another with the same identifier, and who beats each loser.

    A stable sort groups equal hashes with their positions in run order, so the first or last
    of each group is the row to keep; memory is a few arrays of 8 bytes a row, transiently.
    """
    losers = np.zeros(len(hashes), dtype=bool)
    if len(hashes) < 2:
        return losers, {}
    order = np.argsort(hashes, kind="stable")
    ordered = np.take(hashes, order)
    same_as_next = ordered[:-1] == ordered[1:]
    del ordered
    if not same_as_next.any():
        return losers, {}
    # In sorted order, a row loses when a later (keep=last) or earlier (keep=first) row shares
    # its hash.
    if keep == "last":
        lose_sorted = np.append(same_as_next, False)
    else:
        lose_sorted = np.insert(same_as_next, 0, False)
    loser_idx = np.flatnonzero(lose_sorted)
    losers[order[loser_idx]] = True
    # The winner of each loser: the last (or first) member of its run of equal hashes. Runs
    # are found for the losers only (searchsorted), not labelled for every row.
    starts = np.insert(np.flatnonzero(~same_as_next) + 1, 0, 0)
    group = np.searchsorted(starts, loser_idx, side="right") - 1
    bounds = np.append(starts[1:] - 1, len(hashes) - 1) if keep == "last" else starts
    winners = order[bounds[group]]
    return losers, dict(zip(order[loser_idx].tolist(), winners.tolist(), strict=True))


def _originals(spilled: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """``_line``/``reason``/``message`` of ``rejected`` with the original values from the spill."""
    raw_cols = [c for c in spilled.columns if c.startswith(RAW_PREFIX)]
    originals = spilled.set_index(LINE)[raw_cols].rename(columns=lambda c: c[len(RAW_PREFIX) :])
    lines = rejected[LINE].to_numpy(dtype=np.int64)
    out = originals.loc[lines].reset_index(drop=True)
    out.insert(0, LINE, lines)
    out.insert(1, "reason", rejected["reason"].astype(str).to_numpy())
    out.insert(2, "message", rejected["message"].astype(str).to_numpy())
    return out


def _duplicate_rejects(losers: pd.DataFrame, kept_as: Sequence[str]) -> pd.DataFrame:
    raw_cols = [c for c in losers.columns if c.startswith(RAW_PREFIX)]
    rejected = losers[raw_cols].rename(columns=lambda c: c[len(RAW_PREFIX) :])
    rejected.insert(0, LINE, losers[LINE].to_numpy())
    rejected.insert(1, "reason", "duplicate")
    rejected.insert(
        2, "message", [f"same identifier as {where}, which is sent" for where in kept_as]
    )
    return rejected.reset_index(drop=True)


# ---------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Target:
    """Where chunks go and how Brevo should treat them (part of every chunk's key)."""

    list_ids: tuple[int, ...]
    update_existing: bool
    empty_attributes: bool
    email_blacklist: bool
    sms_blacklist: bool

    def key(self) -> str:
        """A stable text form of the target."""
        return json.dumps(asdict(self), sort_keys=True)


def chunk_key(chunk: ChunkFile, target: Target) -> str:
    """The ledger key of a chunk: its body and where/how it is imported."""
    return hashlib.sha256(f"{chunk.sha256}|{target.key()}".encode()).hexdigest()


def resolve_target(client: BrevoClient, ledger: Ledger, options: ImportOptions) -> Target:
    """Find or create the target list(s); a new list is created once, ever."""
    list_ids = tuple(options.list_ids)
    if options.new_list:
        assert options.folder_id is not None
        list_id = ledger.new_list_id(options.new_list, options.folder_id)
        if list_id is None:
            list_id = _find_list(client, options.new_list, options.folder_id)
        if list_id is None:
            list_id = client.create_list(options.new_list, folder_id=options.folder_id)
            logger.info("created list %s (id %s)", options.new_list, list_id)
        ledger.record_new_list(options.new_list, options.folder_id, list_id)
        list_ids = (list_id,)
    return Target(
        list_ids=list_ids,
        update_existing=options.update_existing,
        empty_attributes=options.empty_attributes,
        email_blacklist=options.email_blacklist,
        sms_blacklist=options.sms_blacklist,
    )


def _find_list(client: BrevoClient, name: str, folder_id: int) -> int | None:
    for page in client.iter_lists():
        for lst in page:
            if lst.name == name and lst.folder_id == folder_id:
                return lst.id
    return None


@dataclass
class ChunkOutcome:
    """What happened to one chunk in this run."""

    index: int
    rows: int
    bytes: int
    sha256: str
    chunk_key: str
    process_id: int | None = None
    status: str = "pending"
    action: str = "submitted"  # submitted | skipped_completed | resumed | reconciled
    info: dict[str, Any] | None = None
    error: str | None = None


def _request_for(
    chunk: ChunkFile, target: Target, options: ImportOptions, file_url: str | None
) -> ImportRequest:
    return ImportRequest(
        file_body=None if file_url else chunk.path.read_text(encoding="utf-8"),
        file_url=file_url,
        list_ids=target.list_ids,
        update_existing_contacts=target.update_existing,
        empty_contacts_attributes=target.empty_attributes,
        email_blacklist=target.email_blacklist,
        sms_blacklist=target.sms_blacklist,
        notify_url=options.notify_url,
        disable_notification=options.disable_notification,
    )


def reconcile_uncertain(
    client: BrevoClient, ledger: Ledger, key: str, submitted_at: datetime
) -> int | None:
    """Find the import process an uncertain submission created, or None if it never arrived.

    Brevo's import takes no idempotency key and its process carries no trace of the body, so the
    only evidence is time: an import process created at or after the submission (less a margin
    for clock skew) that no other chunk of the ledger claims. Chunks are submitted one at a time,
    so at most one submission is uncertain at once. More than one candidate is refused rather
    than guessed.
    """
    claimed = ledger.claimed_process_ids()
    horizon = submitted_at - _CLOCK_SKEW
    candidates: list[Process] = []
    for page in client.iter_processes(sort="desc"):
        older = False
        for proc in page:
            created = _parse_time(proc.created_at)
            if created is not None and created < horizon:
                older = True
                continue
            if proc.name.upper() == "IMPORTUSER" and proc.id not in claimed:
                candidates.append(proc)
        if older:
            break
    if len(candidates) > 1:
        ids = ", ".join(str(p.id) for p in candidates)
        raise BrevoError(
            f"cannot tell which import process holds chunk {key[:12]}: candidates {ids}; "
            "check them in Brevo, then re-run"
        )
    return candidates[0].id if candidates else None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def submit_chunk(
    client: BrevoClient,
    ledger: Ledger,
    chunk: ChunkFile,
    target: Target,
    options: ImportOptions,
    *,
    publish: Callable[[ChunkFile], str] | None = None,
) -> ChunkOutcome:
    """Submit one chunk unless the ledger shows it already went out; never twice."""
    key = chunk_key(chunk, target)
    outcome = ChunkOutcome(
        index=chunk.index, rows=chunk.rows, bytes=chunk.bytes, sha256=chunk.sha256, chunk_key=key
    )
    entry = ledger.get(key)
    if entry is not None:
        if entry.status == "completed":
            outcome.status, outcome.action = "completed", "skipped_completed"
            outcome.process_id, outcome.info = entry.process_id, entry.info
            return outcome
        if entry.status == "submitted" and entry.process_id is not None:
            outcome.status, outcome.action = "submitted", "resumed"
            outcome.process_id = entry.process_id
            return outcome
        if entry.status == "submitting":
            found = reconcile_uncertain(client, ledger, key, entry.submitted_at)
            if found is not None:
                ledger.record_submitted(key, found)
                outcome.status, outcome.action, outcome.process_id = (
                    "submitted",
                    "reconciled",
                    found,
                )
                return outcome
            # The earlier attempt never reached Brevo: safe to send again.
        # status "failed": Brevo rejected the process; a re-run tries again.
    file_url = publish(chunk) if publish else None
    request = _request_for(chunk, target, options, file_url)
    sent_at = ledger.begin_submission(
        chunk_key=key,
        body_sha256=chunk.sha256,
        target=target.key(),
        rows=chunk.rows,
        size=chunk.bytes,
    )
    try:
        process_id = client.start_import(request)
    except SubmissionUncertain:
        found = reconcile_uncertain(client, ledger, key, sent_at)
        if found is None:
            # Nothing arrived. Leave the row "submitting": the next run looks again first.
            raise
        ledger.record_submitted(key, found)
        outcome.status, outcome.action, outcome.process_id = "submitted", "reconciled", found
        return outcome
    except BrevoError:
        # A definite refusal (4xx) or a failure before sending: nothing was imported.
        ledger.forget(key)
        raise
    ledger.record_submitted(key, process_id)
    outcome.status, outcome.process_id = "submitted", process_id
    return outcome


def _process_info(process: Process) -> dict[str, Any]:
    info: dict[str, Any] = {"status": process.status}
    if process.import_info is not None:
        info.update({k: v for k, v in asdict(process.import_info).items() if k != "extra"})
        info.update(process.import_info.extra)
    if process.error:
        info["error"] = process.error
    return info


def wait_chunk(
    client: BrevoClient,
    ledger: Ledger,
    outcome: ChunkOutcome,
    *,
    timeout_s: float,
    wake: Any = None,
) -> ChunkOutcome:
    """Wait for a chunk's process and record how it ended."""
    if outcome.status == "completed" or outcome.process_id is None:
        return outcome
    try:
        process = client.wait_for_process(outcome.process_id, timeout_s=timeout_s, wake=wake)
    except ProcessFailed as exc:
        outcome.status, outcome.error = "failed", str(exc)
        outcome.info = _process_info(exc.process)
        ledger.record_finished(
            outcome.chunk_key, status="failed", info=outcome.info, error=str(exc)
        )
        return outcome
    except ProcessTimeout as exc:
        # Keep the ledger row "submitted": a re-run waits for the same process.
        outcome.status, outcome.error = "timeout", str(exc)
        return outcome
    outcome.status = "completed"
    outcome.info = _process_info(process)
    ledger.record_finished(outcome.chunk_key, status="completed", info=outcome.info)
    return outcome


# ---------------------------------------------------------------------------- reporting


@dataclass
class ImportReport:
    """The run's account, written as JSON by ``--report``."""

    rows_read: int
    rows_sent: int
    rows_rejected: int
    rejects_by_reason: dict[str, int]
    unknown_columns: list[str]
    chunks: list[dict[str, Any]]
    list_ids: list[int]
    brevo: dict[str, Any]
    files: list[dict[str, Any]]
    rejects_path: str
    validation: dict[str, Any]
    dropped_values: int = 0
    new_emails: int | None = None
    emails_exists: int | None = None
    invalid_email: int | None = None
    duplicates_email: int | None = None
    differences: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    ok: bool = True

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(asdict(self), indent=2, default=str)


def _as_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_report(
    plan: ImportPlan,
    prepared: PreparedImport,
    target: Target | None,
    outcomes: Sequence[ChunkOutcome],
    *,
    started_at: datetime,
    notify_payloads: Sequence[dict[str, Any]] = (),
) -> ImportReport:
    """Assemble the report and check the accounting invariant."""
    rows_sent = sum(f.rows_sent for f in prepared.files)
    invalid = [_as_count((o.info or {}).get("invalid_emails")) for o in outcomes]
    dups = [_as_count((o.info or {}).get("duplicate_contact_id")) for o in outcomes]
    brevo: dict[str, Any] = {
        "processes": [o.process_id for o in outcomes],
        "invalid_emails": sum(v for v in invalid if v is not None) if any(invalid) else 0,
        "duplicates": sum(v for v in dups if v is not None) if any(dups) else 0,
        "reject_files": sorted(
            {
                str(v)
                for o in outcomes
                for v in (o.info or {}).values()
                if isinstance(v, str) and v.startswith("http")
            }
        ),
    }
    differences = []
    if brevo["invalid_emails"]:
        differences.append(
            f"Brevo found {brevo['invalid_emails']} invalid emails the local checks accepted"
        )
    if brevo["duplicates"]:
        differences.append(
            f"Brevo found {brevo['duplicates']} duplicates after local de-duplication"
        )
    legacy: dict[str, int | None] = {
        "new_emails": None,
        "emails_exists": None,
        "invalid_email": None,
        "duplicates_email": None,
    }
    for payload in notify_payloads:
        for name in legacy:
            raw = payload.get(name)
            if raw is not None and str(raw).strip().isdigit():
                legacy[name] = (legacy[name] or 0) + int(str(raw).strip())
    if legacy["invalid_email"] is None and all(v is not None for v in invalid) and outcomes:
        legacy["invalid_email"] = brevo["invalid_emails"]
    if legacy["duplicates_email"] is None and all(v is not None for v in dups) and outcomes:
        legacy["duplicates_email"] = brevo["duplicates"]
    ok = all(o.status == "completed" for o in outcomes)
    report = ImportReport(
        rows_read=prepared.rows_read,
        rows_sent=rows_sent,
        rows_rejected=prepared.rows_rejected,
        rejects_by_reason=prepared.rejects_by_reason,
        unknown_columns=list(plan.unknown_columns),
        chunks=[
            {
                "index": o.index,
                "rows": o.rows,
                "bytes": o.bytes,
                "sha256": o.sha256,
                "process_id": o.process_id,
                "status": o.status,
                "action": o.action,
                **({"error": o.error} if o.error else {}),
            }
            for o in outcomes
        ],
        list_ids=list(target.list_ids) if target else [],
        brevo=brevo,
        files=[asdict(f) for f in prepared.files],
        rejects_path=str(prepared.rejects_path),
        validation={
            "passed": prepared.validation.passed,
            "evaluated": prepared.validation.evaluated,
            "successful": prepared.validation.successful,
            "failures": list(prepared.validation.failures),
        },
        dropped_values=prepared.dropped_values,
        differences=differences,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ok=ok,
        **legacy,
    )
    if report.rows_read != report.rows_sent + report.rows_rejected:
        raise AssertionError(
            f"accounting broken: read {report.rows_read} != sent {report.rows_sent} "
            f"+ rejected {report.rows_rejected}"
        )
    return report


def write_report(report: ImportReport, path: Path) -> None:
    """Write the report atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.to_json(), encoding="utf-8")
    tmp.replace(path)
