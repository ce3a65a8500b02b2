"""The ``contacts-etl`` command line.

Exit codes, for every command: 0 ok, 1 the run failed (Brevo refused or failed a process, the
network gave out), 2 bad input or usage. Errors are one line on stderr; ``--verbose`` adds
tracebacks for debugging.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from etl.brevo.errors import BrevoConfigError, BrevoError
from etl.brevo.models import (
    ACTIONS_FOR_CONTACTS,
    ACTIONS_FOR_EMAIL_CAMPAIGNS,
    ACTIONS_FOR_SMS_CAMPAIGNS,
)
from etl.errors import InputError
from etl.exports import SUBSCRIPTION_STATUSES

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}".splitlines()[0], err=True)
    sys.exit(code)


class _DropTracebacks(logging.Filter):
    """Keep Prefect's log lines but not their tracebacks (the CLI prints one line instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


class _NoPrefectRecords(logging.Filter):
    """Drop Prefect's records from the terminal; they still reach the Prefect API."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("prefect")


def _quiet_prefect_tracebacks() -> None:
    """Keep the terminal to the CLI's own progress bar and one-line outcome.

    Prefect's console handlers would print a failing run's error lines (and tracebacks) before
    the CLI's single line; its API handler keeps the run's logs for the Prefect UI.
    ``--verbose`` shows everything.
    """
    from prefect.logging.handlers import APILogHandler

    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.server"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_DropTracebacks())
            if not isinstance(handler, APILogHandler):
                handler.setLevel(logging.CRITICAL + 1)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_NoPrefectRecords())


@contextmanager
def _errors(verbose: bool) -> Iterator[None]:
    """Map exceptions to one-line messages and exit codes."""
    try:
        yield
    except SystemExit:
        raise
    except (InputError, BrevoConfigError) as exc:
        if verbose:
            raise
        _fail(str(exc), EXIT_USAGE)
    except BrevoError as exc:
        if verbose:
            raise
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted; re-run the same command to resume", EXIT_FAILED)
    except Exception as exc:
        if verbose:
            raise
        _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[None]:
    """A rich progress bar fed by etl.progress while a flow runs in this process."""
    from etl import progress as hook

    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
    )
    tasks: dict[str, Any] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bar.add_task(step, total=total or None)
        bar.update(tasks[step], completed=done, total=total or None)

    with bar:
        hook.set_reporter(report)
        try:
            yield
        finally:
            hook.set_reporter(None)


def _emit(data: dict[str, Any], as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--verbose", "-v", is_flag=True, help="Show debug logs and full tracebacks.")
@click.version_option(package_name="contacts-etl")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Move contacts between CSV files and Brevo (v3 API), in bulk, as Prefect flows.

    \b
    Configuration comes from the environment (or a .env file):
      BREVO_API_KEY    the API key (or a Prefect Secret block, default name brevo-api-key)
      BREVO_BASE_URL   default https://api.brevo.com/v3; the sandbox prints its own
    \b
    Exit codes: 0 ok, 1 failed run, 2 bad input or usage.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    # No telemetry from the ephemeral Prefect server (and no error lines when offline).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level)
    # Some libraries (great_expectations) pin their own loggers to INFO: filter at the handler.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


# ---------------------------------------------------------------------------- sandbox


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file for the account's state (default: in memory).",
)
@click.option(
    "--profile",
    type=click.Choice(["minimal", "spec-2026-02"]),
    default="minimal",
    show_default=True,
    help="minimal: what real Brevo was seen to do (FACTS.md section 12); "
    "spec-2026-02: the February 2026 spec's promises.",
)
@click.option(
    "--account-email",
    default=None,
    help="The account's login email (GET /account); default derived from the key.",
)
def sandbox(
    host: str, port: int, db_path: Path | None, profile: str, account_email: str | None
) -> None:
    """Run the local Brevo v3 sandbox (imports, exports, processes, callbacks, faults).

    It uses the key in BREVO_SANDBOX_API_KEY, or generates one, and prints its base URL and key.
    The profile can also be switched at run time: POST /_sandbox/config {"profile": ...}.

    \b
    Examples:
      contacts-etl sandbox
      contacts-etl sandbox --profile spec-2026-02 --account-email me@example.com
      contacts-etl sandbox --port 0 --db /tmp/brevo.sqlite
      export BREVO_BASE_URL=http://127.0.0.1:8787/v3 BREVO_API_KEY=<printed key>
    """
    from etl.sandbox.server import SandboxServer

    try:
        server = SandboxServer(
            host=host,
            port=port,
            db_path=db_path,
            profile=profile,
            account_email=account_email,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--account-email") from None
    server.start()
    click.echo(f"Brevo sandbox listening on {server.url}")
    click.echo(f"Profile: {server.profile}; account: {server.account_email}")
    click.echo(f"BREVO_BASE_URL={server.url}")
    if getattr(server, "key_generated", True):
        click.echo(f"BREVO_API_KEY={server.api_key}")
    else:  # the user chose it: don't echo it into terminal scrollback or CI logs
        click.echo("BREVO_API_KEY=$BREVO_SANDBOX_API_KEY (the key you set)")
    click.echo("Admin API under /_sandbox/ (same key). Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _run_options(
    waits_for: str, *, state_help: str, json_help: str = "Print the report as JSON."
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every flow-running command shares (waiting, state, output, key source)."""
    options = [
        click.option(
            "--wait",
            type=click.Choice(["poll", "callback"]),
            default="poll",
            show_default=True,
            help="Poll processes within the rate budget, or also listen for Brevo's callback.",
        ),
        click.option(
            "--callback-host",
            default="127.0.0.1",
            show_default=True,
            help="Bind address of the callback receiver.",
        ),
        click.option(
            "--callback-public-url", help="URL under which Brevo reaches the callback receiver."
        ),
        click.option(
            "--wait-timeout",
            "wait_timeout_s",
            type=float,
            default=3600.0,
            show_default=True,
            help=f"Seconds to wait for each {waits_for}.",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("data/state"),
            show_default=True,
            help=state_help,
        ),
        click.option("--json", "as_json", is_flag=True, help=json_help),
        click.option(
            "--secret-block",
            default="brevo-api-key",
            show_default=True,
            help="Prefect Secret block holding the API key (falls back to BREVO_API_KEY).",
        ),
    ]

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# ---------------------------------------------------------------------------- import


