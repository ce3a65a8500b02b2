"""Prefect flow: export contacts from Brevo into typed, atomic Parquet for warehouses."""

from __future__ import annotations

import inspect
import tempfile
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from prefect import flow
from prefect.cache_policies import NO_CACHE

from etl import exports
from etl.brevo.client import BrevoClient
from etl.brevo.models import (
    ActionForContacts,
    ActionForEmailCampaigns,
    ActionForSmsCampaigns,
    Attribute,
    ExportRequest,
    SubscriptionStatus,
)
from etl.brevo.notify import NotifyReceiver
from etl.exports import (
    DateSettings,
    ExportOptions,
    ExportPlan,
    ExportRun,
    ExportSummary,
    parse_export_attrib,
    publish_export,
    read_high_water_mark,
    write_high_water_mark,
)
from etl.exports import plan_exports as build_plan
from etl.settings import DEFAULT_SECRET_BLOCK
from flows._common import (
    brevo_task,
    build_client,
    clean_stale_work_dirs,
    create_markdown_artifact,
    create_table_artifact,
    get_run_logger,
    markdown_table,
    task,
)


@brevo_task()
def fetch_account(client: BrevoClient) -> tuple[list[Attribute], list[int]]:
    """The account's attributes and list ids (per-list legacy filters need them)."""
    attributes = client.get_attributes()
    list_ids = [lst.id for page in client.iter_lists() for lst in page]
    return attributes, list_ids


@task(cache_policy=NO_CACHE)
def fetch_date_settings(client: BrevoClient) -> DateSettings:
    """How Brevo writes this account's export dates (``GET /account`` dateTimePreferences)."""
    return exports.fetch_date_settings(client)


@task(cache_policy=NO_CACHE)
def plan_exports(
    options: ExportOptions, all_list_ids: list[int], attributes: list[Attribute] | None = None
) -> ExportPlan:
    """Turn the options (or a legacy v2 filter) into v3 export requests; refuse bad combinations.

    Without ``--attributes``, every contact attribute of the account is exported.
    """
    default_attributes = exports.default_export_attributes(attributes or [])
    return build_plan(options, all_list_ids=all_list_ids, default_attributes=default_attributes)


@task(cache_policy=NO_CACHE)
def request_and_fetch(
    client: BrevoClient,
    requests: list[tuple[str, ExportRequest]],
    work_dir: Path,
    timeout_s: float,
    receiver: NotifyReceiver | None,
) -> list[ExportRun]:
    """Run the exports concurrently, wait for them and download their files."""
    wake_factory = None
    if receiver is not None:

        def wake_factory() -> tuple[str | None, threading.Event | None]:
            ticket = receiver.register()
            return ticket.url, ticket.event

    return exports.run_exports(
        client,
        requests,
        work_dir=work_dir,
        timeout_s=timeout_s,
        wake_factory=wake_factory,
        status=get_run_logger().info,  # Brevo's status and the time waited, in the flow logs
    )


