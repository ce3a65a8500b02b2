"""Prefect flow: import contact CSVs into Brevo, exactly once, with an account of every row.

One task per step of :mod:`etl.imports`; tasks pass paths and small dataclasses, never frames.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import flow, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from etl import imports, verify
from etl.brevo.client import BrevoClient
from etl.brevo.models import Attribute
from etl.brevo.notify import NotifyReceiver
from etl.errors import InputError
from etl.imports import (
    DEFAULT_STATE_DIR,
    AccountScope,
    ChunkFile,
    ChunkOutcome,
    FileStage,
    ImportOptions,
    ImportPlan,
    ImportReport,
    Ledger,
    LocalFilePublisher,
    PreparedImport,
    Publisher,
    RunDecision,
    S3Publisher,
    Snapshot,
    SyncBase,
    Target,
    UnlinkPlan,
    UnlinkResult,
)
from etl.progress import report as report_progress
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
def fetch_attributes(client: BrevoClient) -> list[Attribute]:
    """The account's attributes (names, types, enumerations)."""
    return client.get_attributes()


@task(cache_policy=NO_CACHE)
def plan(options: ImportOptions, attributes: list[Attribute]) -> ImportPlan:
    """Sniff and map every file; unusable input fails here, before anything is sent."""
    result = imports.plan_import(options, attributes)
    if result.unknown_columns:
        get_run_logger().warning(
            "columns not in the account (Brevo ignores them): %s",
            ", ".join(result.unknown_columns),
        )
    return result


@task(cache_policy=NO_CACHE)
def normalise_file(
    plan: ImportPlan, file_idx: int, options: ImportOptions, work_dir: Path
) -> FileStage:
    """Normalise and validate one file (runs on the flow's task runner: threads or Dask)."""
    logger = get_run_logger()
    name = plan.files[file_idx].path.name

    def progress(step: str, done: int, total: int) -> None:
        report_progress(f"read {name}", done, total)
        if done and done % 500_000 < options.batch_rows:
            logger.info("%s: read %s rows", name, f"{done:,}")

    return imports.normalise_file(plan, file_idx, options, work_dir=work_dir, progress=progress)


@task(cache_policy=NO_CACHE)
def finish_prepare(
    plan: ImportPlan,
    stages: list[FileStage],
    options: ImportOptions,
    work_dir: Path,
    previous: Snapshot | None,
) -> PreparedImport:
    """Drop run-wide duplicates, skip unchanged rows (--changed-only), cut the rest into chunks."""
    return imports.finish_prepare(
        plan,
        stages,
        options,
        work_dir=work_dir,
        progress=lambda step, done, total: report_progress("chunks", done, total),
        previous=previous,
    )


@brevo_task()
def check_previous(
    client: BrevoClient,
    scope: AccountScope,
    target: Target,
    plan: ImportPlan,
    options: ImportOptions,
) -> SyncBase:
    """The last successful run's snapshot for this account and target, if still usable."""
    return imports.check_previous(client, scope, target.list_ids, plan, options)


@brevo_task()
def unlink_from_lists(
    client: BrevoClient, ledger: Ledger, plan: UnlinkPlan, target: Target, path: Path
) -> UnlinkResult:
    """Unlink the contacts that left the input from the target lists (never twice)."""
    result = imports.unlink_contacts(
        client,
        ledger,
        plan.identifiers,
        target.list_ids,
        progress=lambda step, done, total: report_progress("unlink", done, total),
    )
    imports.write_unlinked_file(result, path)
    return result


@task(cache_policy=NO_CACHE)
def commit_snapshot(
    base: SyncBase,
    prepared: PreparedImport,
    run_id: str,
    outcomes: list[ChunkOutcome],
    process_ids: list[int],
    not_landed: list[str],
) -> Snapshot | None:
    """Leave this run's snapshot for the next --changed-only run (only once all completed)."""
    return imports.commit(
        base,
        prepared,
        run_id=run_id,
        outcomes=outcomes,
        process_ids=process_ids,
        not_landed=not_landed,
    )


