"""``--verify`` and ``--repair``: per row, what Brevo holds after an import, and fixing it.

:func:`verify_import` reads the run's chunk bodies back, asks Brevo what it holds for each of
their contacts (:mod:`.held`), compares per attribute in typed form (:mod:`.compare`) and
writes the outcomes file. :func:`repair` re-applies the differing values through
``POST /contacts/batch`` and verifies those contacts again.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoBadRequest
from etl.brevo.models import BatchContactUpdate
from etl.exports.convert import ParseSettings
from etl.exports.run import fetch_date_settings
from etl.imports.body import parse_body
from etl.imports.normalise import AttributeSpec, spec_for
from etl.imports.prepare import ChunkFile
from etl.imports.rejects import neutralise, unneutralise
from etl.verify.compare import DateSettingsSource, same, show, wire_value
from etl.verify.held import (
    LIST_IDS,
    Held,
    IdentifierAttribute,
    Key,
    contact_key,
    export_attributes,
    export_list,
    held_from_export,
    iter_export_rows,
    read_contacts,
)

logger = logging.getLogger(__name__)

Outcome = Literal["landed", "differs", "missing"]
Route = Literal["reads", "export"]

# Up to this many contacts, one read each (10 a second on Brevo's general tier: 30 s) costs
# less than an export (a POST and polls from the 100-an-hour family, and Brevo's processing).
DEFAULT_SMALL_RUN_MAX: Final = 300
# POST /contacts/batch: the sandbox takes at most 100 contacts; no spec edition states a maximum.
REPAIR_BATCH_MAX: Final = 100
DEFAULT_EXPORT_TIMEOUT_S: Final = 3600.0
OUTCOMES_HEADER: Final = ("identifier", "outcome", "attribute", "sent", "held")
# How many rows are read per batch of reads (bounded memory; the threads share the limiter).
_READ_BATCH: Final = 200


@dataclass(frozen=True)
class SentRow:
    """One contact of a chunk body: its identifier and the non-empty values sent."""

    identifier: str
    identifier_attribute: IdentifierAttribute
    values: Mapping[str, str]

    @property
    def key(self) -> Key:
        """How it is matched with what Brevo holds."""
        return contact_key(self.identifier_attribute, self.identifier)


@dataclass(frozen=True)
class Difference:
    """One attribute of one contact whose held value is not the value sent."""

    identifier: str
    identifier_attribute: IdentifierAttribute
    attribute: str
    sent: str
    held: str


@dataclass(frozen=True)
class VerifyResult:
    """Counts of a verification, the outcomes file, and what differs (for :func:`repair`)."""

    landed: int
    differs: int
    missing: int
    outcomes_path: Path
    route: Route
    list_ids: tuple[int, ...]
    differences: tuple[Difference, ...] = ()
    small_run_max: int = DEFAULT_SMALL_RUN_MAX
    columns: tuple[str, ...] = ()
    """The chunks' columns: what a re-verification by export asks for."""

    @property
    def checked(self) -> int:
        """Contacts checked (every row of every chunk with an identifier)."""
        return self.landed + self.differs + self.missing

    def as_report(self) -> dict[str, Any]:
        """What the import report keeps of it."""
        return {
            "verify_route": self.route,
            "rows_landed": self.landed,
            "rows_differ": self.differs,
            "rows_missing": self.missing,
            "outcomes_path": str(self.outcomes_path),
        }


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair` did: counts per contact, and what still differs."""

    contacts: int
    """Contacts with at least one difference Brevo's update endpoint can take."""
    repaired: int
    """Of those, contacts that now hold every value sent."""
    still_differing: int
    """Of those, contacts with a value that still differs after the update."""
    not_repairable: int = 0
    """Contacts whose differences only concern values no update can set (unknown attributes,
    the identifier itself)."""
    refused: tuple[Difference, ...] = ()
    """Differences of contacts whose update Brevo refused (400), alone in their batch."""
    differences: tuple[Difference, ...] = field(default=())
    """The differences left after the repair (refused and not repairable ones included)."""

    def as_report(self) -> dict[str, Any]:
        """What the import report keeps of it."""
        return {
            "repair_contacts": self.contacts,
            "repaired": self.repaired,
            "still_differing": self.still_differing,
            "not_repairable": self.not_repairable,
            "repair_refused": len({d.identifier for d in self.refused}),
        }


# ---------------------------------------------------------------------------- sent rows


def iter_sent_rows(chunks: Sequence[ChunkFile]) -> Iterator[SentRow]:
    """The contacts of the chunk bodies, in order (one chunk in memory at a time)."""
    for chunk in chunks:
        for row in parse_body(chunk.path.read_text(encoding="utf-8")):
            by: IdentifierAttribute
            if row.get("EMAIL"):
                by = "EMAIL"
            elif row.get("SMS"):
                by = "SMS"
            else:
                continue  # prepare never writes one; nothing could find it
            values = {k: v for k, v in row.items() if v != "" and k != by}
            yield SentRow(identifier=row[by], identifier_attribute=by, values=values)


def compare_row(
    row: SentRow,
    held: Held | None,
    *,
    list_ids: Sequence[int],
    specs: Mapping[str, AttributeSpec],
    settings: DateSettingsSource,
) -> tuple[Outcome, list[Difference]]:
    """The outcome of one contact, and its differences (a ``_listIds`` one for a contact
    outside a target list, which is ``missing``).

    Empty body values are not compared: an import without ``emptyContactsAttributes`` leaves
    the held value as it was.
    """
    if held is None:
        return "missing", []
    if held.list_ids is not None and not set(list_ids) <= held.list_ids:
        # In Brevo, but not in every target list: for the run's purpose it is not there.
        return "missing", [
            Difference(
                row.identifier,
                row.identifier_attribute,
                LIST_IDS,
                "|".join(str(i) for i in list_ids),
                "|".join(str(i) for i in sorted(held.list_ids)),
            )
        ]
    differences: list[Difference] = []
    for attribute, sent in row.values.items():
        spec = spec_for(attribute, specs)
        value = held.attributes.get(attribute)
        if not same(sent, value, spec, settings):
            differences.append(
                Difference(row.identifier, row.identifier_attribute, attribute, sent, show(value))
            )
    return ("differs" if differences else "landed"), differences


class _LazySettings:
    """The account's date settings, fetched (``GET /account``) only when first needed."""

    def __init__(self, client: BrevoClient, settings: ParseSettings | None) -> None:
        self._client = client
        self._settings = settings

    def __call__(self) -> ParseSettings:
        if self._settings is None:
            self._settings = fetch_date_settings(self._client).settings
        return self._settings


# ---------------------------------------------------------------------------- outcomes file


@contextmanager
def _outcomes_writer(path: Path) -> Iterator[Any]:
    """A CSV writer to a temporary sibling of ``path``, renamed into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        handle: TextIO
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(OUTCOMES_HEADER)
            yield writer
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_outcome(
    writer: Any, row: SentRow, outcome: str, differences: Sequence[Difference]
) -> None:
    if not differences:
        writer.writerow([neutralise(row.identifier), outcome, "", "", ""])
        return
    for d in differences:
        writer.writerow(
            [
                neutralise(row.identifier),
                outcome,
                d.attribute,
                neutralise(d.sent),
                neutralise(d.held),
            ]
        )


# ---------------------------------------------------------------------------- verify


def verify_import(
    client: BrevoClient,
    *,
    chunks: Sequence[ChunkFile],
    list_ids: Sequence[int],
    specs: Mapping[str, AttributeSpec],
    outcomes_path: Path,
    small_run_max: int = DEFAULT_SMALL_RUN_MAX,
    date_settings: ParseSettings | None = None,
    work_dir: Path | None = None,
    export_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S,
) -> VerifyResult:
    """Read back what Brevo holds for every contact of the chunks; write the outcomes file.

    Up to ``small_run_max`` contacts, each is read (``GET /contacts/{identifier}``); beyond,
    the first target list is exported with the run's attributes and ``_listIds``. Values are
    compared per attribute in typed form (:mod:`etl.verify.compare`), so no format Brevo does
    not promise decides an outcome.

    Outcomes, one per contact: ``landed`` (every value sent is held), ``differs`` (at least
    one is not), ``missing`` (Brevo does not have the contact, or it is not in every target
    list: in the export route, not in the first list's export or, from ``_listIds``, not in
    the others). The outcomes file (CSV, UTF-8, ``,``) has the header
    ``identifier,outcome,attribute,sent,held``: one line per landed or missing contact with
    empty attribute fields, except a contact found outside a target list (attribute
    ``_listIds``, the target ids and the held ids, ``|``-joined), and one line per differing
    attribute of a differing contact. A cell a spreadsheet would take for a formula (an SMS
    identifier ``+33...``) starts with ``'``, as in the rejects file. The file is written to a
    temporary sibling and renamed, so a failed verification leaves no partial file.

    Args:
        client: the Brevo client (its rate limiter paces the reads).
        chunks: the run's chunk files (``;`` bodies, :func:`etl.imports.body.parse_body`).
        list_ids: the run's target lists.
        specs: the run's attribute specs (``ImportPlan.specs``).
        outcomes_path: where the outcomes file goes.
        small_run_max: the most contacts read one by one; 0 always exports.
        date_settings: the account's date settings (default: ``GET /account`` when needed).
        work_dir: where the export is downloaded (default: a temporary directory beside
            ``outcomes_path``, removed afterwards).
        export_timeout_s: how long to wait for the export process.

    Returns:
        The counts, the outcomes path, the route taken and every difference.

    Raises:
        ValueError: no target list.
        BrevoError: Brevo could not be read (a 404 of a read is ``missing``, nothing else);
            in the export route, ``ExportLinkExpired`` when the link expired again after one
            new export, ``DownloadError`` when it stayed truncated. Nothing is reported then.
        ExportFormatError: the export file is not in Brevo's export format.
    """
    if not list_ids:
        raise ValueError("verify needs the run's target list ids")
    targets = tuple(int(i) for i in list_ids)
    settings = _LazySettings(client, date_settings)
    columns = tuple(dict.fromkeys(c for chunk in chunks for c in chunk.columns))
    total = sum(c.rows for c in chunks)
    route: Route = "reads" if total <= small_run_max else "export"
    counts = {"landed": 0, "differs": 0, "missing": 0}
    differences: list[Difference] = []
    logger.info("verify: %d contacts by %s", total, route)

    def record(writer: Any, row: SentRow, held: Held | None) -> None:
        outcome, found = compare_row(row, held, list_ids=targets, specs=specs, settings=settings)
        counts[outcome] += 1
        if outcome == "differs":
            differences.extend(found)
        _write_outcome(writer, row, outcome, found)

    with _outcomes_writer(outcomes_path) as writer:
        if route == "reads":
            batch: list[SentRow] = []
            for row in iter_sent_rows(chunks):
                batch.append(row)
                if len(batch) >= _READ_BATCH:
                    _record_reads(client, batch, writer, record)
                    batch = []
            _record_reads(client, batch, writer, record)
        else:
            held = _export_held(
                client,
                columns=columns,
                wanted={row.key for row in iter_sent_rows(chunks)},
                list_id=targets[0],
                specs=specs,
                settings=settings,
                work_dir=work_dir,
                outcomes_path=outcomes_path,
                timeout_s=export_timeout_s,
            )
            for row in iter_sent_rows(chunks):
                record(writer, row, held.get(row.key))
    logger.info(
        "verify: %d landed, %d differ, %d missing",
        counts["landed"],
        counts["differs"],
        counts["missing"],
    )
    return VerifyResult(
        landed=counts["landed"],
        differs=counts["differs"],
        missing=counts["missing"],
        outcomes_path=outcomes_path,
        route=route,
        list_ids=targets,
        differences=tuple(differences),
        small_run_max=small_run_max,
        columns=columns,
    )


def _record_reads(client: BrevoClient, rows: list[SentRow], writer: Any, record: Any) -> None:
    found = read_contacts(client, [(r.identifier_attribute, r.identifier) for r in rows])
    for row, held in zip(rows, found, strict=True):
        record(writer, row, held)


def _export_held(
    client: BrevoClient,
    *,
    columns: Sequence[str],
    wanted: set[Key],
    list_id: int,
    specs: Mapping[str, AttributeSpec],
    settings: _LazySettings,
    work_dir: Path | None,
    outcomes_path: Path,
    timeout_s: float,
) -> dict[Key, Held]:
    """What one export of the list holds for the ``wanted`` contacts (``columns`` exported)."""
    attributes = export_attributes(columns, specs)
    parse_settings = settings()
    with _work_dir(work_dir, outcomes_path) as where:
        run = export_list(
            client, list_id=list_id, attributes=attributes, work_dir=where, timeout_s=timeout_s
        )
        rows = iter_export_rows(
            [f.path for f in run.files], specs, attributes=attributes, settings=parse_settings
        )
        return held_from_export(rows, wanted)


@contextmanager
def _work_dir(work_dir: Path | None, beside: Path) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    beside.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=beside.parent) as tmp:
        yield Path(tmp)


# ---------------------------------------------------------------------------- repair


def _repairable(d: Difference, specs: Mapping[str, AttributeSpec]) -> bool:
    # Brevo drops attributes it does not have, and an identifier is how the contact was found.
    return d.attribute in specs and d.attribute not in ("EMAIL", d.identifier_attribute, LIST_IDS)


def _update_for(
    identifier: str,
    by: IdentifierAttribute,
    items: Sequence[Difference],
    specs: Mapping[str, AttributeSpec],
) -> BatchContactUpdate:
    attributes = {d.attribute: wire_value(d.sent, spec_for(d.attribute, specs)) for d in items}
    if by == "EMAIL":
        return BatchContactUpdate(email=identifier, attributes=attributes)
    return BatchContactUpdate(sms=identifier, attributes=attributes)


def _send_updates(client: BrevoClient, updates: list[tuple[str, BatchContactUpdate]]) -> set[str]:
    """Send the updates in batches; return the identifiers Brevo refused alone (400).

    Brevo applies a batch whole or not at all (the sandbox; nothing is promised), so a refused
    batch is split in halves until the refused contact stands alone: the others still get their
    values. Setting a value twice is harmless, so a half that had been applied may be resent.
    """
    refused: set[str] = set()
    pending = [updates[i : i + REPAIR_BATCH_MAX] for i in range(0, len(updates), REPAIR_BATCH_MAX)]
    while pending:
        batch = pending.pop()
        try:
            client.update_contacts_batch([u for _, u in batch])
        except BrevoBadRequest as exc:
            if len(batch) == 1:
                logger.warning("repair: Brevo refused the update of %s (%s)", batch[0][0], exc)
                refused.add(batch[0][0])
                continue
            half = len(batch) // 2
            pending.extend([batch[:half], batch[half:]])
    return refused


def repair(
    client: BrevoClient,
    result: VerifyResult,
    specs: Mapping[str, AttributeSpec],
    *,
    date_settings: ParseSettings | None = None,
    work_dir: Path | None = None,
    export_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S,
) -> RepairResult:
    """Re-apply the differing values through ``POST /contacts/batch``, then verify them again.

    Only values an update can set are sent: attributes the account has, never the identifier
    (``missing`` contacts are not differences and are not repaired: they need an import). One
    update per contact, all its differing values together, at most ``REPAIR_BATCH_MAX`` contacts
    a request. Then each repaired contact is read again (``GET /contacts/{identifier}``), or,
    beyond ``result.small_run_max`` contacts, the first target list is exported again; only
    the repaired attributes are compared.

    Returns:
        Counts per contact and the differences left.

    Raises:
        BrevoError: an update failed otherwise than by a 400, or the re-verification could
            not read Brevo.
    """
    by_contact: dict[tuple[str, IdentifierAttribute], list[Difference]] = {}
    kept: list[Difference] = []
    for d in result.differences:
        if _repairable(d, specs):
            by_contact.setdefault((d.identifier, d.identifier_attribute), []).append(d)
        else:
            kept.append(d)
    not_repairable = len({d.identifier for d in kept} - {i for i, _ in by_contact})
    updates = [
        (identifier, _update_for(identifier, by, items, specs))
        for (identifier, by), items in by_contact.items()
    ]
    refused_ids = _send_updates(client, updates)
    refused = tuple(
        d
        for (identifier, _), items in by_contact.items()
        if identifier in refused_ids
        for d in items
    )
    checked = [
        (SentRow(identifier, by, {d.attribute: d.sent for d in items}), items)
        for (identifier, by), items in by_contact.items()
        if identifier not in refused_ids
    ]
    settings = _LazySettings(client, date_settings)
    helds: list[Held | None]
    if not checked:
        helds = []
    elif len(checked) <= result.small_run_max:
        helds = read_contacts(
            client, [(row.identifier_attribute, row.identifier) for row, _ in checked]
        )
    else:
        held_by_key = _export_held(
            client,
            columns=result.columns,
            wanted={row.key for row, _ in checked},
            list_id=result.list_ids[0],
            specs=specs,
            settings=settings,
            work_dir=work_dir,
            outcomes_path=result.outcomes_path,
            timeout_s=export_timeout_s,
        )
        helds = [held_by_key.get(row.key) for row, _ in checked]
    repaired = 0
    left: list[Difference] = list(kept) + list(refused)
    for (row, items), held in zip(checked, helds, strict=True):
        outcome, found = compare_row(
            row, held, list_ids=result.list_ids, specs=specs, settings=settings
        )
        if outcome == "landed":
            repaired += 1
        else:
            left.extend(found or items)
    logger.info(
        "repair: %d contacts updated, %d repaired, %d refused",
        len(updates),
        repaired,
        len(refused_ids),
    )
    return RepairResult(
        contacts=len(updates),
        repaired=repaired,
        still_differing=len(updates) - repaired,
        not_repairable=not_repairable,
        refused=refused,
        differences=tuple(left),
    )


def not_landed_identifiers(result: VerifyResult, repaired: RepairResult | None = None) -> list[str]:
    """Identifiers Brevo does not hold as sent: missing ones, and those still differing (after
    ``repaired``, when a repair ran). An import leaves them out of its ``--changed-only``
    snapshot, so the next run sends them again."""
    missing: set[str] = set()
    differing: set[str] = set()
    with result.outcomes_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            ident = unneutralise(row["identifier"])
            if row["outcome"] == "missing":
                missing.add(ident)
            elif row["outcome"] == "differs":
                differing.add(ident)
    if repaired is not None:
        differing = {d.identifier for d in repaired.differences}
    return sorted(missing | differing)
