"""What every command shares: exit codes, error handling, output, progress, quiet Prefect logs.

Exit codes, for every command: 0 ok, 1 the run failed (Brevo refused or failed a process, the
network gave out), 2 bad input or usage. Errors are one line on stderr; ``--verbose`` adds
tracebacks for debugging.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from etl.brevo.errors import BrevoConfigError, BrevoError
from etl.errors import InputError

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State
    from rich.progress import TaskID

    from etl.brevo.client import BrevoClient
    from etl.settings import BrevoSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int) -> NoReturn:
    """Print the first line of ``message`` to stderr and exit with ``code``."""
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
    tasks: dict[str, TaskID] = {}

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


def _emit(data: Mapping[str, object], as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``human`` for the readable form."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


def _quiet_prefect_tracebacks_if(enabled: bool) -> None:
    """Quiet Prefect's console logs unless ``--verbose`` asked for them."""
    if enabled:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        _quiet_prefect_tracebacks()


def _state_exception(state: State[Any]) -> BaseException | None:
    """The exception a failed flow run raised, or None."""
    try:
        state.result()
    except BaseException as exc:
        return exc
    return None


def _settings(
    *,
    credentials_block: str | None = None,
    secret_block: str | None = None,
    base_url: str | None = None,
) -> BrevoSettings:
    """Connection settings as the flows resolve them (credentials block, environment, Secret)."""
    from flows._common import resolve_settings

    settings, _ = resolve_settings(
        credentials_block=credentials_block, secret_block=secret_block, base_url=base_url
    )
    return settings


credentials_option = click.option(
    "--credentials-block",
    help="A BrevoCredentials block (key, base URL, rate-limit tier); wins over BREVO_API_KEY.",
)
"""``--credentials-block`` for the commands that call Brevo directly (not through a flow)."""


def client_for(credentials_block: str | None) -> BrevoClient:
    """A client with the key found as the flows find it (block, environment, Secret block)."""
    from etl.settings import DEFAULT_SECRET_BLOCK

    return _settings(
        credentials_block=credentials_block, secret_block=DEFAULT_SECRET_BLOCK
    ).client()
