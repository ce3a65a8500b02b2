"""The export path: Brevo's export processes -> downloaded files -> typed, atomic Parquet.

Owns, in run order: the options of ``POST /contacts/export`` (``options``), the legacy v2
filters (``legacy_filters``), starting, waiting for and downloading exports (``run``), safe
unpacking (``archive``), the typed column layout from the account's attributes (``layout``),
value converters and the account's date formats (``convert``), typed batches from one file
(``read``), the merge result shared by both merges (``result``), the streaming merge and the
choice of strategy (``merge``), the grouping merge (``merge_duckdb``), the output location and
its atomic operations (``output``), the Parquet partitions (``parquet``), the check of the result
(``validate``: Arrow kernels, with Great Expectations as the reference) and the step that chains
merge, Parquet, validation and clean-up for the flow and the benchmarks alike (``publish``).

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``, ``etl.arrow_memory`` (importing the package makes
jemalloc Arrow's pool, see there). Never ``etl.imports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""

from __future__ import annotations

import etl.arrow_memory  # noqa: F401  (importing it makes jemalloc Arrow's pool)
from etl.exports.legacy_filters import (
    parse_export_attrib,
)
from etl.exports.merge import (
    merge_exports,
)
from etl.exports.options import (
    SUBSCRIPTION_STATUSES,
    ExportOptions,
    ExportPlan,
    build_export_requests,
    default_export_attributes,
    plan_exports,
)
from etl.exports.output import (
    read_high_water_mark,
    write_high_water_mark,
)
from etl.exports.parquet import (
    new_run_id,
    write_partition,
)
from etl.exports.publish import (
    PublishedExport,
    publish_export,
)
from etl.exports.read import (
    ChannelFilter,
    ExportFile,
)
from etl.exports.run import (
    DateSettings,
    ExportRun,
    ExportSummary,
    date_settings_from,
    fetch_date_settings,
    run_exports,
)
from etl.exports.validate import (
    ExportValidation,
    ValidationEngine,
    validate_merged,
)

__all__ = [
    "SUBSCRIPTION_STATUSES",
    "ChannelFilter",
    "DateSettings",
    "ExportFile",
    "ExportOptions",
    "ExportPlan",
    "ExportRun",
    "ExportSummary",
    "ExportValidation",
    "PublishedExport",
    "ValidationEngine",
    "build_export_requests",
    "date_settings_from",
    "default_export_attributes",
    "fetch_date_settings",
    "merge_exports",
    "new_run_id",
    "parse_export_attrib",
    "plan_exports",
    "publish_export",
    "read_high_water_mark",
    "run_exports",
    "validate_merged",
    "write_high_water_mark",
    "write_partition",
]
