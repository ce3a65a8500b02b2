"""Read contact CSV files as people really have them, in bounded memory.

``sniff_csv`` (:mod:`.sniff`) looks at a file once: its encoding, binary content, Excel's
``sep=`` first line, the delimiter and the header row. ``iter_csv_batches`` (:mod:`.reader`)
then streams the data rows in batches of at most ``batch_rows`` rows, finding records with numpy
(:mod:`.records`) and parsing them with pyarrow or, for the odd ones, Python's csv module.
:mod:`.text` holds the Arrow string helpers every writer of the import path shares.

May import: ``etl.errors``. Nothing else of ``etl``.
"""

from __future__ import annotations

from etl.imports.csv.reader import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_LIMITS,
    MALFORMED_ROW,
    RawBatch,
    ReaderLimits,
    iter_csv_batches,
)
from etl.imports.csv.sniff import (
    DELIMITERS,
    MAX_COLUMNS,
    UNNAMED_PREFIX,
    CsvFormat,
    count_lines_hint,
    sniff_csv,
    unique_names,
)
from etl.imports.csv.text import STR_DTYPE, arrow_strings, quote_fields, str_series

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_LIMITS",
    "DELIMITERS",
    "MALFORMED_ROW",
    "MAX_COLUMNS",
    "STR_DTYPE",
    "UNNAMED_PREFIX",
    "CsvFormat",
    "RawBatch",
    "ReaderLimits",
    "arrow_strings",
    "count_lines_hint",
    "iter_csv_batches",
    "quote_fields",
    "sniff_csv",
    "str_series",
    "unique_names",
]
