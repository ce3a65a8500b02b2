"""Served files: export and reject files behind ``/exports/{token}/{name}`` links."""

from __future__ import annotations

from pathlib import Path

from etl.sandbox.state.db import Database


class Files:
    """The ``files`` table: token -> (path, name, content type, expiry)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def register(
        self, *, token: str, path: Path, name: str, content_type: str, expires_at: float
    ) -> None:
        """Serve ``path`` at ``/exports/{token}/{name}`` until ``expires_at`` (epoch s)."""
        with self._database.tx() as db:
            db.execute(
                "INSERT INTO files(token, path, name, content_type, expires_at) VALUES (?,?,?,?,?)",
                (token, str(path), name, content_type, expires_at),
            )

    def record(self, token: str) -> tuple[Path, str, str, float] | None:
        """(path, name, content type, expiry) of a served file, or None."""
        rows = self._database.query(
            "SELECT path, name, content_type, expires_at FROM files WHERE token=?", (token,)
        )
        if not rows:
            return None
        return Path(rows[0][0]), str(rows[0][1]), str(rows[0][2]), float(rows[0][3])
