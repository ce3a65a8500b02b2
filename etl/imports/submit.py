"""Send each chunk exactly once, wait for its process, and account for what Brevo did.

Every chunk goes through the ledger (see :mod:`etl.imports.ledger`): completed chunks are
skipped, in-flight ones are waited for, uncertain ones are reconciled against ``GET /processes``
(:mod:`etl.imports.reconcile`).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoError, ProcessFailed, ProcessTimeout, SubmissionUncertain
from etl.brevo.models import ImportRequest, Process
from etl.imports.ledger import Ledger
from etl.imports.options import ImportOptions
from etl.imports.outcomes import REFUSALS_HEADER, account_for_chunk, apply_false_booleans
from etl.imports.prepare import ChunkFile
from etl.imports.reconcile import reconcile_uncertain
from etl.imports.rejects import neutralise, unneutralise
from etl.imports.target import Target, chunk_key

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
    wake: threading.Event | None = None,
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


def read_refused_identifiers(path: Path) -> list[str]:
    """The identifiers of one chunk's refusal part (as :func:`_write_refusals` wrote them)."""
    column = REFUSALS_HEADER.index("identifier")
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            unneutralise(row[column])
            for row in csv.reader(handle)
            if len(row) > column and row[column]
        ]


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