@cli.command("import")
@click.argument("files", nargs=-1, required=True)
@click.option("--list-id", "list_ids", type=int, multiple=True, help="Target list (repeatable).")
@click.option("--new-list", help="Create this list (once; re-runs reuse it) and import into it.")
@click.option("--folder-id", type=int, help="Folder of --new-list.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON file mapping CSV headers to Brevo attributes.",
)
@click.option("--strict", is_flag=True, help="Exit 2 when a column is not an account attribute.")
@click.option("--default-region", help="Region for national phone numbers, e.g. FR, GB, US.")
@click.option("--dayfirst", is_flag=True, help="Read ambiguous dates as day/month/year.")
@click.option(
    "--drop-invalid-values",
    is_flag=True,
    help="Send a contact without a bad value (recorded in the rejects file) instead of rejecting it.",
)
@click.option(
    "--keep",
    type=click.Choice(["first", "last"]),
    default="last",
    show_default=True,
    help="Which row wins among duplicates (by EMAIL, else SMS).",
)
@click.option(
    "--chunk-bytes",
    type=int,
    default=8 * 1024 * 1024,
    show_default=True,
    help="UTF-8 byte budget per import body (Brevo's limit is 10 MB).",
)
@click.option(
    "--via",
    type=click.Choice(["body", "url", "auto"]),
    default="auto",
    show_default=True,
    help="Send fileBody, or publish chunks and send fileUrl (auto: url when a publisher is set "
    "and there is more than one chunk).",
)
@click.option(
    "--publish",
    help="Publisher for --via url: 'local' (built-in HTTP server) or s3://bucket/prefix.",
)
@click.option(
    "--publish-host",
    default="127.0.0.1",
    show_default=True,
    help="Bind address of the local publisher.",
)
@click.option("--publish-public-url", help="URL under which Brevo reaches the local publisher.")
@click.option("--s3-endpoint-url", help="S3-compatible endpoint (MinIO, ...).")
@click.option("--no-update-existing", is_flag=True, help="Leave existing contacts unchanged.")
@click.option("--empty-attributes", is_flag=True, help="Empty cells erase existing values.")
@click.option("--email-blacklist", is_flag=True, help="Blacklist every imported contact for email.")
@click.option("--sms-blacklist", is_flag=True, help="Blacklist every imported contact for SMS.")
@click.option("--disable-notification", is_flag=True, help="No email from Brevo when done.")
@click.option("--notify-url", help="Your own webhook for Brevo's end-of-import call.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON report path.",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rejects CSV (default: beside the report).",
)
@_run_options(
    "import process",
    state_help="Ledgers (one per Brevo account, under accounts/) and work files.",
)
@click.option(
    "--again",
    is_flag=True,
    help="Send everything again, even when an earlier run of this command completed.",
)
@click.option(
    "--task-runner",
    type=click.Choice(["threads", "dask"]),
    default="threads",
    show_default=True,
    help="Where files are normalised: Prefect's thread pool, or Dask (extra 'dask').",
)
@click.option(
    "--dask-address", help="Scheduler of a running Dask cluster (default: a local 2-worker one)."
)
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[str, ...], **kw: Any) -> None:
    """Import contact CSV files (paths or globs) into Brevo lists, exactly once.

    Every row ends sent, in the rejects file with its reason, or listed as refused by Brevo.
    Re-running the same command after a failure resumes that run: completed chunks are not
    sent again. Re-running a command that completed sends nothing and says so (--again sends
    everything again). Runs are kept per Brevo account: a state dir used against another
    account (another key or base URL) never skips anything.

    \b
    Examples:
      contacts-etl import data/samples/contacts_* --list-id 3 --default-region FR --dayfirst --mapping data/samples/mapping.yaml
      contacts-etl import 'exports/*.csv' --new-list "Leads 2026" --folder-id 1 --report out/report.json
      contacts-etl import big.csv --list-id 3 --via url --publish s3://bucket/imports
    """
    verbose = ctx.obj["verbose"]
    with _errors(verbose):
        from etl.imports import ImportOptions, plan_import
        from etl.settings import BrevoSettings

        options = ImportOptions(
            paths=files,
            list_ids=tuple(kw["list_ids"]),
            new_list=kw["new_list"],
            folder_id=kw["folder_id"],
            mapping_file=kw["mapping_file"],
            strict=kw["strict"],
            default_region=kw["default_region"],
            dayfirst=kw["dayfirst"],
            drop_invalid_values=kw["drop_invalid_values"],
            keep=kw["keep"],
            chunk_bytes=kw["chunk_bytes"],
            via=kw["via"],
            update_existing=not kw["no_update_existing"],
            empty_attributes=kw["empty_attributes"],
            email_blacklist=kw["email_blacklist"],
            sms_blacklist=kw["sms_blacklist"],
            disable_notification=kw["disable_notification"],
            notify_url=kw["notify_url"],
            state_dir=kw["state_dir"],
            report_path=kw["report_path"],
            rejects_path=kw["rejects_path"],
            wait_timeout_s=kw["wait_timeout_s"],
            again=kw["again"],
        )
        options.check()
        if options.via == "url" and not kw["publish"]:
            raise InputError("--via url needs --publish local or --publish s3://bucket/prefix")
        # Preflight outside Prefect: bad input or a bad key ends here with one line.
        with BrevoSettings().client() as client:
            plan_import(options, client.get_attributes())

        from flows.import_contacts import import_contacts, make_task_runner

        runner = make_task_runner(kw["task_runner"], address=kw["dask_address"])
        _quiet_prefect_tracebacks_if(not verbose)
        with _progress_bar(not kw["as_json"]):
            state = import_contacts.with_options(task_runner=runner)(
                files=list(files),
                list_ids=list(options.list_ids) or None,
                new_list=options.new_list,
                folder_id=options.folder_id,
                mapping_file=str(options.mapping_file) if options.mapping_file else None,
                strict=options.strict,
                default_region=options.default_region,
                dayfirst=options.dayfirst,
                drop_invalid_values=options.drop_invalid_values,
                keep=options.keep,
                chunk_bytes=options.chunk_bytes,
                via=options.via,
                publish=kw["publish"],
                publish_host=kw["publish_host"],
                publish_public_url=kw["publish_public_url"],
                s3_endpoint_url=kw["s3_endpoint_url"],
                update_existing=options.update_existing,
                empty_attributes=options.empty_attributes,
                email_blacklist=options.email_blacklist,
                sms_blacklist=options.sms_blacklist,
                disable_notification=options.disable_notification,
                notify_url=options.notify_url,
                wait=kw["wait"],
                callback_host=kw["callback_host"],
                callback_public_url=kw["callback_public_url"],
                wait_timeout_s=options.wait_timeout_s,
                state_dir=str(options.state_dir),
                report_path=str(options.report_path) if options.report_path else None,
                rejects_path=str(options.rejects_path) if options.rejects_path else None,
                secret_block=kw["secret_block"],
                again=options.again,
                return_state=True,
            )
        _finish_import(state, kw["as_json"])


