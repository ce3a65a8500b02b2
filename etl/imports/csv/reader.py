"""Stream the data rows of a sniffed CSV file in batches, in bounded memory.

The text is handled as UTF-8 bytes, in blocks that end on a record boundary
(:mod:`etl.imports.csv.records` finds the records). Records with the header's field count (and
large groups of equally short ones) are parsed in bulk by pyarrow's CSV reader; the others
(ragged rows, stray quotes, an unterminated quote at the end, maybe-blank records) go through
Python's csv module one at a time. So the values are exactly those ``csv.reader`` reads (a
property test checks it), at pyarrow's speed; when pyarrow disagrees on how many rows a group
holds, csv.reader reads that group instead.

Rules: blank records (no field holds anything but whitespace) are not rows; a record with more
fields than the header is reported in ``RawBatch.malformed``; a shorter one is padded with ``""``;
a footer the sniffer found (``CsvFormat.data_end``) is not read at all.
Values are never stripped or converted here: that is ``etl.imports.normalise``'s job.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl.errors import InputError
from etl.imports.csv.records import Records, RecordScanner, slice_records
from etl.imports.csv.sniff import CsvFormat, raise_field_limit
from etl.imports.csv.text import STR_DTYPE, str_series

MALFORMED_ROW = "malformed_row"
DEFAULT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class ReaderLimits:
    """How much the reader reads at once, and the longest record it accepts."""

    first_block_bytes: int = 1 << 20
    max_block_bytes: int = 64 << 20
    max_record_bytes: int = 64 * 1024 * 1024
    """A record this large is an unterminated quote swallowing the file, not data."""
    bulk_short_rows: int = 64
    """This many rows with the same number of fields, short of the header's, go to pyarrow."""


DEFAULT_LIMITS = ReaderLimits()


@dataclass
class RawBatch:
    """A batch of data rows, values untouched (text, ``""`` for empty cells, never NaN)."""

    rows: pd.DataFrame
    lines: np.ndarray
    """int64: the 1-based physical line where each row starts."""
    malformed: list[tuple[int, str, str]]
    """``(line, raw_text, reason)`` of records with more fields than the header."""

    @property
    def rows_read(self) -> int:
        """Rows in this batch, malformed ones included (what the accounting counts)."""
        return len(self.rows) + len(self.malformed)


# --------------------------------------------------------------------------- sniffing


