"""``contacts-etl import``: CSV files into Brevo lists, exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from etl import progress
from etl.cli.common import (
    _emit,
    _errors,
    _progress_bar,
    _quiet_prefect_tracebacks_if,
    _settings,
    run_flow,
)
from etl.cli.flow_options import CommandSpec, Flag, flow_command
from etl.errors import InputError

if TYPE_CHECKING:
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
    progress.forget()
    with _errors(verbose, on_interrupt=_import_interrupted):
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
            result = run_flow(import_contacts, params, task_runner=runner)
        _finish_import(result, as_json)


def _import_interrupted() -> str:
    """The Ctrl-C line: how far the import got (as far as its progress reports tell)."""
    reports = progress.last_reports()
    done = [
        f"read {rows:,} rows of {step.removeprefix('read ')}"
        for step, (rows, _) in reports.items()
        if step.startswith("read ")
    ]
    if "chunks submitted" in reports:
        submitted, total = reports["chunks submitted"]
        finished = reports.get("chunks finished", (0, total))[0]
        done.append(f"{submitted} of {total} chunk(s) submitted, {finished} finished")
    elif "chunks" in reports:
        done.append(f"{reports['chunks'][0]} chunk(s) prepared")
    so_far = "; ".join(done) or "before any chunk was prepared"
    return (
        f"interrupted ({so_far}); re-run the same command to resume: "
        "chunks already submitted are not sent again"
    )


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


def _finish_import(result: dict[str, Any], as_json: bool) -> None:
    path = Path(result["report_path"])
    report = json.loads(path.read_text(encoding="utf-8"))
    _emit(report, as_json, lambda: _print_import(report, path))


def _print_sync(report: dict[str, Any]) -> None:
    """What --changed-only, --unlink-missing and --verify did, one line each."""
    sync = report.get("sync") or {}
    if sync:
        click.echo(f"changed-only: {sync.get('snapshot')}")
    if "unlinked" in sync:
        line = f"unlinked {sync['unlinked']} contact(s) that left the input"
        if sync.get("unlink_not_in_list"):
            line += f" ({sync['unlink_not_in_list']} were already off the list)"
        if sync.get("unlinked_path"):
            line += f"; listed in {sync['unlinked_path']}"
        click.echo(line)
    verify = report.get("verify") or {}
    if verify:
        checked = verify["rows_landed"] + verify["rows_differ"] + verify["rows_missing"]
        line = (
            f"verified {checked} contact(s): {verify['rows_landed']} landed, "
            f"{verify['rows_differ']} differ, {verify['rows_missing']} missing"
        )
        if "repaired" in verify:
            line += f"; repaired {verify['repaired']}, still differing {verify['still_differing']}"
        click.echo(f"{line}; per row in {verify['outcomes_path']}")
        if verify["rows_missing"] or verify.get("still_differing", verify["rows_differ"]):
            click.echo(
                "warning: Brevo does not hold every contact as sent; see "
                f"{verify['outcomes_path']}",
                err=True,
            )


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
        + (f", unchanged {report.get('rows_unchanged', 0)}" if report.get("sync") else "")
    )
    for reason, n in report["rejects_by_reason"].items():
        click.echo(f"  {reason}: {n}")
    _print_sync(report)
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
