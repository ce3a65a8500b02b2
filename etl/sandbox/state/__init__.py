"""The sandbox's Brevo account in SQLite, one module per resource behind the ``Account`` facade.

Owns every table and what it means: ``db`` (the shared connection, schema, lock, transactions
and reset generation), ``attributes``, ``contacts``, ``lists`` (folders, lists and membership),
``segments``, ``events`` (campaign events and contact statistics), ``processes`` (process
records) and ``files`` (served export files). No HTTP here: ``etl.sandbox.routes`` maps
requests onto ``account.<resource>.<verb>(...)``.

May import the standard library and ``etl.sandbox.config``, ``etl.sandbox.errors`` and
``etl.sandbox.values``; nothing from the rest of ``etl``, nothing from HTTP.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from etl.sandbox.config import ConfigStore, SandboxConfig
from etl.sandbox.state.attributes import ATTRIBUTE_CATEGORIES, ATTRIBUTE_TYPES, Attributes
from etl.sandbox.state.contacts import IDENTIFIER_TYPES, Contacts
from etl.sandbox.state.db import Aborted, Database
from etl.sandbox.state.events import Events
from etl.sandbox.state.files import Files
from etl.sandbox.state.lists import Folders, Lists
from etl.sandbox.state.processes import TERMINAL, Processes
from etl.sandbox.state.segments import Segments

__all__ = [
    "ATTRIBUTE_CATEGORIES",
    "ATTRIBUTE_TYPES",
    "IDENTIFIER_TYPES",
    "TERMINAL",
    "Aborted",
    "Account",
]


class Account:
    """A Brevo account in SQLite: the shared connection and one store per resource."""

    def __init__(
        self, db_path: str | Path | None = None, config: ConfigStore | None = None
    ) -> None:
        self.config = config or ConfigStore()
        self._database = Database(db_path)
        self.lock = self._database.lock  # guards the connection; re-entrant
        self.attributes = Attributes(self._database)
        self.events = Events(self._database)
        self.contacts = Contacts(self._database, self.attributes, self.events, self.config)
        self.folders = Folders(self._database)
        self.lists = Lists(self._database)
        self.segments = Segments(self._database)
        self.processes = Processes(self._database)
        self.files = Files(self._database)
        with self.lock:
            self.attributes.seed_defaults()
            self.processes.fail_leftovers()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (hold ``lock`` while using it)."""
        return self._database.conn

    @property
    def generation(self) -> int:
        """Bumped by every ``reset()``: jobs started before it stop (``Aborted``)."""
        return self._database.generation

    def rules(self) -> SandboxConfig:
        """The live config (profile switches decide how values are accepted)."""
        return self.config.current

    @contextmanager
    def tx(self, generation: int | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; ``Aborted`` if reset since ``generation``."""
        with self._database.tx(generation) as db:
            yield db

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query under the lock and return all rows."""
        return self._database.query(sql, params)

    def reset(self) -> None:
        """Empty the account: every table is recreated; the default attributes come back."""
        with self.lock:
            self._database.drop_all()
            self.attributes.seed_defaults()

    def close(self) -> None:
        """Close the database."""
        self._database.close()
