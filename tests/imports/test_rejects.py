"""The rejects file: every rejected row and dropped value, safe to open in a spreadsheet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from etl.brevo.models import Attribute
from etl.imports.csv import STR_DTYPE, RawBatch
from etl.imports.mapping import map_columns
from etl.imports.normalise import NormaliseOptions, build_specs, normalise_batch
from etl.imports.rejects import COLUMNS, RejectsWriter, neutralise, read_rejects, unneutralise


def normalised(rows, *, malformed=(), drop=False):
    columns = list(rows[0])
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in columns})
    raw = RawBatch(
        rows=frame,
        lines=np.arange(2, 2 + len(rows), dtype=np.int64),
        malformed=list(malformed),
    )
    specs = build_specs([Attribute("BIRTHDAY", "normal", "date")])
    mapping = map_columns(columns, known_attributes=specs)
    return normalise_batch(raw, mapping, specs, NormaliseOptions(drop_invalid_values=drop))


def test_neutralise():
    for value in ("=1+1", "+33612345678", "-2", "@SUM(A1)", "\tx", "\rx", "＝1"):
        assert neutralise(value) == "'" + value
    for value in ("", "abc", "1", "'already"):
        assert neutralise(value) == value


def test_writes_every_rejected_row_with_original_values(tmp_path):
    result = normalised(
        [
            {"Email": '=HYPERLINK("http://x")', "Name": "+Ann", "Birthday": "1990-01-01"},
            {"Email": "ok@example.com", "Name": "Bob", "Birthday": "1990-01-01"},
            {"Email": "", "Name": "-1", "Birthday": "@"},
        ],
        malformed=[(9, '=cmd|"/c calc"!A1,x,y,z', "malformed_row")],
    )
    path = tmp_path / "out" / "rejects.csv"
    with RejectsWriter(path) as writer:
        writer.write("in/=evil.csv", result.rejected)
        assert writer.count == 3
        assert writer.by_reason == {"invalid_email": 1, "missing_identifier": 1, "malformed_row": 1}
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_rejects(path)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["line"] for r in rows] == ["2", "4", "9"]
    assert [r["reason"] for r in rows] == ["invalid_email", "missing_identifier", "malformed_row"]
    assert {r["source_file"] for r in rows} == {"in/=evil.csv"}
    first = json.loads(rows[0]["original"])
    assert first == {"Email": '=HYPERLINK("http://x")', "Name": "+Ann", "Birthday": "1990-01-01"}
    assert rows[0]["message"].startswith("EMAIL '=HYPERLINK")  # starts with "E": left alone
    assert rows[2]["original"] == ""
    assert rows[2]["raw"] == "'" + '=cmd|"/c calc"!A1,x,y,z'
    assert all(r["action"] == "rejected" for r in rows)


def test_message_and_source_starting_with_formula_chars_are_neutralised(tmp_path):
    frame = pd.DataFrame(
        {
            "_line": pd.Series([3], dtype=np.int64),
            "reason": pd.Series(["row_too_large"], dtype=STR_DTYPE),
            "message": pd.Series(["-row too big"], dtype=STR_DTYPE),
            "EMAIL": pd.Series(["a@x.com"], dtype=STR_DTYPE),
        }
    )
    path = tmp_path / "r.csv"
    with RejectsWriter(path) as writer:
        writer.write("+file.csv", frame)
    (row,) = read_rejects(path)
    assert row["source_file"] == "'+file.csv"
    assert row["message"] == "'-row too big"
    assert json.loads(row["original"]) == {"EMAIL": "a@x.com"}


def test_dropped_values_and_append(tmp_path):
    result = normalised(
        [{"Email": "a@example.com", "Name": "Ann", "Birthday": "=31/02/1990"}], drop=True
    )
    assert len(result.rejected) == 0
    path = tmp_path / "r.csv"
    with RejectsWriter(path) as writer:
        writer.write_dropped("a.csv", result.dropped)
        writer.write("a.csv", result.rejected)  # nothing to write
        assert (writer.count, writer.dropped_count) == (0, 1)
    with RejectsWriter(path, append=True) as writer:
        writer.write_dropped("b.csv", result.dropped)
    rows = read_rejects(path)
    assert path.read_bytes().count(b"\xef\xbb\xbf") == 1
    assert [(r["source_file"], r["action"], r["reason"]) for r in rows] == [
        ("a.csv", "dropped", "invalid_value:BIRTHDAY"),
        ("b.csv", "dropped", "invalid_value:BIRTHDAY"),
    ]
    assert json.loads(rows[0]["original"]) == {"BIRTHDAY": "=31/02/1990"}


def test_empty_file_still_has_its_header_and_close_is_idempotent(tmp_path):
    path = tmp_path / "r.csv"
    writer = RejectsWriter(path)
    writer.close()
    writer.close()
    assert read_rejects(path) == []
    assert path.read_text(encoding="utf-8-sig").splitlines() == [",".join(COLUMNS)]


def test_huge_original_values_are_truncated_with_a_marker(tmp_path):
    from etl.imports.rejects import MAX_CELL_CHARS

    huge = "x" * (MAX_CELL_CHARS + 10)
    result = normalised(
        [
            {"Email": "bad", "Birthday": "", "Notes": huge},
            {"Email": "also bad", "Birthday": "", "Notes": "short"},
        ]
    )
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path) as writer:
        writer.write("in.csv", result.rejected)
    first, second = read_rejects(path)
    notes = json.loads(first["original"])["Notes"]
    assert notes == "x" * MAX_CELL_CHARS + f"…[truncated: {MAX_CELL_CHARS + 10} characters]"
    assert first["message"].endswith(
        f"(values over {MAX_CELL_CHARS} characters are truncated in this file: Notes)"
    )
    assert json.loads(second["original"])["Notes"] == "short"
    assert "truncated" not in second["message"]
    assert path.stat().st_size < 2 * MAX_CELL_CHARS


def test_unneutralise_undoes_neutralise_only():
    for value in ("=1+1", "+33612345678", "-x", "@a", "'quoted@example.com", "plain", "''", ""):
        assert unneutralise(neutralise(value)) == value
    assert unneutralise("'o'brien@example.com") == "'o'brien@example.com"
