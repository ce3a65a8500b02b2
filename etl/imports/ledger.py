"""The import ledger: what this account was sent, by which run, so nothing is imported twice.

One SQLite file **per account**: ``<state dir>/accounts/<account key>/ledger.sqlite``, where the
key is a hash of the base URL and the account's identity from ``GET /account`` (its email and any
organisation or user id). A key for another account, or the same key against another base URL,
opens another ledger and so never sees this account's chunks: a state dir rehearsed on the
sandbox and reused against production skips nothing.

Inside an account, work is grouped in **runs**. A run's fingerprint is what the command asks
for (the target and the bodies of its chunks); re-running the same command finds the latest run
with that fingerprint and either resumes it (unfinished) or reports that it already completed.
A chunk's key is the sha256 of its body plus its target and options; its ledger row belongs to
one run. The protocol around a submission is:

1. ``begin_submission``: a durable ``submitting`` row with the time and the newest process id
   seen before the request (``after_process_id``), committed *before* the request goes out;
2. ``record_submitted``: the process id, as soon as Brevo answers;
3. ``record_finished``: ``completed`` or ``failed`` with Brevo's ``info``.

A crash between 1 and 2 leaves a ``submitting`` row: the next attempt reconciles it against
``GET /processes`` (an import newer than ``after_process_id`` that no chunk claims, confirmed by
content, see :func:`etl.imports.reconcile.reconcile_uncertain`) before it sends anything
again. Lists created for an import are recorded per account, so a re-run reuses them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

ChunkStatus = Literal["submitting", "submitted", "completed", "failed"]
RunStatus = Literal["running", "completed", "failed"]

DEFAULT_STATE_DIR = Path("data/state")
LEDGER_NAME = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    rows_sent    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_fingerprint ON runs (fingerprint, started_at);
CREATE TABLE IF NOT EXISTS chunks (
    run_id           TEXT NOT NULL,
    chunk_key        TEXT NOT NULL,
    body_sha256      TEXT NOT NULL,
    target           TEXT NOT NULL,
    rows             INTEGER NOT NULL,
    bytes            INTEGER NOT NULL,
    status           TEXT NOT NULL,
    process_id       INTEGER,
    after_process_id INTEGER NOT NULL DEFAULT 0,
    submitted_at     TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    info             TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, chunk_key)
);
-- Every process ever tied to a chunk: a resubmission (after a failed process) replaces the
-- chunk's process_id, but the old process stays claimed, so reconciling never mistakes it.
CREATE TABLE IF NOT EXISTS processes (
    process_id  INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    chunk_key   TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
-- --unlink-missing: one row per batch of contacts unlinked from one list by a run; a batch
-- recorded done is never sent again when the run resumes.
CREATE TABLE IF NOT EXISTS unlinks (
    run_id      TEXT NOT NULL,
    list_id     INTEGER NOT NULL,
    batch       INTEGER NOT NULL,
    batch_sha   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    unlinked    INTEGER NOT NULL,
    not_in_list INTEGER NOT NULL,
    done_at     TEXT NOT NULL,
    PRIMARY KEY (run_id, list_id, batch)
);
CREATE TABLE IF NOT EXISTS new_lists (
    name       TEXT NOT NULL,
    folder_id  INTEGER NOT NULL,
    list_id    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, folder_id)
);
"""

