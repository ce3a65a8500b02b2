"""The run's report: every row accounted for, Brevo's counts, and what differed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl.imports.plan import ImportPlan
from etl.imports.prepare import PreparedImport
from etl.imports.runs import AccountScope, RunDecision
from etl.imports.submit import ChunkOutcome
from etl.imports.target import Target


@dataclass
class ImportReport:
    """The run's account, written as JSON by ``--report``.

    ``rows_read == rows_sent + rows_rejected + rows_refused_by_brevo + rows_not_completed +
    rows_already_sent + rows_unchanged``: every row is sent by this run (and accepted by Brevo),
    rejected locally with a reason, refused by Brevo, in a chunk that did not complete, sent by
    an earlier completed run of the same command (then nothing is sent), or (``--changed-only``)
    unchanged since the last successful run to this account and target.
    """

    rows_read: int
    rows_sent: int
    rows_rejected: int
    rejects_by_reason: dict[str, int]
    unknown_columns: list[str]
    chunks: list[dict[str, Any]]
    list_ids: list[int]
    brevo: dict[str, Any]
    files: list[dict[str, Any]]
    rejects_path: str
    validation: dict[str, Any]
    rows_refused_by_brevo: int = 0
    rows_not_completed: int = 0
    rows_already_sent: int = 0
    rows_unchanged: int = 0
    sync: dict[str, Any] = field(default_factory=dict)
    """``--changed-only`` / ``--unlink-missing``: the snapshot compared with (``snapshot``, one
    line), ``unlinked``, ``unlink_not_in_list``, ``unlinked_path``, ``snapshot_written``."""
    verify: dict[str, Any] = field(default_factory=dict)
    """``--verify``: ``landed``, ``differs``, ``missing``, ``outcomes_path`` (and ``repaired``,
    ``still_differs`` with ``--repair``)."""
    run_id: str | None = None
    run_action: str = "new"
    previous_run: dict[str, Any] | None = None
    account: dict[str, str] = field(default_factory=dict)
    refusals_path: str | None = None
    dropped_values: int = 0
    phones_reassigned_region: int = 0
    """Phones written the national way that are another region's (Réunion's under FR)."""
    date_orders: dict[str, str] = field(default_factory=dict)
    """Date attribute -> how its day/month order was decided (``day-first (settled by ...)``)."""
    footer_lines: dict[str, list[str]] = field(default_factory=dict)
    """File -> the footer lines at its end (a report's legal lines): neither read nor rejected."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know although nothing failed (a file with no data rows, ...)."""
    new_emails: int | None = None
    emails_exists: int | None = None
    invalid_email: int | None = None
    duplicates_email: int | None = None
    differences: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    ok: bool = True

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(asdict(self), indent=2, default=str)


def build_report(
    plan: ImportPlan,
    prepared: PreparedImport,
    target: Target | None,
    outcomes: Sequence[ChunkOutcome],
    *,
    started_at: datetime,
    notify_payloads: Sequence[dict[str, Any]] = (),
    run: RunDecision | None = None,
    account: AccountScope | None = None,
    refusals_path: Path | None = None,
    sync: dict[str, Any] | None = None,
    verify: dict[str, Any] | None = None,
) -> ImportReport:
    """Assemble the report and check the accounting invariant."""
    completed = [o for o in outcomes if o.status == "completed"]
    refused = sum(int((o.info or {}).get("refused") or 0) for o in completed)
    to_send = sum(c.rows for c in prepared.chunks)
    already = to_send if run is not None and run.action == "already_completed" else 0
    not_completed = sum(o.rows for o in outcomes if o.status != "completed")
    rows_sent = sum(o.rows for o in completed) - refused
    counts: Counter[str] = Counter()
    sources: set[str] = set()
    problems: list[str] = []
    for o in completed:
        info = o.info or {}
        counts.update(info.get("brevo_counts") or {})
        if info.get("brevo_counts_source"):
            sources.add(str(info["brevo_counts_source"]))
        problems += [f"chunk {o.index}: {p}" for p in info.get("problems") or ()]
    invalid = counts.get("invalid_emails", 0)
    duplicates = sum(v for k, v in counts.items() if k.startswith("duplicate_"))
    known = bool(completed) and all((o.info or {}).get("accounted") for o in completed)
    brevo: dict[str, Any] = {
        "processes": [o.process_id for o in outcomes],
        "counts": dict(sorted(counts.items())),
        "counts_source": _counts_source(sources, known),
        "invalid_emails": invalid,
        "duplicates": duplicates,
        "false_booleans_reapplied": sum(
            int((o.info or {}).get("false_reapplied") or 0) for o in completed
        ),
        "problems": problems,
    }
    differences = []
    if refused:
        differences.append(
            f"Brevo refused {refused} row(s) the local checks accepted "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()) if v)})"
        )
    legacy: dict[str, int | None] = {
        "new_emails": None,
        "emails_exists": None,
        "invalid_email": None,
        "duplicates_email": None,
    }
    for payload in notify_payloads:
        for name in legacy:
            raw = payload.get(name)
            if raw is not None and str(raw).strip().isdigit():
                legacy[name] = (legacy[name] or 0) + int(str(raw).strip())
    if known and "none" not in sources and "unavailable" not in sources:
        if legacy["invalid_email"] is None:
            legacy["invalid_email"] = invalid
        if legacy["duplicates_email"] is None:
            legacy["duplicates_email"] = duplicates
    ok = all(o.status == "completed" for o in outcomes)
    report = ImportReport(
        rows_read=prepared.rows_read,
        rows_sent=rows_sent,
        rows_rejected=prepared.rows_rejected,
        rows_refused_by_brevo=refused,
        rows_not_completed=not_completed,
        rows_already_sent=already,
        rows_unchanged=prepared.rows_unchanged,
        sync=dict(sync or {}),
        verify=dict(verify or {}),
        rejects_by_reason=prepared.rejects_by_reason,
        unknown_columns=list(plan.unknown_columns),
        chunks=[
            {
                "index": o.index,
                "rows": o.rows,
                "bytes": o.bytes,
                "sha256": o.sha256,
                "process_id": o.process_id,
                "status": o.status,
                "action": o.action,
                "refused_by_brevo": int((o.info or {}).get("refused") or 0),
                **({"error": o.error} if o.error else {}),
            }
            for o in outcomes
        ],
        list_ids=list(target.list_ids) if target else [],
        brevo=brevo,
        files=[asdict(f) for f in prepared.files],
        rejects_path=str(prepared.rejects_path),
        validation={
            "passed": prepared.validation.passed,
            "evaluated": prepared.validation.evaluated,
            "successful": prepared.validation.successful,
            "failures": list(prepared.validation.failures),
        },
        run_id=run.run_id if run else None,
        run_action=run.action if run else "new",
        previous_run=run.previous if run and run.action != "new" else None,
        account={"email": account.email, "key": account.key} if account else {},
        refusals_path=str(refusals_path) if refusals_path else None,
        dropped_values=prepared.dropped_values,
        phones_reassigned_region=prepared.phones_reassigned_region,
        date_orders={a: d.describe(plan.normalise.dayfirst) for a, d in plan.date_orders.items()},
        footer_lines={str(f.path): list(f.fmt.footer) for f in plan.files if f.fmt.footer},
        warnings=run_warnings(plan, prepared),
        differences=differences,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ok=ok,
        **legacy,
    )
    total = (
        report.rows_sent
        + report.rows_rejected
        + report.rows_refused_by_brevo
        + report.rows_not_completed
        + report.rows_already_sent
        + report.rows_unchanged
    )
    if report.rows_read != total:
        raise AssertionError(
            f"accounting broken: read {report.rows_read} != sent {report.rows_sent} "
            f"+ rejected {report.rows_rejected} + refused {report.rows_refused_by_brevo} "
            f"+ not completed {report.rows_not_completed} + already sent "
            f"{report.rows_already_sent} + unchanged {report.rows_unchanged}"
        )
    return report


