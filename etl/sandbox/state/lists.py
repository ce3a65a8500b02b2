"""Folders and lists: ``/contacts/folders``, ``/contacts/lists`` and list membership."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl.sandbox.errors import invalid, not_found
from etl.sandbox.state.db import Database, sort_order
from etl.sandbox.values import utc_now_iso


class Folders:
    """The ``folders`` table (deleting a folder deletes its lists)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, name: str) -> int:
        """Create a folder; return its id."""
        with self._database.tx() as db:
            cur = db.execute(
                "INSERT INTO folders(name, created_at) VALUES (?,?)", (name, utc_now_iso())
            )
            return int(cur.lastrowid or 0)

    def exists(self, folder_id: int) -> bool:
        """True when the folder exists."""
        return self._database.scalar("SELECT 1 FROM folders WHERE id=?", (folder_id,)) is not None

    def page(self, *, limit: int, offset: int, sort: str) -> tuple[int, list[Any]]:
        """``GET /contacts/folders``: (count, folders)."""
        count = int(self._database.scalar("SELECT COUNT(*) FROM folders"))
        rows = self._database.query(
            f"SELECT id FROM folders ORDER BY id {sort_order(sort)} LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return count, [self.get(int(r[0])) for r in rows]

    def get(self, folder_id: int) -> dict[str, Any]:
        """``GET /contacts/folders/{id}``."""
        rows = self._database.query("SELECT id, name FROM folders WHERE id=?", (folder_id,))
        if not rows:
            raise not_found("Folder ID not found")
        totals = self._database.query(
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

    def update(self, folder_id: int, name: str) -> None:
        """``PUT /contacts/folders/{id}``."""
        with self._database.tx() as db:
            if db.execute("UPDATE folders SET name=? WHERE id=?", (name, folder_id)).rowcount == 0:
                raise not_found("Folder ID not found")

    def delete(self, folder_id: int) -> None:
        """``DELETE /contacts/folders/{id}``: the folder and all its lists."""
        with self._database.tx() as db:
            if db.execute("DELETE FROM folders WHERE id=?", (folder_id,)).rowcount == 0:
                raise not_found("Folder ID not found")
            ids = [r[0] for r in db.execute("SELECT id FROM lists WHERE folder_id=?", (folder_id,))]
            for list_id in ids:
                db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,))
            db.execute("DELETE FROM lists WHERE folder_id=?", (folder_id,))


class Lists:
    """The ``lists`` table and ``list_members``: who is on which list."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, name: str, folder_id: int) -> int:
        """Create a list in an existing folder; return its id."""
        with self._database.tx() as db:
            if not db.execute("SELECT 1 FROM folders WHERE id=?", (folder_id,)).fetchone():
                raise invalid("Folder ID does not exist")
            cur = db.execute(
                "INSERT INTO lists(name, folder_id, created_at) VALUES (?,?,?)",
                (name, folder_id, utc_now_iso()),
            )
            return int(cur.lastrowid or 0)

    def exists(self, list_id: int) -> bool:
        """True when the list exists."""
        return self._database.scalar("SELECT 1 FROM lists WHERE id=?", (list_id,)) is not None

    def _stats(self, where: str, params: Sequence[Any]) -> dict[int, tuple[int, int, int]]:
        rows = self._database.query(
            "SELECT m.list_id, COUNT(*), SUM(c.email_bl), SUM(1 - c.email_bl) "
            "FROM list_members m JOIN contacts c ON c.id = m.contact_id "
            f"WHERE m.unsubscribed = 0 AND m.list_id IN ({where}) GROUP BY m.list_id",
            params,
        )
        return {int(r[0]): (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    def _wire(self, row: Any, stats: dict[int, tuple[int, int, int]]) -> dict[str, Any]:
        unique, blacklisted, subscribers = stats.get(int(row[0]), (0, 0, 0))
        return {
            "id": row[0],
            "name": row[1],
            "totalBlacklisted": blacklisted,
            "totalSubscribers": subscribers,
            "uniqueSubscribers": unique,
            "folderId": row[2],
        }

    def page(
        self, *, limit: int, offset: int, sort: str, folder_id: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """``GET /contacts/lists`` (or a folder's lists): (count, lists)."""
        where, params = ("WHERE folder_id=?", [folder_id]) if folder_id is not None else ("", [])
        count = int(self._database.scalar(f"SELECT COUNT(*) FROM lists {where}", params))
        rows = self._database.query(
            f"SELECT id, name, folder_id FROM lists {where} ORDER BY id {sort_order(sort)} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        ids = [int(r[0]) for r in rows]
        stats = self._stats(",".join("?" * len(ids)), ids) if ids else {}
        return count, [self._wire(r, stats) for r in rows]

    def get(self, list_id: int) -> dict[str, Any]:
        """``GET /contacts/lists/{id}``."""
        rows = self._database.query(
            "SELECT id, name, folder_id, created_at FROM lists WHERE id=?", (list_id,)
        )
        if not rows:
            raise not_found("List ID not found")
        out = self._wire(rows[0], self._stats("?", (list_id,)))
        out["createdAt"] = rows[0][3]
        out["dynamicList"] = False
        return out

    def update(self, list_id: int, *, name: str | None, folder_id: int | None) -> None:
        """``PUT /contacts/lists/{id}``."""
        if not self.exists(list_id):
            raise not_found("List ID not found")
        if folder_id is not None and not self._database.scalar(
            "SELECT 1 FROM folders WHERE id=?", (folder_id,)
        ):
            raise invalid("Folder ID does not exist")
        with self._database.tx() as db:
            if name is not None:
                db.execute("UPDATE lists SET name=? WHERE id=?", (name, list_id))
            if folder_id is not None:
                db.execute("UPDATE lists SET folder_id=? WHERE id=?", (folder_id, list_id))

    def delete(self, list_id: int) -> None:
        """``DELETE /contacts/lists/{id}``."""
        with self._database.tx() as db:
            if db.execute("DELETE FROM lists WHERE id=?", (list_id,)).rowcount == 0:
                raise not_found("List ID not found")
            db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,))

    def change_membership(
        self, list_id: int, *, field: str, values: Sequence[Any], add: bool
    ) -> tuple[list[Any], list[Any]]:
        """Add or remove contacts (by emails, ids or extIds): (success, failure)."""
        column = {"emails": "email", "ids": "id", "extIds": "ext_id"}[field]
        success: list[Any] = []
        failure: list[Any] = []
        now = utc_now_iso()
        with self._database.tx() as db:
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

    def member_count(self, list_id: int) -> int:
        """How many contacts are linked to the list."""
        return int(
            self._database.scalar("SELECT COUNT(*) FROM list_members WHERE list_id=?", (list_id,))
        )

    def remove_all(self, list_id: int, generation: int) -> int:
        """Unlink every contact of a list (the job behind ``remove`` with ``all: true``)."""
        with self._database.tx(generation) as db:
            now = utc_now_iso()
            db.execute(
                "UPDATE contacts SET modified_at=? WHERE id IN "
                "(SELECT contact_id FROM list_members WHERE list_id=?)",
                (now, list_id),
            )
            return int(db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,)).rowcount)