@task(cache_policy=NO_CACHE)
def verify_run(
    client: BrevoClient,
    chunks: list[ChunkFile],
    target: Target,
    plan: ImportPlan,
    outcomes_path: Path,
    repair: bool,
    work_dir: Path,
) -> tuple[dict[str, Any], list[str]]:
    """Read back what Brevo holds for the run's contacts; with ``repair``, re-apply what differs.

    Returns the report's ``verify`` part and the identifiers Brevo does not hold as sent.
    """
    logger = get_run_logger()
    result = verify.verify_import(
        client,
        chunks=chunks,
        list_ids=target.list_ids,
        specs=plan.specs,
        outcomes_path=outcomes_path,
        work_dir=work_dir / "verify",
    )
    summary = result.as_report()
    logger.info(
        "verify (%s): %d landed, %d differ, %d missing; %s",
        result.route,
        result.landed,
        result.differs,
        result.missing,
        outcomes_path,
    )
    repaired = None
    if repair and result.differs:
        repaired = verify.repair(client, result, plan.specs, work_dir=work_dir / "verify")
        summary.update(repaired.as_report())
        logger.info(
            "repair: %d contact(s) updated, %d now hold what was sent, %d still differ",
            repaired.contacts,
            repaired.repaired,
            repaired.still_differing,
        )
    return summary, verify.not_landed_identifiers(result, repaired)


@brevo_task()
def account_scope(client: BrevoClient, state_dir: Path) -> AccountScope:
    """Whose key this is (``GET /account``): the run's ledger is that account's."""
    return imports.account_scope(client, state_dir)


@task(cache_policy=NO_CACHE)
def begin_run(client: BrevoClient, ledger: Ledger, fingerprint: str, again: bool) -> RunDecision:
    """Resume an unfinished run of this command, see a completed one, or start a new run."""
    return imports.begin_run(client, ledger, fingerprint, again=again)


@brevo_task(retry_delay_seconds=(5, 30))
def resolve_target(client: BrevoClient, ledger: Ledger, options: ImportOptions) -> Target:
    """Find or create the target list."""
    return imports.resolve_target(client, ledger, options)


@brevo_task()
def newest_process_id(client: BrevoClient) -> int:
    """The newest process id before this run's submissions (reconciliation's floor)."""
    return imports.newest_process_id(client)


@task(cache_policy=NO_CACHE)
def submit_chunk(
    client: BrevoClient,
    ledger: Ledger,
    chunk: ChunkFile,
    target: Target,
    options: ImportOptions,
    publisher: Publisher | None,
    notify_url: str | None,
    after_process_id: int,
) -> ChunkOutcome:
    """Submit one chunk through the ledger (never twice)."""
    opts = options if notify_url is None else _with_notify(options, notify_url)
    publish = (lambda c: publisher.publish(c.path)) if publisher else None
    return imports.submit_chunk(
        client, ledger, chunk, target, opts, publish=publish, after_process_id=after_process_id
    )


def _with_notify(options: ImportOptions, url: str) -> ImportOptions:
    return replace(options, notify_url=url)


@task(cache_policy=NO_CACHE)
def wait_chunk(
    client: BrevoClient,
    ledger: Ledger,
    outcome: ChunkOutcome,
    timeout_s: float,
    wake: threading.Event | None,
) -> ChunkOutcome:
    """Wait for a chunk's import process (polling within budget, or woken by the callback)."""
    return imports.wait_chunk(client, ledger, outcome, timeout_s=timeout_s, wake=wake)


@brevo_task()
def account_chunk(
    client: BrevoClient,
    ledger: Ledger,
    outcome: ChunkOutcome,
    chunk: ChunkFile,
    boolean_attributes: list[str],
    update_existing: bool,
    work_dir: Path,
) -> ChunkOutcome:
    """Read Brevo's account of a completed chunk (counts, refused rows); re-apply false booleans."""
    return imports.account_chunk(
        client,
        ledger,
        outcome,
        chunk,
        boolean_attributes=boolean_attributes,
        update_existing=update_existing,
        work_dir=work_dir,
    )


@task(cache_policy=NO_CACHE)
def report(
    plan: ImportPlan,
    prepared: PreparedImport,
    target: Target | None,
    outcomes: list[ChunkOutcome],
    started_at: datetime,
    report_path: Path,
    notify_payloads: list[dict[str, Any]],
    run: RunDecision | None,
    scope: AccountScope,
    refusals_path: Path | None,
    sync: dict[str, Any] | None = None,
    verified: dict[str, Any] | None = None,
) -> ImportReport:
    """Write the JSON report and the Prefect artifacts."""
    result = imports.build_report(
        plan,
        prepared,
        target,
        outcomes,
        started_at=started_at,
        notify_payloads=notify_payloads,
        run=run,
        account=scope,
        refusals_path=refusals_path,
        sync=sync,
        verify=verified,
    )
    imports.write_report(result, report_path)
    create_table_artifact(
        key="import-chunks",
        table=result.chunks or [{"index": "-", "rows": 0, "status": "nothing to send"}],
        description="Chunks of this import: rows, bytes, sha256, Brevo process and status.",
    )
    create_markdown_artifact(key="import-report", markdown=import_markdown(result))
    return result


