"""The rejects file: every row that was not sent, and every value dropped, with why.

A streaming CSV (UTF-8 with BOM, comma-separated, so that Excel opens it right) with the columns
``source_file, line, action, reason, message, original, raw``:

- ``action`` is ``rejected`` (the row was not sent) or ``dropped`` (the contact was sent without
  that value, with ``--drop-invalid-values``);
- ``original`` is a JSON object of the row's original values keyed by source header (one column
  per header cannot work across files with different headers);
- ``raw`` is the record's raw text, for rows that could not be split into fields.

People open this file in a spreadsheet, so a cell starting with ``=``, ``+``, ``-``, ``@``, tab or
CR (a formula to Excel) gets a leading apostrophe. Each ``write`` is flushed before it returns.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np
import pandas as pd

from etl.normalise import ATTRIBUTE, LINE, MESSAGE, RAW, REASON, REJECT_META, VALUE

COLUMNS: tuple[str, ...] = ("source_file", "line", "action", "reason", "message", "original", "raw")
REJECTED = "rejected"
DROPPED = "dropped"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: str) -> str:
    """Make a cell safe to open in a spreadsheet (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class RejectsWriter:
    """Append rejected rows and dropped values to a CSV file, flushing after each write."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        resume = append and self.path.exists() and self.path.stat().st_size > 0
        # utf-8-sig writes the BOM once, at the start of a new file only.
        self._file: TextIO = self.path.open(
            "a" if resume else "w", encoding="utf-8" if resume else "utf-8-sig", newline=""
        )
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        if not resume:
            self._writer.writerow(COLUMNS)
            self._file.flush()
        self.count = 0
        """Rejected rows written by this writer."""
        self.dropped_count = 0
        """Dropped values written by this writer."""
        self.by_reason: dict[str, int] = {}
        """Rejected rows per reason code."""

    def write(self, source_file: str, rejected: pd.DataFrame) -> None:
        """Write rejected rows (``NormalisedBatch.rejected`` or ``ChunkBuilder.pop_rejected()``).

        Columns other than ``_line``, ``reason``, ``message`` and ``raw`` are original values.
        Vectorised: a batch of bad input can hold a great many rejected rows.
        """
        if rejected is None or len(rejected) == 0:
            return
        frame = rejected.reset_index(drop=True)
        originals = [c for c in frame.columns if c not in REJECT_META]
        n = len(frame)
        lines = _int_column(frame, LINE)
        reasons = _text_series(frame, REASON)
        messages = _neutralised(_text_series(frame, MESSAGE))
        raws = _text_series(frame, RAW)
        if originals:
            values = pd.DataFrame(
                {_source_name(c): _text_series(frame, c) for c in originals}, dtype=object
            )
            # One C-level JSON encoding for the batch; JSON escapes newlines inside values,
            # so splitting on "\n" gives one object per row.
            encoded = values.to_json(orient="records", lines=True, force_ascii=False)
            original = pd.Series(encoded.split("\n")[:n], dtype=object)
            empty = (values == "").all(axis=1)
            original[(raws != "") & empty] = ""
        else:
            original = pd.Series([""] * n, dtype=object)
        self._writer.writerows(
            zip(
                [neutralise(source_file)] * n,
                lines,
                [REJECTED] * n,
                _neutralised(reasons),
                messages,
                original,
                _neutralised(raws),
                strict=True,
            )
        )
        self._file.flush()
        for reason, count in reasons.value_counts().items():
            self.by_reason[str(reason)] = self.by_reason.get(str(reason), 0) + int(count)
        self.count += n

    def write_dropped(self, source_file: str, dropped: pd.DataFrame) -> None:
        """Write the values ``--drop-invalid-values`` removed (``NormalisedBatch.dropped``)."""
        if dropped is None or len(dropped) == 0:
            return
        lines = _int_column(dropped, LINE)
        attributes = _text_column(dropped, ATTRIBUTE)
        values = _text_column(dropped, VALUE)
        reasons = _text_column(dropped, REASON)
        source = neutralise(source_file)
        rows = [
            (
                source,
                lines[i],
                DROPPED,
                neutralise(reasons[i]),
                neutralise(f"{attributes[i]} value dropped; the contact was sent without it"),
                json.dumps({attributes[i]: values[i]}, ensure_ascii=False),
                "",
            )
            for i in range(len(dropped))
        ]
        self._writer.writerows(rows)
        self._file.flush()
        self.dropped_count += len(rows)

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if not self._file.closed:
            self._file.flush()
            self._file.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_rejects(path: Path) -> list[dict[str, str]]:
    """Read a rejects file back (for tests and reports)."""
    path = Path(path)
    # A rejected row keeps its original values whole, however long (the csv default is 128 KiB).
    size = path.stat().st_size
    if csv.field_size_limit() < size + 1:
        csv.field_size_limit(size + 1)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _source_name(column: str) -> str:
    # normalise renames a source column that collides with a meta column "<name> (source)".
    suffix = " (source)"
    if column.endswith(suffix) and column[: -len(suffix)] in REJECT_META:
        return column[: -len(suffix)]
    return column


def _text_series(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as plain Python strings ("" for missing), in an object Series."""
    if column not in frame.columns:
        return pd.Series([""] * len(frame), dtype=object)
    return pd.Series(_text_column(frame, column), dtype=object)


def _neutralised(values: pd.Series) -> pd.Series:
    text = values.astype(str)
    risky = text.str.startswith(_FORMULA_START)
    if not risky.any():
        return text
    return text.where(~risky, "'" + text)


def _text_column(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    series = frame[column]
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in series]


def _int_column(frame: pd.DataFrame, column: str) -> list[int | str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return [int(v) if pd.notna(v) else "" for v in frame[column]]
