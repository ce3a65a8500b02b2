"""The spill between the two passes: kept rows with their original values, in Arrow IPC.

Pass 1 writes each batch's kept rows with their original values under ``_raw:<column>`` and
their body line under ``_body``; pass 2 reads them back to cut chunks, and turns the rows it
rejects back into rejects-file rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.imports.body import body_lines
from etl.imports.csv import RawBatch, arrow_strings
from etl.imports.normalise import IDENTIFIER, LINE

RAW_PREFIX = "_raw:"
BODY = "_body"
"""Spill column: each kept row's import-body line (:func:`etl.imports.body.serialise_lines`),
made in pass 1, where worker processes share the work, instead of in pass 2, which is serial.
(:func:`etl.imports.body.body_lines` over the converted columns.)"""


def raw_rows(batch: RawBatch, lines: np.ndarray) -> pd.DataFrame:
    """The original values of the rows starting at ``lines`` (a subset of the batch's lines).

    Lines increase through a batch, so a binary search finds the rows: a fraction of the cost of
    indexing the frame by line (a hash index over every row of every batch).
    """
    positions = np.searchsorted(batch.lines, lines)
    found = positions < len(batch.lines)
    if found.all() and np.array_equal(batch.lines[positions], lines):
        return batch.rows.take(positions).set_axis(lines)
    return batch.rows.set_axis(batch.lines).loc[lines]


def spill_table(contacts: pd.DataFrame, raw: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """One spill record batch: the kept values, their line and identifier, and the originals."""
    arrays = {c: arrow_strings(contacts[c]) for c in columns}
    arrays[LINE] = pa.array(contacts[LINE].to_numpy(dtype=np.int64))
    arrays[IDENTIFIER] = arrow_strings(contacts[IDENTIFIER])
    # The body lines from the text just converted (serialise_lines would convert it again).
    arrays[BODY] = body_lines([arrays[c] for c in columns])
    for col in raw.columns:
        arrays[RAW_PREFIX + str(col)] = arrow_strings(raw[col])
    return pa.table(arrays)


def originals(spilled: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """``_line``/``reason``/``message`` of ``rejected`` with the original values from the spill."""
    raw_cols = [c for c in spilled.columns if c.startswith(RAW_PREFIX)]
    originals = spilled.set_index(LINE)[raw_cols].rename(columns=lambda c: c[len(RAW_PREFIX) :])
    lines = rejected[LINE].to_numpy(dtype=np.int64)
    out = originals.loc[lines].reset_index(drop=True)
    out.insert(0, LINE, lines)
    out.insert(1, "reason", rejected["reason"].astype(str).to_numpy())
    out.insert(2, "message", rejected["message"].astype(str).to_numpy())
    return out


def duplicate_rejects(losers: pd.DataFrame, kept_as: Sequence[str]) -> pd.DataFrame:
    """Rejects-file rows for the losers of the run-wide dedupe; ``kept_as`` names each winner."""
    raw_cols = [c for c in losers.columns if c.startswith(RAW_PREFIX)]
    rejected = losers[raw_cols].rename(columns=lambda c: c[len(RAW_PREFIX) :])
    rejected.insert(0, LINE, losers[LINE].to_numpy())
    rejected.insert(1, "reason", "duplicate")
    rejected.insert(
        2, "message", [f"same identifier as {where}, which is sent" for where in kept_as]
    )
    return rejected.reset_index(drop=True)


# ---------------------------------------------------------------------------- account and runs
