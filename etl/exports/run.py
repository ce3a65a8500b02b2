"""Export orchestration: request exports -> wait -> download -> unpack -> merge -> Parquet.

Exports only read the account, so a re-run simply exports again; what must never happen is a
half-written or doubled partition, which :mod:`etl.exports.parquet` prevents with a rename swap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from etl import progress
from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoError, ExportLinkExpired, SubmissionUncertain
from etl.brevo.models import AccountInfo, Attribute, DateTimePreferences, ExportRequest, Process
from etl.errors import InputError
from etl.exports.archive import safe_extract_zip
from etl.exports.convert import DATE_FORMATS, TIME_FORMATS, ParseSettings
from etl.exports.read import ExportFile

logger = logging.getLogger(__name__)

# Every name a contact export's process has been seen or documented under (docs/brevo/FACTS.md §5, F8):
# ``SEARCH_EXPORT_USERS`` (specs), ``SEARCH_EXPORT_USERS_API`` (current docs, API-started),
# ``CONTACT_EXPORT`` and ``LIST_EXPORT`` (the 2026 enum).
EXPORT_PROCESS_NAMES = frozenset(
    {"SEARCH_EXPORT_USERS", "SEARCH_EXPORT_USERS_API", "CONTACT_EXPORT", "LIST_EXPORT"}
)


def is_export_process(name: str | None) -> bool:
    """Whether a process name is a contact export's (any known spelling, any case)."""
    upper = (name or "").strip().upper()
    return upper in EXPORT_PROCESS_NAMES or upper.startswith("SEARCH_EXPORT_USERS")


WakeFactory = Callable[[], tuple[str | None, threading.Event | None]]
"""Returns (notify URL, event) for one export, or (None, None) to poll only."""

StatusSink = Callable[[str], None]
"""Receives one line per change of an export's state (the flow's run logger)."""

# While Brevo works (about 35 s for a small export), say so at least this often.
STATUS_LOG_EVERY_S = 30.0


class ExportWatch:
    """Reports one export's progress: Brevo's status and the time waited, then the bytes.

    Each poll goes to the progress hook (``etl.progress``: the CLI's progress bar), as step
    ``export <label>: <status>`` with the seconds waited as its count; a change of status, and
    every ``STATUS_LOG_EVERY_S`` without one, is a line for ``sink`` (the flow logs) and this
    module's logger.
    """

    def __init__(self, label: str, sink: StatusSink | None = None) -> None:
        self.label = label
        self.sink = sink
        self.started = time.monotonic()
        self.status: str | None = None
        self.logged_at = 0.0

    def elapsed(self) -> float:
        """Seconds since the export was requested."""
        return time.monotonic() - self.started

    def say(self, line: str) -> None:
        """One line for the flow logs and this module's logger."""
        logger.info("%s", line)
        if self.sink is not None:
            try:
                self.sink(line)
            except Exception:  # a broken sink must not break an export
                logger.debug("status sink failed", exc_info=True)

    def on_poll(self, process: Process) -> None:
        """Called with each polled process (``BrevoClient.wait_for_process(on_poll=)``)."""
        elapsed = self.elapsed()
        status = str(process.status)
        progress.report(f"export {self.label}: {status}", int(elapsed), 0)
        if status != self.status or elapsed - self.logged_at >= STATUS_LOG_EVERY_S:
            self.say(f"export {self.label}: process {process.id} {status} after {elapsed:.0f} s")
            self.status, self.logged_at = status, elapsed

    def downloaded(self, size: int) -> None:
        """The file is here: its bytes, on the terminal and in the logs."""
        progress.report(f"export {self.label}: downloaded bytes", size, size)
        self.say(f"export {self.label}: downloaded {size} bytes after {self.elapsed():.0f} s")


