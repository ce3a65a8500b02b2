"""Serialise normalised contacts into ``fileBody`` chunks under a UTF-8 byte budget.

A body is Brevo's CSV: a header of attribute names, then one line per contact, fields separated
by ``;`` and lines by ``\\n``. A value holding ``;``, ``"``, CR or LF is quoted with ``"``, its
quotes doubled (RFC 4180). Chunks are cut between rows, never inside one: each chunk holds as
many whole rows as fit in ``chunk_bytes`` with its header. A row that cannot fit even alone is
set aside (reason ``row_too_large``) rather than sent.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import ConfigError
from etl.imports.csv import STR_DTYPE, arrow_strings, quote_fields

MAX_CHUNK_BYTES = 10 * 1024 * 1024  # Brevo: "Maximum allowed file body size is 10MB"
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024  # Brevo recommends about 8 MB
SEPARATOR = ";"
ROW_TOO_LARGE = "row_too_large"
LINE = "_line"


@dataclass(frozen=True)
class Chunk:
    """One ``fileBody``: whole rows under the byte budget."""

    data: bytes
    """The body, UTF-8 encoded: what is written to the chunk file and hashed."""
    rows: int
    bytes: int
    """UTF-8 length of body."""
    sha256: str
    """Hex digest of the UTF-8 body: the chunk's identity in the ledger."""
    columns: tuple[str, ...]
    lines: tuple[int, ...] = field(default=(), repr=False)
    """Source line (``_line``) of each row, when the contacts carried one."""

    @property
    def body(self) -> str:
        """The body as text (decoded on demand: 8 MB chunks are kept as bytes)."""
        return self.data.decode("utf-8")


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def quote_value(value: str) -> str:
    """One value as it appears in a body."""
    if any(c in value for c in ';"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def header_line(columns: Sequence[str]) -> str:
    """The header of a body."""
    return SEPARATOR.join(quote_value(c) for c in columns)


def serialise_lines(contacts: pd.DataFrame, columns: Sequence[str]) -> pa.Array:
    """The body lines of ``contacts`` (no header) as an Arrow string array."""
    if not len(columns):
        raise ValueError("a body needs at least one column")
    if len(contacts) == 0:
        return pa.array([], type=pa.large_string())
    return body_lines([arrow_strings(contacts[c]) for c in columns])


def body_lines(values: Sequence[pa.Array]) -> pa.Array:
    """The body lines of rows given column by column (Arrow text arrays of equal length, in the
    body's column order): what :func:`serialise_lines` writes, for values already in Arrow."""
    if not values:
        raise ValueError("a body needs at least one column")
    quoted = [quote_fields(v, SEPARATOR) for v in values]
    lines = quoted[0] if len(quoted) == 1 else pc.binary_join_element_wise(*quoted, _lit(SEPARATOR))
    # An empty line would read as no row at all: write it as "" (as Python's csv module does).
    return pc.if_else(pc.equal(lines, _lit("")), _lit('""'), lines)


def serialise_rows(contacts: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """One ``;``-separated line per row, values quoted where needed; empty stays empty (a row
    whose only value is empty is written ``""``)."""
    lines: list[str] = serialise_lines(contacts, columns).to_pylist()
    return lines


def parse_body(body: str) -> list[dict[str, str]]:
    """Parse a body back into rows (the inverse of the builder, for checks and tests)."""
    if not body:
        return []
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=SEPARATOR)
    rows = list(reader)
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


class ChunkBuilder:
    """Accumulate contacts and cut them into chunks of at most ``chunk_bytes``."""

    def __init__(self, columns: Sequence[str], *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if not columns:
            raise ConfigError("a body needs at least one column")
        self.columns = tuple(columns)
        self.header = header_line(self.columns)
        self._header_bytes = len(self.header.encode("utf-8"))
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise ConfigError(
                f"chunk size {chunk_bytes} bytes is over Brevo's limit of {MAX_CHUNK_BYTES}"
            )
        if chunk_bytes <= self._header_bytes + 1:
            raise ConfigError(
                f"chunk size {chunk_bytes} bytes cannot hold the header "
                f"({self._header_bytes} bytes) and a row"
            )
        self.chunk_bytes = chunk_bytes
        # Pending rows: pieces of UTF-8 (whole lines, each ending in "\n") and their numbers.
        self._pieces: list[pa.Buffer] = []
        self._numbers: list[np.ndarray] = []
        self._pending = 0
        self._size = self._header_bytes  # bytes of header + "\n" + line for each pending line
        self._rejected: list[pd.DataFrame] = []
        self.rows_added = 0

    @property
    def pending_rows(self) -> int:
        """Rows waiting for the next chunk."""
        return self._pending

    def add(self, contacts: pd.DataFrame, *, lines: pa.Array | None = None) -> list[Chunk]:
        """Add rows; return the chunks completed so far (the last one stays open).

        ``lines``: the rows' body lines, when made beforehand by :func:`serialise_lines` with
        this builder's columns (the import's worker processes do, see ``etl.imports.spill``).
        """
        if len(contacts) == 0:
            return []
        if lines is None:
            lines = serialise_lines(contacts, self.columns)
        elif len(lines) != len(contacts):
            raise ValueError("lines must hold one body line per row")
        # Each line with its "\n": a chunk's rows are then one contiguous slice of the data.
        lines = pc.binary_join_element_wise(lines.cast(pa.large_string()), _lit("\n"), _lit(""))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
            lines.offset : lines.offset + len(lines) + 1
        ]
        data = lines.buffers()[2]
        sizes = np.diff(offsets)
        numbers = (
            contacts[LINE].to_numpy(dtype=np.int64)
            if LINE in contacts.columns
            else np.zeros(len(lines), dtype=np.int64)
        )
        n = len(lines)
        self.rows_added += n
        too_large = np.flatnonzero(self._header_bytes + sizes > self.chunk_bytes)
        if len(too_large):
            self._set_aside(contacts, too_large, sizes)
        chunks: list[Chunk] = []
        budget = self.chunk_bytes
        cum = np.cumsum(sizes)
        start = 0
        skip = set(too_large.tolist())
        while start < n:
            if start in skip:
                start += 1
                continue
            # Rows start..stop-1 fit in what is left of the open chunk.
            base = cum[start - 1] if start else 0
            room = budget - self._size
            stop = int(np.searchsorted(cum, base + room, side="right"))
            if skip:
                nxt = min((s for s in skip if s >= start), default=n)
                stop = min(stop, nxt)
            if stop <= start:  # the next row does not fit: close the open chunk
                chunks.append(self._close())
                continue
            low, high = int(offsets[start]), int(offsets[stop])
            self._pieces.append(data.slice(low, high - low))
            self._numbers.append(numbers[start:stop])
            self._pending += stop - start
            self._size += int(cum[stop - 1] - base)
            start = stop
            if start < n and start not in skip:
                chunks.append(self._close())
        return chunks

    def flush(self) -> Chunk | None:
        """The last, partly filled chunk (None when nothing is pending)."""
        if not self._pending:
            return None
        return self._close()

    def pop_rejected(self) -> pd.DataFrame:
        """Rows set aside as ``row_too_large`` since the last call: ``_line``, ``reason``,
        ``message`` and the row's values."""
        if not self._rejected:
            return pd.DataFrame(
                {
                    LINE: pd.Series([], dtype=np.int64),
                    "reason": pd.Series([], dtype=STR_DTYPE),
                    "message": pd.Series([], dtype=STR_DTYPE),
                }
            )
        frame = pd.concat(self._rejected, ignore_index=True)
        self._rejected = []
        return frame

    def _set_aside(self, contacts: pd.DataFrame, rows: np.ndarray, sizes: np.ndarray) -> None:
        part = contacts.iloc[rows].reset_index(drop=True)
        messages = [
            f"the row takes {int(s) - 1} bytes; with the header it cannot fit in a chunk of "
            f"{self.chunk_bytes} bytes"
            for s in sizes[rows]
        ]
        meta = pd.DataFrame(
            {
                LINE: (
                    part[LINE].to_numpy(dtype=np.int64)
                    if LINE in part.columns
                    else np.zeros(len(part), dtype=np.int64)
                ),
                "reason": pd.Series([ROW_TOO_LARGE] * len(part), dtype=STR_DTYPE),
                "message": pd.Series(messages, dtype=STR_DTYPE),
            }
        )
        values = part.drop(columns=[c for c in (LINE, "reason", "message") if c in part.columns])
        self._rejected.append(pd.concat([meta, values], axis=1))

    def _close(self) -> Chunk:
        header = self.header.encode("utf-8")
        pieces = list(self._pieces)
        if pieces:  # no "\n" after the last row
            pieces[-1] = pieces[-1].slice(0, pieces[-1].size - 1)
        # One copy: join reads the Arrow buffers in place.
        data = (
            b"".join([header, b"\n", *(memoryview(piece) for piece in pieces)])
            if pieces
            else header
        )
        chunk = Chunk(
            data=data,
            rows=self._pending,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            columns=self.columns,
            lines=tuple(np.concatenate(self._numbers).tolist()),
        )
        self._pieces = []
        self._numbers = []
        self._pending = 0
        self._size = self._header_bytes
        return chunk
