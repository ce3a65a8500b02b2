"""``POST /contacts/import``: validate the request, parse its rows, apply them to the account.

Parsing (sandbox choices where Brevo is silent, docs/brevo/FACTS.md section 3):

- ``fileBody`` (and a CSV ``fileUrl``) is ``;``-separated with optional RFC 4180 double
  quotes, rows split by ``\\n`` or ``\\r\\n``; the header holds attribute names
  (case-insensitive). ``jsonBody`` (and a JSON ``fileUrl``) is ``[{email, attributes}]``.
- A row's identifier is its EMAIL, else its SMS. A row with an invalid EMAIL, or with neither,
  is counted in ``invalid_emails`` and skipped. A second row with an identifier already seen
  in the same import is counted in ``duplicate_contact_id`` and skipped (the first is kept).
- Unknown attributes are ignored; values that don't fit their attribute's type are ignored
  (see ``values.py`` for the accepted forms). An SMS or EXT_ID already held by another contact
  is dropped from the row (counted in ``duplicate_phone_id`` / ``duplicate_ext_id``).
- ``updateExistingContacts: false`` leaves existing contacts untouched, but Brevo still links
  them to the import's lists, and so does the sandbox. ``emptyContactsAttributes: true`` makes
  empty cells erase the attribute (only for updated contacts). ``emailBlacklist`` /
  ``smsBlacklist`` blocklist every contact the import creates or updates.

Profile switches (``profiles.py``), read when the import is requested: with
``boolean_false_overwrites: false`` a ``false`` cell leaves a stored ``true`` as it is (F4);
with ``category_labels: false`` a category cell must hold the enumeration value (F10); with
``ascii_local_parts: true`` an email whose local part is not ASCII is an invalid email.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from etl.sandbox.errors import ApiError, invalid, missing
from etl.sandbox.state import Account
from etl.sandbox.values import (
    EMAIL_RE,
    EMAIL_UNICODE_RE,
    INVALID,
    UNIQUE_ATTRIBUTES,
    utc_now_iso,
)

MAX_BODY_BYTES = 10 * 1024 * 1024  # 10,485,760: "Maximum allowed file body size is 10MB"
MAX_URL_BYTES = 250 * 1024 * 1024  # the help centre's limit for an import file
BATCH_ROWS = 50_000
FETCH_TIMEOUT_S = (5.0, 60.0)

# A single cell may legitimately be as large as the whole 10 MB body.
csv.field_size_limit(MAX_URL_BYTES)


@dataclass(frozen=True, slots=True)
class ImportSpec:
    """A validated import request."""

    file_body: str | None
    file_url: str | None
    json_body: list[Any] | None
    list_ids: tuple[int, ...]
    new_list: tuple[str, int] | None
    update_existing: bool
    empty_attributes: bool
    email_blacklist: bool
    sms_blacklist: bool
    notify_url: str | None
    false_overwrites: bool = True
    category_labels: bool = True
    ascii_local_parts: bool = True


@dataclass(slots=True)
class ImportRow:
    """One parsed row: its identifier, the attribute patch, and its original cells."""

    email: str | None
    patch: dict[str, Any]
    raw: list[str]
    target: int = 0


@dataclass(slots=True)
class ImportReport:
    """What an import did; becomes ``info.import`` and the v2 notify form."""

    header: list[str] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    untouched: int = 0
    invalid_rows: list[list[str]] = field(default_factory=list)
    duplicate_rows: list[list[str]] = field(default_factory=list)
    duplicate_phone_rows: list[list[str]] = field(default_factory=list)
    conflicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UNIQUE_ATTRIBUTES, 0))
    conflict_rows: dict[str, list[list[str]]] = field(
        default_factory=lambda: {name: [] for name in UNIQUE_ATTRIBUTES}
    )


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:  # absent or an explicit null (some SDKs send unset fields as null)
        return default
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def check_url(value: Any, key: str) -> str:
    """An http(s) URL, else 400 (no ``file:``, ``ftp:`` or local paths, as the spec says)."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{key} must be a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"{key} must be an http or https URL")
    return value.strip()


