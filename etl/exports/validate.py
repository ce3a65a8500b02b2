"""Check the merged export with a Great Expectations (GX Core 1.x) suite built in code.

The suite: the identifier column exists, has no nulls and no duplicates; list ids are integers;
and the row count matches Brevo's ``info.export.total_records``. When several exports were merged
(or rows were filtered by ``--modified-since``), ``total_records`` is the sum over exports before
folding duplicates, so the check becomes ``rows <= total_records`` and a note says so. (The
export flow passes no ``total_records``: real Brevo sends no ``info.export`` (docs/brevo/FACTS.md F3), and
when it does, the flow compares it per export and reports a difference as a warning.)

Only the two columns the suite needs are read from the Parquet, and the per-row list-id check is
computed with pyarrow, so GX sees a small two-column frame even for millions of contacts.
Validation never raises on bad data: the result says what failed, and the flow decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

logger = logging.getLogger(__name__)

LIST_IDS_OK = "__list_ids_are_integers"
SOURCES_COLUMN = "_sources"
SUITE_NAME = "contacts-export"


@dataclass(frozen=True)
class ExportValidation:
    """Outcome of :func:`validate_merged`."""

    passed: bool
    failures: tuple[str, ...]
    rows: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for summaries and artifacts."""
        return {
            "passed": self.passed,
            "failures": list(self.failures),
            "rows": self.rows,
            "notes": list(self.notes),
        }


def _load(
    source: pa.Table | str | Path, columns: list[str] | None, filesystem: pafs.FileSystem | None
) -> tuple[pa.Schema, pa.Table | None]:
    if isinstance(source, pa.Table):
        return source.schema, None
    path = str(source)
    fs = filesystem
    if fs is None and "://" in path:
        fs, path = pafs.FileSystem.from_uri(path)
    dataset = ds.dataset(path, format="parquet", filesystem=fs)
    schema = dataset.schema
    if columns is None:
        return schema, None
    wanted = [c for c in columns if c in schema.names]
    return schema, dataset.to_table(columns=wanted)


def _list_ids_column(schema: pa.Schema) -> str | None:
    for fld in schema:
        if (fld.metadata or {}).get(b"brevo_type") == b"list_ids":
            return str(fld.name)
    for name in ("list_ids", "_listIds"):
        if name in schema.names:
            return name
    return None


def _list_ids_are_integers(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Per row: True when every list id is a non-null integer (an empty list has none to fail)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    typ = array.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ)):
        # A cell like "[2|7]" that was never typed is not a list of integers.
        return pc.is_null(array)
    values = pc.list_flatten(array)
    parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(typ.value_type):
        bad = pc.is_null(values)
    else:
        text = pc.cast(values, pa.string())
        bad = pc.invert(pc.fill_null(pc.match_substring_regex(text, r"^\s*\d+\s*$"), False))
    bad_mask = bad.to_numpy(zero_copy_only=False).astype(bool)
    per_row = np.bincount(parents[bad_mask], minlength=len(array))
    return pa.array(per_row == 0)