def import_markdown(result: ImportReport) -> str:
    """The human summary of an import (artifact and CLI)."""
    reasons = [{"reason": k, "rows": v} for k, v in result.rejects_by_reason.items()]
    lines = [
        "# Import report",
        "",
        f"- rows read: **{result.rows_read}**, sent: **{result.rows_sent}**, "
        f"rejected: **{result.rows_rejected}**, refused by Brevo: "
        f"**{result.rows_refused_by_brevo}**"
        + (f", unchanged: **{result.rows_unchanged}**" if result.sync else ""),
    ]
    if result.sync:
        lines.append(f"- changed-only: {result.sync.get('snapshot', '-')}")
        if "unlinked" in result.sync:
            lines.append(
                f"- unlinked from the lists: **{result.sync['unlinked']}** "
                f"(already off: {result.sync.get('unlink_not_in_list', 0)}; "
                f"`{result.sync.get('unlinked_path', '-')}`)"
            )
    if result.run_action == "already_completed" and result.previous_run:
        lines.append(
            f"- **nothing sent**: run {result.previous_run['id']} already imported these "
            f"{result.rows_already_sent} rows on {result.previous_run['finished_at']} "
            "(re-run with `--again` to send them again)"
        )
    if result.verify:
        v = result.verify
        line = (
            f"- verified ({v.get('verify_route')}): landed **{v.get('rows_landed')}**, "
            f"differ **{v.get('rows_differ')}**, missing **{v.get('rows_missing')}** "
            f"(`{v.get('outcomes_path')}`)"
        )
        if "repaired" in v:
            line += f"; repaired **{v['repaired']}**, still differing **{v['still_differing']}**"
        lines.append(line)
    if result.rows_not_completed:
        lines.append(f"- rows in chunks that did not complete: **{result.rows_not_completed}**")
    if result.rows_refused_by_brevo:
        lines.append(
            f"- **warning**: Brevo refused {result.rows_refused_by_brevo} row(s); "
            f"listed in `{result.refusals_path or 'the report'}`"
        )
    lines += [
        f"- run: `{result.run_id or '-'}` ({result.run_action}); account: "
        f"{result.account.get('email', '-')}",
        f"- Brevo's counts: {result.brevo.get('counts_source', '-')}",
        f"- target lists (ids): {', '.join(map(str, result.list_ids)) or '-'}",
        f"- chunks: {len(result.chunks)}; all completed: {result.ok}",
        f"- rejects file: `{result.rejects_path}`",
        f"- unknown columns (ignored by Brevo): {', '.join(result.unknown_columns) or 'none'}",
        f"- values dropped (contacts sent without them): {result.dropped_values}",
        f"- phones read as an overseas region's: {result.phones_reassigned_region}",
        f"- validation (Great Expectations): "
        f"{'passed' if result.validation['passed'] else 'FAILED'} "
        f"({result.validation['successful']}/{result.validation['evaluated']} expectations)",
        "",
        "## Rejects by reason",
        "",
        markdown_table(reasons),
    ]
    if result.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {w}" for w in result.warnings]
    if result.date_orders:
        lines += ["", "## Date columns", ""]
        lines += [f"- `{a}`: {how}" for a, how in result.date_orders.items()]
    if result.footer_lines:
        lines += ["", "## Footers (neither read nor rejected)", ""]
        for name, footer in result.footer_lines.items():
            lines.append(f"- `{name}`: {len(footer)} line(s), first: {footer[0][:80]!r}")
    if result.validation["failures"]:
        lines += ["", "## Validation failures", ""]
        lines += [f"- {f}" for f in result.validation["failures"]]
    if result.differences:
        lines += ["", "## Differences with Brevo's counts", ""]
        lines += [f"- {d}" for d in result.differences]
    return "\n".join(lines)


