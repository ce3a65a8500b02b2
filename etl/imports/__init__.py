"""The import path, in run order: CSV files -> checked, normalised chunks -> Brevo, exactly once.

Owns: options and planning (``importer``), the CSV sniffer and reader (``csv_io``), header
mapping (``mapping``), value normalising (``normalise``), Great Expectations checks
(``validate``), the ``;`` body (``body``), the rejects file (``rejects``), the per-account
ledger of runs and chunks (``ledger``), chunk publishing for ``fileUrl`` (``publish``), and
what Brevo did with each chunk (``outcomes``).

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``. Never ``etl.exports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""

from __future__ import annotations

from etl.imports.importer import (
    AccountScope,
    ChunkFile,
    ChunkOutcome,
    FileStage,
    ImportOptions,
    ImportPlan,
    ImportReport,
    PreparedImport,
    RunDecision,
    Target,
    account_chunk,
    account_scope,
    begin_run,
    build_report,
    finish_prepare,
    newest_process_id,
    normalise_file,
    open_ledger,
    plan_import,
    prepare_import,
    remembered_target,
    resolve_target,
    run_fingerprint,
    submit_chunk,
    wait_chunk,
    write_refusals_file,
    write_report,
)
from etl.imports.ledger import DEFAULT_STATE_DIR, Ledger
from etl.imports.publish import LocalFilePublisher, Publisher, S3Publisher

__all__ = [
    "DEFAULT_STATE_DIR",
    "AccountScope",
    "ChunkFile",
    "ChunkOutcome",
    "FileStage",
    "ImportOptions",
    "ImportPlan",
    "ImportReport",
    "Ledger",
    "LocalFilePublisher",
    "PreparedImport",
    "Publisher",
    "RunDecision",
    "S3Publisher",
    "Target",
    "account_chunk",
    "account_scope",
    "begin_run",
    "build_report",
    "finish_prepare",
    "newest_process_id",
    "normalise_file",
    "open_ledger",
    "plan_import",
    "prepare_import",
    "remembered_target",
    "resolve_target",
    "run_fingerprint",
    "submit_chunk",
    "wait_chunk",
    "write_refusals_file",
    "write_report",
]
