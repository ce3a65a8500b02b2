"""Merge -> Parquet -> validate -> clean up: the step after the downloads, in one function.

:func:`publish_export` is what the export flow's merge task calls and what ``bench`` measures
(``export_merge``, ``export_merge_parts``, ``export_merge_multi``), so a benchmark figure is the
figure of the code users run; ``tests/bench`` checks that both hold the same function object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from etl.brevo.models import Attribute
from etl.exports.convert import ParseSettings
from etl.exports.layout import ColumnCase
from etl.exports.merge import Strategy, merge_exports
from etl.exports.merge_duckdb import MEMORY_MERGE_BYTES
from etl.exports.parquet import WrittenPartition, new_run_id, write_partition
from etl.exports.read import ChannelFilter, ExportFile
from etl.exports.validate import ExportValidation, ValidationEngine, validate_merged


@dataclass(frozen=True)
class PublishedExport:
    """What :func:`publish_export` wrote and found (the merge's figures outlive its clean-up)."""

    written: WrittenPartition
    validation: ExportValidation
    schema: pa.Schema
    strategy: str
    rows_per_source: Mapping[str, int]
    notes: tuple[str, ...]
    day_only_columns: tuple[str, ...]
    modified_column: str | None


def publish_export(
    files: Sequence[ExportFile],
    attributes: Sequence[Attribute],
    *,
    out: str,
    export_date: date,
    metadata: Mapping[str, str],
    work_dir: Path,
    run_id: str | None = None,
    column_case: ColumnCase = "snake",
    modified_since: datetime | None = None,
    row_filter: ChannelFilter | None = None,
    timestamp_columns: Sequence[str] = (),
    settings: ParseSettings | None = None,
    strategy: Strategy = "auto",
    validation: ValidationEngine = "arrow",
    memory_merge_bytes: int = MEMORY_MERGE_BYTES,
) -> PublishedExport:
    """Merge every file of a run, write one Parquet run atomically, validate it, clean up.

    The merge's scratch space (``work_dir``) is removed once the partition is written, whether
    writing succeeded or not. Validation reads the written Parquet back; bad data never raises
    (the result says what failed and the caller decides).

    Args:
        files: every downloaded file and part, with the label of its export.
        attributes: the account's attributes, for types.
        out: output root, a path or a filesystem URI.
        export_date: the partition's date.
        metadata: key-value metadata for every file and the manifest.
        work_dir: the merge's scratch space.
        run_id: the run's directory name (default: :func:`~etl.exports.parquet.new_run_id`).
        column_case: ``snake`` or ``brevo`` column names (the identifier follows).
        modified_since: keep only contacts modified at or after this instant.
        row_filter: keep only the rows it selects.
        timestamp_columns: extra columns typed as timestamps (export metadata).
        settings: how the account writes export dates (default: UTC, ``dd-mm-yyyy``, 24 h).
        strategy: the merge's strategy (``auto`` in production; tests force one).
        validation: the validation engine (``arrow``; ``gx`` is the Great Expectations
            reference, same checks and result).
        memory_merge_bytes: several exports up to this many bytes of CSV are grouped in
            memory, larger ones through DuckDB (same rows; ``etl.exports.merge_duckdb``).

    Raises:
        InputError: no files, a bad ``run_id``, or ``modified_since`` without MODIFIED_TIME.
        ExportFormatError: a file that is not in Brevo's export format.
    """
    settings = settings or ParseSettings()
    merged = merge_exports(
        files,
        attributes,
        column_case=column_case,
        work_dir=work_dir,
        modified_since=modified_since,
        row_filter=row_filter,
        timestamp_columns=timestamp_columns,
        account_timezone=settings.timezone,
        account_date_format=settings.date_format,
        account_time_format=settings.time_format,
        strategy=strategy,
        memory_merge_bytes=memory_merge_bytes,
    )
    try:
        written = write_partition(
            merged,
            merged.schema,
            out=out,
            export_date=export_date,
            metadata=metadata,
            run_id=run_id or new_run_id(),
        )
    finally:
        merged.close()
    checked = validate_merged(
        written.path,
        identifier="email" if column_case == "snake" else "EMAIL",
        filtered=modified_since is not None,
        engine=validation,
    )
    return PublishedExport(
        written=written,
        validation=checked,
        schema=merged.schema,
        strategy=merged.strategy,
        rows_per_source=dict(merged.rows_per_source),
        notes=tuple(merged.notes),
        day_only_columns=tuple(merged.day_only_columns),
        modified_column=merged.layout.modified_column,
    )
