"""Export orchestration: request exports -> wait -> download -> unpack -> merge -> Parquet.

Exports only read the account, so a re-run simply exports again; what must never happen is a
half-written or doubled partition, which :mod:`etl.parquet` prevents with a rename swap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from etl import progress
from etl.archive import safe_extract_zip
from etl.brevo.client import BrevoClient
from etl.brevo.errors import ExportLinkExpired, SubmissionUncertain
from etl.brevo.models import Attribute, ExportRequest, Process
from etl.exports import ExportFile

logger = logging.getLogger(__name__)

_EXPORT_PROCESS_NAMES = frozenset({"SEARCH_EXPORT_USERS", "CONTACT_EXPORT", "LIST_EXPORT"})

WakeFactory = Callable[[], tuple[str | None, threading.Event | None]]
"""Returns (notify URL, event) for one export, or (None, None) to poll only."""


@dataclass
class ExportRun:
    """One requested export and what came of it."""

    label: str
    request: ExportRequest
    process_id: int | None = None
    total_records: int | None = None
    files: list[ExportFile] = field(default_factory=list)
    rerequested: bool = False
    notify_payloads: list[dict[str, Any]] = field(default_factory=list)


class ExportStarter:
    """Starts a run's exports one at a time and remembers the processes they started.

    A lost answer (:class:`SubmissionUncertain`) is reconciled by looking for an export process
    created after the request went out. With several exports in flight, such a process may be
    another export's of this run: taking its id would export one filter twice and silently drop
    the other. Starting one at a time and skipping the processes already claimed leaves the lost
    request's own process as the only candidate.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: set[int] = set()

    def start(self, client: BrevoClient, request: ExportRequest) -> int:
        with self._lock:
            process_id = _start(client, request, self._claimed)
            self._claimed.add(process_id)
            return process_id


def _start(client: BrevoClient, request: ExportRequest, claimed: set[int]) -> int:
    try:
        return client.start_export(request)
    except SubmissionUncertain as exc:
        # An export only reads the account, so asking again is harmless; first look for the
        # process the lost answer would have named, to avoid a second export's cost.
        found = _find_export_after(client, exc.sent_at, claimed)
        if found is not None:
            return found
        return client.start_export(request)


def _find_export_after(client: BrevoClient, sent_at: datetime, claimed: set[int]) -> int | None:
    """The one unclaimed export process created since ``sent_at``; None when none or several."""
    candidates: list[int] = []
    for page in client.iter_processes(sort="desc"):
        for proc in page:
            created = _parse(proc.created_at)
            if created is None or created < sent_at.replace(microsecond=0):
                return candidates[0] if len(candidates) == 1 else None
            if proc.id not in claimed and proc.name.upper() in _EXPORT_PROCESS_NAMES:
                candidates.append(proc.id)
    return candidates[0] if len(candidates) == 1 else None


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _wait(
    client: BrevoClient, run: ExportRun, timeout_s: float, wake: threading.Event | None
) -> Process:
    assert run.process_id is not None
    process = client.wait_for_process(run.process_id, timeout_s=timeout_s, wake=wake)
    if process.export_info is not None:
        run.total_records = process.export_info.total_records
    return process


def _download(
    client: BrevoClient, run: ExportRun, process: Process, work_dir: Path, index: int
) -> None:
    if not process.export_url:
        # No link at all: treated like an expired one, so the export is requested once more.
        raise ExportLinkExpired(path=f"/processes/{process.id} (no export_url)", status=404)
    target = work_dir / f"export-{index:03d}-{process.id}"
    name = process.export_url.split("?", 1)[0].rsplit("/", 1)[-1] or "export.csv"
    dest = client.download(
        process.export_url,
        target.with_suffix(".zip" if name.lower().endswith(".zip") else ".csv"),
        expected_size=process.export_info.file_size if process.export_info else None,
    )
    if dest.suffix == ".zip" or _is_zip(dest):
        parts = safe_extract_zip(dest, work_dir / f"parts-{index:03d}-{process.id}")
        dest.unlink()
    else:
        parts = [dest]
    run.files = [ExportFile(path=p, source=run.label, process_id=process.id) for p in parts]


def _is_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def run_export(
    client: BrevoClient,
    run: ExportRun,
    *,
    index: int,
    work_dir: Path,
    timeout_s: float,
    wake_factory: WakeFactory | None = None,
    starts: ExportStarter | None = None,
) -> ExportRun:
    """Request one export, wait for it, download its file(s); re-request once if the link expired."""
    starts = starts or ExportStarter()
    for attempt in (1, 2):
        url, wake = wake_factory() if wake_factory else (None, None)
        request = run.request
        if url is not None:
            from dataclasses import replace

            request = replace(request, notify_url=url)
        run.process_id = starts.start(client, request)
        logger.info("export %s: process %s", run.label, run.process_id)
        process = _wait(client, run, timeout_s, wake)
        try:
            _download(client, run, process, work_dir, index)
            return run
        except ExportLinkExpired:
            if attempt == 2:
                raise
            logger.warning(
                "export %s: link expired before download; requesting it again", run.label
            )
            run.rerequested = True
    return run


def run_exports(
    client: BrevoClient,
    requests: Sequence[tuple[str, ExportRequest]],
    *,
    work_dir: Path,
    timeout_s: float = 3600.0,
    max_parallel: int = 4,
    wake_factory: WakeFactory | None = None,
) -> list[ExportRun]:
    """Run several exports concurrently (the client's limiter keeps them within budget)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    runs = [ExportRun(label=label, request=req) for label, req in requests]
    starts = ExportStarter()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(runs)))) as pool:
        futures = [
            pool.submit(
                run_export,
                client,
                run,
                index=i,
                work_dir=work_dir,
                timeout_s=timeout_s,
                wake_factory=wake_factory,
                starts=starts,
            )
            for i, run in enumerate(runs)
        ]
        for future in futures:
            future.result()
            done += 1
            progress.report("exports", done, len(runs))
    return runs


@dataclass
class ExportSummary:
    """What an export run produced (CLI output, artifact, flow result)."""

    exports: list[dict[str, Any]]
    merged_rows: int
    partition: str
    files: list[str]
    manifest: str
    schema: list[dict[str, str]]
    validation: dict[str, Any]
    notes: list[str]
    export_date: str
    modified_since: str | None = None


def attribute_names(attributes: Sequence[Attribute]) -> list[str]:
    """Names of the account's attributes (for --attributes checks)."""
    return [a.name for a in attributes]


def today_utc() -> date:
    """The partition date of a run."""
    return datetime.now(UTC).date()
