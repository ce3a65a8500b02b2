"""Sniff a contact CSV file once: encoding, binary content, ``sep=`` line, delimiter, header.

The encoding comes from a BOM; UTF-16 without BOM is found by its NUL bytes; otherwise a full
UTF-8 validity scan decides, with a Windows-1252, then Latin-1, fallback. Binary files (ZIP,
Office, PDF, images, ...) are refused by their magic bytes or their share of control bytes.

A report footer is found at the end (:func:`find_footer`): a Salesforce report export ends with
a blank line and legal lines (``"Confidential Information - Do Not Distribute"``). Those lines
are not rows: the reader stops before them (``CsvFormat.data_end``) and the run reports them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from etl.errors import InputError

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
UNNAMED_PREFIX = "_unnamed_"  # header cells left empty become _unnamed_<position>
# Excel's column limit. Every column costs work per batch whether or not it maps to an
# attribute, so a header far wider than any contact list is refused rather than crawled through.
MAX_COLUMNS = 16_384

_SAMPLE_BYTES = 256 * 1024
_SCAN_BYTES = 1 << 20
_SNIFF_ROWS = 200

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
    data_end: int | None = None
    """Byte offset where the data ends, when a footer follows (see :func:`find_footer`)."""
    footer: tuple[str, ...] = ()
    """The footer's lines (their text, unquoted), not read as rows."""


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
    footer = find_footer(path, encoding, delimiter) if len(raw_header) > 1 else None
    return CsvFormat(
        encoding=encoding,
        delimiter=delimiter,
        skip_sep_line=skip_sep_line,
        header=unique_names(raw_header),
        raw_header=tuple(raw_header),
        data_end=footer[0] if footer else None,
        footer=footer[1] if footer else (),
    )


_FOOTER_TAIL_BYTES = 64 * 1024
_FOOTER_MAX_LINES = 5
_FOOTER_MAX_CHARS = 500
_ASCII_COMPATIBLE = frozenset({"utf-8", "utf-8-sig", "cp1252", "latin-1", "iso8859-1"})


def find_footer(path: Path, encoding: str, delimiter: str) -> tuple[int, tuple[str, ...]] | None:
    """A trailing block of single-cell lines after a blank line: where the data ends, and the
    block's lines; None when the file has no such footer.

    A footer line is one cell (no delimiter outside quotes), holds a letter, no ``@`` (a lone
    email is a short row, not a footer) and at most 500 characters; at most 5 such lines. The
    blank line must end a record: the quotes before it are even in number, so it is not inside
    a quoted multi-line value. Only encodings where ``"`` and line breaks are single bytes
    (UTF-8, Windows-1252, Latin-1) are looked at.
    """
    if codecs.lookup(encoding).name not in _ASCII_COMPATIBLE:
        return None
    size = path.stat().st_size
    with path.open("rb") as raw:
        raw.seek(max(0, size - _FOOTER_TAIL_BYTES))
        tail = raw.read()
    base = size - len(tail)
    # Line starts within the tail (a partial first line is never a candidate).
    starts = [m.end() for m in re.finditer(rb"\r\n|\r(?!\n)|\n", tail)]
    lines: list[tuple[int, bytes]] = []
    previous = 0
    for start in [*starts, len(tail)]:
        lines.append((previous, tail[previous:start]))
        previous = start
    if base > 0:
        lines = lines[1:]
    while lines and not lines[-1][1].strip():
        lines.pop()
    footer: list[str] = []
    while lines and lines[-1][1].strip():
        _, line = lines.pop()
        text = _footer_cell(line, encoding, delimiter)
        if text is None or len(footer) >= _FOOTER_MAX_LINES:
            return None
        footer.append(text)
    if not footer or not lines:
        return None
    blank_start = lines[-1][0] + base
    # Walk back over further blank lines: the data ends before the first of them.
    while lines and not lines[-1][1].strip():
        blank_start = lines.pop()[0] + base
    if not lines and base > 0:
        return None
    if _count_quotes(path, blank_start) % 2:
        return None
    return blank_start, tuple(reversed(footer))


def _footer_cell(line: bytes, encoding: str, delimiter: str) -> str | None:
    try:
        text = line.decode(encoding).strip().lstrip("\ufeff")
    except UnicodeDecodeError:
        return None
    if not text or len(text) > _FOOTER_MAX_CHARS or text.count('"') % 2 or "@" in text:
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return None
    if len(rows) != 1 or len(rows[0]) != 1:
        return None
    cell = rows[0][0].strip()
    if not any(c.isalpha() for c in cell):
        return None
    return cell


def _count_quotes(path: Path, end: int) -> int:
    quotes = 0
    with path.open("rb") as raw:
        while end > 0:
            block = raw.read(min(_SCAN_BYTES, end))
            if not block:
                break
            quotes += block.count(b'"')
            end -= len(block)
    return quotes


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
    raise_field_limit(len(text))
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


def raise_field_limit(size: int) -> None:
    # csv refuses fields over 128 KiB by default; long fields are data here, not an attack.
    if csv.field_size_limit() < size + 1:
        csv.field_size_limit(size + 1)
