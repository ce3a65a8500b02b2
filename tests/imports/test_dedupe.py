"""The run-wide duplicate decision equals pandas' duplicated(), and names the right winner."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from etl.imports import dedupe
from etl.imports.dedupe import decide_duplicates


@given(
    st.lists(st.integers(min_value=0, max_value=6), max_size=60), st.sampled_from(["first", "last"])
)
def test_losers_match_pandas_and_winners_share_the_identifier(values, keep):
    hashes = np.array(values, dtype=np.uint64)
    losers, winner_of = decide_duplicates(hashes, keep)
    expected = pd.Series(hashes).duplicated(keep=keep).to_numpy()
    assert losers.tolist() == expected.tolist()
    assert set(winner_of) == set(np.flatnonzero(losers).tolist())
    if len(winner_of):
        loser_idx = np.flatnonzero(losers)
        assert winner_of.winners_of(loser_idx).tolist() == [winner_of[int(i)] for i in loser_idx]
    for loser, winner in winner_of.items():
        assert hashes[loser] == hashes[winner]
        assert not losers[winner]
        assert (winner > loser) if keep == "last" else (winner < loser)


@given(
    st.lists(st.integers(min_value=0, max_value=9), max_size=80),
    st.sampled_from(["first", "last"]),
    st.sampled_from([1, 3, 7, 1 << 18]),
    st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=4),
)
def test_the_decision_on_key_files_is_the_decision_in_memory(values, keep, block, splits):
    """Hashes joined from several files, scanned in blocks of any size: the same losers and
    winners as in memory, and the winners' lines are read back from the line file."""
    hashes = np.array(values, dtype=np.uint64)
    lines = np.arange(len(hashes), dtype=np.int64) * 3 + 2
    cuts = sorted({min(c, len(hashes)) for c in splits} | {0, len(hashes)})
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(dedupe, "BLOCK_ROWS", block):
        work = Path(tmp)
        parts: list[tuple[Path | None, int]] = []
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            base = work / f"keys-{i:04d}"
            hashes[a:b].tofile(base.with_suffix(".hash"))
            lines[a:b].tofile(base.with_suffix(".line"))
            parts.append((base, b - a))
        parts.insert(0, (None, 0))
        keys = dedupe.gather_keys(parts, work)
        assert keys.rows == len(hashes)
        on_disk = dedupe.decide_duplicates_in_file(keys, keep)
        losers, in_memory = dedupe.decide_duplicates(hashes, keep)
        assert dict(on_disk.items()) == dict(in_memory.items())
        assert on_disk.losers.tolist() == np.flatnonzero(losers).tolist()
        assert on_disk.losers_in(5, 20).tolist() == [i for i in on_disk.losers if 5 <= i < 20]
        winners = on_disk.winner_positions()
        assert winners.tolist() == sorted(set(in_memory.values()))
        got = dedupe.read_at(keys.line_path, winners, dedupe.KEY_DTYPE["line"])
        assert got.tolist() == lines[winners].tolist()
        keys.unlink()
        assert not list(work.iterdir())
