"""The run-wide duplicate decision equals pandas' duplicated(), and names the right winner."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

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