def _quiet_prefect_tracebacks_if(enabled: bool) -> None:
    if enabled:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        _quiet_prefect_tracebacks()


def _finish_import(state: Any, as_json: bool) -> None:
    if state.is_completed():
        data = state.result()
        path = Path(data["report_path"])
        report = json.loads(path.read_text(encoding="utf-8"))
        _emit(report, as_json, lambda: _print_import(report, path))
        return
    exc = _state_exception(state)
    if isinstance(exc, InputError):
        _fail(str(exc), EXIT_USAGE)
    _fail(str(exc) if exc else (state.message or "import failed"), EXIT_FAILED)


def _state_exception(state: Any) -> BaseException | None:
    try:
        state.result()
    except BaseException as exc:
        return exc
    return None


def _print_import(report: dict[str, Any], path: Path) -> None:
    previous = report.get("previous_run") or {}
    if report.get("run_action") == "already_completed":
        click.echo(
            f"nothing sent: run {previous.get('id')} already imported these "
            f"{report.get('rows_already_sent', 0)} rows on {previous.get('finished_at')} "
            "(--again sends them again)"
        )
    click.echo(
        f"read {report['rows_read']} rows: sent {report['rows_sent']}, "
        f"rejected {report['rows_rejected']}"
        + (
            f", refused by Brevo {report['rows_refused_by_brevo']}"
            if report.get("rows_refused_by_brevo")
            else ""
        )
    )
    for reason, n in report["rejects_by_reason"].items():
        click.echo(f"  {reason}: {n}")
    if report.get("rows_refused_by_brevo"):
        counts = ", ".join(f"{k}: {v}" for k, v in (report["brevo"].get("counts") or {}).items())
        click.echo(
            f"warning: Brevo refused {report['rows_refused_by_brevo']} row(s) the local checks "
            f"accepted ({counts}); listed in {report.get('refusals_path') or path}",
            err=True,
        )
    if report.get("rows_not_completed"):
        click.echo(
            f"warning: {report['rows_not_completed']} row(s) are in chunks that did not complete",
            err=True,
        )
    if report["unknown_columns"]:
        click.echo(
            "warning: columns not in the account (Brevo ignores them): "
            + ", ".join(report["unknown_columns"]),
            err=True,
        )
    if report.get("run_action") == "resumed":
        click.echo(f"resumed run {report.get('run_id')}")
    click.echo(
        f"target list ids: {', '.join(map(str, report['list_ids'])) or '-'}; "
        f"chunks: {len(report['chunks'])}"
    )
    click.echo(f"report: {path}")
    click.echo(f"rejects: {report['rejects_path']}")


