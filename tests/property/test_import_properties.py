"""Property tests of the import's data side (hypothesis; profile set in tests/conftest.py)."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import assume, given
from hypothesis import strategies as st

from etl.brevo.models import Attribute, EnumValue
from etl.errors import InputError
from etl.imports.body import ChunkBuilder, parse_body, serialise_rows
from etl.imports.csv import (
    DEFAULT_LIMITS,
    STR_DTYPE,
    CsvFormat,
    RawBatch,
    ReaderLimits,
    iter_csv_batches,
)
from etl.imports.mapping import map_columns
from etl.imports.normalise import (
    IDENTIFIER,
    LINE,
    NormaliseOptions,
    build_specs,
    check_email,
    normalise_batch,
)
from etl.imports.normalise.emails import normalise_emails

SPECIALS = [",", ";", "\t", "|", '"', "'", "\r", "\n", " ", "\x00", "\x0b", "\xa0", "é", "€"]
FIELD = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(codec="utf-8")), max_size=12
)


# --------------------------------------------------------------------------- the CSV reader


@st.composite
def csv_files(draw):
    ncols = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(FIELD, min_size=1, max_size=5), max_size=12))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    terminator = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    header = [f"h{i}" for i in range(ncols)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if draw(st.booleans()):
        text += draw(st.sampled_from(["\n", "\r\n\r\n", "  \n", ""]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    return text, data, encoding, delimiter, header


@given(csv_files(), st.integers(1, 5), st.booleans())
def test_reader_returns_what_the_csv_module_reads(sample, batch_rows, bulk_short_rows):
    text, data, encoding, delimiter, header = sample
    # bulk_short_rows: send even a single short row through pyarrow (normally 64 are needed).
    limits = ReaderLimits(bulk_short_rows=1) if bulk_short_rows else DEFAULT_LIMITS
    _check_reader(text, data, encoding, delimiter, header, batch_rows, limits)


def _check_reader(text, data, encoding, delimiter, header, batch_rows, limits):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(data)
        fmt = CsvFormat(
            encoding=encoding, delimiter=delimiter, skip_sep_line=False, header=tuple(header)
        )
        rows, malformed = [], 0
        try:
            for batch in iter_csv_batches(path, fmt, batch_rows=batch_rows, limits=limits):
                assert len(batch.rows) <= batch_rows or not len(batch.rows)
                rows += batch.rows.values.tolist()
                malformed += len(batch.malformed)
        except InputError:  # the only error the reader may raise
            return
    expected_rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))[1:]
    nonblank = [r for r in expected_rows if any(c.strip() for c in r)]
    ncols = len(header)
    expected = [r + [""] * (ncols - len(r)) for r in nonblank if len(r) <= ncols]
    assert rows == expected
    assert malformed == sum(len(r) > ncols for r in nonblank)


@given(csv_files())
def test_sniffed_header_matches_the_first_row(sample):
    from etl.imports.csv import sniff_csv

    _, data, encoding, delimiter, header = sample
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(data)
        try:
            fmt = sniff_csv(path)
        except InputError:
            return
    # Whatever the delimiter guess, the header names are h0..hN or one cell holding them all.
    assert fmt.encoding.replace("-sig", "") in {
        codecs.lookup(encoding).name.replace("-sig", ""),
        "utf-8",
        "cp1252",
        "latin-1",
        "utf-16-le",
        "utf-16-be",
        "utf-16",
    }
    joined = delimiter.join(header)
    assert fmt.header in (tuple(header), (joined,)) or fmt.delimiter != delimiter


# --------------------------------------------------------------------------- normalising

SPECS = build_specs(
    [
        Attribute("SMS", "normal", "text"),
        Attribute("BIRTHDAY", "normal", "date"),
        Attribute("GENDER", "category", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
        Attribute("NEWSLETTER", "normal", "boolean"),
        Attribute("SCORE", "normal", "float"),
        Attribute("INTERESTS", "normal", "multiple-choice", (), ("Sport", "Music", "Travel")),
        Attribute("FIRSTNAME", "normal", "text"),
    ]
)
POOLS = {
    "Email": [
        " A.B@Example.com ",
        "zoé@exemple.fr",
        "bad",
        "",
        "x@y",
        "Éloïse.1@test.io",
        "a@b.co",
    ],
    "Mobile": [
        "+33 6 12 34 56 78",
        "0612345678",
        "12345",
        "",
        "0033 7 00 00 00 00",
        "+1 415 555 2671",
        "06 92 12 34 56",  # Réunion, dialled the French way
        "+44 7911 12345",
    ],
    "Birthday": [
        "1990-03-25",
        "25/03/1990",
        "3.4.1990",
        "12 Mar 1990",
        "31/02/1990",
        "",
        "32945",
        "03/02/1990",
        "12/25/1990",
        "07/07/1990",
    ],
    "Gender": ["Mr", "ms", "1", "2", "Mrs", ""],
    "Newsletter": ["yes", "NO", "1", "oui", "maybe", ""],
    "Score": ["12,5", "1e3", "-0", "7", "abc", "", "1 234,50"],
    "Interests": ["sport", "Music;travel", "golf", "", "sport|sport"],
    "First name": [" Zoé ", "=1+1", "a\x00b", "", "two\nlines"],
}


def _value(column: str):
    return st.one_of(st.sampled_from(POOLS[column]), FIELD)


ROWS = st.lists(st.fixed_dictionaries({c: _value(c) for c in POOLS}), max_size=15)


def _raw(rows: list[dict[str, str]], columns: list[str], lines=None) -> RawBatch:
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in columns})
    lines = np.arange(2, 2 + len(rows)) if lines is None else lines
    return RawBatch(rows=frame, lines=np.asarray(lines, dtype=np.int64), malformed=[])


DATE_ORDERS = st.sampled_from([(), (("BIRTHDAY", "day-first"),), (("BIRTHDAY", "month-first"),)])


@given(
    ROWS,
    st.sampled_from([None, "FR", "US"]),
    st.sampled_from([None, True, False]),
    st.booleans(),
    DATE_ORDERS,
)
def test_normalising_is_idempotent_and_never_adds_rows(rows, region, dayfirst, drop, orders):
    options = NormaliseOptions(
        default_region=region, dayfirst=dayfirst, drop_invalid_values=drop, date_orders=orders
    )
    columns = list(POOLS)
    first = normalise_batch(_raw(rows, columns), map_columns(columns), SPECS, options)
    assert first.rows_ok + first.rows_rejected == len(rows)
    assert first.rows_ok <= len(rows)
    contacts = first.contacts
    attributes = [c for c in contacts.columns if c not in (LINE, IDENTIFIER)]
    again_rows = contacts[attributes].to_dict("records")
    raw = _raw(again_rows, attributes, lines=contacts[LINE].to_numpy())
    second = normalise_batch(raw, map_columns(attributes), SPECS, options)
    assert second.rows_rejected == 0
    assert len(second.dropped) == 0
    pd.testing.assert_frame_equal(second.contacts, contacts)


EMAIL_PARTS = st.text(
    alphabet=st.sampled_from(list("aZ09._-+'!#$%&*/=?^`{|}~@ \"éÉłİßñ\u0301\u200b")),
    max_size=10,
)


@given(
    st.lists(
        st.tuples(
            EMAIL_PARTS, EMAIL_PARTS, st.sampled_from(["com", "fr", "test", "c0m", "é", "x-y"])
        ),
        max_size=30,
    )
)
def test_email_fast_paths_agree_with_email_validator(parts):
    values = sorted({f"{a}@{b}.{c}" for a, b, c in parts} | {f"{a}{b}" for a, b, _ in parts})
    out, bad, _ = normalise_emails(pa.array(values, type=pa.large_string()))
    got = [None if b else o for o, b in zip(out.to_pylist(), bad, strict=True)]
    expected = [check_email(v)[0] if v else "" for v in values]
    assert got == expected


# --------------------------------------------------------------------------- bodies and chunks

VALUES = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(codec="utf-8")), max_size=20
)


@given(st.lists(st.lists(VALUES, min_size=3, max_size=3), max_size=20), st.integers(1, 3))
def test_parse_body_of_serialised_rows_gives_the_rows_back(values, width):
    columns = ["EMAIL", "FIRSTNAME", "NOTE"][:width]
    frame = pd.DataFrame(
        {c: pd.Series([v[i] for v in values], dtype=STR_DTYPE) for i, c in enumerate(columns)}
    )
    body = "\n".join([";".join(columns), *serialise_rows(frame, columns)])
    assert parse_body(body) == frame.to_dict("records")


@given(
    st.lists(st.lists(VALUES, min_size=2, max_size=2), max_size=40),
    st.integers(20, 400),
    st.lists(st.integers(0, 40), max_size=4),
)
def test_chunks_stay_under_budget_and_keep_every_row_in_order(values, budget, cuts):
    columns = ["EMAIL", "NOTE"]
    frame = pd.DataFrame(
        {c: pd.Series([v[i] for v in values], dtype=STR_DTYPE) for i, c in enumerate(columns)}
    )
    frame[LINE] = np.arange(len(values), dtype=np.int64)
    builder = ChunkBuilder(columns, chunk_bytes=budget)
    bounds = sorted({0, len(values), *[min(c, len(values)) for c in cuts]})
    chunks = []
    for lo, hi in itertools.pairwise(bounds):
        chunks += builder.add(frame.iloc[lo:hi])
    last = builder.flush()
    if last is not None:
        chunks.append(last)
    assert all(c.bytes <= budget and c.rows > 0 for c in chunks)
    assert all(c.bytes == len(c.body.encode()) for c in chunks)
    rejected = builder.pop_rejected()
    sent = [n for c in chunks for n in c.lines]
    assert sorted(sent + rejected[LINE].tolist()) == list(range(len(values)))
    assert sent == sorted(sent)
    rows = [r for c in chunks for r in parse_body(c.body)]
    kept = frame[frame[LINE].isin(sent)]
    assert rows == kept[columns].to_dict("records")
