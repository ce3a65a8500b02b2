"""The sandbox's Brevo account: attributes, contacts, lists, folders, segments, campaign events
and processes, in SQLite. No HTTP here: ``app.py`` maps requests onto these methods.

One connection serves every thread, guarded by one re-entrant lock (``:memory:`` by default,
or a file). Long jobs (imports, exports) take the lock per batch, so the API stays responsive
while they run. ``reset()`` bumps ``generation``; a job started before a reset notices it at
its next batch and stops without writing (``Aborted``).

Contacts keep their attributes as one JSON object (``attrs``) in stored form (see
``values.py``); ``sms`` and ``ext_id`` are generated, indexed columns over it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from etl.sandbox.config import ConfigStore, SandboxConfig
from etl.sandbox.errors import ApiError, invalid, missing, not_found
from etl.sandbox.values import (
    DEFAULT_ATTRIBUTES,
    INVALID,
    PHONE_ATTRIBUTES,
    AttrDef,
    is_email,
    normalise_phone,
    utc_now_iso,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS attributes (
    name TEXT PRIMARY KEY, category TEXT NOT NULL, type TEXT NOT NULL,
    enumeration TEXT NOT NULL DEFAULT '[]', options TEXT NOT NULL DEFAULT '[]', value TEXT,
    seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, folder_id INTEGER NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segment_members (
    segment_id INTEGER NOT NULL, contact_id INTEGER NOT NULL,
    PRIMARY KEY (segment_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, email TEXT, attrs TEXT NOT NULL DEFAULT '{}',
    email_bl INTEGER NOT NULL DEFAULT 0, sms_bl INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, modified_at TEXT NOT NULL,
    sms TEXT GENERATED ALWAYS AS (json_extract(attrs, '$.SMS')) VIRTUAL,
    ext_id TEXT GENERATED ALWAYS AS (json_extract(attrs, '$.EXT_ID')) VIRTUAL);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_email ON contacts(email);
CREATE INDEX IF NOT EXISTS contacts_sms ON contacts(sms);
CREATE INDEX IF NOT EXISTS contacts_ext_id ON contacts(ext_id);
CREATE TABLE IF NOT EXISTS list_members (
    list_id INTEGER NOT NULL, contact_id INTEGER NOT NULL,
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (list_id, contact_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_members_contact ON list_members(contact_id, list_id);
CREATE TABLE IF NOT EXISTS import_members (
    process_id INTEGER NOT NULL, contact_id INTEGER NOT NULL,
    PRIMARY KEY (process_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, channel TEXT NOT NULL,
    event TEXT NOT NULL, campaign_id INTEGER, list_id INTEGER, time TEXT NOT NULL,
    ip TEXT, url TEXT);
CREATE INDEX IF NOT EXISTS events_contact ON events(contact_id);
CREATE INDEX IF NOT EXISTS events_kind ON events(channel, event, campaign_id, contact_id);
CREATE TABLE IF NOT EXISTS processes (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, completed_at TEXT, info TEXT, export_url TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS files (
    token TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT NOT NULL,
    content_type TEXT NOT NULL, expires_at REAL NOT NULL);
"""
TABLES = (
    "attributes",
    "folders",
    "lists",
    "segments",
    "segment_members",
    "contacts",
    "list_members",
    "import_members",
    "events",
    "processes",
    "files",
)
ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "id", "category", "multiple-choice", "user")
IDENTIFIER_TYPES = (
    "email_id",
    "phone_id",
    "contact_id",
    "ext_id",
    "whatsapp_id",
    "landline_number_id",
)
TERMINAL = ("completed", "failed", "cancelled")


class Aborted(Exception):
    """The account was reset under a running job."""


def sort_order(sort: str) -> str:
    """SQL direction for Brevo's ``sort`` (``asc``/``desc``, by creation)."""
    return "ASC" if sort == "asc" else "DESC"


