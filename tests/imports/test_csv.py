"""Reading messy CSV files: sniffing, streaming, line numbers, ragged rows, bounded memory."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import pytest

import etl.imports.csv.reader as csv_reader
from etl.errors import InputError
from etl.imports.csv import (
    CsvFormat,
    ReaderLimits,
    count_lines_hint,
    iter_csv_batches,
    sniff_csv,
    unique_names,
)


def write(tmp_path: Path, data: bytes | str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def read_all(path: Path, *, batch_rows: int = 50_000, fmt: CsvFormat | None = None):
    fmt = fmt or sniff_csv(path)
    rows, lines, malformed = [], [], []
    for batch in iter_csv_batches(path, fmt, batch_rows=batch_rows):
        assert list(batch.rows.columns) == list(fmt.header)
        assert len(batch.lines) == len(batch.rows)
        assert batch.lines.dtype == np.int64
        assert batch.rows_read == len(batch.rows) + len(batch.malformed)
        rows += batch.rows.values.tolist()
        lines += batch.lines.tolist()
        malformed += batch.malformed
    return fmt, rows, lines, malformed


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("encoding", "bom", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
        ("utf-16-le", b"", "utf-16-le"),
        ("utf-16-be", b"", "utf-16-be"),
        ("cp1252", b"", "cp1252"),
    ],
)
def test_sniff_detects_encoding_and_reads_accents(tmp_path, encoding, bom, expected):
    text = "Email;Prénom;Nom\r\nzoe@example.com;Zoé;Lefèvre\r\nana@example.com;Ana;Œuvre €\r\n"
    path = write(tmp_path, bom + text.encode(encoding))
    fmt, rows, lines, _ = read_all(path)
    assert fmt.encoding == expected
    assert fmt.delimiter == ";"
    assert fmt.header == ("Email", "Prénom", "Nom")
    assert rows == [["zoe@example.com", "Zoé", "Lefèvre"], ["ana@example.com", "Ana", "Œuvre €"]]
    assert lines == [2, 3]


def test_sniff_falls_back_to_latin1_when_cp1252_cannot_decode(tmp_path):
    # 0x81 is undefined in Windows-1252; Latin-1 maps every byte.
    path = write(tmp_path, b"Email,Name\nx@example.com,H\xe9l\xe8ne \x81\n")
    fmt, rows, _, _ = read_all(path)
    assert fmt.encoding == "latin-1"
    assert rows == [["x@example.com", "Hélène \x81"]]


def test_utf8_wins_when_the_whole_file_is_valid_utf8_even_late(tmp_path):
    # A Windows-1252 byte far past the sniffing sample still forces the fallback.
    body = "Email,Name\n" + "a@example.com,Ann\n" * 30_000
    path = write(tmp_path, body.encode() + b"b@example.com,Ren\xe9e\n")
    fmt, rows, _, _ = read_all(path)
    assert fmt.encoding == "cp1252"
    assert rows[-1] == ["b@example.com", "Renée"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_sniff_detects_each_delimiter(tmp_path, delimiter):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(["Email", "First name", "Score"])
    writer.writerow(["a@example.com", "Ann, Jr; x|y\tz", "1,5"])
    writer.writerow(["b@example.com", "Bob", "2"])
    path = write(tmp_path, buf.getvalue())
    fmt, rows, _, _ = read_all(path)
    assert fmt.delimiter == delimiter
    assert rows[0] == ["a@example.com", "Ann, Jr; x|y\tz", "1,5"]


def test_semicolon_file_with_decimal_commas_is_not_taken_for_commas(tmp_path):
    path = write(tmp_path, "Email;Score;Other\na@x.com;12,5;1,2,3\nb@x.com;3,25;x\n")
    assert sniff_csv(path).delimiter == ";"


@pytest.mark.parametrize(
    ("first", "delimiter"),
    [("sep=;", ";"), ('"sep=|"', "|"), ("SEP=\t", "\t"), ("sep=,,,,", ",")],
)
def test_excel_sep_line_sets_delimiter_and_shifts_line_numbers(tmp_path, first, delimiter):
    path = write(tmp_path, f"{first}\r\nEmail{delimiter}Name\r\na@x.com{delimiter}Ann\r\n")
    fmt, rows, lines, _ = read_all(path)
    assert fmt.skip_sep_line is True
    assert fmt.delimiter == delimiter
    assert fmt.header == ("Email", "Name")
    assert rows == [["a@x.com", "Ann"]]
    assert lines == [3]


def test_header_names_are_stripped_unique_and_named(tmp_path):
    path = write(tmp_path, "\ufeff  Email ,Note,Note,,Note (2)\na@x.com,1,2,3,4\n")
    fmt = sniff_csv(path)
    assert fmt.header == ("Email", "Note", "Note (3)", "_unnamed_4", "Note (2)")
    assert fmt.raw_header == ("  Email ", "Note", "Note", "", "Note (2)")
    assert unique_names(["a", "a", "a"]) == ("a", "a (2)", "a (3)")


def test_leading_blank_lines_before_header_are_skipped(tmp_path):
    path = write(tmp_path, "\r\n   \r\n,,,\r\nEmail,Name\r\n\r\na@x.com,Ann\r\n")
    fmt, rows, lines, _ = read_all(path)
    assert fmt.header == ("Email", "Name")
    assert rows == [["a@x.com", "Ann"]]
    assert lines == [6]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n  \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "PNG"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "xlsx"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "binary"),
        (b"\x00" * 100 + b"email\n", "binary"),
        (b"sep=;\r\n", "no header"),
    ],
)
def test_unusable_files_raise_input_error(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=message):
        sniff_csv(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        sniff_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not a regular file"):
        sniff_csv(tmp_path)


def test_undecodable_utf16_raises(tmp_path):
    # An odd byte count with a UTF-16 BOM cannot be decoded.
    path = write(tmp_path, codecs.BOM_UTF16_LE + "Email\na@x.com\n".encode("utf-16-le") + b"\x00")
    with pytest.raises(InputError, match="cannot be decoded"):
        sniff_csv(path)


def test_a_few_nul_bytes_in_utf8_text_are_data(tmp_path):
    path = write(tmp_path, b"Email,Name\na@x.com,A\x00nn\n")
    _, rows, _, _ = read_all(path)
    assert rows == [["a@x.com", "A\x00nn"]]


def test_count_lines_hint(tmp_path):
    path = write(tmp_path, "h\n1\n2\n3\n")
    assert count_lines_hint(path) == 3


# --------------------------------------------------------------------------- streaming


def test_quoted_fields_newlines_and_line_numbers(tmp_path):
    text = (
        "Email,Notes\r\n"  # 1
        'a@x.com,"two\r\nlines"\r\n'  # 2-3
        '"b@x.com","with ""quotes"", commas, and\nnewline"\r\n'  # 4-5
        "c@x.com,plain\r\n"  # 6
    )
    _, rows, lines, malformed = read_all(write(tmp_path, text))
    assert rows == [
        ["a@x.com", "two\r\nlines"],
        ["b@x.com", 'with "quotes", commas, and\nnewline'],
        ["c@x.com", "plain"],
    ]
    assert lines == [2, 4, 6]
    assert malformed == []


def test_blank_and_whitespace_lines_are_not_rows(tmp_path):
    text = 'Email,Name\n\na@x.com,Ann\n   \n,\n\t,  \n"",""\nb@x.com,Bob\n\n\n\r\n'
    _, rows, lines, malformed = read_all(write(tmp_path, text))
    assert rows == [["a@x.com", "Ann"], ["b@x.com", "Bob"]]
    assert lines == [3, 8]
    assert malformed == []


def test_mixed_line_endings(tmp_path):
    text = "Email,Name\r\na@x.com,A\nb@x.com,B\rc@x.com,C\r\n\rd@x.com,D"
    _, rows, lines, _ = read_all(write(tmp_path, text))
    assert [r[0] for r in rows] == ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]
    assert lines == [2, 3, 4, 6]


def test_short_rows_are_padded_and_long_rows_reported(tmp_path):
    text = 'Email,First,Last\na@x.com\nb@x.com,B\nc@x.com,C,D,extra\n"d@x.com","D","E","F","G"\ne@x.com,E,F\n'
    _, rows, lines, malformed = read_all(write(tmp_path, text))
    assert rows == [["a@x.com", "", ""], ["b@x.com", "B", ""], ["e@x.com", "E", "F"]]
    assert lines == [2, 3, 6]
    assert malformed == [
        (4, "c@x.com,C,D,extra", "malformed_row"),
        (5, '"d@x.com","D","E","F","G"', "malformed_row"),
    ]


def test_stray_quotes_read_as_the_csv_module_does(tmp_path):
    text = 'Email,Height,Name\na@x.com,5\'11",O"Brien\nb@x.com, "quoted after space",x\n"c@x.com"x,y,z\n'
    path = write(tmp_path, text)
    _, rows, lines, _ = read_all(path)
    expected = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert rows == expected
    assert lines == [2, 3, 4]


def test_unterminated_quote_at_end_of_file_runs_to_the_end(tmp_path):
    text = 'Email,Notes\na@x.com,ok\nb@x.com,"never closed\nc@x.com,still inside\n'
    _, rows, lines, _ = read_all(write(tmp_path, text))
    assert rows == [["a@x.com", "ok"], ["b@x.com", "never closed\nc@x.com,still inside\n"]]
    assert lines == [2, 3]


def test_long_fields_beyond_the_csv_module_default_limit(tmp_path):
    long = "x" * 300_000
    text = f'Email,Notes\na@x.com,"{long}"\nb@x.com,{long}\n"c@x.com",{long},extra\n'
    _, rows, _, malformed = read_all(write(tmp_path, text))
    assert rows == [["a@x.com", long], ["b@x.com", long]]
    assert len(malformed) == 1
    assert malformed[0][0] == 4


def test_batches_are_bounded_and_lines_continue_across_batches(tmp_path):
    body = "".join(
        f'u{i}@x.com,"n\n{i}"\n' if i % 7 == 0 else f"u{i}@x.com,n{i}\n" for i in range(2500)
    )
    path = write(tmp_path, "Email,Name\n" + body)
    fmt = sniff_csv(path)
    sizes, all_lines = [], []
    for batch in iter_csv_batches(path, fmt, batch_rows=300):
        sizes.append(len(batch.rows))
        all_lines += batch.lines.tolist()
    assert max(sizes) <= 300
    assert sum(sizes) == 2500
    expected, line = [], 2
    for i in range(2500):
        expected.append(line)
        line += 2 if i % 7 == 0 else 1
    assert all_lines == expected


def test_streaming_never_reads_the_whole_file_at_once(tmp_path, monkeypatch):
    body = "".join(f"user{i}@example.com,Name {i},Last {i}\n" for i in range(60_000))
    path = write(tmp_path, "Email,First,Last\n" + body)
    size = path.stat().st_size
    reads: list[int] = []
    original = csv_reader._Utf8Source.read

    def spy(self, n):
        data = original(self, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(csv_reader._Utf8Source, "read", spy)
    limits = ReaderLimits(first_block_bytes=64 * 1024)
    batches = iter_csv_batches(path, sniff_csv(path), batch_rows=5_000, limits=limits)
    total = sum(len(b.rows) for b in batches)
    assert total == 60_000
    assert max(reads) < size / 4


def test_an_unclosed_quote_early_in_a_big_file_is_an_input_error(tmp_path):
    limits = ReaderLimits(max_record_bytes=256 * 1024, max_block_bytes=256 * 1024)
    body = 'a@x.com,"oops\n' + "b@x.com,fine\n" * 80_000
    path = write(tmp_path, "Email,Name\n" + body)
    with pytest.raises(InputError, match="quote never closed"):
        list(iter_csv_batches(path, sniff_csv(path), limits=limits))


def test_format_with_bad_delimiter_is_refused(tmp_path):
    path = write(tmp_path, "Email\na@x.com\n")
    fmt = CsvFormat(encoding="utf-8", delimiter='"', skip_sep_line=False, header=("Email",))
    with pytest.raises(InputError, match="delimiter"):
        list(iter_csv_batches(path, fmt))


def test_single_column_file_and_header_only_file(tmp_path):
    _, rows, lines, _ = read_all(write(tmp_path, "email\na@x.com\n\nb@x.com"))
    assert rows == [["a@x.com"], ["b@x.com"]]
    assert lines == [2, 4]
    _, rows, _, _ = read_all(write(tmp_path, "Email,Name\r\n", name="h.csv"))
    assert rows == []


def test_utf16_streams_with_line_numbers(tmp_path):
    text = "Email\tNotes\r\n" + "".join(f'u{i}@x.com\t"é\r\n{i}"\r\n' for i in range(3000))
    path = write(tmp_path, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    fmt, rows, lines, _ = read_all(path, batch_rows=700)
    assert fmt.encoding == "utf-16"
    assert len(rows) == 3000
    assert rows[2999] == ["u2999@x.com", "é\r\n2999"]
    assert lines[:3] == [2, 4, 6]
    assert lines[-1] == 2 + 2 * 2999


def test_rows_are_text_never_nan(tmp_path):
    _, rows, _, _ = read_all(write(tmp_path, "Email,NA,null\na@x.com,NA,\n"))
    assert rows == [["a@x.com", "NA", ""]]


def test_many_short_rows_are_padded_in_bulk(tmp_path):
    # A header with trailing empty columns: every row is short (read by pyarrow, then padded).
    body = "".join(
        f"u{i}@x.com,N{i}\n" if i % 50 else f'u{i}@x.com,"N\n{i}",x\n' for i in range(300)
    )
    path = write(tmp_path, "Email,Name,,,\n" + body)
    fmt, rows, lines, malformed = read_all(path, batch_rows=120)
    assert fmt.header == ("Email", "Name", "_unnamed_3", "_unnamed_4", "_unnamed_5")
    assert len(rows) == 300
    assert rows[1] == ["u1@x.com", "N1", "", "", ""]
    assert rows[50] == ["u50@x.com", "N\n50", "x", "", ""]
    assert lines[:3] == [2, 4, 5]
    assert malformed == []


# --------------------------------------------------------------------------- report footers

SALESFORCE_TAIL = (
    '\r\n"Confidential Information - Do Not Distribute"\r\n'
    '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\r\n'
)


@pytest.mark.parametrize("batch_rows", [1, 2, 50_000])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_a_report_footer_is_neither_read_nor_rejected(tmp_path, batch_rows, encoding):
    data = '"Email","Name"\r\n"a@x.io","Zoé"\r\n"b@x.io","Bé"\r\n' + SALESFORCE_TAIL
    path = write(tmp_path, data, encoding=encoding)
    fmt, rows, lines, malformed = read_all(path, batch_rows=batch_rows)
    assert fmt.footer == (
        "Confidential Information - Do Not Distribute",
        "Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved.",
    )
    assert rows == [["a@x.io", "Zoé"], ["b@x.io", "Bé"]]
    assert (lines, malformed) == ([2, 3], [])


def test_the_real_salesforce_report_has_its_footer_recognised():
    path = Path(__file__).parents[1] / "fixtures" / "real_world" / "report1710430000000.csv"
    fmt, rows, lines, _ = read_all(path)
    assert len(fmt.footer) == 2
    assert (len(rows), lines[-1]) == (5, 6)


@pytest.mark.parametrize(
    "data",
    [
        "Email,Name\na@x.io,A\n\nb@x.io\n",  # a lone email is a short row
        "Email,Name\na@x.io,A\n\n+33612345678\n",  # no letter: data
        "Email,Name\na@x.io,A\n\nx,y\n",  # two cells
        "Email,Name\na@x.io,A\nNo blank line before\n",
        'Email,Name\na@x.io,"starts a quote\n\nstill quoted"\n',  # the blank line is in a value
        "Email\na@x.io\n\nSingle column file\n",  # every row of it is one cell
        "Email,Name\na@x.io,A\n\n" + "".join(f"line {i}\n" for i in range(6)),  # too long
    ],
)
def test_what_is_not_a_footer(tmp_path, data):
    fmt = sniff_csv(write(tmp_path, data))
    assert (fmt.footer, fmt.data_end) == ((), None)


def test_trailing_blank_lines_after_the_footer_and_before_it(tmp_path):
    data = "Email,Name\na@x.io,A\n\n\nTotal: 1 record\n\n\n"
    fmt, rows, _, _ = read_all(write(tmp_path, data))
    assert fmt.footer == ("Total: 1 record",)
    assert rows == [["a@x.io", "A"]]


def test_a_header_and_a_footer_only(tmp_path):
    fmt, rows, _, malformed = read_all(write(tmp_path, "Email,Name\n\nGenerated by CRM\n"))
    assert fmt.footer == ("Generated by CRM",)
    assert (rows, malformed) == ([], [])