# ---------------------------------------------------------------------------- export


def _csv_list(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@cli.command("export")
@click.option(
    "--out",
    default="data/exports",
    show_default=True,
    help="Output root: a path or a pyarrow filesystem URI (s3://...).",
)
@click.option(
    "--attributes",
    "attributes",
    multiple=True,
    help='Attributes to export: "A,B" (v2 export_attrib form) or repeated.',
)
@click.option(
    "--list-id",
    "list_ids",
    type=int,
    multiple=True,
    help="List to export (repeatable: one export each, merged).",
)
@click.option(
    "--segment-id", "segment_ids", type=int, multiple=True, help="Segment to export (repeatable)."
)
@click.option(
    "--action",
    type=click.Choice(ACTIONS_FOR_CONTACTS),
    help="actionForContacts (default allContacts with --list-id/--segment-id).",
)
@click.option(
    "--email-campaign-action",
    type=click.Choice(ACTIONS_FOR_EMAIL_CAMPAIGNS),
    help="actionForEmailCampaigns.",
)
@click.option("--email-campaign-id", type=int, help="Campaign of --email-campaign-action.")
@click.option(
    "--sms-campaign-action",
    type=click.Choice(ACTIONS_FOR_SMS_CAMPAIGNS),
    help="actionForSmsCampaigns.",
)
@click.option("--sms-campaign-id", type=int, help="Campaign of --sms-campaign-action.")
@click.option("--import-process-id", type=int, help="importProcessId filter.")
@click.option(
    "--metadata",
    multiple=True,
    help='exportMetadata, e.g. _listIds, "ADDED_TIME AS _ADDED_TIME" (repeatable or comma-separated).',
)
@click.option(
    "--subscription-status",
    multiple=True,
    type=click.Choice(SUBSCRIPTION_STATUSES),
    help="exportSubscriptionStatus (repeatable).",
)
@click.option(
    "--no-mandatory-attributes",
    is_flag=True,
    help="exportMandatoryAttributes=false (needs --attributes).",
)
@click.option(
    "--utc/--no-utc",
    default=True,
    show_default=True,
    help="exportDateInUTC: unambiguous timestamps.",
)
@click.option(
    "--skip-files-merge",
    is_flag=True,
    help="skipFilesMerge: Brevo sends a zip of parts (unpacked safely, merged here).",
)
@click.option("--notify-url", help="Your own webhook for Brevo's end-of-export call.")
@click.option(
    "--disable-notification/--notification",
    default=True,
    show_default=True,
    help="disableNotification (no email from Brevo).",
)
@click.option("--disable-frontend-notification", is_flag=True, help="disableFrontendNotification.")
@click.option(
    "--legacy-filter",
    help='A v2 filter, e.g. \'{"listid.id": 12}\' or \'{"messages_sent.bnc.r": "h_b"}\'.',
)
@click.option(
    "--allow-deprecated-contact-filter",
    is_flag=True,
    help='Send {"blacklisted": 1} as the deprecated contactFilter instead of one export per list.',
)
@click.option(
    "--column-case",
    type=click.Choice(["snake", "brevo"]),
    default="snake",
    show_default=True,
    help="Parquet column names.",
)
@click.option(
    "--modified-since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    help="Keep contacts modified since then (UTC unless an offset is given).",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Keep contacts modified since the last --incremental run (high-water mark under OUT).",
)
@_run_options("export", state_help="Work files.", json_help="Print the summary as JSON.")
@click.pass_context
def export_cmd(ctx: click.Context, **kw: Any) -> None:
    """Export contacts from Brevo to typed Parquet under OUT/contacts/export_date=YYYY-MM-DD/.

    \b
    Examples:
      contacts-etl export --list-id 3 --list-id 7 --metadata _listIds
      contacts-etl export --segment-id 2 --attributes EMAIL,FIRSTNAME,SMS --no-utc
      contacts-etl export --email-campaign-action openers --email-campaign-id 42
      contacts-etl export --legacy-filter '{"blacklisted": 0, "listid.id": 12}'
      contacts-etl export --list-id 3 --incremental --out s3://warehouse/brevo
    """
    verbose = ctx.obj["verbose"]
    with _errors(verbose):
        from datetime import UTC

        from etl.exports import ExportOptions, build_export_requests, parse_export_attrib

        attributes = parse_export_attrib(",".join(kw["attributes"])) if kw["attributes"] else ()
        metadata = _csv_list(kw["metadata"])
        options = ExportOptions(
            attributes=attributes,
            list_ids=tuple(kw["list_ids"]),
            segment_ids=tuple(kw["segment_ids"]),
            action=kw["action"],
            email_campaign_action=kw["email_campaign_action"],
            email_campaign_id=kw["email_campaign_id"],
            sms_campaign_action=kw["sms_campaign_action"],
            sms_campaign_id=kw["sms_campaign_id"],
            import_process_id=kw["import_process_id"],
            metadata=metadata,
            subscription_status=tuple(kw["subscription_status"]),
            mandatory_attributes=not kw["no_mandatory_attributes"],
            utc=kw["utc"],
            skip_files_merge=kw["skip_files_merge"],
            notify_url=kw["notify_url"],
            disable_notification=kw["disable_notification"],
            disable_frontend_notification=kw["disable_frontend_notification"],
            legacy_filter=kw["legacy_filter"],
            allow_deprecated_contact_filter=kw["allow_deprecated_contact_filter"],
        )
        # Refuse combinations Brevo rejects before any call (list ids are filled at run time).
        build_export_requests(options, all_list_ids=[0])
        since = kw["modified_since"]
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)

        from flows.export_contacts import export_contacts

        _quiet_prefect_tracebacks_if(not verbose)
        with _progress_bar(not kw["as_json"]):
            state = export_contacts(
                out=kw["out"],
                attributes=list(attributes) or None,
                list_ids=list(options.list_ids) or None,
                segment_ids=list(options.segment_ids) or None,
                action=options.action,
                email_campaign_action=options.email_campaign_action,
                email_campaign_id=options.email_campaign_id,
                sms_campaign_action=options.sms_campaign_action,
                sms_campaign_id=options.sms_campaign_id,
                import_process_id=options.import_process_id,
                metadata=list(metadata) or None,
                subscription_status=list(options.subscription_status) or None,
                mandatory_attributes=options.mandatory_attributes,
                utc=options.utc,
                skip_files_merge=options.skip_files_merge,
                notify_url=options.notify_url,
                disable_notification=options.disable_notification,
                disable_frontend_notification=options.disable_frontend_notification,
                legacy_filter=options.legacy_filter,
                allow_deprecated_contact_filter=options.allow_deprecated_contact_filter,
                column_case=kw["column_case"],
                modified_since=since,
                incremental=kw["incremental"],
                wait=kw["wait"],
                callback_host=kw["callback_host"],
                callback_public_url=kw["callback_public_url"],
                wait_timeout_s=kw["wait_timeout_s"],
                state_dir=str(kw["state_dir"]),
                secret_block=kw["secret_block"],
                return_state=True,
            )
        if not state.is_completed():
            exc = _state_exception(state)
            if isinstance(exc, InputError):
                _fail(str(exc), EXIT_USAGE)
            _fail(str(exc) if exc else (state.message or "export failed"), EXIT_FAILED)
        summary = state.result()
        _emit(summary, kw["as_json"], lambda: _print_export(summary))


