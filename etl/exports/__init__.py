"""The export path: Brevo's export processes -> downloaded files -> typed, atomic Parquet.

Owns: the options of ``POST /contacts/export`` (``options``), the legacy v2 filters
(``legacy_filters``), starting, waiting for and downloading exports (``run``), safe unpacking
(``archive``), reading and merging export files (``merge``), the Parquet layout and atomic
partitions (``parquet``) and the Great Expectations check of the result (``validate``).

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``. Never ``etl.imports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""

from __future__ import annotations

from etl.exports.legacy_filters import (
    parse_export_attrib,
)
from etl.exports.merge import (
    ExportFile,
    merge_exports,
)
from etl.exports.options import (
    SUBSCRIPTION_STATUSES,
    ExportOptions,
    ExportPlan,
    build_export_requests,
    plan_exports,
)
from etl.exports.parquet import (
    read_high_water_mark,
    write_high_water_mark,
    write_partition,
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
    validate_merged,
)

__all__ = [
    "SUBSCRIPTION_STATUSES",
    "DateSettings",
    "ExportFile",
    "ExportOptions",
    "ExportPlan",
    "ExportRun",
    "ExportSummary",
    "build_export_requests",
    "date_settings_from",
    "fetch_date_settings",
    "merge_exports",
    "parse_export_attrib",
    "plan_exports",
    "read_high_water_mark",
    "run_exports",
    "validate_merged",
    "write_high_water_mark",
    "write_partition",
]
