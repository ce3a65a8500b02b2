"""What Brevo did with an imported chunk: its counts, the rows it refused, values it ignored.

Brevo reports an import only through ``info.import`` of its process, and what that holds is not
settled (docs/brevo/FACTS.md sections 5 and 12): each field may be a count, the URL of a ``;`` CSV of the
offending rows, or null. :func:`account_for_chunk` accepts all three, downloads the links, and
turns them into per-kind counts and refused rows, so a report never counts as sent a row that
Brevo refused.

Importing ``false`` into a boolean attribute has been reported not to overwrite ``true``
(docs/brevo/FACTS.md F4); :func:`apply_false_booleans` re-applies those values through
``POST /contacts/batch``, which does apply them.

:func:`chunk_landed` checks by content whether a chunk's rows are in Brevo: a sample of its
contacts held in the target lists with the chunk's values. Lost-response reconciliation uses it
before adopting a process, since neither a process's time nor its id says whose import it was.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoError, BrevoNotFound
from etl.brevo.models import BatchContactUpdate, Contact
from etl.imports.body import SEPARATOR, parse_body

logger = logging.getLogger(__name__)

# Fields of info.import that name rows Brevo did not import as sent (invalid or conflicting).
REFUSAL_KINDS: tuple[str, ...] = (
    "invalid_emails",
    "duplicate_contact_id",
    "duplicate_ext_id",
    "duplicate_email_id",
    "duplicate_phone_id",
    "duplicate_whatsapp_id",
    "duplicate_landline_number_id",
)
DUPLICATE_KINDS = tuple(k for k in REFUSAL_KINDS if k.startswith("duplicate_"))
BATCH_UPDATE_SIZE = 100
REFUSALS_HEADER = ("chunk", "kind", "identifier", "row")


def read_chunk(path: Path) -> list[dict[str, str]]:
    """The rows of a chunk body on disk (:func:`etl.imports.body.parse_body`)."""
    return parse_body(path.read_text(encoding="utf-8"))


def _identifier(values: Mapping[str, str]) -> tuple[str, str | None] | None:
    """``(value, identifier type)`` of a body row: EMAIL, else SMS."""
    if values.get("EMAIL"):
        return values["EMAIL"], None
    if values.get("SMS"):
        return values["SMS"], "phone_id"
    return None


# ---------------------------------------------------------------------------- info.import


@dataclass
class ChunkAccount:
    """Brevo's account of one chunk, from ``info.import``."""

    counts: dict[str, int] = field(default_factory=dict)
    source: str = "none"  # links | counts | links+counts | none | unavailable
    refused: int = 0
    refused_rows: list[tuple[str, str, str]] = field(default_factory=list)  # kind, id, row
    problems: list[str] = field(default_factory=list)

    def as_info(self) -> dict[str, Any]:
        """What the ledger keeps of it (the rows go to a file)."""
        return {
            "brevo_counts": dict(self.counts),
            "brevo_counts_source": self.source,
            "refused": self.refused,
            "problems": list(self.problems),
        }


def _kind(key: str) -> str | None:
    base = key[: -len("_url")] if key.endswith("_url") else key
    return base if base in REFUSAL_KINDS else None


def account_for_chunk(
    client: BrevoClient, info: dict[str, Any] | None, *, rows: int, work_dir: Path
) -> ChunkAccount:
    """Per-kind counts and refused rows of a completed import process.

    Args:
        client: downloads the CSV links.
        info: the process's ``info.import`` fields (counts, URLs or None).
        rows: rows in the chunk (the refused count never exceeds it).
        work_dir: where downloads go.
    """
    result = ChunkAccount()
    if not info:
        return result
    by_kind_count: dict[str, int] = {}
    by_kind_rows: dict[str, list[tuple[str, str]]] = {}
    sources: set[str] = set()
    for key, value in info.items():
        kind = _kind(key)
        if kind is None or value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            by_kind_count[kind] = value
            sources.add("counts")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            try:
                by_kind_rows[kind] = _download_rows(client, value, work_dir)
                sources.add("links")
            except BrevoError as exc:
                result.problems.append(f"{kind}: could not read Brevo's file ({exc})")
    distinct: set[str] = set()
    counted_only = 0
    for kind in REFUSAL_KINDS:
        if kind in by_kind_rows:
            result.counts[kind] = len(by_kind_rows[kind])
            for ident, row in by_kind_rows[kind]:
                result.refused_rows.append((kind, ident, row))
                distinct.add(row)
        elif kind in by_kind_count:
            result.counts[kind] = by_kind_count[kind]
            # Where a count and a file describe the same rows (the 2026-02 edition counts the
            # body's duplicates in duplicate_contact_id and lists them in duplicate_email_id),
            # the rows are counted once.
            if not (kind == "duplicate_contact_id" and "duplicate_email_id" in by_kind_rows):
                counted_only += by_kind_count[kind]
    if result.problems and not sources:
        result.source = "unavailable"
    elif sources:
        result.source = "+".join(sorted(sources))
    # Rows Brevo names as invalid or duplicate were not imported as sent (a conflicting SMS or
    # ext id is dropped from the contact): never count them as sent.
    result.refused = min(rows, len(distinct) + counted_only)
    return result


