"""What Brevo holds for a run's contacts: by one read per contact, or from an export of a list.

Small runs read each contact (``GET /contacts/{identifier}``, the ``contacts`` rate-limit family:
10 a second), a few threads sharing the client's rate limiter. Larger runs export the first
target list with the run's attributes and ``_listIds`` (``POST /contacts/export``, through
:func:`etl.exports.run.run_export`: a lost answer is reconciled, a truncated download fetched
again, an expired link requested again once) and read the file with the export path's typed
reader. Only the run's contacts are kept in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoNotFound
from etl.brevo.models import Attribute
from etl.exports.convert import ParseSettings
from etl.exports.layout import header_keys, plan_layout
from etl.exports.options import ExportOptions, plan_exports
from etl.exports.read import iter_file_batches, read_header
from etl.exports.run import ExportRun, run_export
from etl.imports.normalise import AttributeSpec

logger = logging.getLogger(__name__)

IdentifierAttribute = Literal["EMAIL", "SMS"]
Key = tuple[str, str]
"""How a contact is matched: ``("EMAIL", casefolded address)`` or ``("SMS", digits)``."""

READ_THREADS = 4
LIST_IDS = "_listIds"
_EXPORT_KINDS = {"boolean": "boolean", "date": "date", "float": "float"}


def contact_key(attribute: IdentifierAttribute, value: str) -> Key:
    """The matching key of an identifier (e-mail case and phone punctuation do not count)."""
    if attribute == "EMAIL":
        return ("EMAIL", value.strip().casefold())
    return ("SMS", "".join(ch for ch in value if ch.isdigit()))


@dataclass(frozen=True)
class Held:
    """One contact as Brevo holds it."""

    attributes: Mapping[str, Any]
    """Upper-case attribute name -> value (JSON from a read, a typed cell from an export)."""
    list_ids: frozenset[int] | None
    """The lists it is in; None when the source does not say (an export without ``_listIds``)."""


# ---------------------------------------------------------------------------- reads


def _read_one(client: BrevoClient, attribute: IdentifierAttribute, value: str) -> Held | None:
    identifier_type = "email_id" if attribute == "EMAIL" else "phone_id"
    try:
        contact = client.get_contact(value, identifier_type=identifier_type)
    except BrevoNotFound:
        return None
    attributes = {str(k).upper(): v for k, v in contact.attributes.items()}
    if contact.email is not None:
        attributes.setdefault("EMAIL", contact.email)
    return Held(attributes=attributes, list_ids=frozenset(contact.list_ids))


def read_contacts(
    client: BrevoClient, identifiers: Sequence[tuple[IdentifierAttribute, str]]
) -> list[Held | None]:
    """``GET /contacts/{identifier}`` for each, in order; None for a contact Brevo does not have.

    A few threads share the client, so its rate limiter (not the latency of one request) sets
    the pace. Any error but a 404 propagates: a contact that could not be read is never
    reported as missing.
    """
    if not identifiers:
        return []
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(identifiers))) as pool:
        return list(pool.map(lambda item: _read_one(client, *item), identifiers))


# ---------------------------------------------------------------------------- export


def export_attributes(
    columns: Iterable[str], specs: Mapping[str, AttributeSpec]
) -> tuple[str, ...]:
    """The run's attributes an export can be asked for: those the account has, EMAIL aside.

    Brevo refuses an export naming an attribute it does not have; such a value cannot be held
    anyway (Brevo drops unknown attributes on import), so it shows as differing.
    """
    return tuple(dict.fromkeys(c for c in columns if c != "EMAIL" and c in specs))


def _layout_attributes(specs: Mapping[str, AttributeSpec]) -> list[Attribute]:
    """Attributes for the export reader: typed where its conversion helps, text otherwise.

    Booleans, dates (in the account's format, docs/brevo/FACTS.md F1b), floats and
    multiple-choice lists are converted by :mod:`etl.exports.convert`; categories stay text
    (label or value) and are matched through the spec's enumeration by :mod:`.compare`.
    """
    out: list[Attribute] = []
    for name, spec in specs.items():
        if spec.kind == "multiple-choice":
            out.append(Attribute(name, "normal", "multiple-choice", (), spec.options))
        else:
            out.append(Attribute(name, "normal", _EXPORT_KINDS.get(spec.kind, "text")))
    return out


def export_list(
    client: BrevoClient,
    *,
    list_id: int,
    attributes: Sequence[str],
    work_dir: Path,
    timeout_s: float,
) -> ExportRun:
    """Export one list with ``attributes`` and ``_listIds``; the downloaded files are in the run.

    Raises:
        ExportLinkExpired: the link expired twice (the export was requested again once).
        DownloadError: the download stayed truncated.
        ProcessFailed, ProcessTimeout: the export did not complete.
    """
    plan = plan_exports(
        ExportOptions(attributes=tuple(attributes), list_ids=(list_id,), metadata=(LIST_IDS,)),
        default_attributes=(),
    )
    [(label, request)] = plan.requests
    run = ExportRun(label=f"verify {label}", request=request)
    work_dir.mkdir(parents=True, exist_ok=True)
    return run_export(client, run, index=0, work_dir=work_dir, timeout_s=timeout_s)


def iter_export_rows(
    paths: Sequence[Path],
    specs: Mapping[str, AttributeSpec],
    *,
    attributes: Sequence[str],
    settings: ParseSettings,
    batch_rows: int = 50_000,
) -> Iterator[dict[str, Any]]:
    """Typed rows of export files: EMAIL, the attributes, ``_listIds`` (only those columns).

    Other columns (ADDED_TIME, MODIFIED_TIME...) are not read, so their format never matters.
    """
    wanted = {"EMAIL", LIST_IDS.upper(), *(a.upper() for a in attributes)}
    layout_attributes = _layout_attributes(specs)
    for path in paths:
        keys = [k for k in header_keys(read_header(path)) if k[0].upper() in wanted and k[1] == 1]
        if not keys:
            continue
        layout = plan_layout(layout_attributes, keys, column_case="brevo")
        names = {spec.name: spec.source for spec in layout.columns}
        for batch, _, _ in iter_file_batches(
            path, layout, source="verify", batch_rows=batch_rows, settings=settings
        ):
            columns = {names[n]: batch.column(n).to_pylist() for n in names}
            for i in range(batch.num_rows):
                yield {source: values[i] for source, values in columns.items()}


def held_from_export(rows: Iterable[Mapping[str, Any]], wanted: set[Key]) -> dict[Key, Held]:
    """The export rows of the wanted contacts, by key (e-mail, else SMS)."""
    found: dict[Key, Held] = {}
    for row in rows:
        attributes = {str(k).upper(): v for k, v in row.items() if k != LIST_IDS}
        raw_lists = row.get(LIST_IDS, ...)
        list_ids = (
            None
            if raw_lists is ...
            else frozenset(int(i) for i in raw_lists or () if i is not None)
        )
        held = Held(attributes=attributes, list_ids=list_ids)
        email, sms = attributes.get("EMAIL"), attributes.get("SMS")
        for key in (
            contact_key("EMAIL", str(email)) if email else None,
            contact_key("SMS", str(sms)) if sms else None,
        ):
            if key is not None and key in wanted:
                found[key] = held
    return found