def _publisher(
    publish: str | None, work_dir: Path, host: str, public_url: str | None, s3_endpoint: str | None
) -> Publisher | None:
    if not publish:
        return None
    if publish == "local":
        return LocalFilePublisher(work_dir / "chunks", host=host, public_base_url=public_url)
    return S3Publisher(publish, endpoint_url=s3_endpoint)


def task_runner_from_env() -> TaskRunner[Any]:
    """The task runner: Prefect's thread pool, or Dask when CONTACTS_ETL_TASK_RUNNER=dask.

    With Dask, ``CONTACTS_ETL_DASK_ADDRESS`` names a running scheduler; without it a local
    cluster of ``CONTACTS_ETL_DASK_WORKERS`` (default 2) processes is started for the run.
    """
    return make_task_runner(
        os.environ.get("CONTACTS_ETL_TASK_RUNNER", "threads"),
        address=os.environ.get("CONTACTS_ETL_DASK_ADDRESS"),
        workers=int(os.environ.get("CONTACTS_ETL_DASK_WORKERS", "2")),
    )


def make_task_runner(kind: str, *, address: str | None = None, workers: int = 2) -> TaskRunner[Any]:
    """Build a task runner by name (``threads`` or ``dask``)."""
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=max(2, os.cpu_count() or 2))
    if kind == "dask":
        try:
            # prefect_dask re-exports DaskTaskRunner without ``__all__`` or a redundant alias.
            from prefect_dask import DaskTaskRunner  # type: ignore[attr-defined]
        except ImportError:
            raise InputError(
                "the dask task runner needs the dask extra: pip install 'contacts-etl[dask]'"
            ) from None
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True}
        )
    raise InputError(f"unknown task runner {kind!r}: threads or dask")


def import_options(parameters: Mapping[str, Any]) -> ImportOptions:
    """The checked :class:`ImportOptions` of a run of :func:`import_contacts` with ``parameters``.

    ``parameters`` are the flow's keyword arguments (those left out take the signature's
    defaults). The flow builds its options here, and the CLI checks its input here before it
    starts a flow run; bad input raises :class:`InputError`.
    """
    bound = inspect.signature(import_contacts.fn).bind(**parameters)
    bound.apply_defaults()
    p = bound.arguments
    options = ImportOptions(
        paths=tuple(p["files"]),
        list_ids=tuple(p["list_ids"] or ()),
        new_list=p["new_list"],
        folder_id=p["folder_id"],
        mapping_file=Path(p["mapping_file"]) if p["mapping_file"] else None,
        changed_only=p["changed_only"],
        unlink_missing=p["unlink_missing"],
        max_unlink=str(p["max_unlink"]),
        verify=p["verify"],
        repair=p["repair"],
        mapping_preset=p["mapping_preset"],
        strict=p["strict"],
        default_region=p["default_region"],
        dayfirst=p["dayfirst"],
        drop_invalid_values=p["drop_invalid_values"],
        keep=p["keep"],
        chunk_bytes=p["chunk_bytes"],
        via=p["via"],
        update_existing=p["update_existing"],
        empty_attributes=p["empty_attributes"],
        email_blacklist=p["email_blacklist"],
        sms_blacklist=p["sms_blacklist"],
        disable_notification=p["disable_notification"],
        notify_url=p["notify_url"],
        batch_rows=p["batch_rows"],
        workers=p["workers"],
        wait_timeout_s=p["wait_timeout_s"],
        state_dir=Path(p["state_dir"]),
        # Each run gets its own report and rejects file unless told otherwise: a later run
        # never overwrites what an earlier one wrote.
        report_path=Path(p["report_path"])
        if p["report_path"]
        else Path(p["state_dir"]) / "reports" / _run_stamp() / "import-report.json",
        rejects_path=Path(p["rejects_path"]) if p["rejects_path"] else None,
        again=p["again"],
    )
    options.check()
    if options.via == "url" and not p["publish"]:
        raise InputError("--via url needs --publish local or --publish s3://bucket/prefix")
    return options