def _download_rows(client: BrevoClient, url: str, work_dir: Path) -> list[tuple[str, str]]:
    """``(identifier, row)`` of each data row of one of Brevo's ``;`` report files."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        path = client.download(url, Path(tmp) / "report.csv", max_bytes=512 * 1024 * 1024)
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=SEPARATOR)
    header = [h.strip().upper() for h in next(reader, [])]
    out: list[tuple[str, str]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        found = _identifier(dict(zip(header, row, strict=False)))
        out.append((found[0] if found else "", SEPARATOR.join(row)))
    return out


# ---------------------------------------------------------------------------- booleans


def apply_false_booleans(
    client: BrevoClient,
    chunk_path: Path,
    boolean_attributes: Iterable[str],
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    batch_size: int = BATCH_UPDATE_SIZE,
) -> int:
    """Set the chunk's ``false`` booleans again through ``POST /contacts/batch``.

    Returns:
        The number of contacts updated.
    """
    booleans = set(boolean_attributes)
    rows = read_chunk(chunk_path)
    if not rows or not booleans & rows[0].keys():
        return 0
    updates: list[BatchContactUpdate] = []
    for row in rows:
        falses = {name: False for name in booleans if row.get(name) == "false"}
        found = _identifier(row)
        if not falses or found is None or found[0] in skip:
            continue
        value, kind = found
        updates.append(
            BatchContactUpdate(email=value, attributes=falses)
            if kind is None
            else BatchContactUpdate(sms=value, attributes=falses)
        )
    for start in range(0, len(updates), batch_size):
        client.update_contacts_batch(updates[start : start + batch_size])
    return len(updates)


# ---------------------------------------------------------------------------- content check


def _same(sent: str, held: Any) -> bool | None:
    """Whether a held value equals a sent one; None when it cannot be told (booleans)."""
    if isinstance(held, bool) or sent in ("true", "false"):
        return None  # Brevo may keep true for an imported false (docs/brevo/FACTS.md F4)
    if held is None or held == "":
        return False
    text = str(held).strip()
    if sent.startswith("+") and sent[1:].isdigit():
        return "".join(ch for ch in text if ch.isdigit()) == sent[1:]
    if len(sent) == 10 and sent[4] == "-" and sent[7] == "-":
        return text[:10] == sent
    try:
        return math.isclose(float(sent), float(text), rel_tol=1e-9)
    except ValueError:
        pass
    return text.casefold() == sent.casefold()


def _matches(contact: Contact, row: Mapping[str, str], lists: set[int]) -> bool:
    if not lists <= set(contact.list_ids):
        return False
    attributes = {k.upper(): v for k, v in contact.attributes.items()}
    for name, sent in row.items():
        if name == "EMAIL" or sent == "":
            continue
        if name == "SMS" and not attributes.get("SMS"):
            continue
        if _same(sent, attributes.get(name)) is False:
            return False
    return True


def chunk_landed(
    client: BrevoClient, chunk_path: Path, list_ids: Sequence[int], *, sample: int = 5
) -> bool:
    """Whether most of a sample of the chunk's contacts are held in the lists with its values."""
    rows = read_chunk(chunk_path)
    if not rows:
        return False
    k = min(sample, len(rows))
    picks = sorted({round(i * (len(rows) - 1) / max(1, k - 1)) for i in range(k)})
    held = 0
    for index in picks:
        row = rows[index]
        found = _identifier(row)
        if found is None:
            continue
        try:
            contact = client.get_contact(found[0], identifier_type=found[1])
        except BrevoNotFound:
            continue
        if _matches(contact, row, set(list_ids)):
            held += 1
    return held * 2 > len(picks)
