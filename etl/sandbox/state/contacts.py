"""Contacts: lookup by identifier, the API view, pages, and create/update/delete.

Contacts keep their attributes as one JSON object (``attrs``) in stored form (see
``values.py``); ``sms`` and ``ext_id`` are generated, indexed columns over it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from etl.sandbox.config import ConfigStore
from etl.sandbox.errors import ApiError, invalid, missing, not_found
from etl.sandbox.state.attributes import Attributes
from etl.sandbox.state.db import Database, sort_order
from etl.sandbox.state.events import Events, record_admin_unsubscribe
from etl.sandbox.values import INVALID, PHONE_ATTRIBUTES, is_email, normalise_phone, utc_now_iso

IDENTIFIER_TYPES = (
    "email_id",
    "phone_id",
    "contact_id",
    "ext_id",
    "whatsapp_id",
    "landline_number_id",
)


class Contacts:
    """The ``contacts`` table (with the list links and events a contact's view shows)."""

    def __init__(
        self, database: Database, attributes: Attributes, events: Events, config: ConfigStore
    ) -> None:
        self._database = database
        self._attributes = attributes
        self._events = events
        self._config = config

    def find(self, identifier: str, identifier_type: str | None) -> int | None:
        """Resolve ``{identifier}`` the way the spec describes (docs/brevo/FACTS.md section 8).

        Without ``identifierType``: an ``@`` means an email; digits mean a contact id, and,
        when no contact has that id, an SMS number; a leading ``+`` means an SMS number.
        """
        ident = identifier.strip()
        if identifier_type is None:
            if "@" in ident:
                identifier_type = "email_id"
            elif ident.isdigit():
                found = self.find(ident, "contact_id")
                return found if found is not None else self.find(ident, "phone_id")
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
        found_id = self._database.scalar(sql, (value,))
        return None if found_id is None else int(found_id)

    def require(self, identifier: str, identifier_type: str | None) -> int:
        """``find_contact`` or 404."""
        found = self.find(identifier, identifier_type)
        if found is None:
            raise not_found("Contact does not exist")
        return found

    def wire(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The API view of these contacts, in the given order."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        defs = self._attributes.defs()
        with self._database.lock:
            rows = {
                int(r[0]): r
                for r in self._database.conn.execute(
                    "SELECT id, email, attrs, email_bl, sms_bl, created_at, modified_at "
                    f"FROM contacts WHERE id IN ({marks})",
                    list(ids),
                )
            }
            members: dict[int, tuple[list[int], list[int]]] = {i: ([], []) for i in ids}
            for cid, list_id, unsub in self._database.conn.execute(
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

    def page(
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
        count = int(self._database.scalar(f"SELECT COUNT(*) FROM contacts {clause}", params))
        ids = [
            int(r[0])
            for r in self._database.query(
                f"SELECT id FROM contacts {clause} ORDER BY id {sort_order(sort)} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        ]
        return count, self.wire(ids)

    def get(self, contact_id: int) -> dict[str, Any]:
        """``GET /contacts/{identifier}``: the contact plus ``statistics`` from seeded events."""
        found = self.wire([contact_id])
        if not found:
            raise not_found("Contact does not exist")
        contact = found[0]
        contact["statistics"] = self._events.statistics(contact_id)
        return contact

    def create(self, body: dict[str, Any]) -> int | None:
        """``POST /contacts``: the new id, or None when ``updateEnabled`` updated one."""
        email = body.get("email")
        if email is not None:
            ascii_local = self._config.current.ascii_local_parts
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
        with self._database.tx() as db:
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
                record_admin_unsubscribe(db, contact_id, now)
            return contact_id

    def update(self, contact_id: int, body: dict[str, Any]) -> None:
        """``PUT /contacts/{identifier}``."""
        self.update_many([(contact_id, body)])

    def update_many(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
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
        with self._database.tx() as db:
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

    def delete(self, contact_id: int) -> None:
        """``DELETE /contacts/{identifier}``."""
        with self._database.tx() as db:
            if db.execute("DELETE FROM contacts WHERE id=?", (contact_id,)).rowcount == 0:
                raise not_found("Contact does not exist")
            for table in ("list_members", "segment_members", "events", "import_members"):
                db.execute(f"DELETE FROM {table} WHERE contact_id=?", (contact_id,))

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
        defs = self._attributes.defs()
        rules = self._config.current
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
                record_admin_unsubscribe(db, contact_id, now)
        db.executemany(
            "INSERT OR IGNORE INTO list_members(list_id, contact_id) VALUES (?,?)",
            [(list_id, contact_id) for list_id in list_ids],
        )
        db.executemany(
            "DELETE FROM list_members WHERE list_id=? AND contact_id=?",
            [(list_id, contact_id) for list_id in unlink],
        )