@flow(name="import-contacts", log_prints=True, task_runner=task_runner_from_env())
def import_contacts(
    files: list[str],
    list_ids: list[int] | None = None,
    new_list: str | None = None,
    folder_id: int | None = None,
    mapping_file: str | None = None,
    mapping_preset: Literal["hubspot", "mailchimp", "salesforce", "excel-fr"] | None = None,
    strict: bool = False,
    default_region: str | None = None,
    dayfirst: bool | None = None,
    drop_invalid_values: bool = False,
    keep: Literal["first", "last"] = "last",
    chunk_bytes: int = 8 * 1024 * 1024,
    via: Literal["body", "url", "auto"] = "auto",
    publish: str | None = None,
    publish_host: str = "127.0.0.1",
    publish_public_url: str | None = None,
    s3_endpoint_url: str | None = None,
    update_existing: bool = True,
    empty_attributes: bool = False,
    email_blacklist: bool = False,
    sms_blacklist: bool = False,
    disable_notification: bool = False,
    notify_url: str | None = None,
    report_path: str | None = None,
    rejects_path: str | None = None,
    wait: Literal["poll", "callback"] = "poll",
    callback_host: str = "127.0.0.1",
    callback_public_url: str | None = None,
    wait_timeout_s: float = 3600.0,
    state_dir: str = str(DEFAULT_STATE_DIR),
    batch_rows: int = 200_000,
    workers: int | None = None,
    secret_block: str | None = DEFAULT_SECRET_BLOCK,
    credentials_block: str | None = None,
    base_url: str | None = None,
    again: bool = False,
    changed_only: bool = False,
    unlink_missing: bool = False,
    max_unlink: str = "5%",
    verify: bool = False,
    repair: bool = False,
) -> dict[str, Any]:
    """Import contact CSVs (paths or globs) into Brevo lists; returns the report as a dict.

    Re-running after a crash or failure resumes: chunks already imported are skipped, chunks in
    flight are waited for, and nothing is submitted twice (see ``etl.imports.ledger``).

    This signature is the one definition of the import's options: ``contacts-etl import``
    derives its command line from it and these ``Args`` (see ``etl.cli.flow_options``).

    Args:
        files: CSV files to import (paths or globs).
        list_ids: Target list (repeatable).
        new_list: Create this list (once; re-runs reuse it) and import into it.
        folder_id: Folder of --new-list.
        mapping_file: YAML/JSON file mapping CSV headers to Brevo attributes.
        mapping_preset: Column mapping of the tool the files come from (see `contacts-etl
            mapping presets`); --mapping wins column by column.
        strict: Exit 2 when a column is not an account attribute.
        default_region: Region for national phone numbers, e.g. FR, GB, US.
        dayfirst: Read dates no value of their column settles (03/02/2024) day-first
            (--dayfirst) or month-first (--monthfirst); neither: such rows are rejected as
            ambiguous_date.
        drop_invalid_values: Send a contact without a bad value (recorded in the rejects file)
            instead of rejecting it.
        keep: Which row wins among duplicates (by EMAIL, else SMS).
        chunk_bytes: UTF-8 byte budget per import body (Brevo's limit is 10 MB).
        via: Send fileBody, or publish chunks and send fileUrl (auto: url when a publisher is
            set and there is more than one chunk).
        publish: Publisher for --via url: 'local' (built-in HTTP server) or s3://bucket/prefix.
        publish_host: Bind address of the local publisher.
        publish_public_url: URL under which Brevo reaches the local publisher.
        s3_endpoint_url: S3-compatible endpoint (MinIO, ...).
        update_existing: Update contacts that already exist. Off: Leave existing contacts
            unchanged.
        empty_attributes: Empty cells erase existing values.
        email_blacklist: Blacklist every imported contact for email.
        sms_blacklist: Blacklist every imported contact for SMS.
        disable_notification: No email from Brevo when done.
        notify_url: Your own webhook for Brevo's end-of-import call.
        report_path: JSON report path (default: a new folder per run,
            STATE_DIR/reports/<UTC time>/import-report.json).
        rejects_path: Rejects CSV (default: beside the report).
        wait: Poll processes within the rate budget, or also listen for Brevo's callback.
        callback_host: Bind address of the callback receiver.
        callback_public_url: URL under which Brevo reaches the callback receiver.
        wait_timeout_s: Seconds to wait for each import process.
        state_dir: Ledgers (one per Brevo account, under accounts/) and work files.
        batch_rows: Rows read and normalised per batch.
        workers: Processes normalising the batches of files of over 100,000 rows (default:
            CONTACTS_ETL_WORKERS, else one fewer than the CPUs, 1 to 4; 0: none). Same results.
        secret_block: Prefect Secret block holding the API key, used when BREVO_API_KEY is
            not set.
        credentials_block: A BrevoCredentials block (key, base URL, rate-limit tier); wins
            over BREVO_API_KEY and the Secret block.
        base_url: Brevo API base URL (default: BREVO_BASE_URL, else https://api.brevo.com/v3).
        again: Send everything again, even when an earlier run of this command completed.
        changed_only: Send only rows new or changed since the last successful run to this
            account and target lists (a nightly sync); the others count as unchanged.
        unlink_missing: Unlink from the target lists (never delete) the contacts the last
            successful run sent that this input no longer holds.
        max_unlink: The most --unlink-missing may unlink: a share of the last run's contacts
            (5%) or a count (200); over it nothing is sent (exit 2).
        verify: After the import, read back what Brevo holds for the run's contacts and write
            per-row outcomes (landed, differs, missing) beside the report.
        repair: With --verify, re-apply the values Brevo holds differently through its
            contact update endpoint (false booleans Brevo kept as true included), then verify
            those contacts again.
    """
    options = import_options(locals())  # the parameters, as the flow was called
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    report_file, _ = options.paths_for_reports()
    with ExitStack() as stack:
        client = stack.enter_context(
            build_client(
                secret_block=secret_block,
                base_url=base_url,
                credentials_block=credentials_block,
            )
        )
        scope = account_scope(client, options.state_dir)
        ledger = stack.enter_context(imports.open_ledger(scope))
        clean_stale_work_dirs(options.state_dir, "import-")
        attributes = fetch_attributes(client)
        the_plan = plan(options, attributes)
        work_dir = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="import-", dir=_ensure(options.state_dir))
            )
        )
        # Files are normalised independently, in parallel on the task runner.
        futures = normalise_file.map(
            unmapped(the_plan), range(len(the_plan.files)), unmapped(options), unmapped(work_dir)
        )
        target = None
        base: SyncBase | None = None
        if options.keeps_snapshot:
            # The snapshot is per account and target lists: the target is needed first.
            target = resolve_target(client, ledger, options)
            base = check_previous(client, scope, target, the_plan, options)
            logger.info("changed-only: %s", base.check.message)
        prepared = finish_prepare(
            the_plan, futures.result(), options, work_dir, base.previous if base else None
        )
        unlink_plan = imports.plan_unlink(base, prepared, options) if base else None
        logger.info(
            "prepared %d chunk(s): %d rows to send, %d rejected (%s)",
            len(prepared.chunks),
            prepared.rows_read - prepared.rows_rejected,
            prepared.rows_rejected,
            prepared.rejects_path,
        )
        run = None
        to_unlink = unlink_plan.identifiers if unlink_plan else ()
        if prepared.chunks or to_unlink:
            fingerprint = imports.run_fingerprint(options, prepared.chunks, unlink=to_unlink)
            run = begin_run(client, ledger, fingerprint, options.again)
            logger.info("run %s (%s) for account %s", run.run_id, run.action, scope.email)
        outcomes: list[ChunkOutcome] = []
        finished: list[ChunkOutcome] = []
        payloads: list[dict[str, Any]] = []
        if run is not None and run.action == "already_completed":
            assert run.previous is not None
            target = target or imports.remembered_target(ledger, options)
            logger.info(
                "nothing to send: run %s already imported these rows (finished %s); "
                "use --again to send them again",
                run.run_id,
                run.previous["finished_at"],
            )
        elif run is not None:
            target = target or resolve_target(client, ledger, options)
            use_url = via == "url" or (via == "auto" and publish and len(prepared.chunks) > 1)
            publisher = (
                _publisher(publish, work_dir, publish_host, publish_public_url, s3_endpoint_url)
                if use_url
                else None
            )
            if publisher is not None:
                stack.callback(publisher.close)
            receiver = None
            if wait == "callback":
                receiver = stack.enter_context(
                    NotifyReceiver(host=callback_host, public_base_url=callback_public_url)
                )
            after = newest_process_id(client)
            tickets = []
            total = len(prepared.chunks)
            for chunk in prepared.chunks:
                ticket = receiver.register() if receiver else None
                tickets.append(ticket)
                outcome = submit_chunk(
                    client,
                    ledger,
                    chunk,
                    target,
                    options,
                    publisher,
                    ticket.url if ticket else None,
                    after,
                )
                logger.info(
                    "chunk %d: %s (process %s)", chunk.index, outcome.action, outcome.process_id
                )
                outcomes.append(outcome)
                report_progress("chunks submitted", len(outcomes), total)
            # --repair re-applies whatever verification finds different, false booleans
            # included; without it each completed chunk's false booleans are re-applied here.
            booleans = (
                []
                if options.repair
                else [n for n, spec in the_plan.specs.items() if spec.kind == "boolean"]
            )
            for outcome, ticket, chunk in zip(outcomes, tickets, prepared.chunks, strict=True):
                done = wait_chunk(
                    client,
                    ledger,
                    outcome,
                    options.wait_timeout_s,
                    ticket.event if ticket else None,
                )
                finished.append(
                    account_chunk(
                        client,
                        ledger,
                        done,
                        chunk,
                        booleans,
                        options.update_existing,
                        work_dir,
                    )
                )
                report_progress("chunks finished", len(finished), total)
            payloads = [p for t in tickets if t for p in t.payloads]
        all_completed = all(o.status == "completed" for o in finished)
        verified: dict[str, Any] | None = None
        not_landed: list[str] = []
        if options.verify and all_completed and prepared.chunks and target is not None:
            verified, not_landed = verify_run(
                client,
                prepared.chunks,
                target,
                the_plan,
                report_file.with_name(report_file.stem + ".outcomes.csv"),
                options.repair,
                work_dir,
            )
        sync: dict[str, Any] | None = None
        if base is not None:
            sync = {"snapshot": base.check.message}
            if unlink_plan and to_unlink and all_completed and run and target:
                if run.action == "already_completed":
                    sync["unlinked"] = 0
                    sync["unlink_note"] = "run already completed: nothing unlinked again"
                else:
                    unlinked_path = report_file.with_name(report_file.stem + ".unlinked.csv")
                    unlinked = unlink_from_lists(client, ledger, unlink_plan, target, unlinked_path)
                    sync.update(
                        unlinked=unlinked.unlinked,
                        unlink_not_in_list=unlinked.not_in_list,
                        unlinked_path=str(unlinked_path),
                    )
            elif options.unlink_missing:
                sync["unlinked"] = 0
            if all_completed:
                written = commit_snapshot(
                    base,
                    prepared,
                    run.run_id if run else f"unchanged-{_run_stamp()}",
                    finished,
                    ledger.run_process_ids(run.run_id) if run else [],
                    not_landed,
                )
                sync["snapshot_written"] = str(written.folder) if written else None
        refusals = options.refusals_path()
        has_refusals = imports.write_refusals_file(finished, refusals) > 0
        if not has_refusals:
            refusals.unlink(missing_ok=True)
        result = report(
            the_plan,
            prepared,
            target,
            finished,
            started_at,
            report_file,
            payloads,
            run,
            scope,
            refusals if has_refusals else None,
            sync,
            verified,
        )
        if run is not None and run.action != "already_completed":
            ledger.finish_run(
                status="completed" if result.ok else "failed", rows_sent=result.rows_sent
            )
    logger.info(
        "import done: %d read, %d sent, %d rejected, %d refused by Brevo; report %s",
        result.rows_read,
        result.rows_sent,
        result.rows_rejected,
        result.rows_refused_by_brevo,
        report_file,
    )
    for warning in result.warnings:
        logger.warning(warning)
    if result.rows_refused_by_brevo:
        logger.warning(
            "Brevo refused %d row(s) that were sent; see %s",
            result.rows_refused_by_brevo,
            refusals if has_refusals else report_file,
        )
    if not result.ok:
        failed = [c for c in result.chunks if c["status"] != "completed"]
        which = ", ".join(f"#{c['index']} {c['status']}" for c in failed)
        raise ImportIncomplete(
            f"{len(failed)} chunk(s) did not complete ({which}); "
            f"re-run to resume; report {report_file}"
        )
    return {"report_path": str(report_file), **_summary(result)}


class ImportIncomplete(RuntimeError):
    """Some chunk failed or timed out; the ledger keeps the state for a re-run."""


def _summary(result: ImportReport) -> dict[str, Any]:
    return asdict(result)


def _run_stamp() -> str:
    """A folder name for one run's files: UTC time to the microsecond (sorts in run order)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":  # against the sandbox: `make sandbox` in another shell
    import_contacts(files=["data/samples/*.csv"], new_list="samples", folder_id=1)
