"""Segments: ``GET /contacts/segments`` and the admin API that creates them from emails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl.sandbox.state.db import Database, ids_by_email, sort_order
from etl.sandbox.values import utc_now_iso


class Segments:
    """The ``segments`` and ``segment_members`` tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, name: str, emails: Sequence[str]) -> tuple[int, list[str]]:
        """Admin: a segment of the contacts with these emails; returns (id, unknown emails)."""
        with self._database.tx() as db:
            cur = db.execute(
                "INSERT INTO segments(name, category, updated_at) VALUES (?,?,?)",
                (name, "Sandbox", utc_now_iso()),
            )
            segment_id = int(cur.lastrowid or 0)
            found = ids_by_email(db, emails)
            db.executemany(
                "INSERT OR IGNORE INTO segment_members VALUES (?,?)",
                [(segment_id, cid) for cid in found.values()],
            )
        unknown = [e for e in emails if e.strip().lower() not in found]
        return segment_id, unknown

    def exists(self, segment_id: int) -> bool:
        """True when the segment exists."""
        return self._database.scalar("SELECT 1 FROM segments WHERE id=?", (segment_id,)) is not None

    def page(self, *, limit: int, offset: int, sort: str) -> tuple[int, list[Any]]:
        """``GET /contacts/segments``: (count, segments)."""
        count = int(self._database.scalar("SELECT COUNT(*) FROM segments"))
        rows = self._database.query(
            f"SELECT id, name, category, updated_at FROM segments ORDER BY id {sort_order(sort)} "
            "LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return count, [
            {"id": r[0], "segmentName": r[1], "categoryName": r[2], "updatedAt": r[3]} for r in rows
        ]