@dataclass
class ExportRun:
    """One requested export and what came of it."""

    label: str
    request: ExportRequest
    process_id: int | None = None
    total_records: int | None = None
    file_size: int | None = None
    downloaded_bytes: int | None = None
    files: list[ExportFile] = field(default_factory=list)
    rerequested: bool = False
    notify_payloads: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class ExportStarter:
    """Starts a run's exports one at a time and remembers the processes they started.

    A lost answer (:class:`SubmissionUncertain`) is reconciled by looking for the export process
    the request started. Real Brevo's processes carry no creation time (docs/brevo/FACTS.md F2), so the
    newest process id is noted just before each request: only export processes with a larger
    id (Brevo numbers processes in order) can be the lost request's. With several exports in
    flight, such a process may be another export's of this run: taking its id would export one
    filter twice and silently drop the other. Starting one at a time and skipping the processes
    already claimed leaves the lost request's own process as the only candidate.
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
    baseline = _newest_process_id(client)
    if baseline is None and claimed:
        baseline = max(claimed)  # ours came before this request: a safe, if wider, floor
    try:
        return client.start_export(request)
    except SubmissionUncertain as exc:
        # An export only reads the account, so asking again is harmless; first look for the
        # process the lost answer would have named, to avoid a second export's cost.
        found = _find_export_after(client, baseline, exc.sent_at, claimed)
        if found is not None:
            logger.info("lost export answer: adopting process %d", found)
            return found
        return client.start_export(request)


def _newest_process_id(client: BrevoClient) -> int | None:
    """The newest process id of the account (0 when it has none); None when it cannot be read."""
    try:
        return client.newest_process_id()
    except BrevoError as exc:
        logger.warning("could not list processes before an export (%s)", exc)
        return None


def _find_export_after(
    client: BrevoClient, baseline: int | None, sent_at: datetime, claimed: set[int]
) -> int | None:
    """The one unclaimed export process started by the lost request; None when none or several.

    Candidates have an id above ``baseline`` (the newest id before the request); when that is
    unknown, a ``created_at`` at or after ``sent_at`` (only some Brevo editions send it).
    Without either, nothing can be told apart: None, and the caller asks again.
    """
    candidates: list[int] = []
    for page in client.iter_processes(sort="desc"):
        for proc in page:
            created = _parse(proc.created_at)
            if baseline is not None:
                if proc.id <= baseline:
                    return _one(candidates)
            elif created is None or created < sent_at.replace(microsecond=0):
                return _one(candidates)
            if proc.id not in claimed and is_export_process(proc.name):
                candidates.append(proc.id)
    return _one(candidates)


def _one(candidates: list[int]) -> int | None:
    return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class DateSettings:
    """How this run reads export dates, and where that came from (summary and manifest)."""

    settings: ParseSettings
    source: str  # "account" (GET /account dateTimePreferences) or "default"
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "date_format": self.settings.date_format,
            "time_format": self.settings.time_format,
            "timezone": self.settings.timezone,
        }


def date_settings_from(
    account: AccountInfo | DateTimePreferences | None, *, failure: str | None = None
) -> DateSettings:
    """The export date settings for an account's ``dateTimePreferences`` (docs/brevo/FACTS.md F1b).

    Without preferences (``GET /account`` failed or gave none) dates are read as before:
    ``dd-mm-yyyy`` (with or without a time) or ISO 8601, in UTC, and a note says so. A value
    the pipeline does not know is replaced by that default, with a note.
    """
    prefs = account.date_time_preferences if isinstance(account, AccountInfo) else account
    default = ParseSettings()
    if prefs is None:
        why = failure or "GET /account has no dateTimePreferences"
        note = (
            f"{why}; export dates are read as {default.date_format} or ISO 8601, "
            f"in {default.timezone}"
        )
        logger.warning("%s", note)
        return DateSettings(default, "default", (note,))
    notes: list[str] = []
    date_format = prefs.date_format.strip().lower().replace("/", "-").replace(".", "-")
    if date_format not in DATE_FORMATS:
        notes.append(
            f"account date format {prefs.date_format!r} is unknown; reading {default.date_format}"
        )
        date_format = default.date_format
    time_format = "".join(ch for ch in str(prefs.time_format) if ch.isdigit()) or "24"
    if time_format not in TIME_FORMATS:
        notes.append(f"account time format {prefs.time_format!r} is unknown; reading both clocks")
        time_format = "24"
    timezone = prefs.timezone.strip() or default.timezone
    try:
        settings = ParseSettings(timezone, date_format, time_format)
    except InputError:
        notes.append(f"account timezone {prefs.timezone!r} is unknown; reading dates in UTC")
        settings = ParseSettings(default.timezone, date_format, time_format)
    for note in notes:
        logger.warning("%s", note)
    return DateSettings(settings, "account", tuple(notes))


def fetch_date_settings(client: BrevoClient) -> DateSettings:
    """``GET /account`` once and turn its ``dateTimePreferences`` into :class:`DateSettings`."""
    try:
        account = client.get_account()
    except BrevoError as exc:
        return date_settings_from(None, failure=f"GET /account failed ({exc})")
    return date_settings_from(account)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _wait(
    client: BrevoClient,
    run: ExportRun,
    timeout_s: float,
    wake: threading.Event | None,
    watch: ExportWatch | None = None,
) -> Process:
    assert run.process_id is not None
    process = client.wait_for_process(
        run.process_id,
        timeout_s=timeout_s,
        wake=wake,
        on_poll=watch.on_poll if watch is not None else None,
    )
    # ``info.export`` is documented (2026-02 spec) but real Brevo leaves it out (docs/brevo/FACTS.md F3).
    info = process.export_info
    run.total_records = info.total_records if info is not None else None
    run.file_size = info.file_size if info is not None else None
    return process


def _download(
    client: BrevoClient,
    run: ExportRun,
    process: Process,
    work_dir: Path,
    index: int,
    watch: ExportWatch | None = None,
) -> None:
    if not process.export_url:
        # No link at all: treated like an expired one, so the export is requested once more.
        raise ExportLinkExpired(path=f"/processes/{process.id} (no export_url)", status=404)
    target = work_dir / f"export-{index:03d}-{process.id}"
    name = process.export_url.split("?", 1)[0].rsplit("/", 1)[-1] or "export.csv"
    # Truncation is caught by the transfer itself (Content-Length, chunk framing) and retried by
    # the client; ``info.export.file_size`` is only compared afterwards: Brevo's figure is not a
    # contract (absent in production), so a difference is reported, not fatal.
    dest = client.download(
        process.export_url,
        target.with_suffix(".zip" if name.lower().endswith(".zip") else ".csv"),
    )
    run.downloaded_bytes = dest.stat().st_size
    if watch is not None:
        watch.downloaded(run.downloaded_bytes)
    if run.file_size is not None and run.downloaded_bytes != run.file_size:
        run.warnings.append(
            f"export {run.label}: downloaded {run.downloaded_bytes} bytes, Brevo's "
            f"info.export.file_size says {run.file_size}"
        )
        logger.warning("%s", run.warnings[-1])
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
    status: StatusSink | None = None,
) -> ExportRun:
    """Request one export, wait for it, download its file(s); re-request once if the link expired."""
    starts = starts or ExportStarter()
    watch = ExportWatch(run.label, status)
    for attempt in (1, 2):
        url, wake = wake_factory() if wake_factory else (None, None)
        request = run.request
        if url is not None:
            from dataclasses import replace

            request = replace(request, notify_url=url)
        run.process_id = starts.start(client, request)
        logger.info("export %s: process %s", run.label, run.process_id)
        process = _wait(client, run, timeout_s, wake, watch)
        try:
            _download(client, run, process, work_dir, index, watch)
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
    status: StatusSink | None = None,
) -> list[ExportRun]:
    """Run several exports concurrently (the client's limiter keeps them within budget).

    ``status`` receives a line per change of an export's state (see :class:`ExportWatch`).
    """
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
                status=status,
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
    warnings: list[str] = field(default_factory=list)
    date_times: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""  # ``partition`` is this run's directory, ``day_partition`` its day's
    day_partition: str = ""


def attribute_names(attributes: Sequence[Attribute]) -> list[str]:
    """Names of the account's attributes (for --attributes checks)."""
    return [a.name for a in attributes]


def today_utc() -> date:
    """The partition date of a run."""
    return datetime.now(UTC).date()
