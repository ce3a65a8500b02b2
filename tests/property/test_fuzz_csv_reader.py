"""Fuzz the CSV reader with bytes no CSV writer would produce: it raises only InputError.

The existing properties (``test_import_properties.py``) check that well-formed files read as
Python's csv module reads them; these feed arbitrary byte soup (BOMs, stray quotes, NULs, broken
UTF-8 and UTF-16, Excel ``sep=`` lines, control and Unicode line-break characters) and check
that the reader either refuses the file with a one-line :class:`InputError` or reads it with its
invariants intact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from etl.errors import InputError
from etl.imports.csv import DELIMITERS, CsvFormat, iter_csv_batches, sniff_csv

TOKENS = [
    b",", b";", b"\t", b"|", b'"', b'""', b"\r", b"\n", b"\r\n", b" ", b"a", b"Email",
    b"x@y.com", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"\xc3\xa9", b"\xe9",
    b"\x81", b"sep=;", b"sep=", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\xf0\x9f", b"\x1b",
    b"\x0b", b"\x0c", b"\xe2\x80\xa8", b"\xc2\x85", b"PK\x03\x04", b"\x1f\x8b",
]  # fmt: skip
SOUP = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=4), max_size=80).map(b"".join)
FILES = st.one_of(
    SOUP,
    SOUP.map(lambda body: b"Email,Name\n" + body),
    SOUP.map(lambda body: b"\xef\xbb\xbfEmail;Name\r\n" + body),
    st.binary(max_size=400),
)


def _read(data: bytes, batch_rows: int, delimiter: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(data)
        try:
            _check_batches(path, batch_rows, delimiter)
        except InputError as exc:
            error = exc
        else:
            return
    assert "\n" not in str(error), str(error)


def _check_batches(path: Path, batch_rows: int, delimiter: str | None) -> None:
    fmt = sniff_csv(path)
    if delimiter is not None:
        fmt = CsvFormat(
            encoding=fmt.encoding,
            delimiter=delimiter,
            skip_sep_line=fmt.skip_sep_line,
            header=fmt.header,
            raw_header=fmt.raw_header,
        )
    last_line = 0
    for batch in iter_csv_batches(path, fmt, batch_rows=batch_rows):
        assert list(batch.rows.columns) == list(fmt.header)
        assert len(batch.rows) == len(batch.lines)
        assert 0 < batch.rows_read <= batch_rows
        lines = sorted([*batch.lines.tolist(), *(m[0] for m in batch.malformed)])
        assert lines == sorted(set(lines))
        assert not lines or lines[0] > last_line
        last_line = lines[-1] if lines else last_line
        for column in batch.rows.columns:
            values = batch.rows[column].to_numpy(dtype=object, na_value=None)
            assert all(isinstance(v, str) for v in values)
        assert batch.lines.dtype == np.int64


@given(FILES, st.integers(1, 4))
def test_byte_soup_reads_or_raises_input_error(data, batch_rows):
    _read(data, batch_rows, None)


@given(FILES, st.sampled_from(DELIMITERS))
def test_any_delimiter_over_any_bytes_reads_or_raises_input_error(data, delimiter):
    _read(data, 2, delimiter)
