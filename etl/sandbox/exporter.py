"""``POST /contacts/export``: validate the request, select the contacts, write the file.

The file (docs/brevo/FACTS.md's table of choices): UTF-8, ``;``-separated, a header row. Columns, in
order: EMAIL, ADDED_TIME, MODIFIED_TIME (when ``exportMandatoryAttributes``, the default),
then ``exportAttributes``, then ``exportMetadata`` (``_listIds`` as ``[2|7]``; ADDED_TIME /
MODIFIED_TIME, optionally aliased ``ADDED_TIME AS _ADDED_TIME``), then, for
``exportSubscriptionStatus``, the sandbox's ``_SUBSCRIBED`` and ``_BLOCKLISTED`` columns: each
the ``|``-joined requested channels (``email_marketing``, ``sms_marketing``) on which the
contact is subscribed / blocklisted. Times (ADDED_TIME, MODIFIED_TIME and their aliases) follow
config ``export_times``: ``day`` (profile ``minimal``, docs/brevo/FACTS.md F1/F1b) writes only the day, in
the account's ``dateTimePreferences.dateFormat`` and time zone, whatever ``exportDateInUTC``
says; ``datetime`` (profile ``spec-2026-02``) writes the day in that format plus ``HH:MM:SS``
in the account's time zone (``dd-mm-yyyy HH:MM:SS`` in UTC by default), or ISO
``2026-11-23T10:00:00.000Z`` with ``exportDateInUTC``; date attributes are
``YYYY-MM-DD``, category attributes their label, booleans ``true``/``false``, multiple-choice
options comma-joined. ``skipFilesMerge: true`` gives a ``.zip`` of CSV parts of at most
``export_part_rows`` rows each, every part with its header.

Filters (``customContactFilter``; a sandbox reading of the spec's one-line descriptions):

- ``actionForContacts`` over the contacts linked to ``listId`` (or in ``segmentId``, or
  imported by ``importProcessId``; several selectors intersect): ``allContacts`` all of them;
  ``subscribed`` those not email-blocklisted and not unsubscribed from that list;
  ``unsubscribed`` the email-blocklisted ones (blocklisted by any means);
  ``unsubscribedPerList`` those unsubscribed from that list only.
- ``actionForEmailCampaigns``: ``openers``/``clickers`` have an open/click event for the
  campaign; ``nonOpeners``/``nonClickers`` were delivered it without one; ``unsubscribed``
  unsubscribed through it; ``hardBounces``/``softBounces`` bounced on it (or on any campaign).
- ``actionForSmsCampaigns``: ``hardBounces``/``softBounces``/``unsubscribed`` on an SMS
  campaign (``smsCampaignId`` optional).
- ``createdSince`` (ISO 8601): only contacts created at or after it. With it,
  ``allContacts`` needs no list or segment: the whole account (docs/brevo/FACTS.md F7).
- Actions given together intersect. The deprecated ``contactFilter`` takes
  ``{"blacklisted": bool}``, ``{"smsBlacklisted": bool}`` and ``{"listid.id": N}``.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from etl.sandbox.errors import invalid, missing
from etl.sandbox.importer import check_url
from etl.sandbox.state import Aborted, Account
from etl.sandbox.values import AttrDef

ACTIONS_CONTACTS = ("allContacts", "subscribed", "unsubscribed", "unsubscribedPerList")
ACTIONS_EMAIL = (
    "openers",
    "nonOpeners",
    "clickers",
    "nonClickers",
    "unsubscribed",
    "hardBounces",
    "softBounces",
)
EMAIL_NEEDS_CAMPAIGN = ("openers", "nonOpeners", "clickers", "nonClickers", "unsubscribed")
ACTIONS_SMS = ("hardBounces", "softBounces", "unsubscribed")
SUBSCRIPTIONS = ("email_marketing", "sms_marketing")
BATCH = 20_000
_META = re.compile(r"^\s*(ADDED_TIME|MODIFIED_TIME)(?:\s+AS\s+([A-Za-z0-9_]+))?\s*$", re.I)


@dataclass(slots=True)
class ExportSpec:
    """A validated export request."""

    columns: list[tuple[str, str, AttrDef | None]] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    subscriptions: tuple[str, ...] = ()
    date_utc: bool = False
    skip_merge: bool = False
    notify_url: str | None = None
    time_mode: str = "datetime"
    date_format: str = "dd-mm-yyyy"
    timezone: str = "UTC"


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{key} must be an integer")
    return value


def _flag(body: dict[str, Any], key: str, *, default: bool) -> bool:
    value = body.get(key)
    if value is None:  # absent or an explicit null
        return default
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"{key} must be an array of strings")
    return list(value)


def _has(table: str, condition: str, *, negate: bool = False) -> str:
    """A correlated (index-friendly) membership test of ``c.id`` in ``table``."""
    test = f"EXISTS (SELECT 1 FROM {table} WHERE {condition} AND contact_id = c.id)"
    return f"NOT {test}" if negate else test


def _events(channel: str, event: str, campaign: int | None) -> tuple[str, list[Any]]:
    sql = "channel=? AND event=?"
    params: list[Any] = [channel, event]
    if campaign is not None:
        sql += " AND campaign_id=?"
        params.append(campaign)
    return sql, params


def parse_export_request(body: dict[str, Any], account: Account) -> ExportSpec:
    """Validate ``POST /contacts/export`` like Brevo; build columns and the SQL filter."""
    spec = ExportSpec()
    custom, legacy = body.get("customContactFilter"), body.get("contactFilter")
    if custom is not None and legacy is not None:
        raise invalid(
            "Only one of the two filter options (contactFilter or customContactFilter) can be "
            "passed in the request"
        )
    if custom is None and legacy is None:
        raise missing("customContactFilter is missing")
    if custom is not None:
        _custom_filter(custom, account, spec)
    else:
        _legacy_filter(legacy, account, spec)
    _flag(body, "disableNotification", default=False)
    _flag(body, "disableFrontendNotification", default=False)
    mandatory = _flag(body, "exportMandatoryAttributes", default=True)
    spec.date_utc = _flag(body, "exportDateInUTC", default=False)
    rules = account.rules()
    prefs = rules.account["dateTimePreferences"]
    spec.time_mode = rules.export_times
    spec.date_format, spec.timezone = prefs["dateFormat"], prefs["timezone"]
    spec.skip_merge = _flag(body, "skipFilesMerge", default=False)
    attributes = _strings(body, "exportAttributes")
    if not mandatory and not attributes:
        raise missing("exportAttributes is required if exportMandatoryAttributes is set false")
    defs = account.attributes.defs()
    taken: set[str] = set()

    def add(header: str, source: str, attr: AttrDef | None = None) -> None:
        if header not in taken:
            taken.add(header)
            spec.columns.append((header, source, attr))

    if mandatory:
        add("EMAIL", "email")
        add("ADDED_TIME", "added")
        add("MODIFIED_TIME", "modified")
    for name in attributes:
        upper = name.strip().upper()
        if upper == "EMAIL":
            add("EMAIL", "email")
            continue
        attr = defs.get(upper)
        if attr is None:
            raise invalid(f"Attribute {name} does not exist in your contact database")
        add(upper, "attr", attr)
    for meta in _strings(body, "exportMetadata"):
        if meta.strip() == "_listIds":
            add("_listIds", "listids")
            continue
        match = _META.match(meta)
        if match is None:
            raise invalid(f"Invalid exportMetadata value: {meta}")
        source = "added" if match.group(1).upper() == "ADDED_TIME" else "modified"
        add(match.group(2) or match.group(1).upper(), source)
    subscriptions = _strings(body, "exportSubscriptionStatus")
    for value in subscriptions:
        if value not in SUBSCRIPTIONS:
            raise invalid(f"Invalid exportSubscriptionStatus value: {value}")
    spec.subscriptions = tuple(dict.fromkeys(subscriptions))
    if spec.subscriptions:
        add("_SUBSCRIBED", "subscribed")
        add("_BLOCKLISTED", "blocklisted")
    notify = body.get("notifyUrl")
    spec.notify_url = check_url(notify, "notifyUrl") if notify is not None else None
    return spec


def _custom_filter(raw: Any, account: Account, spec: ExportSpec) -> None:
    if not isinstance(raw, dict):
        raise invalid("customContactFilter must be an object")
    ids: dict[str, int | None] = {}
    for key in ("listId", "segmentId", "emailCampaignId", "smsCampaignId", "importProcessId"):
        ids[key] = _int(raw[key], key) if raw.get(key) is not None else None
    on_contacts = raw.get("actionForContacts")
    on_email = raw.get("actionForEmailCampaigns")
    on_sms = raw.get("actionForSmsCampaigns")
    if on_contacts is None and on_email is None and on_sms is None:
        raise missing(
            "actionForContacts is mandatory if neither actionForEmailCampaigns nor "
            "actionForSmsCampaigns is passed"
        )
    list_id, segment_id, process_id = ids["listId"], ids["segmentId"], ids["importProcessId"]
    if list_id is not None and segment_id is not None:
        raise invalid("Either segmentId or listId must be included, not both")
    if list_id is not None and not account.lists.exists(list_id):
        raise invalid(f"List ID does not exist: {list_id}")
    if segment_id is not None and not account.segments.exists(segment_id):
        raise invalid(f"Segment ID does not exist: {segment_id}")
    if process_id is not None and not account.processes.import_exists(process_id):
        raise invalid(f"importProcessId is not an import process: {process_id}")
    where, params = spec.where, spec.params
    created_since = _created_since(raw.get("createdSince"))
    if created_since is not None:
        where.append("c.created_at >= ?")
        params.append(created_since)
    if on_contacts is not None:
        if on_contacts not in ACTIONS_CONTACTS:
            raise invalid(f"Invalid actionForContacts: {on_contacts}")
        # A whole-account export: allContacts without a list is accepted when createdSince is
        # given (docs/brevo/FACTS.md F7, one live 2026 job; observed behaviour, so under every profile).
        whole_account = on_contacts == "allContacts" and created_since is not None
        if list_id is None and segment_id is None and process_id is None and not whole_account:
            raise missing("listId or segmentId is mandatory if actionForContacts is specified")
        if on_contacts == "unsubscribedPerList" and list_id is None:
            raise missing("listId is mandatory for unsubscribedPerList")
        if list_id is not None:
            where.append(_has("list_members", "list_id=?"))
            params.append(list_id)
        if segment_id is not None:
            where.append(_has("segment_members", "segment_id=?"))
            params.append(segment_id)
        if process_id is not None:
            where.append(_has("import_members", "process_id=?"))
            params.append(process_id)
        if on_contacts == "subscribed":
            where.append("c.email_bl = 0")
            if list_id is not None:
                where.append(_has("list_members", "list_id=? AND unsubscribed=1", negate=True))
                params.append(list_id)
        elif on_contacts == "unsubscribed":
            where.append("c.email_bl = 1")
        elif on_contacts == "unsubscribedPerList":
            where.append(_has("list_members", "list_id=? AND unsubscribed=1"))
            params.append(list_id)
    if on_email is not None:
        if on_email not in ACTIONS_EMAIL:
            raise invalid(f"Invalid actionForEmailCampaigns: {on_email}")
        campaign = ids["emailCampaignId"]
        if on_email in EMAIL_NEEDS_CAMPAIGN and campaign is None:
            raise missing(f"emailCampaignId is mandatory for {on_email}")
        positive = {
            "openers": "open",
            "clickers": "click",
            "unsubscribed": "unsubscribe",
            "hardBounces": "hardBounce",
            "softBounces": "softBounce",
        }
        if on_email in positive:
            sql, more = _events("email", positive[on_email], campaign)
            where.append(_has("events", sql))
            params.extend(more)
        else:
            delivered, more = _events("email", "delivered", campaign)
            seen, more2 = _events(
                "email", "open" if on_email == "nonOpeners" else "click", campaign
            )
            where.append(_has("events", delivered))
            where.append(_has("events", seen, negate=True))
            params.extend([*more, *more2])
    if on_sms is not None:
        if on_sms not in ACTIONS_SMS:
            raise invalid(f"Invalid actionForSmsCampaigns: {on_sms}")
        event = {"hardBounces": "hardBounce", "softBounces": "softBounce"}.get(
            on_sms, "unsubscribe"
        )
        sql, more = _events("sms", event, ids["smsCampaignId"])
        where.append(_has("events", sql))
        params.extend(more)


def _created_since(value: Any) -> str | None:
    """``createdSince`` (ISO 8601 date or date-time; naive means UTC) as a stored timestamp."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid("createdSince must be a date-time string")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid createdSince: {value}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _legacy_filter(raw: Any, account: Account, spec: ExportSpec) -> None:
    if not isinstance(raw, dict):
        raise invalid("contactFilter must be an object")
    for key, value in raw.items():
        lowered = key.lower()
        if lowered in ("blacklisted", "emailblacklisted", "smsblacklisted"):
            if not isinstance(value, bool | int):
                raise invalid(f"contactFilter.{key} must be a boolean")
            column = "c.sms_bl" if lowered == "smsblacklisted" else "c.email_bl"
            spec.where.append(f"{column} = ?")
            spec.params.append(int(bool(value)))
        elif lowered in ("listid.id", "listid", "listids"):
            list_ids = value if isinstance(value, list) else [value]
            for list_id in list_ids:
                _int(list_id, f"contactFilter.{key}")
                if not account.lists.exists(list_id):
                    raise invalid(f"List ID does not exist: {list_id}")
            marks = ",".join("?" * len(list_ids))
            spec.where.append(_has("list_members", f"list_id IN ({marks})"))
            spec.params.extend(list_ids)
        else:
            raise invalid(f"Unsupported contactFilter key: {key}")


# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class ExportFile:
    """The written file."""

    path: Path
    name: str
    content_type: str
    total: int
    size: int


def _time_formatter(spec: ExportSpec) -> Callable[[str], str]:
    day_only = spec.time_mode == "day"
    if spec.date_utc and not day_only:
        return lambda stamp: stamp
    zone = None if spec.timezone == "UTC" else ZoneInfo(spec.timezone)
    pattern = spec.date_format
    cache: dict[str, str] = {}

    def local(stamp: str) -> str:
        out = cache.get(stamp)
        if out is None:
            # Stored as YYYY-MM-DDTHH:MM:SS.mmmZ (UTC); shown in the account's time zone.
            shown = stamp
            if zone is not None:
                moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(zone)
                shown = moment.strftime("%Y-%m-%dT%H:%M:%S")
            out = (
                pattern.replace("yyyy", shown[0:4])
                .replace("mm", shown[5:7])
                .replace("dd", shown[8:10])
            )
            if not day_only:
                out += f" {shown[11:19]}"
            if len(cache) < 100_000:
                cache[stamp] = out
        return out

    return local


def run_export(
    account: Account,
    spec: ExportSpec,
    *,
    out_dir: Path,
    base_name: str,
    part_rows: int,
    generation: int,
) -> ExportFile:
    """Write the export (reading the account in batches, so the API stays responsive)."""
    fmt = _time_formatter(spec)
    need_attrs = any(source == "attr" for _, source, _ in spec.columns)
    need_lists = any(source == "listids" for _, source, _ in spec.columns)
    cols = "c.id, c.email, c.attrs, c.created_at, c.modified_at, c.email_bl, c.sms_bl"
    if need_lists:
        cols += (
            ", (SELECT group_concat(list_id, '|') FROM (SELECT list_id FROM list_members m "
            "WHERE m.contact_id = c.id AND m.unsubscribed = 0 ORDER BY list_id))"
        )
    where = " AND ".join(["c.id > ?", *spec.where])
    sql = f"SELECT {cols} FROM contacts c WHERE {where} ORDER BY c.id LIMIT {BATCH}"
    header = [h for h, _, _ in spec.columns]
    subs = spec.subscriptions

    def cells(rec: Any) -> list[str]:
        attrs = json.loads(rec[2]) if need_attrs else None
        out: list[str] = []
        for _, source, attr in spec.columns:
            if source == "attr":
                if attr is not None and attrs is not None:
                    out.append(attr.to_cell(attrs.get(attr.name)))
            elif source == "email":
                out.append(rec[1] or "")
            elif source == "added":
                out.append(fmt(rec[3]))
            elif source == "modified":
                out.append(fmt(rec[4]))
            elif source == "listids":
                out.append(f"[{rec[7] or ''}]")
            else:
                flags = {"email_marketing": bool(rec[5]), "sms_marketing": bool(rec[6])}
                want = source == "blocklisted"
                out.append("|".join(s for s in subs if flags[s] == want))
        return out

    out_dir.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    handle = None
    writer: Any = None
    in_part = part_rows  # forces a new part on the first row
    total = 0
    last_id = 0

    def new_part() -> None:
        nonlocal handle, writer, in_part
        if handle is not None:
            handle.close()
        path = out_dir / f"{base_name}_part{len(parts) + 1:03d}.csv"
        parts.append(path)
        handle = path.open("w", encoding="utf-8", newline="")
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        in_part = 0

    try:
        while True:
            with account.lock:
                if account.generation != generation:
                    raise Aborted
                batch = account.db.execute(sql, [last_id, *spec.params]).fetchall()
            if not batch:
                break
            last_id = int(batch[-1][0])
            rows = [cells(rec) for rec in batch]
            for row in rows:
                if in_part >= part_rows and (spec.skip_merge or not parts):
                    new_part()
                writer.writerow(row)
                in_part += 1
            total += len(rows)
            if len(batch) < BATCH:
                break
        if not parts:
            new_part()
    finally:
        if handle is not None:
            handle.close()
    if spec.skip_merge:
        path = out_dir / f"{base_name}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for part in parts:
                archive.write(part, arcname=part.name)
                part.unlink()
        content_type = "application/zip"
    else:
        path = out_dir / f"{base_name}.csv"
        parts[0].replace(path)
        content_type = "text/csv; charset=utf-8"
    return ExportFile(path, path.name, content_type, total, path.stat().st_size)
