"""Process records: ``GET /processes[/{id}]`` reads them, the runner writes them."""

from __future__ import annotations

import json
from typing import Any

from etl.sandbox.state.db import Database, sort_order
from etl.sandbox.values import utc_now_iso

TERMINAL = ("completed", "failed", "cancelled")


class Processes:
    """The ``processes`` table."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def fail_leftovers(self) -> None:
        """Processes left running by a previous run of a file-backed sandbox never end."""
        with self._database.tx() as db:
            db.execute(
                "UPDATE processes SET status='failed', error='sandbox restarted', "
                "completed_at=? WHERE status NOT IN ('completed','failed','cancelled')",
                (utc_now_iso(),),
            )

    def create(self, name: str) -> int:
        """A new ``queued`` process; returns its id."""
        with self._database.tx() as db:
            cur = db.execute(
                "INSERT INTO processes(name, status, created_at) VALUES (?,?,?)",
                (name, "queued", utc_now_iso()),
            )
            return int(cur.lastrowid or 0)

    def set(
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
        with self._database.tx(generation) as db:
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

    def rows(
        self, *, process_id: int | None = None, limit: int = 10, offset: int = 0, sort: str = "desc"
    ) -> tuple[int, list[dict[str, Any]]]:
        """Raw process records: one by id, or a page of all of them."""
        cols = "id, name, status, created_at, completed_at, info, export_url, error"
        if process_id is not None:
            rows = self._database.query(f"SELECT {cols} FROM processes WHERE id=?", (process_id,))
            count = len(rows)
        else:
            count = int(self._database.scalar("SELECT COUNT(*) FROM processes"))
            rows = self._database.query(
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

    def import_exists(self, process_id: int) -> bool:
        """True when ``process_id`` is an import process."""
        return (
            self._database.scalar(
                "SELECT 1 FROM processes WHERE id=? AND name='IMPORTUSER'", (process_id,)
            )
            is not None
        )
