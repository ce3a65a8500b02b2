"""``contacts-etl import``: CSV files into Brevo lists, exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from etl.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _emit,
    _errors,
    _fail,
    _progress_bar,
    _quiet_prefect_tracebacks_if,
    _settings,
    _state_exception,
)
from etl.cli.flow_options import CommandSpec, Flag, flow_command
from etl.errors import InputError

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from etl.brevo.client import BrevoClient


IMPORT = CommandSpec(
    flow="flows.import_contacts:import_contacts",
    arguments=("files",),
    flags={
        "mapping_file": Flag(decls=("--mapping",), type=click.Path(exists=True, dir_okay=False)),
        "dayfirst": Flag(decls=("--dayfirst/--monthfirst",)),
        "report_path": Flag(decls=("--report",), type=click.Path(dir_okay=False)),
        "rejects_path": Flag(decls=("--rejects",), type=click.Path(dir_okay=False)),
        "wait_timeout_s": Flag(decls=("--wait-timeout",)),
        "state_dir": Flag(type=click.Path(file_okay=False)),
    },
    flow_only=frozenset({"batch_rows", "base_url"}),
    cli_options=(
        (
            "state_dir",
            click.Option(["--json", "as_json"], is_flag=True, help="Print the report as JSON."),
        ),
        (
            None,
            click.Option(
                ["--task-runner"],
                type=click.Choice(["threads", "dask"]),
                default="threads",
                show_default=True,
                help="Where files are normalised: Prefect's thread pool, or Dask (extra 'dask').",
            ),
        ),
        (
            None,
            click.Option(
                ["--dask-address"],
                help="Scheduler of a running Dask cluster (default: a local 2-worker one).",
            ),
        ),
    ),
)
"""``contacts-etl import``: the import flow's parameters, and what the CLI adds."""


@flow_command("import", IMPORT)
@click.pass_context
def import_cmd(
    ctx: click.Context,
    /,
    params: dict[str, Any],
    *,
    as_json: bool,
    task_runner: str,
    dask_address: str | None,
) -> None:
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
        from etl.imports import plan_import, resolve_paths
        from flows.import_contacts import import_contacts, import_options, make_task_runner

        options = import_options(params)
        # Preflight outside Prefect: bad input or a bad key ends here with one line.
        # The key is found as the flow will find it (a Secret block included).
        settings = _settings(
            credentials_block=params.get("credentials_block"),
            secret_block=params.get("secret_block"),
            base_url=params.get("base_url"),
        )
        with settings.client() as client:
            resolve_paths(options.paths)  # a missing file is found before any call
            check_targets(client, list_ids=options.list_ids, folder_id=options.folder_id)
            plan_import(options, client.get_attributes(), scan_dates=False)

        runner = make_task_runner(task_runner, address=dask_address)
        _quiet_prefect_tracebacks_if(not verbose)
        with _progress_bar(not as_json):
            state = import_contacts.with_options(task_runner=runner)(**params, return_state=True)
        _finish_import(state, as_json)


def check_targets(client: BrevoClient, *, list_ids: Sequence[int], folder_id: int | None) -> None:
    """Refuse unknown lists or folders before reading any file (exit 2, one line)."""
    from etl.brevo.errors import BrevoNotFound

    for list_id in list_ids:
        try:
            client.get_list(list_id)
        except BrevoNotFound:
            raise InputError(
                f"list {list_id} does not exist in this Brevo account "
                "(see the lists in Brevo, or use --new-list NAME --folder-id ID)"
            ) from None
    if folder_id is not None:
        try:
            client.get_folder(folder_id)
        except BrevoNotFound:
            raise InputError(
                f"folder {folder_id} does not exist in this Brevo account "
                "(contacts-etl folders list; contacts-etl folders create NAME)"
            ) from None


def _finish_import(state: State[dict[str, Any]], as_json: bool) -> None:
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
    for warning in report.get("warnings") or ():
        click.echo(f"warning: {warning}", err=True)
    if report.get("dropped_values"):
        click.echo(
            f"dropped values: {report['dropped_values']} (the contacts were sent without them; "
            "listed in the rejects file)"
        )
    for attribute, order in (report.get("date_orders") or {}).items():
        click.echo(f"dates in {attribute}: {order}")
    if report.get("phones_reassigned_region"):
        click.echo(
            f"phones dialled the national way but in an overseas region: "
            f"{report['phones_reassigned_region']} (written with that region's country code)"
        )
    for name, lines in (report.get("footer_lines") or {}).items():
        click.echo(f"footer skipped in {Path(name).name}: {len(lines)} line(s), not contacts")
    if report.get("run_action") == "resumed":
        click.echo(f"resumed run {report.get('run_id')}")
    click.echo(
        f"target list ids: {', '.join(map(str, report['list_ids'])) or '-'}; "
        f"chunks: {len(report['chunks'])}"
    )
    click.echo(f"report: {path}")
    click.echo(f"rejects: {report['rejects_path']}")