def parse_import_request(body: dict[str, Any], account: Account) -> ImportSpec:
    """Validate ``POST /contacts/import`` like Brevo, before anything is queued."""
    sources = [k for k in ("fileUrl", "fileBody", "jsonBody") if body.get(k) is not None]
    if not sources:
        raise missing("Missing fileUrl, fileBody or jsonBody")
    if len(sources) > 1:
        raise invalid("Only one of fileUrl, fileBody or jsonBody can be passed")
    file_body = body.get("fileBody")
    if file_body is not None:
        if not isinstance(file_body, str):
            raise invalid("fileBody must be a string")
        if len(file_body) > MAX_BODY_BYTES // 4 and len(file_body.encode()) > MAX_BODY_BYTES:
            raise invalid("Maximum allowed file body size is 10MB")
    json_body = body.get("jsonBody")
    if json_body is not None:
        if not isinstance(json_body, list) or not all(isinstance(i, dict) for i in json_body):
            raise invalid("jsonBody must be an array of objects")
        if len(json.dumps(json_body, separators=(",", ":")).encode()) > MAX_BODY_BYTES:
            raise invalid("Maximum allowed json body size is 10MB")
    file_url = body.get("fileUrl")
    if file_url is not None:
        file_url = check_url(file_url, "fileUrl")
        if urlsplit(file_url).path.startswith("/_sandbox"):
            raise invalid("fileUrl must not point at the sandbox admin API")
    raw_lists = body.get("listIds")
    if raw_lists is not None and (
        not isinstance(raw_lists, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw_lists)
    ):
        raise invalid("listIds must be an array of integers")
    list_ids = tuple(dict.fromkeys(raw_lists or []))
    new_list: tuple[str, int] | None = None
    raw_new = body.get("newList")
    if raw_new is not None:
        if not isinstance(raw_new, dict):
            raise invalid("newList must be an object")
        name, folder = raw_new.get("listName"), raw_new.get("folderId")
        if not isinstance(name, str) or not name.strip():
            raise missing("newList.listName is mandatory")
        if folder is None:
            raise missing("newList.folderId is mandatory if listName is not empty")
        if isinstance(folder, bool) or not isinstance(folder, int):
            raise invalid("newList.folderId must be an integer")
        if not account.folders.exists(folder):
            raise invalid("Folder ID does not exist")
        new_list = (name.strip(), folder)
    if not list_ids and new_list is None:
        raise missing("Missing listIds or newList")
    for list_id in list_ids:
        if not account.lists.exists(list_id):
            raise invalid(f"List ID does not exist: {list_id}")
    notify = body.get("notifyUrl")
    notify_url = check_url(notify, "notifyUrl") if notify is not None else None
    for key in ("disableNotification",):
        _bool(body, key, False)
    rules = account.rules()
    return ImportSpec(
        file_body=file_body,
        file_url=file_url,
        json_body=json_body,
        list_ids=list_ids,
        new_list=new_list,
        update_existing=_bool(body, "updateExistingContacts", True),
        empty_attributes=_bool(body, "emptyContactsAttributes", False),
        email_blacklist=_bool(body, "emailBlacklist", False),
        sms_blacklist=_bool(body, "smsBlacklist", False),
        notify_url=notify_url,
        false_overwrites=rules.boolean_false_overwrites,
        category_labels=rules.category_labels,
        ascii_local_parts=rules.ascii_local_parts,
    )


# ---------------------------------------------------------------------------- parsing