@task(cache_policy=NO_CACHE)
def merge_and_write(
    runs: list[ExportRun],
    attributes: list[Attribute],
    out: str,
    export_date: date,
    column_case: Literal["snake", "brevo"],
    modified_since: datetime | None,
    work_dir: Path,
    metadata: dict[str, str],
    timestamp_columns: tuple[str, ...],
    dates: DateSettings | None = None,
    row_filter: exports.ChannelFilter | None = None,
) -> ExportSummary:
    """Merge every file of the run and write one Parquet partition, atomically."""
    dates = dates or exports.date_settings_from(None, failure="no account date settings given")
    settings = dates.settings
    # The one etl call of this step, the same the benchmarks measure (tests/bench checks it).
    # Brevo's info.export.total_records (absent in production, docs/brevo/FACTS.md F3) is compared
    # per export with the rows its files held below; a difference is a warning, not a failed
    # validation.
    merged = publish_export(
        [f for run in runs for f in run.files],
        attributes,
        out=out,
        export_date=export_date,
        metadata=metadata,
        work_dir=work_dir / "merge",
        column_case=column_case,
        modified_since=modified_since,
        row_filter=row_filter,
        timestamp_columns=timestamp_columns,
        settings=settings,
    )
    written, validation = merged.written, merged.validation
    warnings = [w for r in runs for w in r.warnings]
    for r in runs:
        got = merged.rows_per_source.get(r.label, 0)
        if r.total_records is not None and got != r.total_records:
            warnings.append(
                f"export {r.label}: its file held {got} row(s), Brevo's "
                f"info.export.total_records says {r.total_records}"
            )
    notes = list(dates.notes) + list(merged.notes)
    day_only = list(merged.day_only_columns)
    if modified_since is not None and merged.modified_column in day_only:
        start = settings.day_start(modified_since)
        local_day = start.astimezone(ZoneInfo(settings.timezone)).date()
        notes.append(
            f"MODIFIED_TIME has no time of day, so --modified-since {modified_since.isoformat()} "
            f"kept every contact modified on {local_day.isoformat()} ({settings.timezone}) or "
            "later: contacts changed that day before the bound are exported again"
        )
    notes += [f"warning: {w}" for w in warnings]
    return ExportSummary(
        exports=[
            {
                "label": r.label,
                "process_id": r.process_id,
                "rows": merged.rows_per_source.get(r.label, 0),
                "total_records": r.total_records,
                "bytes": r.downloaded_bytes,
                "files": len(r.files),
                "rerequested": r.rerequested,
            }
            for r in runs
        ],
        merged_rows=written.rows,
        partition=str(written.path),
        files=[str(f) for f in written.files],
        manifest=str(written.manifest_path),
        run_id=written.run_id,
        day_partition=str(written.day_path),
        schema=[{"column": f.name, "type": str(f.type)} for f in merged.schema],
        validation={
            "passed": validation.passed,
            "failures": list(validation.failures),
            "notes": list(validation.notes),
        },
        notes=notes,
        export_date=export_date.isoformat(),
        modified_since=modified_since.isoformat() if modified_since else None,
        warnings=warnings,
        date_times={**dates.to_dict(), "day_only_columns": day_only},
    )


def export_markdown(summary: ExportSummary) -> str:
    """The human summary of an export (artifact and CLI)."""
    lines = [
        "# Export summary",
        "",
        f"- merged rows: **{summary.merged_rows}**",
        f"- partition: `{summary.partition}` (manifest `{summary.manifest}`)",
        f"- validation (export suite): {'passed' if summary.validation['passed'] else 'FAILED'}",
        _dates_line(summary.date_times),
        "",
        "## Exports",
        "",
        markdown_table(summary.exports),
        "",
        "## Schema",
        "",
        markdown_table(summary.schema),
    ]
    if summary.validation["failures"]:
        lines += ["", "## Validation failures", ""] + [
            f"- {f}" for f in summary.validation["failures"]
        ]
    if summary.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary.warnings]
    notes = [n for n in summary.notes if not n.startswith("warning: ")]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def _dates_line(date_times: dict[str, Any]) -> str:
    if not date_times:
        return "- export dates: unknown"
    day_only = date_times.get("day_only_columns") or []
    kind = f"day-only ({', '.join(day_only)})" if day_only else "with times"
    return (
        f"- export dates: {kind}; read as {date_times.get('date_format')}, "
        f"{date_times.get('time_format')}-hour clock, {date_times.get('timezone')} "
        f"(from {date_times.get('source')})"
    )


