"""The import path, in run order: CSV files -> checked, normalised chunks -> Brevo, exactly once.

Owns, in run order: the run's options (``options``), planning (``plan``, which also settles the
day/month order of date columns), the CSV sniffer and reader (``csv``), header mapping
(``mapping``, with the shipped mapping ``presets``), value normalising, one module per value
family (``normalise``), Great Expectations checks (``validate``), pass 1 and 2 of the local half
(``prepare``, with the ``spill`` between them and the run-wide ``dedupe``), the ``;`` body
(``body``), the rejects file (``rejects``), the per-account ledger of runs and chunks
(``ledger``) and which run an invocation is (``runs``), chunk publishing for ``fileUrl``
(``publish``), the target lists (``target``), sending each chunk exactly once (``submit``, with
``reconcile`` for lost submissions), what Brevo did with each chunk (``outcomes``), nightly syncs
(``snapshot`` of what the last run sent, ``sync`` to compare and commit it, ``unlink`` for
``--unlink-missing``), and the report (``report``).

Each phase is a plain function over small, serialisable values (paths, ids, dataclasses), so the
Prefect flow wraps one task around each and the CLI or a test can call them directly.

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``, ``etl.arrow_memory`` (importing the package makes
jemalloc Arrow's pool, see there). Never ``etl.exports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""

from __future__ import annotations

import etl.arrow_memory  # noqa: F401  (importing it makes jemalloc Arrow's pool)
from etl.imports.ledger import DEFAULT_STATE_DIR, Ledger
from etl.imports.options import ImportOptions
from etl.imports.plan import ImportPlan, plan_import, resolve_paths
from etl.imports.prepare import (
    ChunkFile,
    FileStage,
    PreparedImport,
    finish_prepare,
    normalise_file,
    prepare_import,
)
from etl.imports.presets import PRESET_NAMES, MappingPreset, list_presets, load_preset
from etl.imports.publish import LocalFilePublisher, Publisher, S3Publisher
from etl.imports.reconcile import ReconcileAmbiguous, reconcile_uncertain
from etl.imports.report import ImportReport, build_report, write_report
from etl.imports.runs import (
    AccountScope,
    RunDecision,
    account_scope,
    begin_run,
    newest_process_id,
    open_ledger,
    run_fingerprint,
)
from etl.imports.snapshot import Snapshot, UnlinkPlan
from etl.imports.submit import (
    ChunkOutcome,
    account_chunk,
    submit_chunk,
    wait_chunk,
    write_refusals_file,
)
from etl.imports.sync import SyncBase, check_previous, commit, plan_unlink
from etl.imports.target import Target, remembered_target, resolve_target
from etl.imports.unlink import UnlinkResult, unlink_contacts, write_unlinked_file

__all__ = [
    "DEFAULT_STATE_DIR",
    "PRESET_NAMES",
    "AccountScope",
    "ChunkFile",
    "ChunkOutcome",
    "FileStage",
    "ImportOptions",
    "ImportPlan",
    "ImportReport",
    "Ledger",
    "LocalFilePublisher",
    "MappingPreset",
    "PreparedImport",
    "Publisher",
    "ReconcileAmbiguous",
    "RunDecision",
    "S3Publisher",
    "Snapshot",
    "SyncBase",
    "Target",
    "UnlinkPlan",
    "UnlinkResult",
    "account_chunk",
    "account_scope",
    "begin_run",
    "build_report",
    "check_previous",
    "commit",
    "finish_prepare",
    "list_presets",
    "load_preset",
    "newest_process_id",
    "normalise_file",
    "open_ledger",
    "plan_import",
    "plan_unlink",
    "prepare_import",
    "reconcile_uncertain",
    "remembered_target",
    "resolve_paths",
    "resolve_target",
    "run_fingerprint",
    "submit_chunk",
    "unlink_contacts",
    "wait_chunk",
    "write_refusals_file",
    "write_report",
    "write_unlinked_file",
]
