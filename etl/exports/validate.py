"""Check the merged export with the export suite (Arrow kernels; Great Expectations, the reference).

The suite: the identifier column exists, has no nulls and no duplicates; list ids are integers;
and the row count matches Brevo's ``info.export.total_records``. When several exports were merged
(or rows were filtered by ``--modified-since``), ``total_records`` is the sum over exports before
folding duplicates, so the check becomes ``rows <= total_records`` and a note says so. (The
export flow passes no ``total_records``: real Brevo sends no ``info.export`` (docs/brevo/FACTS.md F3), and
when it does, the flow compares it per export and reports a difference as a warning.)

Only the two columns the suite needs are read from the Parquet (``_sources`` too, when
``total_records`` is given and the number of merged exports is not), and the per-row list-id
check is computed with pyarrow. Validation never raises on bad data: the result says what
failed, and the flow decides.

Two engines evaluate the one suite (:class:`_Suite`: which expectations, on which columns):

* ``gx``, the reference: the suite run by Great Expectations over a two-column pandas frame.
* ``arrow``, the default: the same expectations computed with Arrow kernels over the same
  columns (a null count, a distinct count, a count of ``False``, the row count; from
  ``FINGERPRINT_MIN_VALUES`` text identifiers on, the distinct count is proven by sorting quick
  64-bit fingerprints, and only equal fingerprints fall back to the exact count), with GX's
  semantics (nulls are not duplicates; every row of a repeated value is unexpected, the example
  is the first such row) and the same failure messages. On 100k rows GX spends about 80 ms
  (it hashes the whole frame twice for a batch id and writes its context's YAML three times)
  where the checks take a few: that was most of ``export_merge``. Importing
  ``great_expectations`` (4 to 7 s) is no longer needed to export. ``tests/exports`` runs both
  engines on good and bad tables and Parquet files and requires the same result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from etl.fingerprints import quick_fingerprints

logger = logging.getLogger(__name__)

LIST_IDS_OK = "__list_ids_are_integers"
SOURCES_COLUMN = "_sources"
SUITE_NAME = "contacts-export"
# From this many identifiers on, uniqueness is checked on quick fingerprints first (below it, one
# exact distinct count costs less than starting DuckDB; the merge starts it past 200k keys).
FINGERPRINT_MIN_VALUES = 200_000

ValidationEngine = Literal["arrow", "gx"]
"""``arrow`` (the default) or ``gx`` (the Great Expectations reference); same checks, same result."""


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


def _open(source: str | Path, filesystem: pafs.FileSystem | None) -> ds.Dataset:
    path = str(source)
    fs = filesystem
    if fs is None and "://" in path:
        fs, path = pafs.FileSystem.from_uri(path)
    return ds.dataset(path, format="parquet", filesystem=fs)


def _list_ids_column(schema: pa.Schema) -> str | None:
    for fld in schema:
        if (fld.metadata or {}).get(b"brevo_type") == b"list_ids":
            return str(fld.name)
    for name in ("list_ids", "_listIds"):
        if name in schema.names:
            return name
    return None


def _list_ids_are_integers(column: pa.ChunkedArray | pa.Array, *, fast: bool = True) -> pa.Array:
    """Per row: True when every list id is a non-null integer (an empty list has none to fail).

    ``fast=False``: the per-row count alone, without the shortcut for typed lists of integers.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    typ = array.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ)):
        # A cell like "[2|7]" that was never typed is not a list of integers.
        return pc.is_null(array)
    values = pc.list_flatten(array)
    if fast and pa.types.is_integer(typ.value_type) and values.null_count == 0:
        return pa.array(np.ones(len(array), dtype=bool))  # the usual case: nothing to look at
    parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(typ.value_type):
        bad = pc.is_null(values)
    else:
        text = pc.cast(values, pa.string())
        bad = pc.invert(pc.fill_null(pc.match_substring_regex(text, r"^\s*\d+\s*$"), False))
    bad_mask = bad.to_numpy(zero_copy_only=False).astype(bool)
    per_row = np.bincount(parents[bad_mask], minlength=len(array))
    return pa.array(per_row == 0)


@dataclass(frozen=True)
class _Suite:
    """What is validated, whichever engine evaluates it (in the order failures are listed)."""

    identifier: str
    has_identifier: bool  # ExpectColumnToExist; the identifier checks only when it exists
    list_ids: str | None  # ExpectColumnValuesToBeInSet(LIST_IDS_OK, [True])
    total_records: int | None
    at_most: bool  # row count <= total_records instead of ==