def export_options(parameters: Mapping[str, Any]) -> ExportOptions:
    """The :class:`ExportOptions` of a run of :func:`export_contacts` with ``parameters``.

    ``parameters`` are the flow's keyword arguments (those left out take the signature's
    defaults). The flow builds its options here; the CLI builds them here to check its input
    before it starts a flow run.
    """
    import json

    bound = inspect.signature(export_contacts.fn).bind(**parameters)
    bound.apply_defaults()
    p = bound.arguments
    legacy_filter = p["legacy_filter"]
    return ExportOptions(
        attributes=parse_export_attrib(p["attributes"]) if p["attributes"] else (),
        list_ids=tuple(p["list_ids"] or ()),
        segment_ids=tuple(p["segment_ids"] or ()),
        action=p["action"],
        email_campaign_action=p["email_campaign_action"],
        email_campaign_id=p["email_campaign_id"],
        sms_campaign_action=p["sms_campaign_action"],
        sms_campaign_id=p["sms_campaign_id"],
        import_process_id=p["import_process_id"],
        metadata=tuple(p["metadata"] or ()),
        subscription_status=tuple(p["subscription_status"] or ()),
        mandatory_attributes=p["mandatory_attributes"],
        utc=p["utc"],
        skip_files_merge=p["skip_files_merge"],
        notify_url=p["notify_url"],
        disable_notification=p["disable_notification"],
        disable_frontend_notification=p["disable_frontend_notification"],
        legacy_filter=json.dumps(legacy_filter)
        if isinstance(legacy_filter, dict)
        else legacy_filter,
        allow_deprecated_contact_filter=p["allow_deprecated_contact_filter"],
        all_contacts=p["all_contacts"],
        created_since=p["created_since"],
    )


