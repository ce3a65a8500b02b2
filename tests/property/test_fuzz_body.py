"""Fuzz the body serialiser: whatever the values and column names, parsing a chunk gives back
exactly the rows that went in, in order, and every chunk stays under its byte budget.

``test_import_properties.py`` checks the round trip for fixed column names; here the names are
hostile too (the separator, quotes and line breaks in a header cell), values may be any text
(lone CR, only quotes, empty rows), and rows go through :class:`ChunkBuilder` in random slices.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

from etl.errors import ConfigError
from etl.imports.body import LINE, ChunkBuilder, parse_body
from etl.imports.csv import STR_DTYPE

NASTY = [";", '"', "\r", "\n", "\r\n", '""', ";;", " ", "", "\x00", "\u2028", "é", "="]
TEXT = st.lists(st.sampled_from(NASTY) | st.characters(codec="utf-8"), max_size=10).map("".join)
NAMES = st.lists(TEXT.filter(bool), min_size=1, max_size=4, unique=True)


@given(NAMES, st.data(), st.integers(8, 600), st.lists(st.integers(0, 30), max_size=4))
def test_chunks_parse_back_to_the_rows_in_order(columns, data, budget, cuts):
    values = data.draw(st.lists(st.lists(TEXT, min_size=len(columns), max_size=len(columns))))
    frame = pd.DataFrame(
        {c: pd.Series([v[i] for v in values], dtype=STR_DTYPE) for i, c in enumerate(columns)}
    )
    frame[LINE] = np.arange(len(values), dtype=np.int64)
    try:
        builder = ChunkBuilder(columns, chunk_bytes=budget)
    except ConfigError:
        assume(False)  # the header alone does not fit the budget
    chunks = []
    bounds = sorted({0, len(values), *[min(c, len(values)) for c in cuts]})
    for lo, hi in itertools.pairwise(bounds):
        chunks += builder.add(frame.iloc[lo:hi])
    if (last := builder.flush()) is not None:
        chunks.append(last)
    assert all(0 < c.bytes <= budget for c in chunks)
    sent = [n for c in chunks for n in c.lines]
    set_aside = builder.pop_rejected()[LINE].tolist()
    assert sorted(sent + set_aside) == list(range(len(values)))
    parsed = [row for c in chunks for row in parse_body(c.body)]
    expected = frame[frame[LINE].isin(sent)][columns].to_dict("records")
    assert parsed == expected
