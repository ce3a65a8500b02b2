"""Read contact CSV files as people really have them, in bounded memory.

``sniff_csv`` looks at a file once: its encoding (a BOM; UTF-16 without BOM by its NUL bytes;
otherwise a full UTF-8 validity scan with a Windows-1252, then Latin-1, fallback), binary content,
Excel's ``sep=`` first line, the delimiter and the header row. ``iter_csv_batches`` then streams
the data rows in batches of at most ``batch_rows`` rows.

How the streaming reader stays fast and exact. The text is handled as UTF-8 bytes, in blocks that
end on a record boundary. numpy finds the quotes, delimiters and line breaks of a block. When
every quote opens a field, closes one or is doubled inside one (the usual case), the parity of the
quotes seen so far tells which line breaks end a record; otherwise a regular expression that
follows the state machine of Python's csv module finds the quoted fields. Either way every record
gets its physical line number and its field count. Records with the header's field count (and
large groups of equally short ones) are parsed in bulk by pyarrow's CSV reader; the others
(ragged rows, stray quotes, an unterminated quote at the end, maybe-blank records) go through
Python's csv module one at a time. So the values are exactly those ``csv.reader`` reads (a
property test checks it), at pyarrow's speed; when pyarrow disagrees on how many rows a group
holds, csv.reader reads that group instead.

Rules: blank records (no field holds anything but whitespace) are not rows; a record with more
fields than the header is reported in ``RawBatch.malformed``; a shorter one is padded with ``""``.
Values are never stripped or converted here: that is ``etl.imports.normalise``'s job.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl.errors import InputError

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
UNNAMED_PREFIX = "_unnamed_"  # header cells left empty become _unnamed_<position>
MALFORMED_ROW = "malformed_row"
DEFAULT_BATCH_ROWS = 50_000
# A record this large is an unterminated quote swallowing the file, not data.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Excel's column limit. Every column costs work per batch whether or not it maps to an
# attribute, so a header far wider than any contact list is refused rather than crawled through.
MAX_COLUMNS = 16_384

_SAMPLE_BYTES = 256 * 1024
_SCAN_BYTES = 1 << 20
_FIRST_BLOCK_BYTES = 1 << 20
_MAX_BLOCK_BYTES = 64 << 20
_SNIFF_ROWS = 200
_BULK_SHORT_ROWS = 64  # this many rows one field short are parsed by pyarrow too

_QUOTE, _LF, _CR, _SPACE, _TAB = 0x22, 0x0A, 0x0D, 0x20, 0x09

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive; an .xlsx workbook is one: save it as CSV"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (.xls?): save it as CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
)
# Bytes that never occur in text: C0 controls except tab, LF, VT, FF, CR and ESC.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_NON_CONTROL_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_SEP_LINE = re.compile(r'[ \ufeff]*"?sep=([^"\r\n])"?(?:\1)*\s*', re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _make_str_dtype() -> pd.StringDtype:
    try:  # pandas >= 2.3: the NaN-semantics string dtype that pandas 3 calls "str"
        return pd.StringDtype("pyarrow", na_value=np.nan)
    except TypeError:  # pandas 2.2 spells the same dtype "pyarrow_numpy"
        return pd.StringDtype("pyarrow_numpy")


STR_DTYPE = _make_str_dtype()
"""The dtype of every text column this package produces (pyarrow-backed, ``""`` never NaN)."""


def str_series(values: pa.Array | pa.ChunkedArray, *, index: pd.Index | None = None) -> pd.Series:
    """Wrap an Arrow string array as a pandas ``STR_DTYPE`` Series without copying the text."""
    if pa.types.is_string(values.type):
        values = values.cast(pa.large_string())
    return pd.Series(STR_DTYPE.__from_arrow__(values), index=index, copy=False)


def arrow_strings(series: pd.Series) -> pa.Array:
    """The values of a text Series as one Arrow large_string array; missing values become ``""``."""
    arr = pa.array(series, type=pa.large_string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr


def quote_fields(values: pa.Array, separator: str) -> pa.Array:
    """Each value as one CSV field, as ``csv.QUOTE_MINIMAL`` writes it (RFC 4180): in quotes,
    its quotes doubled, when it holds ``separator``, a quote, CR or LF; otherwise as it is.

    A memchr scan of the raw UTF-8 buffer first (~50x faster than the per-value regex) skips
    the columns that hold none of these bytes, most of them. ASCII bytes never occur inside a
    multi-byte UTF-8 sequence; bytes outside a sliced array's range can only say "maybe".
    """
    specials = (separator, '"', "\r", "\n")
    data = values.buffers()[2]
    raw = data.to_pybytes() if data is not None else b""
    if not any(c.encode() in raw for c in specials):
        return values
    needs = pc.match_substring_regex(values, "[" + re.escape("".join(specials)) + "]")
    if not pc.any(needs).as_py():
        return values
    mark, empty = pa.scalar('"', type=values.type), pa.scalar("", type=values.type)
    quoted = pc.binary_join_element_wise(mark, pc.replace_substring(values, '"', '""'), mark, empty)
    return pc.if_else(needs, quoted, values)


@dataclass(frozen=True)
class CsvFormat:
    """How to read one file, as found by ``sniff_csv``."""

    encoding: str
    delimiter: str
    skip_sep_line: bool
    header: tuple[str, ...]
    """Column names: header cells stripped, empty ones named ``_unnamed_<n>``, duplicates
    made unique (``Email``, ``Email (2)``)."""
    raw_header: tuple[str, ...] = ()
    """The header cells as written in the file."""


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


def sniff_csv(path: Path) -> CsvFormat:
    """Find the encoding, delimiter and header of a CSV file.

    Raises:
        InputError: missing or empty file, binary content, undecodable text, no header row.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    with path.open("rb") as raw:
        head = raw.read(_SAMPLE_BYTES)
    encoding = _detect_encoding(path, head)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        text = decoder.decode(head, final=len(head) >= size)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot be decoded as {encoding} ({exc.reason})") from None
    complete = len(head) >= size
    text = text.lstrip("\ufeff")
    if not text.strip():
        if complete:
            raise InputError(f"{path}: the file is empty (only blank lines)")
        raise InputError(f"{path}: no header row in the first {_SAMPLE_BYTES // 1024} KiB")

    delimiter, skip_sep_line = None, False
    first_line = _LINE_BREAK.split(text, maxsplit=1)[0]
    sep = _SEP_LINE.fullmatch(first_line)
    if sep:
        delimiter, skip_sep_line = sep.group(1), True
        rest = text[len(first_line) :]
        rest = rest[2:] if rest.startswith("\r\n") else rest[1:]
    else:
        rest = text
    if not complete:
        # Drop the partial last line so that no candidate sees a cut-off record.
        cut = max(rest.rfind("\n"), rest.rfind("\r"))
        rest = rest[: cut + 1] if cut >= 0 else rest
    candidates = (delimiter,) if delimiter else DELIMITERS
    best: tuple[tuple[bool, float, int], str, list[str]] | None = None
    for candidate in candidates:
        rows = _nonblank_rows(rest, candidate, limit=_SNIFF_ROWS)
        if not rows:
            continue
        header = rows[0]
        body = rows[1:]
        consistent = sum(len(r) == len(header) for r in body) / len(body) if body else 1.0
        score = (len(header) > 1, consistent, len(header))
        if best is None or score > best[0]:
            best = (score, candidate, header)
    if best is None:
        if skip_sep_line and complete:
            raise InputError(f"{path}: no header row after the sep= line")
        raise InputError(f"{path}: no header row")
    _, delimiter, raw_header = best
    if len(raw_header) > MAX_COLUMNS:
        raise InputError(
            f"{path}: the header has more than {MAX_COLUMNS} columns (is this a contact list?)"
        )
    return CsvFormat(
        encoding=encoding,
        delimiter=delimiter,
        skip_sep_line=skip_sep_line,
        header=unique_names(raw_header),
        raw_header=tuple(raw_header),
    )