def _print_export(summary: dict[str, Any]) -> None:
    for exp in summary["exports"]:
        click.echo(f"export {exp['label']}: process {exp['process_id']}, {exp['rows']} rows")
    click.echo(f"merged rows: {summary['merged_rows']}")
    click.echo(f"parquet: {summary['partition']}")
    click.echo(f"manifest: {summary['manifest']}")
    for note in summary.get("notes", []):
        click.echo(f"note: {note}")
    if not summary["validation"]["passed"]:
        click.echo("validation FAILED: " + "; ".join(summary["validation"]["failures"]), err=True)


# ---------------------------------------------------------------------------- demo, doctor


@cli.command()
@click.option(
    "--samples",
    default="data/samples/contacts_*",
    show_default=True,
    help="CSV files (glob) to import.",
)
@click.option("--out", default="data/exports", show_default=True, help="Where the Parquet goes.")
@click.pass_context
def demo(ctx: click.Context, samples: str, out: str) -> None:
    """Run the whole job against a local sandbox: import the samples, export them, write Parquet.

    \b
    Example:
      contacts-etl demo
    """
    with _errors(ctx.obj["verbose"]):
        from etl.cli.demo import run_demo

        _quiet_prefect_tracebacks_if(not ctx.obj["verbose"])
        result = run_demo(samples=samples, out=out)
        rep, summ = result.import_report, result.export_summary
        click.echo("")
        click.echo("=== contacts-etl demo ===")
        click.echo(
            f"rows in: {rep['rows_read']} from {len(rep['files'])} files; sent {rep['rows_sent']}"
        )
        click.echo(
            f"rejected: {rep['rows_rejected']} "
            + ", ".join(f"{k}={v}" for k, v in rep["rejects_by_reason"].items())
        )
        click.echo(f"rejects file: {rep['rejects_path']}")
        click.echo(f"rows exported: {summ['merged_rows']}")
        click.echo(f"parquet: {summ['partition']}")
        click.echo("preview (DuckDB):")
        click.echo(result.preview)


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the configuration: key, base URL, rate-limit headers, account attributes.

    Prints one pass/fail line per check; exits 1 if any fails.

    \b
    Example:
      BREVO_BASE_URL=http://127.0.0.1:8787/v3 BREVO_API_KEY=... contacts-etl doctor
    """
    from etl.cli.doctor import run_checks

    with _errors(ctx.obj["verbose"]):
        checks = run_checks()
        for check in checks:
            click.echo(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        if not all(c.ok for c in checks):
            sys.exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- contact


@cli.group()
def contact() -> None:
    """Single-contact operations of the legacy v2 "User" API, on v3.

    \b
    Examples:
      contacts-etl contact upsert ann@example.com --attr FIRSTNAME=Ann --attr SMS=0612345678 \\
          --default-region FR --list-id 3 --blacklisted ""
      contacts-etl contact get ann@example.com --json
      contacts-etl contact unlink-all ann@example.com
    """


@contextmanager
def _contact_errors(verbose: bool) -> Iterator[None]:
    from etl.contacts import ContactOpError

    with _errors(verbose):
        try:
            yield
        except ContactOpError as exc:
            if verbose:
                raise
            _fail(str(exc), EXIT_FAILED)


@contact.command("upsert")
@click.argument("email")
@click.option(
    "--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="Attribute value (repeatable)."
)
@click.option(
    "--blacklisted",
    type=click.Choice(["0", "1", ""]),
    default=None,
    help='Email blacklist: 1, 0, or "" (create: not blacklisted; update: unchanged).',
)
@click.option(
    "--blacklisted-sms",
    type=click.Choice(["0", "1", ""]),
    default=None,
    help="SMS blacklist, same semantics.",
)
@click.option("--list-id", "list_ids", type=int, multiple=True, help="List to link (repeatable).")
@click.option(
    "--unlink-list-id",
    "unlink_list_ids",
    type=int,
    multiple=True,
    help="List to unlink (repeatable).",
)
@click.option("--default-region", help="Region for national phone numbers, e.g. FR.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contact_upsert(ctx: click.Context, email: str, attrs: tuple[str, ...], **kw: Any) -> None:
    """Create the contact if EMAIL is new (prints its id), else update it (prints "updated").

    \b
    Examples:
      contacts-etl contact upsert ann@example.com --attr GENDER=Ms --attr BIRTHDAY=12/03/1990
      contacts-etl contact upsert ann@example.com --list-id 4 --unlink-list-id 3 --blacklisted 1
    """
    from etl.contacts import parse_attr_pairs, upsert_contact
    from etl.settings import BrevoSettings

    with _contact_errors(ctx.obj["verbose"]), BrevoSettings().client() as client:
        result = upsert_contact(
            client,
            email,
            attributes=parse_attr_pairs(attrs),
            blacklisted=kw["blacklisted"],
            blacklisted_sms=kw["blacklisted_sms"],
            list_ids=kw["list_ids"],
            unlink_list_ids=kw["unlink_list_ids"],
            default_region=kw["default_region"],
        )
        _emit(
            {"created": result.created, "id": result.contact_id, "email": result.email},
            kw["as_json"],
            lambda: click.echo(result.line()),
        )


@contact.command("get")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the raw statistics).")
@click.pass_context
def contact_get(ctx: click.Context, email: str, as_json: bool) -> None:
    """Show a contact: attributes, lists, blacklist status and statistics.

    \b
    Examples:
      contacts-etl contact get ann@example.com
      contacts-etl contact get ann@example.com --json | jq .statistics
    """
    from dataclasses import asdict

    from etl.contacts import get_contact_details
    from etl.settings import BrevoSettings

    with _contact_errors(ctx.obj["verbose"]), BrevoSettings().client() as client:
        details = get_contact_details(client, email)
        _emit(asdict(details), as_json, lambda: _print_contact(details))


def _print_contact(details: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{details.email}[/bold] (id {details.id})")
    console.print(
        f"email blacklisted: {'yes' if details.email_blacklisted else 'no'}; "
        f"SMS blacklisted: {'yes' if details.sms_blacklisted else 'no'}"
    )
    lists = ", ".join(f"{lst['id']} ({lst['name']})" for lst in details.lists) or "none"
    console.print(f"lists: {lists}")
    attrs = Table("attribute", "value", title="Attributes")
    for name, value in sorted(details.attributes.items()):
        attrs.add_row(name, str(value))
    console.print(attrs)
    stats = Table("statistic", "count", title="Statistics")
    for name, count in details.statistics.items():
        stats.add_row(name, str(count))
    console.print(stats)


@contact.command("unlink-all")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def contact_unlink_all(ctx: click.Context, email: str, as_json: bool) -> None:
    """Remove the contact from every list it belongs to, and print which lists.

    \b
    Example:
      contacts-etl contact unlink-all ann@example.com
    """
    from etl.contacts import unlink_from_all_lists
    from etl.settings import BrevoSettings

    with _contact_errors(ctx.obj["verbose"]), BrevoSettings().client() as client:
        unlinked = unlink_from_all_lists(client, email)
        _emit(
            {"email": email, "unlinked_list_ids": unlinked},
            as_json,
            lambda: click.echo(
                f"unlinked from lists {', '.join(map(str, unlinked))}"
                if unlinked
                else "in no list; nothing to unlink"
            ),
        )


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
