"""Run-wide duplicates, decided on 64-bit hashes of the identifiers (EMAIL, else SMS).

Pass 1 writes each kept row's identifier hash and line to key files (16 bytes a row);
:func:`gather_keys` joins them into one hash file and one line file, on disk. The dedupe
(:func:`decide_duplicates_in_file`) holds 9 bytes a row, once: it sorts a copy of the hashes in
place to find the values held by more than one row, frees it, then reads the hash file again in
blocks to pick out the rows holding those values (about twice the duplicates, not every row), and
a stable sort of those alone says which rows lose to another with the same identifier: the first
or the last one (``--keep``) is sent. Only the lines of the winners are read back
(:func:`read_at`), for the duplicate messages.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from etl.fingerprints import siphash64
from etl.imports.csv import arrow_strings
from etl.imports.options import Keep

KEY_DTYPE = {"hash": np.dtype("<u8"), "line": np.dtype("<i8")}
BLOCK_ROWS = 1 << 18
"""Rows of a key file read at a time (2 MiB of hashes) when it is scanned again."""


@dataclass(frozen=True)
class KeyFiles:
    """Every kept row's identifier hash and line, in run order, in two files."""

    hash_path: Path
    line_path: Path
    rows: int

    def unlink(self) -> None:
        self.hash_path.unlink(missing_ok=True)
        self.line_path.unlink(missing_ok=True)


def gather_keys(keys_paths: Sequence[tuple[Path | None, int]], work_dir: Path) -> KeyFiles:
    """Join each file's key files (``.hash``, ``.line``) into one of each, in run order.

    ``keys_paths`` holds each file's key files and its kept rows; they are removed. Nothing is
    held in memory.
    """
    joined = KeyFiles(work_dir / "keys-all.hash", work_dir / "keys-all.line", 0)
    rows = 0
    with joined.hash_path.open("wb") as all_hashes, joined.line_path.open("wb") as all_lines:
        for keys_path, kept in keys_paths:
            if keys_path is None:
                continue
            for suffix, dest in ((".hash", all_hashes), (".line", all_lines)):
                part = keys_path.with_suffix(suffix)
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dest)
                part.unlink()
            rows += kept
    return KeyFiles(joined.hash_path, joined.line_path, rows)


def read_at(path: Path, positions: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The values at ``positions`` (sorted) of a file of ``dtype``, read a block at a time."""
    out = np.empty(len(positions), dtype=dtype)
    i = 0
    while i < len(positions):
        start = int(positions[i]) // BLOCK_ROWS * BLOCK_ROWS
        end = int(np.searchsorted(positions, start + BLOCK_ROWS))
        block = np.fromfile(path, dtype=dtype, count=BLOCK_ROWS, offset=start * dtype.itemsize)
        out[i:end] = block[positions[i:end] - start]
        i = end
    return out


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

    @property
    def losers(self) -> np.ndarray:
        """Every loser's position, sorted (read-only)."""
        view = self._losers.view()
        view.flags.writeable = False
        return view

    def losers_in(self, start: int, stop: int) -> np.ndarray:
        """The losers' positions in ``[start, stop)``, sorted."""
        lo, hi = np.searchsorted(self._losers, [start, stop])
        return self._losers[lo:hi]

    def winner_positions(self) -> np.ndarray:
        """Every row that beats another, once each, sorted."""
        return np.unique(self._winners)

    def winners_of(self, losers: np.ndarray) -> np.ndarray:
        """The winner of each of ``losers`` (all of them losers), vectorised."""
        return self._winners[np.searchsorted(self._losers, losers)]


_NONE = np.empty(0, dtype=np.int64)


def _decide(
    load_sorted: Callable[[], np.ndarray],
    blocks: Callable[[], Iterator[tuple[int, np.ndarray]]],
    rows: int,
    keep: Keep,
) -> Winners:
    """The rows that lose, from the hashes sorted (``load_sorted``: a fresh array, freed here)
    and the hashes in run order, a block at a time (``blocks``: (first position, hashes))."""
    if rows < 2:
        return Winners(_NONE, _NONE)
    ordered = load_sorted()
    same_as_next = ordered[:-1] == ordered[1:]
    shared = ordered[1:][same_as_next]  # the values held by several rows, with repeats
    del ordered, same_as_next
    if not len(shared):
        return Winners(_NONE, _NONE)
    shared = shared[np.insert(shared[1:] != shared[:-1], 0, True)]
    # The rows holding a shared value, in run order, with their hashes: every member of every
    # group of equal hashes, and only them.
    found_pos: list[np.ndarray] = []
    found_hash: list[np.ndarray] = []
    last = len(shared) - 1
    for start, values in blocks():
        hit = shared[np.minimum(np.searchsorted(shared, values), last)] == values
        found_pos.append(np.flatnonzero(hit) + start)
        found_hash.append(values[hit])
        del hit
    positions = np.concatenate(found_pos)
    hashes = np.concatenate(found_hash)
    del found_pos, found_hash
    # A stable sort groups equal hashes with their positions in run order, so the first or
    # last of each group is the row to keep; the others lose.
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same_as_next = ordered[:-1] == ordered[1:]
    lose_sorted = (
        np.append(same_as_next, False) if keep == "last" else np.insert(same_as_next, 0, False)
    )
    loser_idx = np.flatnonzero(lose_sorted)
    # The winner of each loser: the last (or first) member of its run of equal hashes.
    starts = np.insert(np.flatnonzero(~same_as_next) + 1, 0, 0)
    group = np.searchsorted(starts, loser_idx, side="right") - 1
    bounds = np.append(starts[1:] - 1, len(ordered) - 1) if keep == "last" else starts
    in_run_order = positions[order]
    return Winners(in_run_order[loser_idx], in_run_order[bounds[group]])


def decide_duplicates(hashes: np.ndarray, keep: Keep) -> tuple[np.ndarray, Winners]:
    """Which rows lose to another with the same identifier (a mask), and who beats each loser.

    The in-memory form of :func:`decide_duplicates_in_file`, with the same decision.
    """
    hashes = np.asarray(hashes, dtype=KEY_DTYPE["hash"])

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(hashes), BLOCK_ROWS):
            yield start, hashes[start : start + BLOCK_ROWS]

    winners = _decide(lambda: np.sort(hashes), blocks, len(hashes), keep)
    losers = np.zeros(len(hashes), dtype=bool)
    losers[winners.losers] = True
    return losers, winners


def decide_duplicates_in_file(keys: KeyFiles, keep: Keep) -> Winners:
    """Which rows of ``keys`` lose to another with the same identifier, and who beats each.

    Memory: the hashes once (8 bytes a row) and a mask (1 byte a row) while the shared values
    are found, then blocks of the hash file and the rows holding a shared value.
    """
    dtype = KEY_DTYPE["hash"]

    def load_sorted() -> np.ndarray:
        values = np.fromfile(keys.hash_path, dtype=dtype, count=keys.rows)
        values.sort()
        return values

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, keys.rows, BLOCK_ROWS):
            count = min(BLOCK_ROWS, keys.rows - start)
            offset = start * dtype.itemsize
            yield start, np.fromfile(keys.hash_path, dtype=dtype, count=count, offset=offset)

    return _decide(load_sorted, blocks, keys.rows, keep)


def hash_identifiers(values: pd.Series) -> np.ndarray:
    """The 64-bit hash of each identifier, as the key files hold it."""
    return siphash64(arrow_strings(values)).astype(KEY_DTYPE["hash"])
