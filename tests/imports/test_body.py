"""fileBody serialisation and chunking under a byte budget."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd
import pytest

from etl.errors import ConfigError
from etl.imports.body import (
    DEFAULT_CHUNK_BYTES,
    MAX_CHUNK_BYTES,
    ChunkBuilder,
    header_line,
    parse_body,
    quote_value,
    serialise_rows,
)
from etl.imports.csv import STR_DTYPE


def contacts(rows: list[dict[str, str]], *, first_line: int = 2) -> pd.DataFrame:
    columns = list(rows[0])
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in columns})
    frame["_line"] = np.arange(first_line, first_line + len(rows), dtype=np.int64)
    return frame


def test_limits():
    assert MAX_CHUNK_BYTES == 10_485_760
    assert DEFAULT_CHUNK_BYTES == 8 * 1024 * 1024


def test_serialise_rows_quotes_only_when_needed():
    frame = contacts(
        [
            {"EMAIL": "a@x.com", "FIRSTNAME": "Ann", "NOTE": ""},
            {"EMAIL": "b@x.com", "FIRSTNAME": 'Bob "B"', "NOTE": "x;y"},
            {"EMAIL": "c@x.com", "FIRSTNAME": "Zoé", "NOTE": "two\nlines\r"},
            {"EMAIL": "d@x.com", "FIRSTNAME": "a,b|c\td", "NOTE": "'single'"},
        ]
    )
    assert serialise_rows(frame, ["EMAIL", "FIRSTNAME", "NOTE"]) == [
        "a@x.com;Ann;",
        'b@x.com;"Bob ""B""";"x;y"',
        'c@x.com;Zoé;"two\nlines\r"',
        "d@x.com;a,b|c\td;'single'",
    ]
    assert serialise_rows(frame.iloc[:0], ["EMAIL"]) == []
    assert quote_value('x"y') == '"x""y"'
    assert header_line(["EMAIL", "A;B"]) == 'EMAIL;"A;B"'


def test_parse_body_round_trip():
    frame = contacts(
        [
            {"EMAIL": "a@x.com", "NOTE": 'multi\r\nline; "quoted"'},
            {"EMAIL": "b@x.com", "NOTE": ""},
        ]
    )
    builder = ChunkBuilder(["EMAIL", "NOTE"])
    assert builder.add(frame) == []
    chunk = builder.flush()
    assert chunk is not None
    assert parse_body(chunk.body) == [
        {"EMAIL": "a@x.com", "NOTE": 'multi\r\nline; "quoted"'},
        {"EMAIL": "b@x.com", "NOTE": ""},
    ]
    assert chunk.body.startswith("EMAIL;NOTE\n")
    assert not chunk.body.endswith("\n")
    assert chunk.bytes == len(chunk.body.encode("utf-8"))
    assert chunk.sha256 == hashlib.sha256(chunk.body.encode("utf-8")).hexdigest()
    assert chunk.lines == (2, 3)
    assert chunk.columns == ("EMAIL", "NOTE")
    assert builder.flush() is None
    assert parse_body("") == []


def test_chunks_respect_the_budget_and_never_split_rows():
    rows = [{"EMAIL": f"user{i}@example.com", "NAME": "é" * (i % 13)} for i in range(500)]
    frame = contacts(rows)
    budget = 1_000
    builder = ChunkBuilder(["EMAIL", "NAME"], chunk_bytes=budget)
    chunks = builder.add(frame.iloc[:200]) + builder.add(frame.iloc[200:])
    last = builder.flush()
    chunks.append(last)
    assert all(c.bytes <= budget for c in chunks)
    # Each chunk is as full as the next row allows.
    for chunk, nxt in itertools.pairwise(chunks):
        first_next = nxt.body.split("\n")[1]
        assert chunk.bytes + 1 + len(first_next.encode()) > budget
    parsed = [row for c in chunks for row in parse_body(c.body)]
    assert parsed == [{"EMAIL": r["EMAIL"], "NAME": r["NAME"]} for r in rows]
    assert [n for c in chunks for n in c.lines] == list(range(2, 502))
    assert builder.rows_added == 500


def test_a_row_too_large_for_any_chunk_is_set_aside():
    rows = [
        {"EMAIL": "a@x.com", "NOTE": "short"},
        {"EMAIL": "b@x.com", "NOTE": "x" * 500},
        {"EMAIL": "c@x.com", "NOTE": "short"},
    ]
    builder = ChunkBuilder(["EMAIL", "NOTE"], chunk_bytes=100)
    chunks = builder.add(contacts(rows))
    last = builder.flush()
    all_rows = [r for c in [*chunks, last] for r in parse_body(c.body)]
    assert [r["EMAIL"] for r in all_rows] == ["a@x.com", "c@x.com"]
    rejected = builder.pop_rejected()
    assert rejected["reason"].tolist() == ["row_too_large"]
    assert rejected["_line"].tolist() == [3]
    assert rejected["EMAIL"].tolist() == ["b@x.com"]
    assert "cannot fit" in rejected["message"].iloc[0]
    assert len(builder.pop_rejected()) == 0


def test_exact_fit():
    header = "EMAIL"
    row = "a@x.com"
    budget = len(header) + 1 + len(row)
    builder = ChunkBuilder(["EMAIL"], chunk_bytes=budget)
    chunks = builder.add(contacts([{"EMAIL": row}, {"EMAIL": row}]))
    assert len(chunks) == 1
    assert chunks[0].bytes == budget
    assert builder.flush().bytes == budget


@pytest.mark.parametrize("size", [MAX_CHUNK_BYTES + 1, 5])
def test_bad_budgets(size):
    with pytest.raises(ConfigError):
        ChunkBuilder(["EMAIL", "FIRSTNAME"], chunk_bytes=size)
    with pytest.raises(ConfigError):
        ChunkBuilder([])


def test_contacts_without_line_column():
    frame = contacts([{"EMAIL": "a@x.com"}]).drop(columns=["_line"])
    builder = ChunkBuilder(["EMAIL"])
    builder.add(frame)
    chunk = builder.flush()
    assert chunk.rows == 1
    assert chunk.lines == (0,)
