"""``contacts-etl sandbox``, ``demo`` and ``doctor``: the tools around the pipeline.

``demo.py`` and ``doctor.py`` beside this module hold the implementations; these are the
click commands only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from etl.cli.common import EXIT_FAILED, _errors, _quiet_prefect_tracebacks_if


@click.command()
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
    help="minimal: what real Brevo was seen to do (docs/brevo/FACTS.md section 12); "
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


@click.command()
@click.option(
    "--samples",
    default="data/samples/contacts_*",
    show_default=True,
    help="CSV files (glob) to import.",
)
@click.option(
    "--out",
    default="data/demo/exports",
    show_default=True,
    help="Where the Parquet goes (apart from your own exports).",
)
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


@click.command()
@click.option(
    "--credentials-block", help="A BrevoCredentials block to check instead of the environment."
)
@click.option(
    "--secret-block",
    default="brevo-api-key",
    show_default=True,
    help="Prefect Secret block holding the API key (used when it exists).",
)
@click.pass_context
def doctor(ctx: click.Context, /, credentials_block: str | None, secret_block: str) -> None:
    """Check the configuration: credentials, key, base URL, account, rate-limit headers, attributes.

    Prints one pass/fail line per check, among them which credentials source was used
    (credentials block, Secret block or environment) and the account reached; exits 1 if any
    fails.

    \b
    Examples:
      BREVO_BASE_URL=http://127.0.0.1:8787/v3 BREVO_API_KEY=... contacts-etl doctor
      contacts-etl doctor --credentials-block brevo-prod
    """
    from etl.cli.doctor import run_checks
    from flows._common import resolve_settings

    with _errors(ctx.obj["verbose"]):
        # The same precedence as the flows: credentials block, Secret block, environment.
        settings, source = resolve_settings(
            credentials_block=credentials_block, secret_block=secret_block
        )
        checks = run_checks(settings, source=source)
        for check in checks:
            click.echo(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        if not all(c.ok for c in checks):
            sys.exit(EXIT_FAILED)