def fetch_url(url: str) -> tuple[str | None, list[Any] | None]:
    """Download a ``fileUrl``: (CSV text, None) or (None, JSON items). Raises ApiError."""
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT_S, stream=True) as resp:
            if resp.status_code >= 400:
                raise ApiError(400, "invalid_parameter", f"fileUrl answered {resp.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_content(1 << 20):
                size += len(chunk)
                if size > MAX_URL_BYTES:
                    raise invalid("The file at fileUrl is larger than 250MB")
                chunks.append(chunk)
            content_type = resp.headers.get("content-type", "")
    except requests.RequestException as exc:
        raise invalid(f"Unable to fetch fileUrl: {type(exc).__name__}") from exc
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # The help centre accepts UTF-8 or Windows-1252 files.
        text = data.decode("cp1252", errors="replace")
    if "json" in content_type or urlsplit(url).path.endswith(".json") or text.lstrip()[:1] == "[":
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise invalid("The file at fileUrl is not valid JSON") from exc
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid("The JSON file at fileUrl must be an array of objects")
        return None, items
    return text, None


Coercer = Callable[[Any], Any]


def _columns(
    header: list[str], account: Account, spec: ImportSpec
) -> tuple[int | None, list[tuple[int, str, Coercer]]]:
    defs = account.attributes.defs()
    email_index: int | None = None
    columns: list[tuple[int, str, Coercer]] = []
    taken: set[str] = set()
    for index, name in enumerate(header):
        upper = name.strip().upper()
        if upper == "EMAIL":
            if email_index is None:
                email_index = index
            continue
        attr = defs.get(upper)
        if attr is None or upper in taken:
            continue  # unknown attributes are ignored, as Brevo does
        taken.add(upper)
        columns.append((index, upper, attr.coercer(labels=spec.category_labels)))
    return email_index, columns


def iter_csv_batches(
    text: str, account: Account, spec: ImportSpec, report: ImportReport, seen: set[str]
) -> Iterator[list[ImportRow]]:
    """Parse ``;`` CSV text into batches of rows, counting invalid and duplicate rows."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";", quotechar='"')
    header = next(reader, None)
    if header is None:
        return
    report.header = header
    email_index, columns = _columns(header, account, spec)
    yield from _batches(
        (
            (
                cells,
                cells[email_index] if email_index is not None and email_index < len(cells) else "",
            )
            for cells in reader
            if cells and any(c.strip() for c in cells)
        ),
        columns,
        spec,
        report,
        seen,
    )


def iter_json_batches(
    items: list[Any], account: Account, spec: ImportSpec, report: ImportReport, seen: set[str]
) -> Iterator[list[ImportRow]]:
    """Turn ``jsonBody`` items into batches of rows (same rules as the CSV path)."""
    names: dict[str, None] = {}
    for item in items:
        attrs = item.get("attributes")
        if isinstance(attrs, dict):
            names.update(dict.fromkeys(str(k) for k in attrs))
    header = ["EMAIL", *names]
    report.header = header
    _, columns = _columns(header, account, spec)

    def rows() -> Iterator[tuple[list[Any], str]]:
        for item in items:
            attrs = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
            upper = {str(k).upper(): v for k, v in (attrs or {}).items()}
            email = item.get("email")
            cells = [email if isinstance(email, str) else ""]
            cells.extend(upper.get(n.upper(), "") for n in names)
            yield cells, cells[0]

    yield from _batches(rows(), columns, spec, report, seen)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _batches(
    rows: Iterable[tuple[list[Any], str]],
    columns: list[tuple[int, str, Coercer]],
    spec: ImportSpec,
    report: ImportReport,
    seen: set[str],
) -> Iterator[list[ImportRow]]:
    erase = spec.empty_attributes and spec.update_existing
    batch: list[ImportRow] = []
    match_email = (EMAIL_RE if spec.ascii_local_parts else EMAIL_UNICODE_RE).match
    for cells, email_cell in rows:
        size = len(cells)
        patch: dict[str, Any] = {}
        for index, name, coerce in columns:
            cell = cells[index] if index < size else ""
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                if erase:
                    patch[name] = None
                continue
            value = coerce(cell)
            if value is not INVALID:
                patch[name] = value
        email = email_cell.strip().lower() if isinstance(email_cell, str) else ""
        if email:
            if match_email(email) is None:
                report.invalid_rows.append([_cell_text(c) for c in cells])
                continue
            key = email
        else:
            sms = patch.get("SMS")
            if not sms:
                report.invalid_rows.append([_cell_text(c) for c in cells])
                continue
            key = "sms:" + sms
        if key in seen:
            report.duplicate_rows.append([_cell_text(c) for c in cells])
            if not email:
                report.duplicate_phone_rows.append(report.duplicate_rows[-1])
            continue
        seen.add(key)
        batch.append(ImportRow(email or None, patch, cells))
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------- applying


def _lookup(db: Any, column: str, values: list[Any]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for start in range(0, len(values), 10_000):
        part = values[start : start + 10_000]
        marks = ",".join("?" * len(part))
        for value, contact_id in db.execute(
            f"SELECT {column}, id FROM contacts WHERE {column} IN ({marks})", part
        ):
            found[value] = int(contact_id)
    return found


def apply_batch(
    account: Account,
    rows: list[ImportRow],
    *,
    spec: ImportSpec,
    list_ids: tuple[int, ...],
    process_id: int,
    generation: int,
    report: ImportReport,
) -> None:
    """Write one batch in one transaction (executemany throughout, for speed)."""
    now = utc_now_iso()
    with account.tx(generation) as db:
        by_email = _lookup(db, "email", [r.email for r in rows if r.email])
        by_sms = _lookup(db, "sms", [r.patch["SMS"] for r in rows if r.email is None])
        next_id = int(db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts").fetchone()[0])
        new_ids: set[int] = set()
        for row in rows:
            found = by_email.get(row.email) if row.email else by_sms.get(row.patch["SMS"])
            if found is None:
                row.target = next_id
                new_ids.add(next_id)
                next_id += 1
            else:
                row.target = found
        writing = [r for r in rows if r.target in new_ids or spec.update_existing]
        for name in UNIQUE_ATTRIBUTES:
            values = [r.patch[name] for r in writing if r.patch.get(name) is not None]
            if not values:
                continue
            owners: dict[Any, int] = _lookup(db, name.lower(), list(set(values)))
            for row in writing:
                value = row.patch.get(name)
                if value is None:
                    continue
                owner = owners.setdefault(value, row.target)
                if owner != row.target:
                    del row.patch[name]
                    report.conflicts[name] += 1
                    report.conflict_rows[name].append([_cell_text(c) for c in row.raw])
        email_bl, sms_bl = int(spec.email_blacklist), int(spec.sms_blacklist)
        inserts = []
        updates = []
        falses: list[tuple[str, int, str]] = []  # (json path, contact, json path)
        dumps = json.dumps
        for row in writing:
            if row.target in new_ids:
                attrs = {k: v for k, v in row.patch.items() if v is not None}
                inserts.append((row.target, row.email, dumps(attrs), email_bl, sms_bl, now, now))
                continue
            patch = row.patch
            if not spec.false_overwrites and any(v is False for v in patch.values()):
                # F4: an imported false does not overwrite a stored true.
                patch = {k: v for k, v in patch.items() if v is not False}
                for name in row.patch.keys() - patch.keys():
                    falses.append((f'$."{name}"', row.target, f'$."{name}"'))
            updates.append((dumps(patch), now, email_bl, sms_bl, row.target))
        db.executemany(
            "INSERT INTO contacts(id, email, attrs, email_bl, sms_bl, created_at, modified_at) "
            "VALUES (?,?,?,?,?,?,?)",
            inserts,
        )
        db.executemany(
            "UPDATE contacts SET attrs=json_patch(attrs, ?), modified_at=?, "
            "email_bl=MAX(email_bl, ?), sms_bl=MAX(sms_bl, ?) WHERE id=?",
            updates,
        )
        db.executemany(
            "UPDATE contacts SET attrs=json_set(attrs, ?, json('false')) "
            "WHERE id=? AND json_extract(attrs, ?) IS NOT 1",
            falses,
        )
        targets = [r.target for r in rows]
        for list_id in list_ids:
            db.executemany(
                "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?,?)",
                [(list_id, t) for t in targets],
            )
        db.executemany(
            "INSERT OR IGNORE INTO import_members(process_id, contact_id) VALUES (?,?)",
            [(process_id, t) for t in targets],
        )
    report.new += len(inserts)
    report.updated += len(updates)
    report.untouched += len(rows) - len(inserts) - len(updates)


# ---------------------------------------------------------------------------- reporting

Writer = Callable[[str, list[str], list[list[str]]], str | None]  # (kind, header, rows) -> url


def import_info(report: ImportReport, write: Writer) -> dict[str, Any]:
    """``info`` of a finished import, in both shapes; ``GET /processes`` shows one of them.

    ``import`` (config ``import_info: counts``, profile ``spec-2026-02``): counts, plus links
    in ``invalid_emails_url`` and ``duplicate_email_id``. ``import_links`` (``links``, profile
    ``minimal``, docs/brevo/FACTS.md F3): every key the URL of a ``;`` CSV of the offending rows (the
    body's header, then the rows as they were), or null: ``invalid_emails``;
    ``duplicate_email_id`` (an email twice in the body); ``duplicate_phone_id`` (an SMS twice,
    or held by another contact); ``duplicate_ext_id`` (held by another contact). The sandbox
    never fills ``duplicate_contact_id``, ``duplicate_whatsapp_id`` or
    ``duplicate_landline_number_id``.
    """
    header = report.header
    invalid_url = write("invalid_emails", header, report.invalid_rows)
    duplicate_url = write("duplicate_email_id", header, report.duplicate_rows)
    phone_ids = {id(r) for r in report.duplicate_phone_rows}
    email_dupes = [r for r in report.duplicate_rows if id(r) not in phone_ids]
    phone_dupes = report.duplicate_phone_rows + report.conflict_rows["SMS"]
    counts = {
        "invalid_emails": len(report.invalid_rows),
        "duplicate_contact_id": len(report.duplicate_rows),
        "duplicate_ext_id": report.conflicts["EXT_ID"],
        "duplicate_email_id": duplicate_url,
        "duplicate_phone_id": report.conflicts["SMS"],
        "duplicate_whatsapp_id": None,
        "duplicate_landline_number_id": None,
        "invalid_emails_url": invalid_url,
    }
    links = {
        "invalid_emails": invalid_url,
        "duplicate_contact_id": None,
        "duplicate_ext_id": write("links/duplicate_ext_id", header, report.conflict_rows["EXT_ID"]),
        "duplicate_email_id": (
            write("links/duplicate_email_id", header, email_dupes)
            if report.duplicate_phone_rows
            else duplicate_url
        ),
        "duplicate_phone_id": write("links/duplicate_phone_id", header, phone_dupes),
        "duplicate_whatsapp_id": None,
        "duplicate_landline_number_id": None,
    }
    return {"import": counts, "import_links": links}
