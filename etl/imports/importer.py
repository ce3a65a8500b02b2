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
* **send**: every chunk goes through the ledger (see :mod:`etl.imports.ledger`); completed chunks are
  skipped, in-flight ones are waited for, uncertain ones are reconciled against ``GET /processes``.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import logging
import shutil
import time
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

from etl.brevo.client import BrevoClient
from etl.brevo.errors import (
    BrevoError,
    BrevoNotFound,
    ProcessFailed,
    ProcessTimeout,
    SubmissionUncertain,
)
from etl.brevo.models import Attribute, ImportRequest, Process
from etl.errors import InputError
from etl.fingerprints import siphash64
from etl.imports.body import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, Chunk, ChunkBuilder
from etl.imports.csv_io import CsvFormat, RawBatch, arrow_strings, iter_csv_batches, sniff_csv
from etl.imports.ledger import DEFAULT_STATE_DIR, ChunkEntry, Ledger, account_key, ledger_path
from etl.imports.mapping import ColumnMapping, load_mapping_file, map_columns
from etl.imports.normalise import (
    AttributeSpec,
    NormaliseOptions,
    build_specs,
    normalise_batch,
)
from etl.imports.outcomes import (
    REFUSALS_HEADER,
    account_for_chunk,
    apply_false_booleans,
    chunk_landed,
)
from etl.imports.rejects import RejectsWriter, neutralise
from etl.imports.validate import ContactValidator, ValidationReport, merge_reports

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
    again: bool = False

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

    def refusals_path(self) -> Path:
        """Where the rows Brevo refused are listed (beside the report)."""
        report, _ = self.paths_for_reports()
        return report.with_name(report.stem + ".refusals.csv")


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
    """Per-file row accounting: rows_read == rows_to_send + rows_rejected at the end.

    ``rows_to_send`` are the rows that passed every local check and went into chunks; the
    report's run-level counts say which of them this run sent and Brevo accepted.
    """

    path: str
    rows_read: int = 0
    rows_to_send: int = 0
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
                    account.rows_to_send += len(sent)
                    for chunk in builder.add(sent[[*columns, LINE]]):
                        emit(chunk)
                    too_large = builder.pop_rejected()
                    if len(too_large):
                        rejected = _originals(sent, too_large)
                        rejects.write(str(planned.path), rejected)
                        reasons.update(rejected["reason"].astype(str))
                        account.rows_to_send -= len(rejected)
                        account.rows_rejected += len(rejected)
            spill_path.unlink()
        if builder is not None and (last := builder.flush()) is not None:
            emit(last)
    rejects_by_reason = dict(sorted(reasons.items()))

    for account in accounts:
        if account.rows_read != account.rows_to_send + account.rows_rejected:
            raise AssertionError(
                f"accounting broken for {account.path}: read {account.rows_read}, "
                f"to send {account.rows_to_send}, rejected {account.rows_rejected}"
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


# ---------------------------------------------------------------------------- account and runs


@dataclass(frozen=True)
class AccountScope:
    """The account a key belongs to, at one base URL: what a ledger is scoped by."""

    key: str
    email: str
    base_url: str
    ledger_path: Path


def account_scope(client: BrevoClient, state_dir: Path) -> AccountScope:
    """Ask Brevo whose key this is (``GET /account``) and where that account's ledger lives."""
    account = client.get_account()
    if not account.email:
        raise BrevoError("GET /account gave no email: cannot tell which account this key is for")
    key = account_key(
        base_url=client.base_url,
        email=account.email,
        organization_id=account.organization_id,
        user_id=account.user_id,
    )
    return AccountScope(
        key=key,
        email=account.email,
        base_url=client.base_url,
        ledger_path=ledger_path(state_dir, key),
    )


def open_ledger(scope: AccountScope) -> Ledger:
    """Open the account's ledger and record whose it is (email and base URL, never the key)."""
    ledger = Ledger(scope.ledger_path)
    ledger.set_meta({"email": scope.email, "base_url": scope.base_url})
    return ledger


def run_fingerprint(options: ImportOptions, chunks: Sequence[ChunkFile]) -> str:
    """What the command asks of Brevo: the target, how to import, and every chunk's body."""
    spec = {
        "list_ids": sorted(options.list_ids),
        "new_list": options.new_list,
        "folder_id": options.folder_id,
        "update_existing": options.update_existing,
        "empty_attributes": options.empty_attributes,
        "email_blacklist": options.email_blacklist,
        "sms_blacklist": options.sms_blacklist,
        "chunks": [c.sha256 for c in chunks],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


RunAction = Literal["new", "resumed", "already_completed"]


@dataclass(frozen=True)
class RunDecision:
    """Which run this invocation is, and what became of the previous one."""

    run_id: str
    action: RunAction
    previous: dict[str, Any] | None = None


def begin_run(
    client: BrevoClient, ledger: Ledger, fingerprint: str, *, again: bool = False
) -> RunDecision:
    """Resume an unfinished run of this command, report a completed one, or start a new one.

    A completed run is trusted only while the account still knows its last process: a
    sandbox (or account) that was emptied since then gets everything sent again.
    """
    latest = ledger.latest_run(fingerprint)
    if latest is not None and not again:
        if latest.status != "completed":
            ledger.use_run(latest.run_id)
            return RunDecision(latest.run_id, "resumed", latest.describe())
        if _run_still_known(client, ledger, latest.run_id):
            ledger.run_id = latest.run_id
            return RunDecision(latest.run_id, "already_completed", latest.describe())
        logger.warning(
            "run %s completed this import, but the account no longer knows its processes; "
            "sending everything again",
            latest.run_id,
        )
    run = ledger.start_run(fingerprint)
    return RunDecision(run.run_id, "new", latest.describe() if latest else None)


def _run_still_known(client: BrevoClient, ledger: Ledger, run_id: str) -> bool:
    process_ids = ledger.run_process_ids(run_id)
    if not process_ids:
        return True
    try:
        client.get_process(process_ids[-1])
    except BrevoNotFound:
        return False
    return True


def newest_process_id(client: BrevoClient) -> int:
    """The id of the newest process of the account (0 if none): a floor for what we create."""
    first = next(iter(client.iter_processes(page_size=1, sort="desc")), [])
    return max((p.id for p in first), default=0)


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
    """Find or create the target list(s); a new list is created once per account."""
    list_ids = tuple(options.list_ids)
    if options.new_list:
        assert options.folder_id is not None
        list_id = ledger.new_list_id(options.new_list, options.folder_id)
        if list_id is not None and not _list_exists(client, list_id, options.new_list):
            # The ledger remembers a list the account no longer has (deleted, or an emptied
            # sandbox): never import into whatever list now holds that id.
            ledger.forget_new_list(options.new_list, options.folder_id)
            list_id = None
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


def remembered_target(ledger: Ledger, options: ImportOptions) -> Target:
    """The target of a run that already completed, without asking or creating anything."""
    list_ids = tuple(options.list_ids)
    if options.new_list and options.folder_id is not None:
        remembered = ledger.new_list_id(options.new_list, options.folder_id)
        list_ids = (remembered,) if remembered is not None else ()
    return Target(
        list_ids=list_ids,
        update_existing=options.update_existing,
        empty_attributes=options.empty_attributes,
        email_blacklist=options.email_blacklist,
        sms_blacklist=options.sms_blacklist,
    )


def _list_exists(client: BrevoClient, list_id: int, name: str) -> bool:
    try:
        return client.get_list(list_id).name == name
    except BrevoNotFound:
        return False


def _find_list(client: BrevoClient, name: str, folder_id: int) -> int | None:
    for page in client.iter_lists():
        for lst in page:
            if lst.name == name and lst.folder_id == folder_id:
                return lst.id
    return None


ChunkAction = Literal["submitted", "skipped_completed", "resumed", "reconciled"]
OutcomeStatus = Literal["pending", "submitted", "completed", "failed", "timeout"]


@dataclass
class ChunkOutcome:
    """What happened to one chunk in this run."""

    index: int
    rows: int
    bytes: int
    sha256: str
    chunk_key: str
    process_id: int | None = None
    status: OutcomeStatus = "pending"
    action: ChunkAction = "submitted"
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


class ReconcileAmbiguous(BrevoError):
    """A lost submission could belong to more than one process: the run stops, state kept."""


def _candidates(client: BrevoClient, ledger: Ledger, entry: ChunkEntry) -> list[Process]:
    """Import processes newer than the newest one seen before the submission, unclaimed.

    Brevo promises no creation time on a process (FACTS.md F2), so ids are the only order;
    where a time is given, processes clearly older than the submission are dropped too.
    """
    claimed = ledger.claimed_process_ids()
    horizon = entry.submitted_at - _CLOCK_SKEW
    out: list[Process] = []
    for page in client.iter_processes(sort="desc"):
        older = False
        for proc in page:
            if proc.id <= entry.after_process_id:
                older = True
                continue
            created = _parse_time(proc.created_at)
            if created is not None and created < horizon:
                continue
            if proc.name.upper() == "IMPORTUSER" and proc.id not in claimed:
                out.append(proc)
        if older or not page:
            break
    return out


def reconcile_uncertain(
    client: BrevoClient,
    ledger: Ledger,
    chunk: ChunkFile,
    target: Target,
    entry: ChunkEntry,
    *,
    settle_s: float = 0.0,
    wait_timeout_s: float = 3600.0,
) -> int | None:
    """Find the import process an uncertain submission created, or None if it never arrived.

    Brevo's import takes no idempotency key and its process carries no trace of the body. So:
    only import processes newer than the newest process seen before the submission and claimed
    by no chunk are candidates; a request still held somewhere may land late, so an empty answer
    is trusted only ``settle_s`` after the submission; and a single candidate is adopted only
    when the chunk's content is in Brevo (a sample of its contacts in the target lists with its
    values). Two candidates are refused rather than guessed.
    """
    settle_until = entry.submitted_at + timedelta(seconds=settle_s)
    while True:
        candidates = _candidates(client, ledger, entry)
        remaining = (settle_until - datetime.now(UTC)).total_seconds()
        if candidates or remaining <= 0:
            break
        logger.info(
            "chunk %d: waiting %.0f s for a late submission to land", chunk.index, remaining
        )
        time.sleep(min(remaining, max(1.0, settle_s / 6)))
    if not candidates:
        return None
    if len(candidates) > 1:
        ids = ", ".join(str(p.id) for p in candidates)
        raise ReconcileAmbiguous(
            f"cannot tell which import process holds chunk {chunk.index} "
            f"({entry.chunk_key[:12]}): candidates {ids}; check them in Brevo, then re-run"
        )
    proc = candidates[0]
    if proc.is_pending:
        try:
            proc = client.wait_for_process(proc.id, timeout_s=wait_timeout_s)
        except ProcessFailed as exc:
            proc = exc.process
    if chunk_landed(client, chunk.path, target.list_ids):
        return proc.id
    logger.info(
        "chunk %d: process %d is not this chunk's import (its contacts are not in Brevo)",
        chunk.index,
        proc.id,
    )
    return None


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
    after_process_id: int = 0,
    settle_s: float | None = None,
) -> ChunkOutcome:
    """Submit one chunk unless the current run's ledger shows it already went out; never twice.

    Args:
        client: the Brevo client.
        ledger: the account's ledger, on the current run.
        chunk: the prepared body.
        target: lists and import options.
        options: the run's options.
        publish: publishes the chunk and returns its URL (``--via url``).
        after_process_id: the newest process id seen before this run's submissions.
        settle_s: how long after a lost submission an empty process list is trusted
            (default: twice the client's timeout).
    """
    key = chunk_key(chunk, target)
    settle = 2 * client.timeout_s if settle_s is None else settle_s
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
            found = reconcile_uncertain(
                client,
                ledger,
                chunk,
                target,
                entry,
                settle_s=settle,
                wait_timeout_s=options.wait_timeout_s,
            )
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
    ledger.begin_submission(
        chunk_key=key,
        body_sha256=chunk.sha256,
        target=target.key(),
        rows=chunk.rows,
        size=chunk.bytes,
        after_process_id=max(after_process_id, ledger.newest_claimed_process_id()),
    )
    try:
        process_id = client.start_import(request)
    except SubmissionUncertain:
        pending = ledger.get(key)
        assert pending is not None
        found = reconcile_uncertain(
            client, ledger, chunk, target, pending, wait_timeout_s=options.wait_timeout_s
        )
        if found is None:
            # Nothing (yet) arrived. Leave the row "submitting": the next run looks again first.
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


def refusals_dir(ledger: Ledger) -> Path:
    """Where the current run keeps the rows Brevo refused, one file per chunk."""
    return ledger.path.parent / "runs" / ledger.run_id


def account_chunk(
    client: BrevoClient,
    ledger: Ledger,
    outcome: ChunkOutcome,
    chunk: ChunkFile,
    *,
    boolean_attributes: Sequence[str],
    update_existing: bool,
    work_dir: Path,
) -> ChunkOutcome:
    """Once a chunk completed: Brevo's counts and refused rows, then false booleans re-applied.

    Done once per chunk (the ledger's info says so), so a resumed run neither downloads nor
    updates again.
    """
    if outcome.status != "completed" or (outcome.info or {}).get("accounted"):
        return outcome
    info = dict(outcome.info or {})
    account = account_for_chunk(client, info, rows=outcome.rows, work_dir=work_dir)
    folder = refusals_dir(ledger)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"chunk-{chunk.index:05d}-{outcome.chunk_key[:12]}.csv"
    _write_refusals(part, chunk.index, account.refused_rows)
    false_applied = 0
    booleans = [c for c in chunk.columns if c in set(boolean_attributes)]
    if update_existing and booleans:
        refused_ids = {ident for _, ident, _ in account.refused_rows if ident}
        false_applied = apply_false_booleans(client, chunk.path, booleans, skip=refused_ids)
    info.update(account.as_info())
    info.update({"false_reapplied": false_applied, "refusals_part": str(part), "accounted": True})
    ledger.record_finished(outcome.chunk_key, status="completed", info=info)
    outcome.info = info
    return outcome


def _write_refusals(path: Path, index: int, rows: Sequence[tuple[str, str, str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        for kind, ident, row in rows:
            writer.writerow([index, kind, neutralise(ident), neutralise(row)])
    tmp.replace(path)


def write_refusals_file(outcomes: Sequence[ChunkOutcome], dest: Path) -> int:
    """Join the chunks' refusal parts into one CSV beside the report; returns its rows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with dest.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerow(REFUSALS_HEADER)
        for outcome in outcomes:
            part = (outcome.info or {}).get("refusals_part")
            if not part or not Path(part).exists():
                continue
            text = Path(part).read_text(encoding="utf-8")
            out.write(text)
            count += sum(1 for _ in csv.reader(io.StringIO(text, newline="")))
    return count


# ---------------------------------------------------------------------------- reporting


@dataclass
class ImportReport:
    """The run's account, written as JSON by ``--report``.

    ``rows_read == rows_sent + rows_rejected + rows_refused_by_brevo + rows_not_completed +
    rows_already_sent``: every row is sent by this run (and accepted by Brevo), rejected
    locally with a reason, refused by Brevo, in a chunk that did not complete, or sent by an
    earlier completed run of the same command (then nothing is sent).
    """

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
    rows_refused_by_brevo: int = 0
    rows_not_completed: int = 0
    rows_already_sent: int = 0
    run_id: str | None = None
    run_action: str = "new"
    previous_run: dict[str, Any] | None = None
    account: dict[str, str] = field(default_factory=dict)
    refusals_path: str | None = None
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


def build_report(
    plan: ImportPlan,
    prepared: PreparedImport,
    target: Target | None,
    outcomes: Sequence[ChunkOutcome],
    *,
    started_at: datetime,
    notify_payloads: Sequence[dict[str, Any]] = (),
    run: RunDecision | None = None,
    account: AccountScope | None = None,
    refusals_path: Path | None = None,
) -> ImportReport:
    """Assemble the report and check the accounting invariant."""
    completed = [o for o in outcomes if o.status == "completed"]
    refused = sum(int((o.info or {}).get("refused") or 0) for o in completed)
    to_send = sum(c.rows for c in prepared.chunks)
    already = to_send if run is not None and run.action == "already_completed" else 0
    not_completed = sum(o.rows for o in outcomes if o.status != "completed")
    rows_sent = sum(o.rows for o in completed) - refused
    counts: Counter[str] = Counter()
    sources: set[str] = set()
    problems: list[str] = []
    for o in completed:
        info = o.info or {}
        counts.update(info.get("brevo_counts") or {})
        if info.get("brevo_counts_source"):
            sources.add(str(info["brevo_counts_source"]))
        problems += [f"chunk {o.index}: {p}" for p in info.get("problems") or ()]
    invalid = counts.get("invalid_emails", 0)
    duplicates = sum(v for k, v in counts.items() if k.startswith("duplicate_"))
    known = bool(completed) and all((o.info or {}).get("accounted") for o in completed)
    brevo: dict[str, Any] = {
        "processes": [o.process_id for o in outcomes],
        "counts": dict(sorted(counts.items())),
        "counts_source": _counts_source(sources, known),
        "invalid_emails": invalid,
        "duplicates": duplicates,
        "false_booleans_reapplied": sum(
            int((o.info or {}).get("false_reapplied") or 0) for o in completed
        ),
        "problems": problems,
    }
    differences = []
    if refused:
        differences.append(
            f"Brevo refused {refused} row(s) the local checks accepted "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()) if v)})"
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
    if known and "none" not in sources and "unavailable" not in sources:
        if legacy["invalid_email"] is None:
            legacy["invalid_email"] = invalid
        if legacy["duplicates_email"] is None:
            legacy["duplicates_email"] = duplicates
    ok = all(o.status == "completed" for o in outcomes)
    report = ImportReport(
        rows_read=prepared.rows_read,
        rows_sent=rows_sent,
        rows_rejected=prepared.rows_rejected,
        rows_refused_by_brevo=refused,
        rows_not_completed=not_completed,
        rows_already_sent=already,
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
                "refused_by_brevo": int((o.info or {}).get("refused") or 0),
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
        run_id=run.run_id if run else None,
        run_action=run.action if run else "new",
        previous_run=run.previous if run and run.action != "new" else None,
        account={"email": account.email, "key": account.key} if account else {},
        refusals_path=str(refusals_path) if refusals_path else None,
        dropped_values=prepared.dropped_values,
        differences=differences,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ok=ok,
        **legacy,
    )
    total = (
        report.rows_sent
        + report.rows_rejected
        + report.rows_refused_by_brevo
        + report.rows_not_completed
        + report.rows_already_sent
    )
    if report.rows_read != total:
        raise AssertionError(
            f"accounting broken: read {report.rows_read} != sent {report.rows_sent} "
            f"+ rejected {report.rows_rejected} + refused {report.rows_refused_by_brevo} "
            f"+ not completed {report.rows_not_completed} + already sent "
            f"{report.rows_already_sent}"
        )
    return report


def _counts_source(sources: set[str], known: bool) -> str:
    """Where the report's Brevo counts come from, in words."""
    if not known:
        return "not known (no chunk completed in this run)"
    if not sources or sources == {"none"}:
        return "not given: Brevo's processes carried no info.import"
    if "unavailable" in sources:
        return "partly unavailable: some of Brevo's report files could not be read"
    parts = []
    if any("links" in s for s in sources):
        parts.append("rows of Brevo's info.import CSV files")
    if any("counts" in s for s in sources):
        parts.append("counts in Brevo's info.import")
    return " and ".join(parts)


def write_report(report: ImportReport, path: Path) -> None:
    """Write the report atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.to_json(), encoding="utf-8")
    tmp.replace(path)