def validate_merged(
    parquet_or_table: pa.Table | str | Path,
    *,
    identifier: str = "email",
    total_records: int | None = None,
    exports_merged: int | None = None,
    filtered: bool = False,
    filesystem: pafs.FileSystem | None = None,
    engine: ValidationEngine = "arrow",
) -> ExportValidation:
    """Run the export suite over the merged table (a ``pa.Table``, a Parquet file or directory).

    Args:
        identifier: the identifier column (``email``; ``EMAIL`` with ``--column-case brevo``).
        total_records: Brevo's ``total_records`` (summed over the exports of the run).
        exports_merged: how many exports were merged; above 1 the count check is ``<=``. By
            default it is read from the ``_sources`` column (distinct export labels).
        filtered: rows were dropped on purpose (``--modified-since``); the count check is ``<=``.
        filesystem: read ``parquet_or_table`` from this filesystem.
        engine: ``arrow`` (Arrow kernels) or ``gx`` (Great Expectations, the reference): the
            same suite, the same result.
    """
    if engine not in ("arrow", "gx"):
        raise ValueError(f"unknown validation engine {engine!r}")
    if isinstance(parquet_or_table, pa.Table):
        given: pa.Table | None = parquet_or_table
        dataset: ds.Dataset | None = None
        schema = parquet_or_table.schema
    else:
        given, dataset = None, _open(parquet_or_table, filesystem)
        schema = dataset.schema
    list_ids = _list_ids_column(schema)
    # The number of exports only matters to the row-count check: without total_records the
    # _sources column (a list of labels per row) is not read at all.
    sources = (
        SOURCES_COLUMN
        if exports_merged is None and total_records is not None and SOURCES_COLUMN in schema.names
        else None
    )
    wanted = [c for c in (identifier, list_ids, sources) if c and c in schema.names]
    if given is not None:
        table = given.select(wanted)
    else:
        assert dataset is not None
        table = dataset.to_table(columns=wanted)
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
    at_most = exports_merged > 1 or filtered
    notes: list[str] = []
    if total_records is not None and at_most:
        why = (
            f"{exports_merged} exports were merged" if exports_merged > 1 else "rows were filtered"
        )
        notes.append(
            f"{why}: Brevo's total_records ({total_records}) counts each export's contacts "
            f"before folding duplicates/filtering, so the check is rows <= {total_records}"
        )
    suite = _Suite(
        identifier=identifier,
        has_identifier=identifier in frame.column_names,
        list_ids=list_ids,
        total_records=total_records,
        at_most=at_most,
    )
    failures = _run_gx(frame, suite) if engine == "gx" else _run_arrow(frame, suite)
    return ExportValidation(passed=not failures, failures=failures, rows=rows, notes=tuple(notes))


def _run_arrow(frame: pa.Table, suite: _Suite) -> tuple[str, ...]:
    """The suite with Arrow kernels, GX's semantics and :func:`_describe`'s messages."""
    identifier = suite.identifier
    failures: list[str] = []
    if not suite.has_identifier:
        failures.append(f"identifier column {identifier!r} is missing")
    else:
        column = frame.column(identifier)
        if column.null_count:
            failures.append(f"{identifier}: {column.null_count} row(s) without an identifier")
        present = len(column) - column.null_count
        # The usual case costs a sort of fingerprints; the details only when it finds a repeat.
        if not _all_distinct(column, present):
            count, first = _repeated_rows(column)
            example = f", e.g. {first!r}" if first is not None else ""
            failures.append(f"{identifier}: {count} row(s) share an identifier{example}")
    if suite.list_ids is not None:
        ok = frame.column(LIST_IDS_OK)
        bad = len(ok) - ok.null_count - int(pc.sum(ok).as_py() or 0)
        if bad:
            failures.append(f"{suite.list_ids}: {bad} row(s) with list ids that are not integers")
    total = suite.total_records
    rows = frame.num_rows
    if total is not None:
        if suite.at_most and rows > total:
            failures.append(f"row count {rows} > sum of Brevo total_records {total}")
        elif not suite.at_most and rows != total:
            failures.append(f"row count {rows} != Brevo total_records {total}")
    return tuple(failures)


def _all_distinct(column: pa.ChunkedArray, present: int) -> bool:
    """Whether the ``present`` non-null values of ``column`` are pairwise distinct.

    Text identifiers are checked by quick 64-bit fingerprints first (``etl.fingerprints``; a
    sort of integers, several times cheaper than hashing a million strings into a set):
    distinct fingerprints prove distinct values. Equal fingerprints (a repeat, or a collision
    of the quick hash) are settled by the exact distinct count, as are small and non-text
    columns.
    """
    typ = column.type
    if present >= FINGERPRINT_MIN_VALUES and (
        pa.types.is_string(typ) or pa.types.is_large_string(typ)
    ):
        values = pc.drop_null(column) if column.null_count else column
        fingerprints = quick_fingerprints(values)
        fingerprints.sort()
        if not np.any(fingerprints[1:] == fingerprints[:-1]):
            return True
    return bool(pc.count_distinct(column, mode="only_valid").as_py() == present)


def _repeated_rows(column: pa.ChunkedArray) -> tuple[int, Any]:
    """Rows whose (non-null) value occurs more than once, and the first such value (as GX)."""
    counts = pc.value_counts(column)
    values = counts.field("values")
    repeated = pc.drop_null(values.filter(pc.greater(counts.field("counts"), 1)))
    mask = pc.is_in(column, value_set=repeated)
    count = int(pc.sum(mask).as_py() or 0)
    first = column.filter(mask)
    return count, first[0].as_py() if len(first) else None


def _run_gx(frame: pa.Table, suite: _Suite) -> tuple[str, ...]:
    """The reference: the suite run by Great Expectations (GX Core 1.x) over a pandas frame."""
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

    identifier = suite.identifier
    dataframe = frame.to_pandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("contacts_export")
        .add_dataframe_asset("merged")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": dataframe})
    )
    gx_suite = gx.ExpectationSuite(name=SUITE_NAME)
    gx_suite.add_expectation(ExpectColumnToExist(column=identifier))
    if suite.has_identifier:
        gx_suite.add_expectation(ExpectColumnValuesToNotBeNull(column=identifier))
        gx_suite.add_expectation(ExpectColumnValuesToBeUnique(column=identifier))
    if suite.list_ids is not None:
        gx_suite.add_expectation(ExpectColumnValuesToBeInSet(column=LIST_IDS_OK, value_set=[True]))
    total = suite.total_records
    if total is not None:
        if suite.at_most:
            gx_suite.add_expectation(ExpectTableRowCountToBeBetween(min_value=0, max_value=total))
        else:
            gx_suite.add_expectation(ExpectTableRowCountToEqual(value=total))
    result = batch.validate(gx_suite)
    return tuple(
        _describe(r, identifier=identifier, list_ids=suite.list_ids, total=total)
        for r in result.results
        if not r.success
    )


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
