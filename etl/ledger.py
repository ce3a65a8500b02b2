"""The import ledger: what was submitted to Brevo, so a re-run never imports a chunk twice.

One SQLite file (default ``data/state/ledger.sqlite``). A chunk's key is the sha256 of its body
plus its target and options, so the same rows sent to the same lists with the same options are
the same chunk in every run. The protocol around a submission is:

1. ``begin_submission``: a durable ``submitting`` row with the time, committed *before* the
   request goes out;
2. ``record_submitted``: the process id, as soon as Brevo answers;
3. ``record_finished``: ``completed`` or ``failed`` with Brevo's ``info``.

A crash between 1 and 2 leaves a ``submitting`` row: the next run reconciles it against
``GET /processes`` (an import created after the submission that no other chunk claims) before it
sends anything again. New lists created for an import are recorded too, so a re-run reuses them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

ChunkStatus = Literal["submitting", "submitted", "completed", "failed"]

DEFAULT_STATE_DIR = Path("data/state")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    chunk_key     TEXT PRIMARY KEY,
    body_sha256   TEXT NOT NULL,
    target        TEXT NOT NULL,
    rows          INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    status        TEXT NOT NULL,
    process_id    INTEGER,
    submitted_at  TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    info          TEXT,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 1
);
-- Every process ever tied to a chunk: a resubmission (after a failed process) replaces the
-- chunk's process_id, but the old process stays claimed, so reconciling never mistakes it.
CREATE TABLE IF NOT EXISTS processes (
    process_id  INTEGER PRIMARY KEY,
    chunk_key   TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS new_lists (
    name       TEXT NOT NULL,
    folder_id  INTEGER NOT NULL,
    list_id    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, folder_id)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ChunkEntry:
    """A ledger row."""

    chunk_key: str
    body_sha256: str
    target: str
    rows: int
    bytes: int
    status: ChunkStatus
    process_id: int | None
    submitted_at: datetime
    info: dict[str, Any] | None
    error: str | None
    attempts: int


class Ledger:
    """SQLite-backed record of chunk submissions; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ chunks

    def get(self, chunk_key: str) -> ChunkEntry | None:
        """Return the entry for ``chunk_key``, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT chunk_key, body_sha256, target, rows, bytes, status, process_id,"
                " submitted_at, info, error, attempts FROM chunks WHERE chunk_key = ?",
                (chunk_key,),
            ).fetchone()
        return _entry(row) if row else None

    def entries(self, status: ChunkStatus | None = None) -> list[ChunkEntry]:
        """Every entry (optionally with one status), oldest first."""
        sql = (
            "SELECT chunk_key, body_sha256, target, rows, bytes, status, process_id,"
            " submitted_at, info, error, attempts FROM chunks"
        )
        args: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY submitted_at", args).fetchall()
        return [_entry(r) for r in rows]

    def claimed_process_ids(self) -> set[int]:
        """Process ids tied to a chunk now or by an earlier attempt (a failed process)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT process_id FROM chunks WHERE process_id IS NOT NULL"
                " UNION SELECT process_id FROM processes"
            ).fetchall()
        return {int(r[0]) for r in rows}

    def begin_submission(
        self, *, chunk_key: str, body_sha256: str, target: str, rows: int, size: int
    ) -> datetime:
        """Durably mark a chunk as about to be sent; returns the recorded time."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO chunks (chunk_key, body_sha256, target, rows, bytes, status,"
                " submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, 'submitting', ?, ?)"
                " ON CONFLICT(chunk_key) DO UPDATE SET status='submitting', process_id=NULL,"
                " submitted_at=excluded.submitted_at, updated_at=excluded.updated_at,"
                " error=NULL, attempts=attempts+1",
                (chunk_key, body_sha256, target, rows, size, now, now),
            )
        return datetime.fromisoformat(now)

    def record_submitted(self, chunk_key: str, process_id: int) -> None:
        """Tie a chunk to the import process Brevo created for it."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "UPDATE chunks SET status='submitted', process_id=?, updated_at=?"
                " WHERE chunk_key=?",
                (process_id, now, chunk_key),
            )
            db.execute(
                "INSERT OR IGNORE INTO processes (process_id, chunk_key, recorded_at)"
                " VALUES (?, ?, ?)",
                (process_id, chunk_key, now),
            )

    def record_finished(
        self,
        chunk_key: str,
        *,
        status: Literal["completed", "failed"],
        info: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a chunk's process."""
        with self._tx() as db:
            db.execute(
                "UPDATE chunks SET status=?, info=?, error=?, updated_at=? WHERE chunk_key=?",
                (status, json.dumps(info) if info is not None else None, error, _now(), chunk_key),
            )

    def forget(self, chunk_key: str) -> None:
        """Drop a chunk whose submission is known not to have reached Brevo."""
        with self._tx() as db:
            db.execute("DELETE FROM chunks WHERE chunk_key=?", (chunk_key,))

    # ------------------------------------------------------------------ new lists

    def new_list_id(self, name: str, folder_id: int) -> int | None:
        """The list created earlier for ``(name, folder_id)``, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT list_id FROM new_lists WHERE name=? AND folder_id=?", (name, folder_id)
            ).fetchone()
        return int(row[0]) if row else None

    def record_new_list(self, name: str, folder_id: int, list_id: int) -> None:
        """Remember the list created for ``(name, folder_id)``."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO new_lists (name, folder_id, list_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (name, folder_id, list_id, _now()),
            )


def _entry(row: tuple[Any, ...]) -> ChunkEntry:
    return ChunkEntry(
        chunk_key=row[0],
        body_sha256=row[1],
        target=row[2],
        rows=int(row[3]),
        bytes=int(row[4]),
        status=row[5],
        process_id=int(row[6]) if row[6] is not None else None,
        submitted_at=datetime.fromisoformat(row[7]),
        info=json.loads(row[8]) if row[8] else None,
        error=row[9],
        attempts=int(row[10]),
    )
