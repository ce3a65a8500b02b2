"""The rejects file: every row that was not sent, and every value dropped, with why.

A streaming CSV (UTF-8 with BOM, comma-separated, so that Excel opens it right) with the columns
``source_file, line, action, reason, message, original, raw``:

- ``action`` is ``rejected`` (the row was not sent) or ``dropped`` (the contact was sent without
  that value, with ``--drop-invalid-values``);
- ``original`` is a JSON object of the row's original values keyed by source header (one column
  per header cannot work across files with different headers);
- ``raw`` is the record's raw text, for rows that could not be split into fields.

People open this file in a spreadsheet, so a cell starting with ``=``, ``+``, ``-``, ``@``, tab or
CR (a formula to Excel) gets a leading apostrophe. An original value (or raw record) longer than
32 KiB is cut there and marked (``…[truncated: N characters]``), and the row's message says so: a
60 MB cell of a column the run ignores would otherwise make the file unusable, and the source
file still holds the value. Each ``write`` is flushed before it returns.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.csv import quote_fields
from etl.imports.normalise import ATTRIBUTE, LINE, MESSAGE, RAW, REASON, REJECT_META, VALUE

COLUMNS: tuple[str, ...] = ("source_file", "line", "action", "reason", "message", "original", "raw")
REJECTED = "rejected"
DROPPED = "dropped"
MAX_CELL_CHARS = 32 * 1024
"""Original values longer than this are truncated in the rejects file (with a marker)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: str) -> str:
    """Make a cell safe to open in a spreadsheet (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def unneutralise(cell: str) -> str:
    """The value :func:`neutralise` wrote as ``cell`` (a leading ``'`` is removed only where
    neutralise added it)."""
    rest = cell[1:]
    return rest if cell.startswith("'") and rest.startswith(_FORMULA_START) else cell


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
        """
        if rejected is None or len(rejected) == 0:
            return
        text, by_reason = render_rejected(source_file, rejected)
        self.write_rendered(text, by_reason=by_reason)

    def write_dropped(self, source_file: str, dropped: pd.DataFrame) -> None:
        """Write the values ``--drop-invalid-values`` removed (``NormalisedBatch.dropped``)."""
        if dropped is None or len(dropped) == 0:
            return
        self.write_rendered(render_dropped(source_file, dropped), dropped=len(dropped))

    def write_rendered(
        self, text: str, *, by_reason: dict[str, int] | None = None, dropped: int = 0
    ) -> None:
        """Write records :func:`render_rejected` or :func:`render_dropped` made (in a worker
        process, say), counting ``by_reason`` rejected rows and ``dropped`` values; flushed."""
        if not text:
            return
        self._file.write(text)
        self._file.flush()
        for reason, count in (by_reason or {}).items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + count
            self.count += count
        self.dropped_count += dropped

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


def render_rejected(source_file: str, rejected: pd.DataFrame) -> tuple[str, dict[str, int]]:
    """The rejects-file records of rejected rows, and their count per reason.

    Columns other than ``_line``, ``reason``, ``message`` and ``raw`` are original values.
    Vectorised (Arrow kernels, no per-row Python): a batch of bad input can hold a great
    many rejected rows.
    """
    if rejected is None or len(rejected) == 0:
        return "", {}
    frame = rejected.reset_index(drop=True)
    n = len(frame)
    reasons = _text(frame, REASON)
    raws = _text(frame, RAW)
    truncated: dict[str, np.ndarray] = {}
    raws, cut = _truncate(raws)
    if cut is not None:
        truncated["(raw record)"] = cut
    # Keyed by source header; a later column of the same name wins, as in a dict.
    originals = {_source_name(c): c for c in frame.columns if c not in REJECT_META}
    if originals:
        values = {}
        for name, column in originals.items():
            values[name], cut = _truncate(_text(frame, column))
            if cut is not None:
                truncated[name] = cut
        original = _json_objects(values)
        # A row that could not be split into fields has only its raw text.
        blank = np.ones(n, dtype=bool)
        for column in values.values():
            blank &= _np_bool(pc.equal(column, ""))
        raw_only = blank & ~_np_bool(pc.equal(raws, ""))
        if raw_only.any():
            original = pc.if_else(pa.array(raw_only), "", original)
    else:
        original = _repeat("", n)
    messages = _text(frame, MESSAGE)
    if truncated:
        messages = _note_truncated(messages, truncated)
    text = _csv_records(
        [
            _repeat(neutralise(source_file), n),
            _line_text(frame),
            _repeat(REJECTED, n),
            _neutralised(reasons),
            _neutralised(messages),
            original,
            _neutralised(raws),
        ]
    )
    return text, dict(zip(*_value_counts(reasons), strict=True))


