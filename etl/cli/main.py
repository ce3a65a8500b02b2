"""The ``contacts-etl`` root command: global options, and the command groups wired in.

Each command group lives in its own module (``imports``, ``exports``, ``contacts``, ``tools``);
what they share (exit codes, error handling, output) is in ``common``.
"""

from __future__ import annotations

import logging
import os

import click

from etl.cli.admin import attributes, folders
from etl.cli.contacts import contact
from etl.cli.exports import export_cmd
from etl.cli.imports import import_cmd
from etl.cli.mapping import mapping
from etl.cli.tools import demo, doctor, sandbox


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
    Exit codes: 0 ok, 1 failed run, 2 bad input or usage, 130 interrupted (Ctrl-C).
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    # No telemetry from the ephemeral Prefect server (and no error lines when offline).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=logging.WARNING)
    # Some libraries (great_expectations) pin their own loggers to INFO: filter at the handler.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    if verbose:
        # This project's debug lines; libraries (urllib3, prefect, great_expectations,
        # werkzeug...) stay at warnings, or their debug output buries ours by thousands of lines.
        for name in ("etl", "flows"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        for name in ("urllib3", "prefect", "great_expectations", "werkzeug", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)


for _command in (
    sandbox,
    import_cmd,
    export_cmd,
    demo,
    doctor,
    contact,
    mapping,
    folders,
    attributes,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