def run_warnings(plan: ImportPlan, prepared: PreparedImport) -> list[str]:
    """What the user should know although nothing failed."""
    warnings: list[str] = []
    for planned, account in zip(plan.files, prepared.files, strict=True):
        if account.rows_read == 0:
            warnings.append(f"{planned.path}: the file has a header but no data rows")
    for attribute, decision in plan.date_orders.items():
        if decision.order is None and plan.normalise.dayfirst is None:
            warnings.append(
                f"{attribute}: dates such as {decision.example} read as a different date "
                "day-first and month-first and no value settles the column: rows holding one "
                "are rejected (ambiguous_date); give --dayfirst or --monthfirst"
            )
    return warnings


def _counts_source(sources: set[str], known: bool) -> str:
    """Where the report's Brevo counts come from, in words."""
    if not known:
        return "not known (no chunk completed in this run)"
    if not sources or sources == {"none"}:
        return "not given: Brevo's processes carried no info.import"
    if "unavailable" in sources:
        return "partly unavailable: some of Brevo's report files could not be read"
    parts = []
    if any("links" in s for s in sources):
        parts.append("rows of Brevo's info.import CSV files")
    if any("counts" in s for s in sources):
        parts.append("counts in Brevo's info.import")
    return " and ".join(parts)


def write_report(report: ImportReport, path: Path) -> None:
    """Write the report atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.to_json(), encoding="utf-8")
    tmp.replace(path)