def unique_names(cells: Sequence[str]) -> tuple[str, ...]:
    """Column names from header cells: stripped, empty ones named, duplicates numbered."""
    names: list[str] = []
    taken: set[str] = set()
    stripped = [c.strip().strip("\ufeff").strip() for c in cells]
    reserved = set(stripped)
    for position, cell in enumerate(stripped, start=1):
        name = cell or f"{UNNAMED_PREFIX}{position}"
        if name in taken:
            n = 2
            while f"{cell} ({n})" in taken or f"{cell} ({n})" in reserved:
                n += 1
            name = f"{cell} ({n})"
        taken.add(name)
        names.append(name)
    return tuple(names)


def _nonblank_rows(text: str, delimiter: str, *, limit: int) -> list[list[str]]:
    rows: list[list[str]] = []
    _raise_field_limit(len(text))
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in row):
                rows.append(row)
                if len(rows) >= limit:
                    break
    except csv.Error:
        return rows
    return rows


def _detect_encoding(path: Path, head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            _check_decodes(path, encoding)
            return encoding
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InputError(f"{path}: binary content ({what}), not a CSV file")
    utf16 = _utf16_without_bom(head)
    if utf16:
        _check_decodes(path, utf16)
        return utf16
    utf8_ok, cp1252_ok = _scan_utf8(path)
    control = len(head.translate(None, _NON_CONTROL_BYTES)) / max(1, len(head))
    # Valid UTF-8 may hold a few NUL or control bytes in its fields; text in a legacy
    # encoding holds none, while binary data is about one control byte in ten.
    if control > (0.25 if utf8_ok else 0.02):
        raise InputError(f"{path}: binary content, not a CSV file")
    if utf8_ok:
        return "utf-8"
    return "cp1252" if cp1252_ok else "latin-1"


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even = even.count(0) / len(even)
    nul_odd = odd.count(0) / len(odd)
    if nul_odd > 0.7 and nul_even < 0.1:
        return "utf-16-le"
    if nul_even > 0.7 and nul_odd < 0.1:
        return "utf-16-be"
    return None


def _check_decodes(path: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as raw:
        while True:
            block = raw.read(_SCAN_BYTES)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                where = offset + max(0, exc.start)
                raise InputError(
                    f"{path}: cannot be decoded as {encoding} ({exc.reason} near byte {where})"
                ) from None
            if not block:
                return
            offset += len(block)


def _scan_utf8(path: Path) -> tuple[bool, bool]:
    """Whether the whole file is valid UTF-8, and whether it avoids cp1252's undefined bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_ok, cp1252_ok = True, True
    with path.open("rb") as raw:
        while True:
            block = raw.read(_SCAN_BYTES)
            if utf8_ok:
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError:
                    utf8_ok = False
            if cp1252_ok and any(b in block for b in _CP1252_UNDEFINED):
                cp1252_ok = False
            if not block or (not utf8_ok and not cp1252_ok):
                return utf8_ok, cp1252_ok


def count_lines_hint(path: Path) -> int:
    """A cheap estimate of the number of data rows (line breaks minus the header), for progress."""
    breaks = 0
    with Path(path).open("rb") as raw:
        while block := raw.read(_SCAN_BYTES):
            breaks += block.count(b"\n")
    return max(0, breaks - 1)


# --------------------------------------------------------------------------- streaming


def iter_csv_batches(
    path: Path, fmt: CsvFormat, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[RawBatch]:
    """Yield the data rows of ``path`` in batches of at most ``batch_rows`` rows.

    Memory stays bounded by the batch size (plus the largest record); the file is never read
    whole. Each batch holds at least one row or one malformed record.

    Raises:
        InputError: the text cannot be decoded, or a quote is never closed before 64 MiB.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if len(fmt.delimiter) != 1 or not fmt.delimiter.isascii() or fmt.delimiter in '"\r\n':
        raise InputError(f"{path}: unusable delimiter {fmt.delimiter!r}")
    reader = _BatchReader(Path(path), fmt, batch_rows)
    yield from reader


class _Utf8Source:
    """The file's text as UTF-8 bytes, read in blocks (no BOM)."""

    def __init__(self, path: Path, encoding: str) -> None:
        self._path = path
        self._raw = path.open("rb")
        self._passthrough = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        self._decoder = None if self._passthrough else codecs.getincrementaldecoder(encoding)()
        self._first = True
        self._offset = 0
        self.eof = False

    def read(self, size: int) -> bytes:
        if self.eof:
            return b""
        block = self._raw.read(size)
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


@dataclass
class _Records:
    """The complete records at the start of a buffer."""

    starts: np.ndarray  # offset of each record's first byte
    ends: np.ndarray  # offset just past its content (terminator excluded)
    nexts: np.ndarray  # offset just past its terminator
    line_offsets: np.ndarray  # line breaks before the record's start
    fields: np.ndarray  # number of fields
    irregular: np.ndarray  # quoting that pyarrow might read differently from csv.reader
    blankish: np.ndarray  # only whitespace, delimiters and quotes: maybe a blank record
    lines_through: np.ndarray  # line breaks up to the record's end (terminator included)


class _BatchReader:
    def __init__(self, path: Path, fmt: CsvFormat, batch_rows: int) -> None:
        self.path = path
        self.fmt = fmt
        self.names = list(fmt.header)
        self.ncols = len(fmt.header)
        self.delim = fmt.delimiter
        self.delim_byte = fmt.delimiter.encode("utf-8")
        self.batch_rows = batch_rows
        # A record is blank when every field is empty once str.strip()ped. Any printable ASCII
        # byte other than a quote or the delimiter proves a record is not blank; records
        # without one (whitespace, quotes, delimiters, non-ASCII bytes) are checked by
        # csv.reader and str.strip(), so the rule is Python's, Unicode spaces included.
        insignificant = np.ones(256, dtype=bool)
        insignificant[0x21:0x7F] = False
        insignificant[[_QUOTE, self.delim_byte[0]]] = True
        self._insignificant = insignificant
        boundary = np.zeros(256, dtype=bool)
        boundary[[self.delim_byte[0], _LF, _CR, _QUOTE]] = True
        self._boundary = boundary
        self._insignificant_bytes = bytes(np.flatnonzero(insignificant).tolist())
        self._quoted_field = re.compile(
            b"(?:(?<=[" + re.escape(self.delim_byte) + rb"\r\n])|\A)\"(?:[^\"]++|\"\")*+(?:(\")|\Z)"
        )

    def __iter__(self) -> Iterator[RawBatch]:
        source = _Utf8Source(self.path, self.fmt.encoding)
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
                buf = source.read(_FIRST_BLOCK_BYTES)
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
            records = self._scan(buf, final=source.eof)
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
                    more = max(len(buf), _FIRST_BLOCK_BYTES)
                    buf += self._read_more(source, buf, line_base, more)
                elif h < 0:
                    return
                continue
            nonempty = records.ends > records.starts
            cum = np.cumsum(nonempty)
            have = int(cum[-1]) if count else 0
            if have < self.batch_rows and not source.eof and len(buf) < _MAX_BLOCK_BYTES:
                # Read enough to fill the batch: few, large batches are cheaper downstream.
                average = int(records.nexts[-1]) / have if have else len(buf)
                want = int(average * (self.batch_rows - have) * 1.1) + 1
                buf += self._read_more(source, buf, line_base, max(want, 64 * 1024))
                continue
            if count == 0:  # no complete record in a full block: keep reading
                buf += self._read_more(source, buf, line_base, len(buf))
                continue
            take = min(int(np.searchsorted(cum, self.batch_rows, side="left")) + 1, count)
            part = _slice_records(records, take)
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
        if len(buf) >= MAX_RECORD_BYTES:
            raise InputError(
                f"{self.path}: line {line_base + 1}: a record longer than "
                f"{MAX_RECORD_BYTES >> 20} MiB (is a quote never closed?)"
            )
        return source.read(int(min(size, _MAX_BLOCK_BYTES)))

    def _header_at(self, buf: bytes, records: _Records) -> int:
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

    def _scan(self, buf: bytes, *, final: bool) -> _Records:
        """Locate the complete records of buf (which starts on a record boundary)."""
        a = np.frombuffer(buf, dtype=np.uint8)
        n = len(a)
        delim = self.delim_byte[0]
        lf = np.flatnonzero(a == _LF)
        cr = np.flatnonzero(a == _CR)
        if len(cr):
            after = cr + 1
            lone = after < n
            lone[lone] = a[after[lone]] != _LF
            if final and cr[-1] == n - 1:
                lone[-1] = True  # a CR ending the file; otherwise it may start a CRLF to come
            breaks = np.sort(np.concatenate([lf, cr[lone]])) if lone.any() else lf
        else:
            breaks = lf
        qpos = np.flatnonzero(a == _QUOTE)
        dpos = np.flatnonzero(a == delim)

        irregular_at = np.empty(0, dtype=np.int64)
        unterminated_at = -1
        if len(qpos) == 0:
            break_out, delim_out = breaks, dpos
        elif self._parity_ok(a, qpos):
            break_out = breaks[(np.searchsorted(qpos, breaks) & 1) == 0]
            delim_out = dpos[(np.searchsorted(qpos, dpos) & 1) == 0]
            if len(qpos) % 2:
                unterminated_at = int(qpos[-1])
        else:
            starts, ends, closed = self._quoted_spans(buf)
            break_out = breaks[~_inside(starts, ends, breaks)]
            delim_out = dpos[~_inside(starts, ends, dpos)]
            stray = qpos[~_inside(starts, ends, qpos)]
            follow = ends[closed & (ends < n)]
            bad_follow = follow[~self._boundary[a[follow]] | (a[follow] == _QUOTE)]
            irregular_at = np.concatenate([stray, bad_follow]).astype(np.int64)
            if len(closed) and not closed[-1]:
                unterminated_at = int(starts[-1])

        # Records end at the line breaks outside quotes; at the end of the file, so does the tail.
        nexts = (break_out + 1).astype(np.int64)
        tail = final and (len(nexts) == 0 or nexts[-1] < n)
        if tail:
            nexts = np.append(nexts, np.int64(n))
        starts = np.concatenate([np.zeros(1, dtype=np.int64), nexts[:-1]])[: len(nexts)]
        term = np.ones(len(nexts), dtype=np.int64)
        if tail:
            term[-1] = 0
        crlf = (term == 1) & (nexts - 2 >= starts)
        crlf[crlf] = (a[nexts[crlf] - 1] == _LF) & (a[nexts[crlf] - 2] == _CR)
        term[crlf] = 2
        ends = nexts - term
        fields = 1 + (np.searchsorted(delim_out, ends) - np.searchsorted(delim_out, starts))
        line_offsets = np.searchsorted(breaks, starts).astype(np.int64)
        irregular = np.zeros(len(starts), dtype=bool)
        if final and unterminated_at >= 0:
            irregular_at = np.append(irregular_at, np.int64(unterminated_at))
        if len(irregular_at) and len(starts):
            irregular_at = irregular_at[irregular_at < nexts[-1]]
            idx = np.searchsorted(starts, irregular_at, side="right") - 1
            irregular[idx[idx >= 0]] = True
        return _Records(
            starts=starts,
            ends=ends,
            nexts=nexts,
            line_offsets=line_offsets,
            fields=fields.astype(np.int64),
            irregular=irregular,
            blankish=self._blankish(buf, a, starts, ends, delim),
            lines_through=np.searchsorted(breaks, nexts).astype(np.int64),
        )

    def _parity_ok(self, a: np.ndarray, qpos: np.ndarray) -> bool:
        """Whether every quote opens a field, closes one, or is doubled inside one."""
        n = len(a)
        boundary = self._boundary
        opening = qpos[0::2]
        if not boundary[a[opening[opening > 0] - 1]].all():
            return False
        closing = qpos[1::2]
        return bool(boundary[a[closing[closing + 1 < n] + 1]].all())

    def _quoted_spans(self, buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quoted fields as csv.reader sees them: [start, end) and whether the quote closes."""
        starts, ends, closed = [], [], []
        for m in self._quoted_field.finditer(buf):
            starts.append(m.start())
            ends.append(m.end())
            closed.append(m.group(1) is not None)
        return (
            np.array(starts, dtype=np.int64),
            np.array(ends, dtype=np.int64),
            np.array(closed, dtype=bool),
        )

    def _blankish(
        self, buf: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, delim: int
    ) -> np.ndarray:
        """Records that may be blank (no printable ASCII byte but quotes and delimiters)."""
        insignificant = self._insignificant
        blankish = np.zeros(len(starts), dtype=bool)
        # A record with a significant byte among its first few cannot be blank: that settles
        # nearly every record without looking further.
        candidates = np.flatnonzero(ends > starts)
        for k in range(12):
            pos = starts[candidates] + k
            within = pos < ends[candidates]
            keep = ~within
            keep[within] = insignificant[a[pos[within]]]
            candidates = candidates[keep]
            if len(candidates) == 0:
                return blankish
        if len(candidates) > 1000:  # e.g. every field quoted: sum them all at once
            bounds = np.empty(2 * len(candidates), dtype=np.int64)
            bounds[0::2] = starts[candidates]
            bounds[1::2] = ends[candidates]
            significant = ~insignificant[a]
            sums = np.add.reduceat(significant, bounds, dtype=np.int64)[0::2]
            blankish[candidates] = sums == 0
            return blankish
        drop = self._insignificant_bytes
        for i in candidates.tolist():
            if not buf[int(starts[i]) : int(ends[i])].translate(None, drop):
                blankish[i] = True
        return blankish

    # ------------------------------------------------------------------ building

    def _build(self, buf: bytes, rec: _Records, line_base: int) -> RawBatch | None:
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
            if width != self.ncols and counts[width] < _BULK_SHORT_ROWS:
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
        rec: _Records,
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
        _raise_field_limit(len(text))
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delim))
        except csv.Error:
            return None
        if not rows:
            return [""]
        return rows[0] if len(rows) == 1 else None


def _empty_strings(n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, type=pa.large_string()), pa.scalar("", pa.large_string()))


def _slice_records(rec: _Records, take: int) -> _Records:
    return _Records(
        starts=rec.starts[:take],
        ends=rec.ends[:take],
        nexts=rec.nexts[:take],
        line_offsets=rec.line_offsets[:take],
        fields=rec.fields[:take],
        irregular=rec.irregular[:take],
        blankish=rec.blankish[:take],
        lines_through=rec.lines_through[:take],
    )


def _inside(starts: np.ndarray, ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether each position lies in a quoted span [start, end)."""
    result = np.zeros(len(positions), dtype=bool)
    if len(starts) == 0 or len(positions) == 0:
        return result
    idx = np.searchsorted(starts, positions, side="right") - 1
    ok = idx >= 0
    result[ok] = positions[ok] < ends[idx[ok]]
    return result


def _raise_field_limit(size: int) -> None:
    # csv refuses fields over 128 KiB by default; long fields are data here, not an attack.
    if csv.field_size_limit() < size + 1:
        csv.field_size_limit(size + 1)
