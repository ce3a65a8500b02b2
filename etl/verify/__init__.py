"""Per-row proof of an import: what Brevo holds for each contact sent, and repairing it.

Owns the comparison of sent and held values in typed form (``compare``), reading what Brevo
holds, by one read per contact or an export of the target list (``held``), and the verify and
repair steps with their results and the outcomes file (``run``). See docs/verify.md.

May import: ``etl.imports`` (chunk files, bodies, attribute specs), ``etl.exports`` (starting,
waiting for, downloading and reading an export; the account's date settings), ``etl.contacts``,
``etl.brevo`` (the client). Never ``etl.cli``, ``flows`` or ``etl.sandbox``.
"""

from __future__ import annotations

from etl.verify.run import (
    DEFAULT_SMALL_RUN_MAX,
    OUTCOMES_HEADER,
    REPAIR_BATCH_MAX,
    Difference,
    Outcome,
    RepairResult,
    Route,
    VerifyResult,
    not_landed_identifiers,
    repair,
    verify_import,
)

__all__ = [
    "DEFAULT_SMALL_RUN_MAX",
    "OUTCOMES_HEADER",
    "REPAIR_BATCH_MAX",
    "Difference",
    "Outcome",
    "RepairResult",
    "Route",
    "VerifyResult",
    "not_landed_identifiers",
    "repair",
    "verify_import",
]