def iter_csv_batches(
    path: Path,
    fmt: CsvFormat,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> Iterator[RawBatch]:
    """Yield the data rows of ``path`` in batches of at most ``batch_rows`` rows.

    Memory stays bounded by the batch size (plus the largest record); the file is never read
    whole. Each batch holds at least one row or one malformed record. ``limits`` bounds the
    blocks read and the longest record (tests shrink them).

    Raises:
        InputError: the text cannot be decoded, or a quote is never closed before 64 MiB.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if len(fmt.delimiter) != 1 or not fmt.delimiter.isascii() or fmt.delimiter in '"\r\n':
        raise InputError(f"{path}: unusable delimiter {fmt.delimiter!r}")
    reader = _BatchReader(Path(path), fmt, batch_rows, limits)
    yield from reader


class _Utf8Source:
    """The file's text as UTF-8 bytes, read in blocks (no BOM)."""

    def __init__(self, path: Path, encoding: str, end: int | None = None) -> None:
        self._path = path
        self._raw = path.open("rb")
        self._end = end  # raw bytes to read: the data stops before a footer
        self._passthrough = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        self._decoder = None if self._passthrough else codecs.getincrementaldecoder(encoding)()
        self._first = True
        self._offset = 0
        self.eof = False

    def read(self, size: int) -> bytes:
        if self.eof:
            return b""
        if self._end is not None:
            size = max(0, min(size, self._end - self._offset))
        block = self._raw.read(size) if size else b""
        final = not block
        if self._passthrough:
            out = block
        else:
            assert self._decoder is not None
            try:
                out = self._decoder.decode(block, final=final).encode("utf-8")
            except UnicodeDecodeError as exc:
                where = self._offset + max(0, exc.start)
                raise InputError(
                    f"{self._path}: cannot be decoded ({exc.reason} near byte {where})"
                ) from None
        self._offset += len(block)
        if self._first and out:
            self._first = False
            if out.startswith(codecs.BOM_UTF8):
                out = out[len(codecs.BOM_UTF8) :]
        if final:
            self.eof = True
            self._raw.close()
        return out

    def close(self) -> None:
        self._raw.close()


class _BatchReader:
    def __init__(self, path: Path, fmt: CsvFormat, batch_rows: int, limits: ReaderLimits) -> None:
        self.path = path
        self.fmt = fmt
        self.names = list(fmt.header)
        self.ncols = len(fmt.header)
        self.delim = fmt.delimiter
        self.delim_byte = fmt.delimiter.encode("utf-8")
        self.batch_rows = batch_rows
        self.limits = limits
        self._scanner = RecordScanner(fmt.delimiter)

    def __iter__(self) -> Iterator[RawBatch]:
        source = _Utf8Source(self.path, self.fmt.encoding, self.fmt.data_end)
        try:
            yield from self._batches(source)
        finally:
            source.close()

    def _batches(self, source: _Utf8Source) -> Iterator[RawBatch]:
        buf = b""
        line_base = 0  # physical lines wholly before buf
        state = "sep" if self.fmt.skip_sep_line else "header"
        while True:
            if not buf:
                if source.eof:
                    return
                buf = source.read(self.limits.first_block_bytes)
                continue
            if state == "sep":
                match = re.search(rb"\r\n|\r(?=.)|\n", buf, re.DOTALL)
                if match is None and not source.eof:
                    buf += self._read_more(source, buf, line_base, len(buf))
                    continue
                if match is None:  # the whole file is the sep= line
                    return
                buf = buf[match.end() :]
                line_base += 1
                state = "header"
                continue
            records = self._scanner.scan(buf, final=source.eof)
            count = len(records.starts)
            if state == "header":
                h = self._header_at(buf, records)
                last = h if h >= 0 else count - 1  # only blank records so far: drop them
                if h >= 0:
                    state = "data"
                if last >= 0:
                    line_base += int(records.lines_through[last])
                    buf = buf[int(records.nexts[last]) :]
                if h < 0 and not source.eof:
                    more = max(len(buf), self.limits.first_block_bytes)
                    buf += self._read_more(source, buf, line_base, more)
                elif h < 0:
                    return
                continue
            nonempty = records.ends > records.starts
            cum = np.cumsum(nonempty)
            have = int(cum[-1]) if count else 0
            if have < self.batch_rows and not source.eof and len(buf) < self.limits.max_block_bytes:
                # Read enough to fill the batch: few, large batches are cheaper downstream.
                average = int(records.nexts[-1]) / have if have else len(buf)
                want = int(average * (self.batch_rows - have) * 1.1) + 1
                buf += self._read_more(source, buf, line_base, max(want, 64 * 1024))
                continue
            if count == 0:  # no complete record in a full block: keep reading
                buf += self._read_more(source, buf, line_base, len(buf))
                continue
            take = min(int(np.searchsorted(cum, self.batch_rows, side="left")) + 1, count)
            part = slice_records(records, take)
            consumed = int(part.nexts[-1])
            batch = self._build(buf, part, line_base)
            line_base += int(part.lines_through[-1])
            buf = buf[consumed:]
            if batch is not None:
                yield batch
            if not source.eof:
                # Read ahead what the next batch should need, so it is scanned once.
                want = int(consumed / take * self.batch_rows * 1.1) - len(buf)
                if want > 0:
                    buf += self._read_more(source, buf, line_base, max(want, 64 * 1024))

    def _read_more(self, source: _Utf8Source, buf: bytes, line_base: int, size: int) -> bytes:
        if len(buf) >= self.limits.max_record_bytes:
            raise InputError(
                f"{self.path}: line {line_base + 1}: a record longer than "
                f"{self.limits.max_record_bytes >> 20} MiB (is a quote never closed?)"
            )
        return source.read(int(min(size, self.limits.max_block_bytes)))

    def _header_at(self, buf: bytes, records: Records) -> int:
        """Index of the first record that is not blank, or -1."""
        for i in range(len(records.starts)):
            start, end = int(records.starts[i]), int(records.ends[i])
            if start == end:
                continue
            if not records.blankish[i]:
                return i
            row = self._parse_one(buf[start:end])
            if row is None or any(cell.strip() for cell in row):
                return i
        return -1

    # ------------------------------------------------------------------ scanning

    def _build(self, buf: bytes, rec: Records, line_base: int) -> RawBatch | None:
        nonempty = rec.ends > rec.starts
        regular = nonempty & ~rec.irregular & ~rec.blankish & (rec.fields <= self.ncols)
        lines = line_base + rec.line_offsets + 1
        tables: list[pa.Table] = []
        orders: list[np.ndarray] = []
        bulk = np.zeros(len(rec.starts), dtype=bool)
        # Rows with the header's field count, and large groups of equally short rows (a header
        # with trailing empty columns), go to pyarrow in bulk; short rows are padded.
        counts = np.bincount(rec.fields[regular], minlength=self.ncols + 1)
        for width in np.flatnonzero(counts).tolist():
            if width != self.ncols and counts[width] < self.limits.bulk_short_rows:
                continue
            chosen = regular & (rec.fields == width)
            idx = np.flatnonzero(chosen)
            table = self._read_bulk(buf, rec, chosen, idx, self.names[:width])
            if table is None:  # pyarrow disagreed: these go through csv.reader instead
                continue
            for name in self.names[width:]:
                table = table.append_column(name, _empty_strings(table.num_rows))
            tables.append(table)
            orders.append(idx)
            bulk[idx] = True
        py_rows: list[list[str]] = []
        py_idx: list[int] = []
        malformed: list[tuple[int, str, str]] = []
        for i in np.flatnonzero(nonempty & ~bulk).tolist():
            raw = buf[int(rec.starts[i]) : int(rec.ends[i])]
            row = self._parse_one(raw)
            if row is not None and not any(cell.strip() for cell in row):
                continue  # a blank record is not a row
            if row is None or len(row) > self.ncols:
                malformed.append((int(lines[i]), raw.decode("utf-8", "replace"), MALFORMED_ROW))
                continue
            py_rows.append(row + [""] * (self.ncols - len(row)))
            py_idx.append(i)
        if py_rows:
            tables.append(
                pa.table(
                    {
                        name: pa.array([r[j] for r in py_rows], type=pa.large_string())
                        for j, name in enumerate(self.names)
                    }
                )
            )
            orders.append(np.array(py_idx, dtype=np.int64))
        if not tables and not malformed:
            return None
        if not tables:
            frame = pd.DataFrame({name: pd.Series([], dtype=STR_DTYPE) for name in self.names})
            return RawBatch(rows=frame, lines=np.empty(0, dtype=np.int64), malformed=malformed)
        order_idx = np.concatenate(orders)
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        if len(tables) > 1:  # back to file order
            order = np.argsort(order_idx, kind="stable")
            table = table.take(pa.array(order))
            order_idx = order_idx[order]
        frame = pd.DataFrame(
            {name: str_series(table.column(j)) for j, name in enumerate(self.names)}
        )
        return RawBatch(rows=frame, lines=lines[order_idx].astype(np.int64), malformed=malformed)

    def _read_bulk(
        self,
        buf: bytes,
        rec: Records,
        clean: np.ndarray,
        clean_idx: np.ndarray,
        names: list[str],
    ) -> pa.Table | None:
        first, last = int(clean_idx[0]), int(clean_idx[-1])
        if clean[first : last + 1].all():
            data = buf[int(rec.starts[first]) : int(rec.nexts[last])]
        else:
            a = np.frombuffer(buf, dtype=np.uint8)
            marks = np.zeros(len(a) + 1, dtype=np.int8)
            marks[rec.starts[clean_idx]] += 1
            marks[rec.nexts[clean_idx]] -= 1
            keep = np.cumsum(marks[:-1], dtype=np.int8) > 0
            data = a[keep].tobytes()
        longest = int((rec.nexts[clean_idx] - rec.starts[clean_idx]).max())
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(
                    column_names=names,
                    block_size=max(1 << 20, 2 * longest + 16),
                    use_threads=True,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delim,
                    quote_char='"',
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.large_string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    null_values=[],
                    check_utf8=True,
                ),
            )
        except pa.ArrowException:
            return None
        if table.num_rows != len(clean_idx):
            return None
        return table

    def _parse_one(self, raw: bytes) -> list[str] | None:
        """One record through csv.reader; None when it does not read as exactly one row."""
        text = raw.decode("utf-8", "replace")
        raise_field_limit(len(text))
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delim))
        except csv.Error:
            return None
        if not rows:
            return [""]
        return rows[0] if len(rows) == 1 else None


def _empty_strings(n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, type=pa.large_string()), pa.scalar("", pa.large_string()))