_CHUNK_COLUMNS = (
    "chunk_key, body_sha256, target, rows, bytes, status, process_id, submitted_at, info,"
    " error, attempts, after_process_id, run_id"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def account_key(
    *, base_url: str, email: str, organization_id: str | None = None, user_id: str | None = None
) -> str:
    """A stable, non-secret name for one account at one base URL (never the API key)."""
    identity = "|".join(
        (base_url.rstrip("/").lower(), email.strip().lower(), organization_id or "", user_id or "")
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def ledger_path(state_dir: Path, key: str) -> Path:
    """Where the ledger of the account ``key`` lives under ``state_dir``."""
    return state_dir / "accounts" / key / LEDGER_NAME


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


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
    after_process_id: int = 0
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run of an import command against this account."""

    run_id: str
    fingerprint: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    rows_sent: int

    def describe(self) -> dict[str, Any]:
        """The run as the report's ``previous_run`` shows it."""
        return {
            "id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": self.finished_at.isoformat(timespec="seconds")
            if self.finished_at
            else None,
            "rows_sent": self.rows_sent,
        }


class Ledger:
    """SQLite-backed record of one account's runs and chunk submissions; thread-safe.

    Chunk methods act on the current run (``run_id``, set by :meth:`use_run`).
    """

    def __init__(self, path: Path, *, run_id: str = "") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
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

    # ------------------------------------------------------------------ account

    def set_meta(self, values: dict[str, str]) -> None:
        """Record who this ledger belongs to (email, base URL: never the key)."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(values.items())
            )

    def meta(self) -> dict[str, str]:
        """What :meth:`set_meta` recorded."""
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {str(k): str(v) for k, v in rows}

    # ------------------------------------------------------------------ runs

    def latest_run(self, fingerprint: str) -> RunEntry | None:
        """The newest run of the command with this fingerprint, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, fingerprint, status, started_at, finished_at, rows_sent FROM runs"
                " WHERE fingerprint = ? ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (fingerprint,),
            ).fetchone()
        return _run(row) if row else None

    def get_run(self, run_id: str) -> RunEntry | None:
        """The run with this id."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, fingerprint, status, started_at, finished_at, rows_sent FROM runs"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return _run(row) if row else None

    def start_run(self, fingerprint: str) -> RunEntry:
        """Record a new run and make it the current one."""
        run_id = new_run_id()
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, fingerprint, status, started_at) VALUES (?, ?, ?, ?)",
                (run_id, fingerprint, "running", now),
            )
        self.run_id = run_id
        run = self.get_run(run_id)
        assert run is not None
        return run

    def use_run(self, run_id: str) -> None:
        """Make an existing run the current one (a resumed run), marking it running."""
        with self._tx() as db:
            db.execute("UPDATE runs SET status='running' WHERE run_id=?", (run_id,))
        self.run_id = run_id

    def finish_run(self, *, status: RunStatus, rows_sent: int) -> None:
        """Record how the current run ended."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, rows_sent=? WHERE run_id=?",
                (status, _now(), rows_sent, self.run_id),
            )

    def run_process_ids(self, run_id: str) -> list[int]:
        """The processes of a run's chunks, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT process_id FROM chunks WHERE run_id=? AND process_id IS NOT NULL"
                " ORDER BY submitted_at",
                (run_id,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    # ------------------------------------------------------------------ unlinks

    def unlink_done(self, list_id: int, batch: int, batch_sha: str) -> tuple[int, int] | None:
        """``(unlinked, not_in_list)`` of a batch the current run already unlinked, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT unlinked, not_in_list FROM unlinks"
                " WHERE run_id=? AND list_id=? AND batch=? AND batch_sha=?",
                (self.run_id, list_id, batch, batch_sha),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def record_unlink(
        self, list_id: int, batch: int, batch_sha: str, *, size: int, unlinked: int, missing: int
    ) -> None:
        """Record that the current run unlinked one batch from one list."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO unlinks (run_id, list_id, batch, batch_sha, size,"
                " unlinked, not_in_list, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.run_id, list_id, batch, batch_sha, size, unlinked, missing, _now()),
            )

    # ------------------------------------------------------------------ chunks

    def get(self, chunk_key: str) -> ChunkEntry | None:
        """The current run's entry for ``chunk_key``, if any."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE run_id = ? AND chunk_key = ?",
                (self.run_id, chunk_key),
            ).fetchone()
        return _entry(row) if row else None

    def entries(self, status: ChunkStatus | None = None) -> list[ChunkEntry]:
        """The current run's entries (optionally with one status), oldest first."""
        sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE run_id = ?"
        args: tuple[Any, ...] = (self.run_id,)
        if status:
            sql += " AND status = ?"
            args = (self.run_id, status)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY submitted_at", args).fetchall()
        return [_entry(r) for r in rows]

    def claimed_process_ids(self) -> set[int]:
        """Process ids tied to a chunk of any run of this account, now or by an earlier attempt."""
        with self._lock:
            rows = self._db.execute(
                "SELECT process_id FROM chunks WHERE process_id IS NOT NULL"
                " UNION SELECT process_id FROM processes"
            ).fetchall()
        return {int(r[0]) for r in rows}

    def newest_claimed_process_id(self) -> int:
        """The highest process id any chunk of this account was tied to (0 if none)."""
        return max(self.claimed_process_ids(), default=0)

    def begin_submission(
        self,
        *,
        chunk_key: str,
        body_sha256: str,
        target: str,
        rows: int,
        size: int,
        after_process_id: int = 0,
    ) -> datetime:
        """Durably mark a chunk as about to be sent; returns the recorded time.

        ``after_process_id`` is the newest process id seen before this request: a process this
        request created can only be newer.
        """
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO chunks (run_id, chunk_key, body_sha256, target, rows, bytes, status,"
                " after_process_id, submitted_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'submitting', ?, ?, ?)"
                " ON CONFLICT(run_id, chunk_key) DO UPDATE SET status='submitting',"
                " process_id=NULL, after_process_id=excluded.after_process_id,"
                " submitted_at=excluded.submitted_at, updated_at=excluded.updated_at,"
                " error=NULL, attempts=attempts+1",
                (
                    self.run_id,
                    chunk_key,
                    body_sha256,
                    target,
                    rows,
                    size,
                    after_process_id,
                    now,
                    now,
                ),
            )
        return datetime.fromisoformat(now)

    def record_submitted(self, chunk_key: str, process_id: int) -> None:
        """Tie a chunk to the import process Brevo created for it."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "UPDATE chunks SET status='submitted', process_id=?, updated_at=?"
                " WHERE run_id=? AND chunk_key=?",
                (process_id, now, self.run_id, chunk_key),
            )
            db.execute(
                "INSERT OR IGNORE INTO processes (process_id, run_id, chunk_key, recorded_at)"
                " VALUES (?, ?, ?, ?)",
                (process_id, self.run_id, chunk_key, now),
            )

    def record_finished(
        self,
        chunk_key: str,
        *,
        status: Literal["completed", "failed"],
        info: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a chunk's process (``info`` may be updated again later)."""
        with self._tx() as db:
            db.execute(
                "UPDATE chunks SET status=?, info=?, error=?, updated_at=?"
                " WHERE run_id=? AND chunk_key=?",
                (
                    status,
                    json.dumps(info) if info is not None else None,
                    error,
                    _now(),
                    self.run_id,
                    chunk_key,
                ),
            )

    def forget(self, chunk_key: str) -> None:
        """Drop a chunk whose submission is known not to have reached Brevo."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM chunks WHERE run_id=? AND chunk_key=?", (self.run_id, chunk_key)
            )

    # ------------------------------------------------------------------ new lists

    def new_list_id(self, name: str, folder_id: int) -> int | None:
        """The list created earlier in this account for ``(name, folder_id)``, if any."""
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

    def forget_new_list(self, name: str, folder_id: int) -> None:
        """Drop a remembered list the account no longer has."""
        with self._tx() as db:
            db.execute("DELETE FROM new_lists WHERE name=? AND folder_id=?", (name, folder_id))


def _run(row: tuple[Any, ...]) -> RunEntry:
    return RunEntry(
        run_id=str(row[0]),
        fingerprint=str(row[1]),
        status=row[2],
        started_at=datetime.fromisoformat(row[3]),
        finished_at=datetime.fromisoformat(row[4]) if row[4] else None,
        rows_sent=int(row[5]),
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
        after_process_id=int(row[11]),
        run_id=str(row[12]),
    )
