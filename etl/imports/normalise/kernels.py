"""Arrow/numpy building blocks shared by the value families."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PARSE_CACHE_SIZE = 4096
"""Entries of each per-value parse cache (e-mails, phones, numbers, named dates). Values are
deduplicated per batch before they are parsed, so a cache only helps across batches, with the
values that keep coming back: a small LRU keeps those, and memory no longer grows with the
input (caches of 50k-200k entries held tens of MB more after 5M rows than after 1M)."""


def scatter(
    base: pa.Array,
    positions: Sequence[int] | np.ndarray,
    values: Sequence[str] | pa.Array | pa.ChunkedArray,
) -> pa.Array:
    """``base`` with ``base[positions[i]] = values[i]`` (values: a list or an Arrow array)."""
    positions = np.asarray(positions, dtype=np.int64)
    if not len(positions):
        return base
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, type=pa.large_string())
    mask = np.zeros(len(base), dtype=bool)
    mask[positions] = True
    order = np.argsort(positions, kind="stable")
    replacements = values.take(pa.array(order)).cast(pa.large_string())
    return pc.replace_with_mask(base, pa.array(mask), replacements)


def parse_each(
    out: pa.Array,
    uniques: pa.Array,
    rows: np.ndarray,
    bad: np.ndarray,
    parse: Callable[[str], str | None],
) -> pa.Array:
    """The slow path: ``parse`` each of ``uniques[rows]`` in Python; None marks it ``bad``."""
    positions: list[int] = []
    values: list[str] = []
    if len(rows):
        for i, text in zip(rows.tolist(), uniques.take(pa.array(rows)).to_pylist(), strict=True):
            value = parse(text)
            if value is None:
                bad[i] = True
            else:
                positions.append(i)
                values.append(value)
    return scatter(out, positions, values)


def bool_np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls as False."""
    values: np.ndarray = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)
    return values


def lit(text: str) -> pa.Scalar:
    """A large_string scalar."""
    return pa.scalar(text, type=pa.large_string())


def blank(n: int) -> pa.Array:
    """``n`` empty strings."""
    return pc.fill_null(pa.nulls(n, type=pa.large_string()), lit(""))
