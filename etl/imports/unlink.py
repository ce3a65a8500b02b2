"""``--unlink-missing``: take contacts that left the input off the target lists, exactly once.

Contacts are unlinked (``POST /contacts/lists/{id}/contacts/remove``), never deleted, in batches
of at most 150 identifiers, each recorded in the account's ledger when done: a resumed run
skips the batches it already unlinked. Unlinking is idempotent on Brevo's side (a contact not in
the list stays out of it), so a batch whose answer was lost (a reset, a timeout, a 5xx after the
body went out) is sent again by the client's own retries (``etl.brevo.retry.is_idempotent``
counts it retry-safe), then by the flow's task retries. The answer to a resend cannot tell
"unlinked by the lost call" from "was not in the list": such contacts are ``not_in_list`` (off
the list either way).

Contacts known by SMS only are looked up (``GET /contacts/{sms}?identifierType=phone_id``) and
unlinked by id.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoBadRequest, BrevoNotFound
from etl.imports.ledger import Ledger
from etl.imports.options import Progress, no_progress

BATCH = 150
"""Brevo's maximum of identifiers per call."""

UnlinkOutcome = str
"""``unlinked``, ``not_in_list`` or ``no_such_contact``."""


@dataclass
class UnlinkResult:
    """What ``--unlink-missing`` did, per contact and list."""

    rows: list[tuple[str, int, UnlinkOutcome]] = field(default_factory=list)
    batches_skipped: int = 0
    """Batches a previous attempt of this run had already unlinked (resumed run)."""

    @property
    def unlinked(self) -> int:
        """Contacts taken off a list by this run (answers lost included)."""
        return sum(1 for _, _, o in self.rows if o == "unlinked")

    @property
    def not_in_list(self) -> int:
        """Contacts already off the list, or unknown to the account."""
        return sum(1 for _, _, o in self.rows if o in ("not_in_list", "no_such_contact"))


def _sha(values: Sequence[object]) -> str:
    return hashlib.sha256("\n".join(map(str, values)).encode()).hexdigest()


def unlink_contacts(
    client: BrevoClient,
    ledger: Ledger,
    identifiers: Sequence[str],
    list_ids: Sequence[int],
    *,
    progress: Progress = no_progress,
) -> UnlinkResult:
    """Unlink ``identifiers`` (e-mails or E.164 numbers) from every list in ``list_ids``."""
    result = UnlinkResult()
    emails = sorted(i for i in identifiers if "@" in i)
    phones = sorted(i for i in identifiers if "@" not in i)
    ids: list[int] = []
    id_names: dict[int, str] = {}
    for phone in phones:
        try:
            contact = client.get_contact(phone, identifier_type="phone_id")
        except BrevoNotFound:
            result.rows += [(phone, lid, "no_such_contact") for lid in list_ids]
            continue
        ids.append(int(contact.id))
        id_names[int(contact.id)] = phone
    total = (len(emails) + len(ids)) * len(list_ids)
    done = 0
    for list_id in list_ids:
        batch_no = 0
        groups: tuple[tuple[str, Sequence[object]], ...] = (("emails", emails), ("ids", ids))
        for kind, values in groups:
            for start in range(0, len(values), BATCH):
                part = values[start : start + BATCH]
                batch_no += 1
                names = [id_names[int(str(v))] if kind == "ids" else str(v) for v in part]
                outcomes = _one_batch(client, ledger, list_id, batch_no, kind, part, result)
                result.rows += [(n, list_id, o) for n, o in zip(names, outcomes, strict=True)]
                done += len(part)
                progress("unlink", done, total)
    return result


def _one_batch(
    client: BrevoClient,
    ledger: Ledger,
    list_id: int,
    batch_no: int,
    kind: str,
    part: Sequence[object],
    result: UnlinkResult,
) -> list[UnlinkOutcome]:
    sha = _sha([kind, *part])
    if ledger.unlink_done(list_id, batch_no, sha) is not None:
        result.batches_skipped += 1
        return ["unlinked"] * len(part)
    # Removing is retry-safe (etl.brevo.retry.is_idempotent): the client itself resends a
    # batch whose answer was lost; when it gives up, the run fails with the batch unrecorded
    # and the flow's task retries (or a re-run) send it again.
    try:
        if kind == "emails":
            answer = client.remove_contacts_from_list(list_id, emails=[str(p) for p in part])
        else:
            answer = client.remove_contacts_from_list(list_id, ids=[int(str(p)) for p in part])
        succeeded = {str(s).lower() for s in answer.success}
    except BrevoBadRequest as exc:
        # Brevo has been seen to answer 400 ("already removed from list and/or does not
        # exist") when no contact of the batch is in the list.
        text = str(exc).lower()
        if "removed" not in text and "not exist" not in text:
            raise
        succeeded = set()
    outcomes: list[UnlinkOutcome] = [
        "unlinked" if str(value).lower() in succeeded else "not_in_list" for value in part
    ]
    ledger.record_unlink(
        list_id,
        batch_no,
        sha,
        size=len(part),
        unlinked=sum(1 for o in outcomes if o == "unlinked"),
        missing=sum(1 for o in outcomes if o == "not_in_list"),
    )
    return outcomes


def write_unlinked_file(result: UnlinkResult, path: Path) -> None:
    """List every contact ``--unlink-missing`` dealt with: identifier, list, outcome."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["identifier", "list_id", "outcome"])
        writer.writerows(result.rows)
    tmp.replace(path)