@flow(name="export-contacts", log_prints=True)
def export_contacts(
    out: str = "data/exports",
    attributes: list[str] | str | None = None,
    list_ids: list[int] | None = None,
    segment_ids: list[int] | None = None,
    action: ActionForContacts | None = None,
    email_campaign_action: ActionForEmailCampaigns | None = None,
    email_campaign_id: int | None = None,
    sms_campaign_action: ActionForSmsCampaigns | None = None,
    sms_campaign_id: int | None = None,
    import_process_id: int | None = None,
    metadata: list[str] | None = None,
    subscription_status: list[SubscriptionStatus] | None = None,
    mandatory_attributes: bool = True,
    utc: bool = True,
    skip_files_merge: bool = False,
    notify_url: str | None = None,
    disable_notification: bool = True,
    disable_frontend_notification: bool = False,
    legacy_filter: str | dict[str, Any] | None = None,
    allow_deprecated_contact_filter: bool = False,
    all_contacts: bool = False,
    created_since: str | None = None,
    column_case: Literal["snake", "brevo"] = "snake",
    modified_since: datetime | None = None,
    incremental: bool = False,
    export_date: date | None = None,
    wait: Literal["poll", "callback"] = "poll",
    callback_host: str = "127.0.0.1",
    callback_public_url: str | None = None,
    wait_timeout_s: float = 3600.0,
    state_dir: str = "data/state",
    secret_block: str | None = DEFAULT_SECRET_BLOCK,
    credentials_block: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Export contacts (every option of POST /contacts/export, or a legacy v2 filter) to Parquet.

    Each run adds ``OUT/contacts/export_date=YYYY-MM-DD/run=<run id>/`` atomically and a
    manifest, never touching earlier runs; with ``incremental`` only contacts modified since the
    last run's high-water mark are kept (docs/exports.md: the loader's contract).

    This signature is the one definition of the export's options: ``contacts-etl export``
    derives its command line from it and these ``Args`` (see ``etl.cli.flow_options``).

    Args:
        out: Output root: a path or a pyarrow filesystem URI (s3://...).
        attributes: Attributes to export: "A,B" (v2 export_attrib form) or repeated.
        list_ids: List to export (repeatable: one export each, merged).
        segment_ids: Segment to export (repeatable).
        action: actionForContacts (default allContacts with --list-id/--segment-id).
        email_campaign_action: actionForEmailCampaigns.
        email_campaign_id: Campaign of --email-campaign-action.
        sms_campaign_action: actionForSmsCampaigns.
        sms_campaign_id: Campaign of --sms-campaign-action.
        import_process_id: importProcessId filter.
        metadata: exportMetadata, e.g. _listIds, "ADDED_TIME AS _ADDED_TIME" (repeatable or
            comma-separated).
        subscription_status: exportSubscriptionStatus (repeatable).
        mandatory_attributes: exportMandatoryAttributes: export Brevo's mandatory attributes
            too. Off: exportMandatoryAttributes=false (needs --attributes).
        utc: exportDateInUTC: unambiguous timestamps.
        skip_files_merge: skipFilesMerge: Brevo sends a zip of parts (unpacked safely, merged
            here).
        notify_url: Your own webhook for Brevo's end-of-export call.
        disable_notification: disableNotification (no email from Brevo).
        disable_frontend_notification: disableFrontendNotification.
        legacy_filter: A v2 filter, e.g. '{"listid.id": 12}' or '{"messages_sent.bnc.r": "h_b"}'.
        allow_deprecated_contact_filter: Send {"blacklisted": 1} as the deprecated contactFilter
            instead of the whole-account export.
        all_contacts: Export the whole account, contacts in no list included (allContacts with
            createdSince, no list).
        created_since: With --all-contacts: contacts created since this date or ISO date-time
            (default 2000-01-01).
        column_case: Parquet column names.
        modified_since: Keep contacts modified since then (UTC unless an offset is given).
        incremental: Keep contacts modified since the last --incremental run (high-water mark
            under OUT).
        export_date: The partition's date (default: the day the run starts, UTC).
        wait: Poll processes within the rate budget, or also listen for Brevo's callback.
        callback_host: Bind address of the callback receiver.
        callback_public_url: URL under which Brevo reaches the callback receiver.
        wait_timeout_s: Seconds to wait for each export.
        state_dir: Work files.
        secret_block: Prefect Secret block holding the API key, used when BREVO_API_KEY is
            not set.
        credentials_block: A BrevoCredentials block (key, base URL, rate-limit tier); wins
            over BREVO_API_KEY and the Secret block.
        base_url: Brevo API base URL (default: BREVO_BASE_URL, else https://api.brevo.com/v3).
    """
    options = export_options(locals())  # the parameters, as the flow was called
    logger = get_run_logger()
    import json

    since = modified_since
    if incremental and since is None:
        since = read_high_water_mark(out)
    started = datetime.now(UTC)
    with ExitStack() as stack:
        client = stack.enter_context(
            build_client(
                secret_block=secret_block,
                base_url=base_url,
                credentials_block=credentials_block,
            )
        )
        account_attributes, all_list_ids = fetch_account(client)
        dates = fetch_date_settings(client)
        plan = plan_exports(options, all_list_ids, account_attributes)
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        clean_stale_work_dirs(Path(state_dir), "export-")
        work_dir = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="export-", dir=state_dir))
        )
        receiver = None
        if wait == "callback":
            receiver = stack.enter_context(
                NotifyReceiver(host=callback_host, public_base_url=callback_public_url)
            )
        runs = request_and_fetch(client, list(plan.requests), work_dir, wait_timeout_s, receiver)
        meta = {
            "contacts_etl.process_ids": json.dumps([r.process_id for r in runs]),
            "contacts_etl.filters": json.dumps(
                [{"label": r.label, "request": _redacted(r.request)} for r in runs]
            ),
            "contacts_etl.schema_version": "1",
            "contacts_etl.modified_since": since.isoformat() if since else "",
            "contacts_etl.run_started_at": started.isoformat(),
        }
        summary = merge_and_write(
            runs,
            account_attributes,
            out,
            export_date or started.date(),
            column_case,
            since,
            work_dir,
            meta,
            plan.timestamp_columns,
            dates,
            plan.row_filter,
        )
    summary.notes[:0] = list(plan.notes)
    if incremental:
        write_high_water_mark(out, started)
    create_table_artifact(
        key="export-summary",
        table=summary.exports,
        description=f"Exports of this run; {summary.merged_rows} merged rows in {summary.partition}",
    )
    create_markdown_artifact(key="export-report", markdown=export_markdown(summary))
    logger.info("export done: %d rows in %s", summary.merged_rows, summary.partition)
    return asdict(summary)


def _redacted(request: ExportRequest) -> dict[str, Any]:
    body = request.to_wire()
    body.pop("notifyUrl", None)  # callback URLs carry a token
    return body


if __name__ == "__main__":  # against the sandbox: `make sandbox` in another shell
    export_contacts(list_ids=[1], metadata=["_listIds", "ADDED_TIME AS _ADDED_TIME"])