def render_dropped(source_file: str, dropped: pd.DataFrame) -> str:
    """The rejects-file records of the values ``--drop-invalid-values`` removed."""
    if dropped is None or len(dropped) == 0:
        return ""
    frame = dropped.reset_index(drop=True)
    n = len(frame)
    attributes = _text(frame, ATTRIBUTE)
    return _csv_records(
        [
            _repeat(neutralise(source_file), n),
            _line_text(frame),
            _repeat(DROPPED, n),
            _neutralised(_text(frame, REASON)),
            _neutralised(
                pc.binary_join_element_wise(
                    attributes, " value dropped; the contact was sent without it", ""
                )
            ),
            _json_pairs(attributes, _text(frame, VALUE)),
            _repeat("", n),
        ]
    )


def _csv_records(fields: list[pa.Array]) -> str:
    """One CSV record per row, quoted as ``csv.QUOTE_MINIMAL`` does, each ending in CRLF."""
    lines = pc.binary_join_element_wise(*(quote_fields(f, ",") for f in fields), ",")
    return "\r\n".join(lines.to_pylist()) + "\r\n"


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


# RE2: a cell starting with one of _FORMULA_START.
_FORMULA_PATTERN = "^[" + "".join(f"\\x{{{ord(c):X}}}" for c in _FORMULA_START) + "]"
_JSON_SPECIAL = '[\\\\"\n\r\t]'
# Control characters JSON escapes as \\u00XX: rare, so their rows go through json.dumps.
_JSON_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _repeat(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, type=pa.string()), n)


def _text(frame: pd.DataFrame, column: str) -> pa.Array:
    """A column as Arrow strings, "" for missing (values that are not text go through str)."""
    if column not in frame.columns:
        return _repeat("", len(frame))
    series = frame[column]
    try:
        arr = pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(
            [
                None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                for v in series
            ],
            type=pa.string(),
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "")


def _truncate(values: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Values cut at MAX_CELL_CHARS with a marker, and which were cut (None: none was)."""
    lengths = pc.utf8_length(values)
    long = _np_bool(pc.greater(lengths, MAX_CELL_CHARS))
    if not long.any():
        return values, None
    marked = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(values, 0, MAX_CELL_CHARS),
        "…[truncated: ",
        pc.cast(lengths, pa.string()),
        " characters]",
        "",
    )
    return pc.if_else(pa.array(long), marked, values), long


def _note_truncated(messages: pa.Array, truncated: dict[str, np.ndarray]) -> pa.Array:
    """Say in each row's message which of its values the file holds truncated."""
    rows = np.flatnonzero(np.logical_or.reduce(list(truncated.values())))
    notes = []
    for i in rows.tolist():
        names = ", ".join(name for name, cut in truncated.items() if cut[i])
        notes.append(
            f" (values over {MAX_CELL_CHARS} characters are truncated in this file: {names})"
        )
    mask = np.zeros(len(messages), dtype=bool)
    mask[rows] = True
    noted = pc.binary_join_element_wise(
        messages.filter(pa.array(mask)), pa.array(notes, type=pa.string()), ""
    )
    return pc.replace_with_mask(messages, pa.array(mask), noted)


def _line_text(frame: pd.DataFrame) -> pa.Array:
    if LINE not in frame.columns:
        return _repeat("", len(frame))
    numbers = pa.array(pd.to_numeric(frame[LINE], errors="coerce"), from_pandas=True)
    if pa.types.is_floating(numbers.type):
        numbers = pc.cast(numbers, pa.int64())
    return pc.fill_null(pc.cast(numbers, pa.string()), "")


def _np_bool(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _neutralised(values: pa.Array) -> pa.Array:
    risky = pc.match_substring_regex(values, _FORMULA_PATTERN)
    if not pc.any(risky).as_py():
        return values
    return pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)


def _json_string(values: pa.Array) -> pa.Array:
    """Each value as a JSON string literal (quotes included), non-ASCII kept as is."""
    escaped = values
    if pc.any(pc.match_substring_regex(values, _JSON_SPECIAL)).as_py():
        for char, replacement in (
            ("\\", "\\\\"),
            ('"', '\\"'),
            ("\n", "\\n"),
            ("\r", "\\r"),
            ("\t", "\\t"),
        ):
            escaped = pc.replace_substring(escaped, char, replacement)
    literal = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.match_substring_regex(values, _JSON_CONTROL)
    if pc.any(control).as_py():
        rows = np.flatnonzero(_np_bool(control))
        fixed = [json.dumps(v, ensure_ascii=False) for v in values.take(pa.array(rows)).to_pylist()]
        literal = pc.replace_with_mask(literal, control, pa.array(fixed, type=pa.string()))
    return literal


def _json_objects(columns: dict[str, pa.Array]) -> pa.Array:
    """Per row, a JSON object of the columns' values (keys in the given order)."""
    pieces: list[Any] = []
    for i, (name, values) in enumerate(columns.items()):
        key = json.dumps(name, ensure_ascii=False)
        pieces.append(("{" if i == 0 else ",") + key + ":")
        pieces.append(_json_string(values))
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")


def _json_pairs(keys: pa.Array, values: pa.Array) -> pa.Array:
    """Per row, ``{key: value}``."""
    return pc.binary_join_element_wise("{", _json_string(keys), ":", _json_string(values), "}", "")


def _value_counts(values: pa.Array) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(values)
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()
