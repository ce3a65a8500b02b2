"""What every command shares: exit codes, error handling, Ctrl-C, running flows, output,
progress, quiet Prefect logs.

Exit codes, for every command: 0 ok, 1 the run failed (Brevo failed a process, the network gave
out, chunks did not complete), 2 bad input or usage (found before anything was sent, or Brevo
answered 400 to the input), 130 interrupted (Ctrl-C). Errors are one line on stderr;
``--verbose`` adds tracebacks for debugging.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from etl.brevo.errors import BrevoBadRequest, BrevoConfigError, BrevoError, BrevoTransportError
from etl.errors import InputError

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import State
    from prefect.task_runners import TaskRunner
    from rich.progress import TaskID

    from etl.brevo.client import BrevoClient
    from etl.settings import BrevoSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

STOP_WITHIN_S = 5.0
"""After Ctrl-C, the longest the command waits for the run to unwind before it exits anyway."""


def _fail(message: str, code: int) -> NoReturn:
    """Print the first line of ``message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}".splitlines()[0], err=True)
    sys.exit(code)


class RunFailed(Exception):
    """A flow run failed with something other than bad input or a Brevo error (exit 1)."""


_brevo_url: str | None = None
"""The base URL of the settings this command resolved (never the key): connection errors name
it (the client's own messages name the method and path only)."""


def _message(exc: BaseException) -> str:
    """The one line for ``exc``; an unreachable Brevo is named by its base URL."""
    if isinstance(exc, BrevoTransportError) and _brevo_url:
        return f"cannot reach Brevo at {_brevo_url}: {exc}"
    return str(exc)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of a command that ended with ``exc``.

    Bad input is 2 whether the CLI found it before any call or Brevo answered 400 to it in a
    run (an unknown list or folder, a filter Brevo refuses): the command must change before a
    re-run can succeed. Everything else (a wrong key, a failed process, the network) is 1.
    """
    if isinstance(exc, InputError | BrevoConfigError | BrevoBadRequest):
        return EXIT_USAGE
    return EXIT_FAILED


class _Interrupt:
    """Ctrl-C: one line on stderr (how far the run got, how to resume), exit 130, in seconds.

    The first Ctrl-C raises KeyboardInterrupt in the main thread, so the run unwinds (the
    ledger and work files are closed as on any failure). Whatever that unwinding might wait
    for (worker threads still normalising, Prefect's log drain towards a temporary server that
    the same Ctrl-C stopped, about 2.5 minutes) is cut short: the command leaves with
    ``os._exit`` once the line is printed, at the latest ``STOP_WITHIN_S`` after the first
    Ctrl-C. A second Ctrl-C leaves at once, without a traceback. What was sent is in the
    ledger, which survives even a kill (see docs/reliability.md): a re-run resumes from it.
    """

    def __init__(self, describe: Callable[[], str]) -> None:
        self.describe = describe
        self.pressed = False
        self._said = threading.Lock()
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._first)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _first(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        signal.signal(signal.SIGINT, self._again)
        watchdog = threading.Timer(STOP_WITHIN_S, self.stop)
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    def _again(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def stop(self) -> NoReturn:
        """Print the one line (once) and leave with 130 without waiting for anything."""
        if self._said.acquire(blocking=False):
            try:
                line = self.describe()
            except Exception:  # the line must come out whatever the run's state
                line = "interrupted"
            try:
                sys.stdout.flush()
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            finally:
                os._exit(EXIT_INTERRUPTED)
        # Another thread is printing the line and will exit; wait for it.
        threading.Event().wait()
        raise AssertionError("unreachable")


def _plain_interrupt() -> str:
    return "interrupted"


class _DropTracebacks(logging.Filter):
    """Keep Prefect's log lines but not their tracebacks (the CLI prints one line instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


class _NoPrefectRecords(logging.Filter):
    """Drop Prefect's records (and an untracked run's) from the terminal.

    Under Prefect they still reach the Prefect API; the CLI prints its own summary and
    warnings from the run's report either way.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(("prefect", "flows.runs"))


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
def _errors(verbose: bool, *, on_interrupt: Callable[[], str] = _plain_interrupt) -> Iterator[None]:
    """Map exceptions to one-line messages and exit codes; Ctrl-C to ``on_interrupt()`` (130)."""
    with _Interrupt(on_interrupt) as interrupt:
        try:
            yield
        except SystemExit:
            raise
        except BaseException as exc:
            # After Ctrl-C, whatever the unwinding raised (Prefect reporting the crash to a
            # server the same Ctrl-C stopped raises ConnectError) is the interrupt.
            if interrupt.pressed or isinstance(exc, KeyboardInterrupt):
                interrupt.stop()
            if verbose or not isinstance(exc, Exception):
                raise
            if isinstance(exc, InputError | BrevoError | RunFailed):
                _fail(_message(exc), exit_code_for(exc))
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


def run_flow(
    flow: Flow[..., dict[str, Any]],
    params: Mapping[str, Any],
    *,
    task_runner: TaskRunner[Any] | None = None,
) -> dict[str, Any]:
    """Run ``flow`` in this process; return its result or raise why it failed.

    With a Prefect API configured (``PREFECT_API_URL``), the run is tracked there, as a flow
    run with its task runs, logs and artifacts. Without one, the same flow code runs untracked
    (``flows._common.run_untracked``) instead of starting Prefect's temporary server: the same
    steps, results and files, without the server's start-up or artifacts. ``task_runner``
    (the thread pool, or Dask) applies to tracked runs; an untracked run uses threads, so a
    Dask runner makes the run tracked.

    Raises:
        InputError, BrevoError: what the flow raised (the CLI maps them to exit codes).
        RunFailed: any other failure, with the flow's one-line message.
    """
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows._common import prefect_api_configured, run_untracked, untracked_blockers

    untracked = (
        not prefect_api_configured()
        and (task_runner is None or isinstance(task_runner, ThreadPoolTaskRunner))
        and not untracked_blockers(flow)
    )
    try:
        if untracked:
            return run_untracked(flow, params)
        if task_runner is not None:
            flow = flow.with_options(task_runner=task_runner)
        # Prefect's overloads type ``return_state=True`` calls by the flow's return type.
        state = cast("State[dict[str, Any]]", flow(**params, return_state=True))
        if state.is_completed():
            result: dict[str, Any] = state.result()
            return result
        failure = _state_exception(state)
        if failure is None:
            raise RunFailed(state.message or f"{flow.name} failed")
        raise failure
    except (InputError, BrevoError, RunFailed):
        raise
    except Exception as exc:
        raise RunFailed(str(exc) or type(exc).__name__) from exc


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
    global _brevo_url
    _brevo_url = settings.base_url
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
