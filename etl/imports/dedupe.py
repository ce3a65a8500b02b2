"""Run-wide duplicates, decided on 64-bit hashes of the identifiers (EMAIL, else SMS).

Pass 1 writes each kept row's identifier hash and line to key files (16 bytes a row); the
dedupe reads the hashes back (8 bytes a row), and a stable sort finds which rows lose to another
with the same identifier: the first or the last one (``--keep``) is sent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from etl.fingerprints import siphash64
from etl.imports.csv import arrow_strings
from etl.imports.options import Keep

KEY_DTYPE = {"hash": np.dtype("<u8"), "line": np.dtype("<i8")}


def read_keys(
    keys_paths: Sequence[tuple[Path | None, int]], work_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """All kept rows' identifier hashes (in memory) and lines (memory-mapped), in run order.

    ``keys_paths`` holds each file's key files (``.hash``, ``.line``) and its kept rows.

    Only the lines of a few rows are ever read (the winners named in duplicate messages), so
    they stay on disk; the key files are removed.
    """
    total = sum(rows for _, rows in keys_paths)
    hashes = np.empty(total, dtype=KEY_DTYPE["hash"])
    lines_path = work_dir / "keys-all.line"
    pos = 0
    with lines_path.open("wb") as all_lines:
        for keys_path, rows in keys_paths:
            if keys_path is None:
                continue
            hash_path = keys_path.with_suffix(".hash")
            values = np.fromfile(hash_path, dtype=KEY_DTYPE["hash"])
            hashes[pos : pos + len(values)] = values
            del values
            hash_path.unlink()
            line_path = keys_path.with_suffix(".line")
            with line_path.open("rb") as src:
                shutil.copyfileobj(src, all_lines)
            line_path.unlink()
            pos += rows
    if total == 0:
        return hashes, np.empty(0, dtype=KEY_DTYPE["line"])
    return hashes, np.memmap(lines_path, dtype=KEY_DTYPE["line"], mode="r", shape=(total,))


class Winners(Mapping[int, int]):
    """Loser position -> winner position, held as two sorted int64 arrays (16 bytes a loser;
    a dict took ~100, 25 MB for the 250k duplicates of a 5M-row import)."""

    def __init__(self, losers: np.ndarray, winners: np.ndarray) -> None:
        order = np.argsort(losers, kind="stable")
        self._losers = np.asarray(losers, dtype=np.int64)[order]
        self._winners = np.asarray(winners, dtype=np.int64)[order]

    def __getitem__(self, loser: int) -> int:
        pos = int(np.searchsorted(self._losers, loser))
        if pos == len(self._losers) or self._losers[pos] != loser:
            raise KeyError(loser)
        return int(self._winners[pos])

    def __iter__(self) -> Iterator[int]:
        return iter(self._losers.tolist())

    def __len__(self) -> int:
        return len(self._losers)

    def winners_of(self, losers: np.ndarray) -> np.ndarray:
        """The winner of each of ``losers`` (all of them losers), vectorised."""
        return self._winners[np.searchsorted(self._losers, losers)]


def decide_duplicates(hashes: np.ndarray, keep: Keep) -> tuple[np.ndarray, Winners]:
    """Which rows lose to another with the same identifier, and who beats each loser.

    A stable sort groups equal hashes with their positions in run order, so the first or last
    of each group is the row to keep; memory is a few arrays of 8 bytes a row, transiently.
    """
    losers = np.zeros(len(hashes), dtype=bool)
    none = Winners(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    if len(hashes) < 2:
        return losers, none
    order = np.argsort(hashes, kind="stable")
    ordered = np.take(hashes, order)
    same_as_next = ordered[:-1] == ordered[1:]
    del ordered
    if not same_as_next.any():
        return losers, none
    # In sorted order, a row loses when a later (keep=last) or earlier (keep=first) row shares
    # its hash.
    if keep == "last":
        lose_sorted = np.append(same_as_next, False)
    else:
        lose_sorted = np.insert(same_as_next, 0, False)
    loser_idx = np.flatnonzero(lose_sorted)
    losers[order[loser_idx]] = True
    # The winner of each loser: the last (or first) member of its run of equal hashes. Runs
    # are found for the losers only (searchsorted), not labelled for every row.
    starts = np.insert(np.flatnonzero(~same_as_next) + 1, 0, 0)
    group = np.searchsorted(starts, loser_idx, side="right") - 1
    bounds = np.append(starts[1:] - 1, len(hashes) - 1) if keep == "last" else starts
    winners = order[bounds[group]]
    return losers, Winners(order[loser_idx], winners)


def hash_identifiers(values: pd.Series) -> np.ndarray:
    """The 64-bit hash of each identifier, as the key files hold it."""
    return siphash64(arrow_strings(values)).astype(KEY_DTYPE["hash"])
