"""``contacts-etl export``: contacts from Brevo to typed Parquet."""

from __future__ import annotations

from typing import Any

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


def _csv_list(values: list[str]) -> list[str]:
    """Split repeated, comma-separated option values into one list."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


EXPORT = CommandSpec(
    flow="flows.export_contacts:export_contacts",
    flags={
        "metadata": Flag(convert=_csv_list),
        "utc": Flag(decls=("--utc/--no-utc",)),
        "disable_notification": Flag(decls=("--disable-notification/--notification",)),
        "wait_timeout_s": Flag(decls=("--wait-timeout",)),
        "state_dir": Flag(type=click.Path(file_okay=False)),
    },
    flow_only=frozenset({"export_date", "base_url"}),
    cli_options=(
        (
            "state_dir",
            click.Option(["--json", "as_json"], is_flag=True, help="Print the summary as JSON."),
        ),
    ),
)
"""``contacts-etl export``: the export flow's parameters, and what the CLI adds."""


@flow_command("export", EXPORT)
@click.pass_context
def export_cmd(ctx: click.Context, /, params: dict[str, Any], *, as_json: bool) -> None:
    """Export contacts from Brevo to typed Parquet under OUT/contacts/export_date=D/run=ID/.

    \b
    Examples:
      contacts-etl export --list-id 3 --list-id 7 --metadata _listIds
      contacts-etl export --segment-id 2 --attributes EMAIL,FIRSTNAME,SMS --no-utc
      contacts-etl export --email-campaign-action openers --email-campaign-id 42
      contacts-etl export --legacy-filter '{"blacklisted": 0, "listid.id": 12}'
      contacts-etl export --list-id 3 --incremental --out s3://warehouse/brevo
      contacts-etl export --all-contacts --created-since 2020-01-01
      contacts-etl export --legacy-filter '{"blacklisted": 1}'        # the whole account
    """
    verbose = ctx.obj["verbose"]
    progress.forget()
    with _errors(verbose, on_interrupt=_export_interrupted):
        from etl.exports import build_export_requests
        from flows.export_contacts import export_contacts, export_options

        # Refuse combinations Brevo rejects before any call (list ids are filled at run time).
        build_export_requests(export_options(params), all_list_ids=[0])
        # The key is found as the flow will find it: a missing one ends here (exit 2).
        _settings(
            credentials_block=params.get("credentials_block"),
            secret_block=params.get("secret_block"),
            base_url=params.get("base_url"),
        )
        _quiet_prefect_tracebacks_if(not verbose)
        with _progress_bar(not as_json):
            summary = run_flow(export_contacts, params)
        _emit(summary, as_json, lambda: _print_export(summary))


def _export_interrupted() -> str:
    """The Ctrl-C line: how far the export got (as far as its progress reports tell)."""
    reports = progress.last_reports()
    labels = {
        step.removeprefix("export ").rsplit(": ", 1)[0]
        for step in reports
        if step.startswith("export ") and ": " in step
    }
    downloaded = sum(1 for step in reports if step.endswith(": downloaded bytes"))
    so_far = (
        f"{len(labels)} export(s) requested from Brevo, {downloaded} downloaded"
        if labels
        else "before any export was requested"
    )
    return (
        f"interrupted ({so_far}); re-run the same command to export again: "
        "a partition is published only when complete"
    )


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