class Account:
    """A Brevo account in SQLite."""

    def __init__(
        self, db_path: str | Path | None = None, config: ConfigStore | None = None
    ) -> None:
        self.config = config or ConfigStore()
        self.lock = threading.RLock()
        self.generation = 0
        target = ":memory:" if db_path is None else str(db_path)
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if db_path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self._defs: dict[str, AttrDef] | None = None
        with self.lock:
            self.db.executescript(SCHEMA)
            self._seed_defaults()
            # Processes left running by a previous run of a file-backed sandbox never end.
            self.db.execute(
                "UPDATE processes SET status='failed', error='sandbox restarted', "
                "completed_at=? WHERE status NOT IN ('completed','failed','cancelled')",
                (utc_now_iso(),),
            )

    # ------------------------------------------------------------------ plumbing

    def rules(self) -> SandboxConfig:
        """The live config (profile switches decide how values are accepted)."""
        return self.config.current

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.db.close()

    @contextmanager
    def tx(self, generation: int | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; ``Aborted`` if reset since ``generation``."""
        with self.lock:
            if generation is not None and generation != self.generation:
                raise Aborted
            self.db.execute("BEGIN")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query under the lock and return all rows."""
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a read query and return the first column of the first row (or None)."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def reset(self) -> None:
        """Empty the account: every table is recreated; the default attributes come back."""
        with self.lock:
            self.generation += 1
            for table in TABLES:
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
            self.db.executescript(SCHEMA)
            self._defs = None
            self._seed_defaults()

    def _seed_defaults(self) -> None:
        for seq, (name, category, type_) in enumerate(DEFAULT_ATTRIBUTES):
            self.db.execute(
                "INSERT OR IGNORE INTO attributes(name, category, type, seq) VALUES (?,?,?,?)",
                (name, category, type_, seq),
            )

    # ------------------------------------------------------------------ attributes

    def attribute_defs(self) -> dict[str, AttrDef]:
        """Every attribute by upper-case name (cached until one is created or reset)."""
        with self.lock:
            if self._defs is None:
                rows = self.db.execute(
                    "SELECT name, category, type, enumeration, options, value FROM attributes "
                    "ORDER BY seq"
                ).fetchall()
                self._defs = {
                    row[0]: AttrDef(
                        name=row[0],
                        category=row[1],
                        type=row[2],
                        enumeration=[(int(v), str(lab)) for v, lab in json.loads(row[3])],
                        options=list(json.loads(row[4])),
                        value=row[5],
                    )
                    for row in rows
                }
            return self._defs

    def create_attribute(self, category: str, name: str, body: dict[str, Any]) -> None:
        """``POST /contacts/attributes/{category}/{name}``."""
        if category not in ATTRIBUTE_CATEGORIES:
            raise invalid(f"Invalid attribute category: {category}")
        name = name.strip().upper()
        if not name or not all(ch.isalnum() or ch == "_" for ch in name):
            raise invalid("Attribute name must contain only letters, digits and underscores")
        type_ = body.get("type")
        if type_ is not None and type_ not in ATTRIBUTE_TYPES:
            raise invalid(f"Invalid attribute type: {type_}")
        enumeration: list[tuple[int, str]] = []
        options: list[str] = []
        value = body.get("value")
        if value is not None and not isinstance(value, str):
            raise invalid("value must be a string")
        if category == "category":
            raw = body.get("enumeration")
            if not isinstance(raw, list) or not raw:
                raise missing("enumeration is mandatory for category attributes")
            for item in raw:
                if (
                    not isinstance(item, dict)
                    or isinstance(item.get("value"), bool)
                    or not isinstance(item.get("value"), int)
                    or not isinstance(item.get("label"), str)
                ):
                    raise invalid("enumeration items need an integer value and a string label")
                if len(item["label"]) > 200:
                    raise invalid("None of the category options can exceed max 200 characters")
                enumeration.append((item["value"], item["label"]))
            if len({v for v, _ in enumeration}) != len(enumeration):
                raise invalid("enumeration values must be unique")
            type_ = "category"
        elif body.get("enumeration") is not None:
            raise invalid("enumeration is only allowed for category attributes")
        if type_ == "multiple-choice":
            raw_opts = body.get("multiCategoryOptions")
            if (
                not isinstance(raw_opts, list)
                or not raw_opts
                or not all(isinstance(o, str) and o.strip() for o in raw_opts)
            ):
                raise missing("multiCategoryOptions is mandatory for multiple-choice attributes")
            if any(len(o) > 200 for o in raw_opts):
                raise invalid("None of the category options can exceed max 200 characters")
            options = [str(o) for o in raw_opts]
        if category in ("calculated", "global") and not value:
            raise missing("value is mandatory for calculated and global attributes")
        if type_ == "category" and category != "category":
            raise invalid("type category needs the category attribute category")
        type_ = type_ or "text"
        with self.tx() as db:
            if db.execute("SELECT 1 FROM attributes WHERE name=?", (name,)).fetchone():
                raise invalid("Attribute name must be unique")
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM attributes").fetchone()[0]
            db.execute(
                "INSERT INTO attributes(name, category, type, enumeration, options, value, seq) "
                "VALUES (?,?,?,?,?,?,?)",
                (name, category, type_, json.dumps(enumeration), json.dumps(options), value, seq),
            )
            self._defs = None

    def delete_attribute(self, category: str, name: str) -> None:
        """``DELETE /contacts/attributes/{category}/{name}`` (default attributes stay)."""
        name = name.strip().upper()
        defs = self.attribute_defs()
        attr = defs.get(name)
        if attr is None or attr.category != category:
            raise not_found("Attribute not found")
        if name in {n for n, _, _ in DEFAULT_ATTRIBUTES}:
            raise invalid("Default attributes cannot be deleted")
        with self.tx() as db:
            db.execute("DELETE FROM attributes WHERE name=?", (name,))
            db.execute("UPDATE contacts SET attrs=json_remove(attrs, ?)", (f'$."{name}"',))
            self._defs = None

    # ------------------------------------------------------------------ folders and lists

    def create_folder(self, name: str) -> int:
        """Create a folder; return its id."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO folders(name, created_at) VALUES (?,?)", (name, utc_now_iso())
            )
            return int(cur.lastrowid or 0)

    def folder_exists(self, folder_id: int) -> bool:
        """True when the folder exists."""
        return self.scalar("SELECT 1 FROM folders WHERE id=?", (folder_id,)) is not None

    def list_exists(self, list_id: int) -> bool:
        """True when the list exists."""
        return self.scalar("SELECT 1 FROM lists WHERE id=?", (list_id,)) is not None

    def _list_stats(self, where: str, params: Sequence[Any]) -> dict[int, tuple[int, int, int]]:
        rows = self.query(
            "SELECT m.list_id, COUNT(*), SUM(c.email_bl), SUM(1 - c.email_bl) "
            "FROM list_members m JOIN contacts c ON c.id = m.contact_id "
            f"WHERE m.unsubscribed = 0 AND m.list_id IN ({where}) GROUP BY m.list_id",
            params,
        )
        return {int(r[0]): (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    def _list_wire(self, row: Any, stats: dict[int, tuple[int, int, int]]) -> dict[str, Any]:
        unique, blacklisted, subscribers = stats.get(int(row[0]), (0, 0, 0))
        return {
            "id": row[0],
            "name": row[1],
            "totalBlacklisted": blacklisted,
            "totalSubscribers": subscribers,
            "uniqueSubscribers": unique,
            "folderId": row[2],
        }

    def list_folders(self, *, limit: int, offset: int, sort: str) -> tuple[int, list[Any]]:
        """``GET /contacts/folders``: (count, folders)."""
        count = int(self.scalar("SELECT COUNT(*) FROM folders"))
        rows = self.query(
            f"SELECT id FROM folders ORDER BY id {sort_order(sort)} LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return count, [self.get_folder(int(r[0])) for r in rows]

    def get_folder(self, folder_id: int) -> dict[str, Any]:
        """``GET /contacts/folders/{id}``."""
        rows = self.query("SELECT id, name FROM folders WHERE id=?", (folder_id,))
        if not rows:
            raise not_found("Folder ID not found")
        totals = self.query(
            "SELECT COUNT(*), COALESCE(SUM(email_bl), 0) FROM contacts WHERE id IN ("
            "SELECT m.contact_id FROM list_members m JOIN lists l ON l.id = m.list_id "
            "WHERE l.folder_id = ? AND m.unsubscribed = 0)",
            (folder_id,),
        )[0]
        unique, blacklisted = int(totals[0]), int(totals[1])
        return {
            "id": rows[0][0],
            "name": rows[0][1],
            "totalBlacklisted": blacklisted,
            "totalSubscribers": unique - blacklisted,
            "uniqueSubscribers": unique,
        }

    def update_folder(self, folder_id: int, name: str) -> None:
        """``PUT /contacts/folders/{id}``."""
        with self.tx() as db:
            if db.execute("UPDATE folders SET name=? WHERE id=?", (name, folder_id)).rowcount == 0:
                raise not_found("Folder ID not found")

    def delete_folder(self, folder_id: int) -> None:
        """``DELETE /contacts/folders/{id}``: the folder and all its lists."""
        with self.tx() as db:
            if db.execute("DELETE FROM folders WHERE id=?", (folder_id,)).rowcount == 0:
                raise not_found("Folder ID not found")
            ids = [r[0] for r in db.execute("SELECT id FROM lists WHERE folder_id=?", (folder_id,))]
            for list_id in ids:
                db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,))
            db.execute("DELETE FROM lists WHERE folder_id=?", (folder_id,))

    def create_list(self, name: str, folder_id: int) -> int:
        """Create a list in an existing folder; return its id."""
        with self.tx() as db:
            if not db.execute("SELECT 1 FROM folders WHERE id=?", (folder_id,)).fetchone():
                raise invalid("Folder ID does not exist")
            cur = db.execute(
                "INSERT INTO lists(name, folder_id, created_at) VALUES (?,?,?)",
                (name, folder_id, utc_now_iso()),
            )
            return int(cur.lastrowid or 0)

    def list_lists(
        self, *, limit: int, offset: int, sort: str, folder_id: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """``GET /contacts/lists`` (or a folder's lists): (count, lists)."""
        where, params = ("WHERE folder_id=?", [folder_id]) if folder_id is not None else ("", [])
        count = int(self.scalar(f"SELECT COUNT(*) FROM lists {where}", params))
        rows = self.query(
            f"SELECT id, name, folder_id FROM lists {where} ORDER BY id {sort_order(sort)} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        ids = [int(r[0]) for r in rows]
        stats = self._list_stats(",".join("?" * len(ids)), ids) if ids else {}
        return count, [self._list_wire(r, stats) for r in rows]

    def get_list(self, list_id: int) -> dict[str, Any]:
        """``GET /contacts/lists/{id}``."""
        rows = self.query(
            "SELECT id, name, folder_id, created_at FROM lists WHERE id=?", (list_id,)
        )
        if not rows:
            raise not_found("List ID not found")
        out = self._list_wire(rows[0], self._list_stats("?", (list_id,)))
        out["createdAt"] = rows[0][3]
        out["dynamicList"] = False
        return out

    def update_list(self, list_id: int, *, name: str | None, folder_id: int | None) -> None:
        """``PUT /contacts/lists/{id}``."""
        if not self.list_exists(list_id):
            raise not_found("List ID not found")
        if folder_id is not None and not self.folder_exists(folder_id):
            raise invalid("Folder ID does not exist")
        with self.tx() as db:
            if name is not None:
                db.execute("UPDATE lists SET name=? WHERE id=?", (name, list_id))
            if folder_id is not None:
                db.execute("UPDATE lists SET folder_id=? WHERE id=?", (folder_id, list_id))

    def delete_list(self, list_id: int) -> None:
        """``DELETE /contacts/lists/{id}``."""
        with self.tx() as db:
            if db.execute("DELETE FROM lists WHERE id=?", (list_id,)).rowcount == 0:
                raise not_found("List ID not found")
            db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,))

    # ------------------------------------------------------------------ segments

    def create_segment(self, name: str, emails: Sequence[str]) -> tuple[int, list[str]]:
        """Admin: a segment of the contacts with these emails; returns (id, unknown emails)."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO segments(name, category, updated_at) VALUES (?,?,?)",
                (name, "Sandbox", utc_now_iso()),
            )
            segment_id = int(cur.lastrowid or 0)
            found = self._ids_by_email(db, emails)
            db.executemany(
                "INSERT OR IGNORE INTO segment_members VALUES (?,?)",
                [(segment_id, cid) for cid in found.values()],
            )
        unknown = [e for e in emails if e.strip().lower() not in found]
        return segment_id, unknown

    def segment_exists(self, segment_id: int) -> bool:
        """True when the segment exists."""
        return self.scalar("SELECT 1 FROM segments WHERE id=?", (segment_id,)) is not None

    def list_segments(self, *, limit: int, offset: int, sort: str) -> tuple[int, list[Any]]:
        """``GET /contacts/segments``: (count, segments)."""
        count = int(self.scalar("SELECT COUNT(*) FROM segments"))
        rows = self.query(
            f"SELECT id, name, category, updated_at FROM segments ORDER BY id {sort_order(sort)} "
            "LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return count, [
            {"id": r[0], "segmentName": r[1], "categoryName": r[2], "updatedAt": r[3]} for r in rows
        ]

    # ------------------------------------------------------------------ contacts

    @staticmethod
    def _ids_by_email(db: sqlite3.Connection, emails: Sequence[str]) -> dict[str, int]:
        wanted = list({e.strip().lower() for e in emails if isinstance(e, str)})
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 10_000):
            part = wanted[start : start + 10_000]
            rows = db.execute(
                f"SELECT email, id FROM contacts WHERE email IN ({','.join('?' * len(part))})",
                part,
            )
            found.update({r[0]: int(r[1]) for r in rows})
        return found

    def find_contact(self, identifier: str, identifier_type: str | None) -> int | None:
        """Resolve ``{identifier}`` the way the spec describes (FACTS.md section 8).

        Without ``identifierType``: an ``@`` means an email; digits mean a contact id, and,
        when no contact has that id, an SMS number; a leading ``+`` means an SMS number.
        """
        ident = identifier.strip()
        if identifier_type is None:
            if "@" in ident:
                identifier_type = "email_id"
            elif ident.isdigit():
                found = self.find_contact(ident, "contact_id")
                return found if found is not None else self.find_contact(ident, "phone_id")
            elif ident.startswith("+"):
                identifier_type = "phone_id"
            else:
                raise invalid("Invalid identifier: pass an email, a contact id or identifierType")
        value: str | int
        if identifier_type == "email_id":
            sql, value = "SELECT id FROM contacts WHERE email=?", ident.lower()
        elif identifier_type == "contact_id":
            if not ident.isdigit():
                raise invalid("Invalid contact id")
            sql, value = "SELECT id FROM contacts WHERE id=?", int(ident)
        elif identifier_type == "ext_id":
            sql, value = "SELECT id FROM contacts WHERE ext_id=?", ident
        elif identifier_type in ("phone_id", "whatsapp_id", "landline_number_id"):
            phone = normalise_phone(ident)
            if phone is None:
                return None
            column = {
                "phone_id": "sms",
                "whatsapp_id": "json_extract(attrs, '$.WHATSAPP')",
                "landline_number_id": "json_extract(attrs, '$.LANDLINE_NUMBER')",
            }[identifier_type]
            sql, value = f"SELECT id FROM contacts WHERE {column}=?", phone
        else:
            raise invalid(f"Invalid identifierType: {identifier_type}")
        found_id = self.scalar(sql, (value,))
        return None if found_id is None else int(found_id)

    def require_contact(self, identifier: str, identifier_type: str | None) -> int:
        """``find_contact`` or 404."""
        found = self.find_contact(identifier, identifier_type)
        if found is None:
            raise not_found("Contact does not exist")
        return found

    def contacts_wire(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The API view of these contacts, in the given order."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        defs = self.attribute_defs()
        with self.lock:
            rows = {
                int(r[0]): r
                for r in self.db.execute(
                    "SELECT id, email, attrs, email_bl, sms_bl, created_at, modified_at "
                    f"FROM contacts WHERE id IN ({marks})",
                    list(ids),
                )
            }
            members: dict[int, tuple[list[int], list[int]]] = {i: ([], []) for i in ids}
            for cid, list_id, unsub in self.db.execute(
                "SELECT contact_id, list_id, unsubscribed FROM list_members "
                f"WHERE contact_id IN ({marks}) ORDER BY list_id",
                list(ids),
            ):
                members[int(cid)][1 if unsub else 0].append(int(list_id))
        out = []
        for cid in ids:
            row = rows.get(cid)
            if row is None:
                continue
            attrs = json.loads(row[2])
            item: dict[str, Any] = {}
            if row[1] is not None:
                item["email"] = row[1]
            item.update(
                {
                    "id": row[0],
                    "emailBlacklisted": bool(row[3]),
                    "smsBlacklisted": bool(row[4]),
                    "createdAt": row[5],
                    "modifiedAt": row[6],
                    "listIds": members[cid][0],
                }
            )
            if members[cid][1]:
                item["listUnsubscribed"] = members[cid][1]
            item["attributes"] = {
                k: (defs[k].render(v) if k in defs else v) for k, v in attrs.items()
            }
            out.append(item)
        return out

    def list_contacts(
        self,
        *,
        limit: int,
        offset: int,
        sort: str,
        modified_since: str | None = None,
        created_since: str | None = None,
        list_ids: Sequence[int] = (),
        segment_id: int | None = None,
        attribute_equals: tuple[str, Any] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """``GET /contacts`` and ``GET /contacts/lists/{id}/contacts``: (count, contacts)."""
        where: list[str] = []
        params: list[Any] = []
        if modified_since is not None:
            where.append("modified_at > ?")
            params.append(modified_since)
        if created_since is not None:
            where.append("created_at > ?")
            params.append(created_since)
        if list_ids:
            where.append(
                "id IN (SELECT contact_id FROM list_members WHERE unsubscribed = 0 AND list_id IN "
                f"({','.join('?' * len(list_ids))}))"
            )
            params.extend(list_ids)
        if segment_id is not None:
            where.append("id IN (SELECT contact_id FROM segment_members WHERE segment_id = ?)")
            params.append(segment_id)
        if attribute_equals is not None:
            name, value = attribute_equals
            if name in ("EMAIL",):
                where.append("email = ?")
                params.append(str(value).lower())
            elif isinstance(value, list):
                for option in value:
                    where.append(
                        "EXISTS (SELECT 1 FROM json_each(contacts.attrs, ?) WHERE value = ?)"
                    )
                    params.extend([f'$."{name}"', option])
            else:
                where.append("json_extract(attrs, ?) = ?")
                params.extend([f'$."{name}"', value])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        count = int(self.scalar(f"SELECT COUNT(*) FROM contacts {clause}", params))
        ids = [
            int(r[0])
            for r in self.query(
                f"SELECT id FROM contacts {clause} ORDER BY id {sort_order(sort)} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        ]
        return count, self.contacts_wire(ids)

    def get_contact(self, contact_id: int) -> dict[str, Any]:
        """``GET /contacts/{identifier}``: the contact plus ``statistics`` from seeded events."""
        found = self.contacts_wire([contact_id])
        if not found:
            raise not_found("Contact does not exist")
        contact = found[0]
        contact["statistics"] = self.contact_statistics(contact_id)
        return contact

    def contact_statistics(self, contact_id: int) -> dict[str, Any]:
        """Email-campaign statistics of a contact, in the spec's item shapes."""
        rows = self.query(
            "SELECT event, campaign_id, time, ip, url FROM events "
            "WHERE contact_id=? AND channel='email' ORDER BY time, id",
            (contact_id,),
        )
        stats: dict[str, Any] = {
            "messagesSent": [],
            "hardBounces": [],
            "softBounces": [],
            "complaints": [],
            "unsubscriptions": {"userUnsubscription": [], "adminUnsubscription": []},
            "opened": [],
            "clicked": [],
            "delivered": [],
        }
        opened: dict[int, dict[str, Any]] = {}
        clicked: dict[int, dict[str, dict[str, Any]]] = {}
        simple = {
            "delivered": ("messagesSent", "delivered"),
            "hardBounce": ("hardBounces",),
            "softBounce": ("softBounces",),
            "spam": ("complaints",),
        }
        for event, campaign, when, ip, url in rows:
            if event in simple:
                for key in simple[event]:
                    stats[key].append({"campaignId": campaign, "eventTime": when})
            elif event == "unsubscribe":
                stats["unsubscriptions"]["userUnsubscription"].append(
                    {"campaignId": campaign, "eventTime": when, "ip": ip or "127.0.0.1"}
                )
            elif event == "adminUnsubscribe":
                stats["unsubscriptions"]["adminUnsubscription"].append(
                    {"eventTime": when, "ip": ip or "127.0.0.1"}
                )
            elif event == "open":
                entry = opened.setdefault(
                    campaign, {"campaignId": campaign, "count": 0, "eventTime": when, "ip": ip}
                )
                entry["count"] += 1
                entry["eventTime"], entry["ip"] = when, ip or "127.0.0.1"
            elif event == "click":
                link = clicked.setdefault(campaign, {}).setdefault(
                    url or "", {"count": 0, "eventTime": when, "ip": ip, "url": url or ""}
                )
                link["count"] += 1
                link["eventTime"], link["ip"] = when, ip or "127.0.0.1"
        stats["opened"] = list(opened.values())
        stats["clicked"] = [
            {"campaignId": campaign, "links": list(links.values())}
            for campaign, links in clicked.items()
        ]
        return stats

    def _coerce_attributes(
        self, raw: Any, *, for_update: bool
    ) -> tuple[dict[str, Any], list[str], str | None]:
        """Validate an ``attributes`` object: (values to set, names to erase, new EMAIL).

        Unknown attributes and values that don't fit their type are ignored, as the spec says;
        phone numbers that can't be one are refused (Brevo answers 400 for those).
        """
        if raw is None:
            return {}, [], None
        if not isinstance(raw, dict):
            raise invalid("attributes must be an object")
        defs = self.attribute_defs()
        rules = self.rules()
        values: dict[str, Any] = {}
        erase: list[str] = []
        new_email: str | None = None
        for key, value in raw.items():
            name = str(key).upper()
            if name == "EMAIL":
                if for_update and isinstance(value, str) and value.strip():
                    new_email = value.strip().lower()
                    if not is_email(new_email, ascii_local=rules.ascii_local_parts):
                        raise invalid("Invalid email address")
                continue
            attr = defs.get(name)
            if attr is None:
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                if for_update:
                    erase.append(name)
                continue
            stored = attr.coercer(labels=rules.category_labels)(value)
            if stored is INVALID:
                if name in PHONE_ATTRIBUTES:
                    raise invalid(f"Invalid phone number for {name}")
                continue
            values[name] = stored
        return values, erase, new_email

    def _duplicates(
        self,
        db: sqlite3.Connection,
        *,
        exclude: int | None,
        email: str | None,
        values: dict[str, Any],
    ) -> list[str]:
        dupes: list[str] = []
        checks = [("email", "email", email), ("SMS", "sms", values.get("SMS"))]
        checks.append(("ext_id", "ext_id", values.get("EXT_ID")))
        for label, column, value in checks:
            if value is None:
                continue
            row = db.execute(f"SELECT id FROM contacts WHERE {column}=?", (value,)).fetchone()
            if row is not None and int(row[0]) != exclude:
                dupes.append(label)
        return dupes

    def _check_lists(self, db: sqlite3.Connection, list_ids: Sequence[int]) -> None:
        for list_id in list_ids:
            if not db.execute("SELECT 1 FROM lists WHERE id=?", (list_id,)).fetchone():
                raise invalid(f"List ID does not exist: {list_id}")

    def create_contact(self, body: dict[str, Any]) -> int | None:
        """``POST /contacts``: the new id, or None when ``updateEnabled`` updated one."""
        email = body.get("email")
        if email is not None:
            ascii_local = self.rules().ascii_local_parts
            if not isinstance(email, str) or not is_email(email.strip(), ascii_local=ascii_local):
                raise invalid("Invalid email address")
            email = email.strip().lower()
        ext_id = body.get("ext_id")
        if ext_id is not None and not isinstance(ext_id, str):
            raise invalid("ext_id must be a string")
        values, _, _ = self._coerce_attributes(body.get("attributes"), for_update=False)
        if ext_id:
            values["EXT_ID"] = ext_id
        if email is None and "SMS" not in values and "EXT_ID" not in values:
            raise missing("Please provide Email or SMS attribute value to create user")
        list_ids = body.get("listIds") or []
        update = bool(body.get("updateEnabled", False))
        now = utc_now_iso()
        with self.tx() as db:
            self._check_lists(db, list_ids)
            existing: int | None = None
            if update:
                for column, value in (
                    ("email", email),
                    ("sms", values.get("SMS")),
                    ("ext_id", values.get("EXT_ID")),
                ):
                    if value is not None and existing is None:
                        row = db.execute(
                            f"SELECT id FROM contacts WHERE {column}=?", (value,)
                        ).fetchone()
                        existing = int(row[0]) if row else None
            dupes = self._duplicates(db, exclude=existing, email=email, values=values)
            if dupes:
                verb = "update" if existing is not None else "create"
                raise ApiError(
                    400,
                    "duplicate_parameter",
                    f"Unable to {verb} contact, {dupes[0]} is already associated with "
                    "another Contact",
                    metadata={"duplicate_identifiers": dupes},
                )
            if existing is not None:
                self._apply_update(
                    db,
                    existing,
                    values=values,
                    erase=[],
                    new_email=email,
                    body=body,
                    list_ids=list_ids,
                    unlink=[],
                    now=now,
                )
                return None
            cur = db.execute(
                "INSERT INTO contacts(email, attrs, email_bl, sms_bl, created_at, modified_at) "
                "VALUES (?,?,?,?,?,?)",
                (
                    email,
                    json.dumps(values),
                    int(bool(body.get("emailBlacklisted", False))),
                    int(bool(body.get("smsBlacklisted", False))),
                    now,
                    now,
                ),
            )
            contact_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?,?)",
                [(list_id, contact_id) for list_id in list_ids],
            )
            if body.get("emailBlacklisted"):
                self._admin_unsubscribe(db, contact_id, now)
            return contact_id

    def update_contact(self, contact_id: int, body: dict[str, Any]) -> None:
        """``PUT /contacts/{identifier}``."""
        self.update_contacts([(contact_id, body)])

    def update_contacts(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """PUT bodies applied in order, in one transaction (``POST /contacts/batch`` too):
        all of them, or none when one fails."""
        prepared = []
        for contact_id, body in updates:
            values, erase, new_email = self._coerce_attributes(
                body.get("attributes"), for_update=True
            )
            ext_id = body.get("ext_id")
            if ext_id is not None:
                if not isinstance(ext_id, str):
                    raise invalid("ext_id must be a string")
                values["EXT_ID"] = ext_id
            prepared.append((contact_id, body, values, erase, new_email))
        with self.tx() as db:
            for contact_id, body, values, erase, new_email in prepared:
                list_ids = body.get("listIds") or []
                unlink = body.get("unlinkListIds") or []
                self._check_lists(db, [*list_ids, *unlink])
                dupes = self._duplicates(db, exclude=contact_id, email=new_email, values=values)
                if dupes:
                    raise ApiError(
                        400,
                        "invalid_parameter",
                        f"Unable to update contact, {dupes[0]} is already associated with "
                        "another Contact",
                        metadata={"duplicate_identifiers": dupes},
                    )
                self._apply_update(
                    db,
                    contact_id,
                    values=values,
                    erase=erase,
                    new_email=new_email,
                    body=body,
                    list_ids=list_ids,
                    unlink=unlink,
                    now=utc_now_iso(),
                )

    def _apply_update(
        self,
        db: sqlite3.Connection,
        contact_id: int,
        *,
        values: dict[str, Any],
        erase: list[str],
        new_email: str | None,
        body: dict[str, Any],
        list_ids: Sequence[int],
        unlink: Sequence[int],
        now: str,
    ) -> None:
        patch: dict[str, Any] = dict(values)
        patch.update({name: None for name in erase})
        db.execute(
            "UPDATE contacts SET attrs=json_patch(attrs, ?), modified_at=? WHERE id=?",
            (json.dumps(patch), now, contact_id),
        )
        if new_email is not None:
            db.execute("UPDATE contacts SET email=? WHERE id=?", (new_email, contact_id))
        for key, column in (("emailBlacklisted", "email_bl"), ("smsBlacklisted", "sms_bl")):
            flag = body.get(key)
            if flag is None:
                continue
            before = db.execute(f"SELECT {column} FROM contacts WHERE id=?", (contact_id,))
            was = bool(before.fetchone()[0])
            db.execute(f"UPDATE contacts SET {column}=? WHERE id=?", (int(flag), contact_id))
            if key == "emailBlacklisted" and flag and not was:
                self._admin_unsubscribe(db, contact_id, now)
        db.executemany(
            "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?,?)",
            [(list_id, contact_id) for list_id in list_ids],
        )
        db.executemany(
            "DELETE FROM list_members WHERE list_id=? AND contact_id=?",
            [(list_id, contact_id) for list_id in unlink],
        )

    @staticmethod
    def _admin_unsubscribe(db: sqlite3.Connection, contact_id: int, now: str) -> None:
        db.execute(
            "INSERT INTO events(contact_id, channel, event, time, ip) VALUES (?,?,?,?,?)",
            (contact_id, "email", "adminUnsubscribe", now, "127.0.0.1"),
        )

    def delete_contact(self, contact_id: int) -> None:
        """``DELETE /contacts/{identifier}``."""
        with self.tx() as db:
            if db.execute("DELETE FROM contacts WHERE id=?", (contact_id,)).rowcount == 0:
                raise not_found("Contact does not exist")
            for table in ("list_members", "segment_members", "events", "import_members"):
                db.execute(f"DELETE FROM {table} WHERE contact_id=?", (contact_id,))

    # ------------------------------------------------------------------ list membership

    def change_membership(
        self, list_id: int, *, field: str, values: Sequence[Any], add: bool
    ) -> tuple[list[Any], list[Any]]:
        """Add or remove contacts (by emails, ids or extIds): (success, failure)."""
        column = {"emails": "email", "ids": "id", "extIds": "ext_id"}[field]
        success: list[Any] = []
        failure: list[Any] = []
        now = utc_now_iso()
        with self.tx() as db:
            if not db.execute("SELECT 1 FROM lists WHERE id=?", (list_id,)).fetchone():
                raise not_found("List ID not found")
            for value in values:
                key = value.strip().lower() if field == "emails" else value
                row = db.execute(f"SELECT id FROM contacts WHERE {column}=?", (key,)).fetchone()
                if row is None:
                    failure.append(value)
                    continue
                contact_id = int(row[0])
                if add:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?,?)",
                        (list_id, contact_id),
                    )
                else:
                    cur = db.execute(
                        "DELETE FROM list_members WHERE list_id=? AND contact_id=?",
                        (list_id, contact_id),
                    )
                if cur.rowcount:
                    db.execute("UPDATE contacts SET modified_at=? WHERE id=?", (now, contact_id))
                    success.append(value)
                else:
                    failure.append(value)
        return success, failure

    def list_member_count(self, list_id: int) -> int:
        """How many contacts are linked to the list."""
        return int(self.scalar("SELECT COUNT(*) FROM list_members WHERE list_id=?", (list_id,)))

    def remove_all_from_list(self, list_id: int, generation: int) -> int:
        """Unlink every contact of a list (the job behind ``remove`` with ``all: true``)."""
        with self.tx(generation) as db:
            now = utc_now_iso()
            db.execute(
                "UPDATE contacts SET modified_at=? WHERE id IN "
                "(SELECT contact_id FROM list_members WHERE list_id=?)",
                (now, list_id),
            )
            return int(db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,)).rowcount)

    # ------------------------------------------------------------------ campaign events

    def record_events(
        self,
        *,
        channel: str,
        event: str,
        campaign_id: int | None,
        list_id: int | None,
        emails: Sequence[str],
        when: str,
        ip: str | None,
        url: str | None,
    ) -> tuple[int, list[str]]:
        """Admin: seed events for contacts by email; returns (recorded, unknown emails).

        Side effects follow Brevo: an email ``unsubscribe`` or ``spam`` complaint and a
        ``hardBounce`` blocklist the contact for email; an SMS ``unsubscribe`` blocklists it
        for SMS; ``listUnsubscribe`` unsubscribes it from that list only (it then shows in
        ``listUnsubscribed`` instead of ``listIds``).
        """
        with self.tx() as db:
            found = self._ids_by_email(db, emails)
            ids = list(dict.fromkeys(found.values()))
            if event == "listUnsubscribe":
                if (
                    list_id is None
                    or not db.execute("SELECT 1 FROM lists WHERE id=?", (list_id,)).fetchone()
                ):
                    raise invalid("list_id must be an existing list")
                db.executemany(
                    "INSERT INTO list_members(list_id, contact_id, unsubscribed) VALUES (?,?,1) "
                    "ON CONFLICT(list_id, contact_id) DO UPDATE SET unsubscribed=1",
                    [(list_id, cid) for cid in ids],
                )
            db.executemany(
                "INSERT INTO events(contact_id, channel, event, campaign_id, list_id, time, ip, "
                "url) VALUES (?,?,?,?,?,?,?,?)",
                [(cid, channel, event, campaign_id, list_id, when, ip, url) for cid in ids],
            )
            column = None
            if channel == "email" and event in ("unsubscribe", "spam", "hardBounce"):
                column = "email_bl"
            elif channel == "sms" and event == "unsubscribe":
                column = "sms_bl"
            if column is not None:
                db.executemany(
                    f"UPDATE contacts SET {column}=1 WHERE id=?", [(cid,) for cid in ids]
                )
            db.executemany(
                "UPDATE contacts SET modified_at=? WHERE id=?", [(when, cid) for cid in ids]
            )
        unknown = [e for e in emails if e.strip().lower() not in found]
        return len(ids), unknown

    # ------------------------------------------------------------------ processes and files

    def create_process(self, name: str) -> int:
        """A new ``queued`` process; returns its id."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO processes(name, status, created_at) VALUES (?,?,?)",
                (name, "queued", utc_now_iso()),
            )
            return int(cur.lastrowid or 0)

    def set_process(
        self,
        process_id: int,
        *,
        status: str,
        generation: int,
        info: dict[str, Any] | None = None,
        export_url: str | None = None,
        error: str | None = None,
    ) -> None:
        """Move a process to ``status`` (terminal ones also get ``completed_at``)."""
        with self.tx(generation) as db:
            done = utc_now_iso() if status in TERMINAL else None
            db.execute(
                "UPDATE processes SET status=?, completed_at=COALESCE(?, completed_at), "
                "info=COALESCE(?, info), export_url=COALESCE(?, export_url), "
                "error=COALESCE(?, error) WHERE id=?",
                (
                    status,
                    done,
                    json.dumps(info) if info is not None else None,
                    export_url,
                    error,
                    process_id,
                ),
            )

    def process_rows(
        self, *, process_id: int | None = None, limit: int = 10, offset: int = 0, sort: str = "desc"
    ) -> tuple[int, list[dict[str, Any]]]:
        """Raw process records: one by id, or a page of all of them."""
        cols = "id, name, status, created_at, completed_at, info, export_url, error"
        if process_id is not None:
            rows = self.query(f"SELECT {cols} FROM processes WHERE id=?", (process_id,))
            count = len(rows)
        else:
            count = int(self.scalar("SELECT COUNT(*) FROM processes"))
            rows = self.query(
                f"SELECT {cols} FROM processes ORDER BY id {sort_order(sort)} LIMIT ? OFFSET ?",
                (limit, offset),
            )
        keys = ("id", "name", "status", "created_at", "completed_at", "info", "export_url", "error")
        out = []
        for row in rows:
            record = dict(zip(keys, row, strict=True))
            record["info"] = json.loads(record["info"]) if record["info"] else None
            out.append(record)
        return count, out

    def import_process_exists(self, process_id: int) -> bool:
        """True when ``process_id`` is an import process."""
        return (
            self.scalar("SELECT 1 FROM processes WHERE id=? AND name='IMPORTUSER'", (process_id,))
            is not None
        )

    def register_file(
        self, *, token: str, path: Path, name: str, content_type: str, expires_at: float
    ) -> None:
        """Serve ``path`` at ``/exports/{token}/{name}`` until ``expires_at`` (epoch s)."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO files(token, path, name, content_type, expires_at) VALUES (?,?,?,?,?)",
                (token, str(path), name, content_type, expires_at),
            )

    def file_record(self, token: str) -> tuple[Path, str, str, float] | None:
        """(path, name, content type, expiry) of a served file, or None."""
        rows = self.query(
            "SELECT path, name, content_type, expires_at FROM files WHERE token=?", (token,)
        )
        if not rows:
            return None
        return Path(rows[0][0]), str(rows[0][1]), str(rows[0][2]), float(rows[0][3])
