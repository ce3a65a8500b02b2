"""Property test: the vectorised rejects writer round-trips any text, exactly as csv + json would."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.imports.csv import STR_DTYPE
from etl.imports.rejects import COLUMNS, RejectsWriter, neutralise, read_rejects

# Any text a CSV cell can carry: quotes, separators, newlines, control and formula characters,
# accents, emoji, the full-width formula look-alikes.
text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(list(",;\"'\\\n\r\t\x00\x01\x1f=+-@\uff1d\uff0b\uff0d\uff20é😀")),
    max_size=12,
)
rows = st.lists(
    st.fixed_dictionaries(
        {"reason": text, "message": text, "raw": text, "EMAIL": text, 'Name, "x"\n': text}
    ),
    min_size=1,
    max_size=8,
)


def expected_row(source: str, line: int, row: dict[str, str]) -> dict[str, str]:
    originals = {"EMAIL": row["EMAIL"], 'Name, "x"\n': row['Name, "x"\n']}
    blank = all(v == "" for v in originals.values())
    return {
        "source_file": neutralise(source),
        "line": str(line),
        "action": "rejected",
        "reason": neutralise(row["reason"]),
        "message": neutralise(row["message"]),
        "original": "" if blank and row["raw"] else json.dumps(originals, ensure_ascii=False),
        "raw": neutralise(row["raw"]),
    }


@settings(max_examples=150, deadline=None)
@given(rows, text)
def test_rejects_round_trip_any_text(rows: list[dict[str, str]], source: str) -> None:
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in rows[0]})
    frame.insert(0, "_line", pd.Series(np.arange(2, 2 + len(rows)), dtype=np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rejects.csv"
        with RejectsWriter(path) as writer:
            writer.write(source, frame)
        got = read_rejects(path)
        # The csv module must read what the writer wrote as exactly these records.
        raw = path.read_text(encoding="utf-8-sig")
        records = list(csv.reader(io.StringIO(raw, newline="")))
    assert records[0] == list(COLUMNS)
    assert len(records) == len(rows) + 1
    want = [expected_row(source, 2 + i, r) for i, r in enumerate(rows)]
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "original"} == {
            k: v for k, v in w.items() if k != "original"
        }
        if w["original"]:
            assert json.loads(g["original"]) == json.loads(w["original"])
        else:
            assert g["original"] == ""
    assert writer.by_reason == dict(pd.Series([r["reason"] for r in rows]).value_counts())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(text, text, text), min_size=1, max_size=6))
def test_dropped_values_round_trip_any_text(items: list[tuple[str, str, str]]) -> None:
    frame = pd.DataFrame(
        {
            "_line": pd.Series(np.arange(5, 5 + len(items)), dtype=np.int64),
            "attribute": pd.Series([a for a, _, _ in items], dtype=STR_DTYPE),
            "value": pd.Series([v for _, v, _ in items], dtype=STR_DTYPE),
            "reason": pd.Series([r for _, _, r in items], dtype=STR_DTYPE),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rejects.csv"
        with RejectsWriter(path) as writer:
            writer.write_dropped("f.csv", frame)
        got = read_rejects(path)
    assert [
        (g["line"], g["action"], g["reason"], g["message"], json.loads(g["original"]), g["raw"])
        for g in got
    ] == [
        (
            str(5 + i),
            "dropped",
            neutralise(reason),
            neutralise(f"{attribute} value dropped; the contact was sent without it"),
            {attribute: value},
            "",
        )
        for i, (attribute, value, reason) in enumerate(items)
    ]
