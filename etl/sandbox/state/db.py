"""The shared SQLite connection: schema, one re-entrant lock, transactions and resets.

One connection serves every thread, guarded by one re-entrant lock (``:memory:`` by default,
or a file). Long jobs (imports, exports) take the lock per batch, so the API stays responsive
while they run. ``reset()`` bumps ``generation``; a job started before a reset notices it at
its next batch and stops without writing (``Aborted``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


class Aborted(Exception):
    """The account was reset under a running job."""


def sort_order(sort: str) -> str:
    """SQL direction for Brevo's ``sort`` (``asc``/``desc``, by creation)."""
    return "ASC" if sort == "asc" else "DESC"


def ids_by_email(db: sqlite3.Connection, emails: Sequence[str]) -> dict[str, int]:
    """Contact ids by lower-cased email, for the emails that have a contact."""
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


class Database:
    """The connection, its lock and the reset generation, shared by every resource store."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        target = ":memory:" if db_path is None else str(db_path)
        self.conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if db_path is not None:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.lock:
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self, generation: int | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; ``Aborted`` if reset since ``generation``."""
        with self.lock:
            if generation is not None and generation != self.generation:
                raise Aborted
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query under the lock and return all rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a read query and return the first column of the first row (or None)."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def drop_all(self) -> None:
        """Bump ``generation`` and recreate every table empty (the caller holds the lock)."""
        self.generation += 1
        for table in TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self.conn.executescript(SCHEMA)