def validate_merged(
    parquet_or_table: pa.Table | str | Path,
    *,
    identifier: str = "email",
    total_records: int | None = None,
    exports_merged: int | None = None,
    filtered: bool = False,
    filesystem: pafs.FileSystem | None = None,
) -> ExportValidation:
    """Run the export suite over the merged table (a ``pa.Table``, a Parquet file or directory).

    Args:
        identifier: the identifier column (``email``; ``EMAIL`` with ``--column-case brevo``).
        total_records: Brevo's ``total_records`` (summed over the exports of the run).
        exports_merged: how many exports were merged; above 1 the count check is ``<=``. By
            default it is read from the ``_sources`` column (distinct export labels).
        filtered: rows were dropped on purpose (``--modified-since``); the count check is ``<=``.
    """
    # Expectations come from their defining modules: great_expectations.expectations re-exports
    # them without __all__, which strict mypy does not accept.
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.core.expect_column_to_exist import ExpectColumnToExist
    from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
        ExpectColumnValuesToBeInSet,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_unique import (
        ExpectColumnValuesToBeUnique,
    )
    from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
        ExpectColumnValuesToNotBeNull,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
        ExpectTableRowCountToBeBetween,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_equal import (
        ExpectTableRowCountToEqual,
    )

    schema, _ = _load(parquet_or_table, None, filesystem)
    list_ids = _list_ids_column(schema)
    sources = SOURCES_COLUMN if exports_merged is None and SOURCES_COLUMN in schema.names else None
    wanted = [c for c in (identifier, list_ids, sources) if c]
    if isinstance(parquet_or_table, pa.Table):
        table = parquet_or_table.select([c for c in wanted if c in schema.names])
    else:
        _, loaded = _load(parquet_or_table, wanted, filesystem)
        assert loaded is not None
        table = loaded
    rows = table.num_rows
    if exports_merged is None:
        exports_merged = 1
        if sources is not None and sources in table.column_names:
            labels = pc.unique(pc.list_flatten(table.column(sources)))
            exports_merged = max(1, len(labels))
    frame_columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    if identifier in table.column_names:
        frame_columns[identifier] = table.column(identifier)
    if list_ids is not None:
        frame_columns[LIST_IDS_OK] = _list_ids_are_integers(table.column(list_ids))
    frame = pa.table(frame_columns) if frame_columns else pa.table({"__row": pa.nulls(rows)})
    dataframe = frame.to_pandas()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("contacts_export")
        .add_dataframe_asset("merged")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": dataframe})
    )
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    suite.add_expectation(ExpectColumnToExist(column=identifier))
    notes: list[str] = []
    if identifier in dataframe.columns:
        suite.add_expectation(ExpectColumnValuesToNotBeNull(column=identifier))
        suite.add_expectation(ExpectColumnValuesToBeUnique(column=identifier))
    if list_ids is not None:
        suite.add_expectation(ExpectColumnValuesToBeInSet(column=LIST_IDS_OK, value_set=[True]))
    at_most = exports_merged > 1 or filtered
    if total_records is not None:
        if at_most:
            suite.add_expectation(
                ExpectTableRowCountToBeBetween(min_value=0, max_value=total_records)
            )
            why = (
                f"{exports_merged} exports were merged"
                if exports_merged > 1
                else "rows were filtered"
            )
            notes.append(
                f"{why}: Brevo's total_records ({total_records}) counts each export's contacts "
                f"before folding duplicates/filtering, so the check is rows <= {total_records}"
            )
        else:
            suite.add_expectation(ExpectTableRowCountToEqual(value=total_records))
    result = batch.validate(suite)
    failures = tuple(
        _describe(r, identifier=identifier, list_ids=list_ids, total=total_records)
        for r in result.results
        if not r.success
    )
    return ExportValidation(passed=not failures, failures=failures, rows=rows, notes=tuple(notes))


def _describe(result: Any, *, identifier: str, list_ids: str | None, total: int | None) -> str:
    kind = result.expectation_config.type
    details = result.result or {}
    count = details.get("unexpected_count")
    sample = details.get("partial_unexpected_list") or []
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"{kind}: {result.exception_info.get('exception_message', 'failed')}".splitlines()[0]
    if kind == "expect_column_to_exist":
        return f"identifier column {identifier!r} is missing"
    if kind == "expect_column_values_to_not_be_null":
        return f"{identifier}: {count} row(s) without an identifier"
    if kind == "expect_column_values_to_be_unique":
        example = f", e.g. {sample[0]!r}" if sample else ""
        return f"{identifier}: {count} row(s) share an identifier{example}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{list_ids}: {count} row(s) with list ids that are not integers"
    if kind == "expect_table_row_count_to_equal":
        return f"row count {details.get('observed_value')} != Brevo total_records {total}"
    if kind == "expect_table_row_count_to_be_between":
        return f"row count {details.get('observed_value')} > sum of Brevo total_records {total}"
    return f"{kind} failed"
