"""Find the import process a lost submission created, if it ever arrived.

Brevo's import takes no idempotency key and its process carries no trace of the body, so a
submission whose response was lost is matched by elimination and by content, never guessed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoError, ProcessFailed
from etl.brevo.models import Process
from etl.imports.ledger import ChunkEntry, Ledger
from etl.imports.outcomes import chunk_landed
from etl.imports.prepare import ChunkFile
from etl.imports.target import Target

logger = logging.getLogger(__name__)

# A process may be stamped a little before our clock says we sent the request.
_CLOCK_SKEW = timedelta(minutes=2)


class ReconcileAmbiguous(BrevoError):
    """A lost submission could belong to more than one process: the run stops, state kept."""


def _candidates(client: BrevoClient, ledger: Ledger, entry: ChunkEntry) -> list[Process]:
    """Import processes newer than the newest one seen before the submission, unclaimed.

    Brevo promises no creation time on a process (docs/brevo/FACTS.md F2), so ids are the only order;
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
