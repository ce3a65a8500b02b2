"""What every flow shares: building the client at the boundary, artifacts, and running the
flows' code without a Prefect API.

**Untracked runs.** Prefect 3 has no supported way to run a flow without an API: without
``PREFECT_API_URL`` it starts a temporary server (about 7 s), or with
``PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=false`` it refuses (``ValueError: No Prefect API URL
provided``; PrefectHQ/prefect#15927, "local mode", is open). What it does support is calling a
flow's or a task's function through ``.fn``. :func:`run_untracked` does that for a whole flow:
the flows declare their steps with :func:`task` (a Prefect task, unchanged under a Prefect run)
and take :func:`get_run_logger`, :func:`create_markdown_artifact` and
:func:`create_table_artifact` from here; inside :func:`run_untracked` a step is a plain call
(with the task's retries), ``.map`` runs on a thread pool and returns Prefect futures, the run
logger is the ``flows.runs`` logger and artifacts are skipped (there is no API to keep them).
The code that runs is the same either way, so are the results.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from prefect import Task
from prefect.artifacts import create_markdown_artifact as _prefect_markdown_artifact
from prefect.artifacts import create_table_artifact as _prefect_table_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import PrefectConcurrentFuture, PrefectFutureList
from prefect.logging import get_run_logger as _prefect_run_logger
from prefect.states import Failed
from prefect.utilities.callables import expand_mapping_parameters, get_call_parameters

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoAPIError, BrevoConfigError, BrevoTransportError
from etl.errors import InputError
from etl.settings import DEFAULT_SECRET_BLOCK, BrevoSettings

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import TaskRun
    from prefect.logging.loggers import LoggingAdapter

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

RUN_LOGGER = "flows.runs"
"""The run logger of untracked runs (the CLI keeps it off the terminal unless ``--verbose``)."""


def resolve_settings(
    *,
    credentials_block: str | None = None,
    secret_block: str | None = DEFAULT_SECRET_BLOCK,
    base_url: str | None = None,
) -> tuple[BrevoSettings, str]:
    """Client settings and where the key came from, in this order of precedence.

    1. a ``BrevoCredentials`` block, when one is named (its key, base URL and rate-limit tier);
    2. ``BREVO_API_KEY`` from the environment or a ``.env`` file, when set (what a user set
       for this shell beats what was saved once; no Prefect call is needed);
    3. the Prefect ``Secret`` block ``secret_block``, when it exists (the key only): the usual
       source on a worker, whose environment holds no key.

    Other ``BREVO_*`` settings (timeouts, limits, base URL) always come from the environment.

    An explicit ``base_url`` wins over every source. The key is never a flow parameter, so it
    never lands in the Prefect database.

    Raises:
        BrevoConfigError: a credentials block is named but cannot be loaded.
    """
    settings = BrevoSettings()
    source = "environment (BREVO_API_KEY)"
    if credentials_block:
        from flows.blocks import BrevoCredentials

        try:
            with _quiet_prefect_start():
                block = BrevoCredentials.load(credentials_block, _sync=True)  # type: ignore[call-arg]
        except ValueError as exc:
            raise BrevoConfigError(
                f"no BrevoCredentials block named {credentials_block!r} "
                "(create one in the Prefect UI after `prefect block register -m flows.blocks`)"
            ) from exc
        if not isinstance(block, BrevoCredentials):
            raise BrevoConfigError(f"block {credentials_block!r} is not a BrevoCredentials block")
        settings = block.settings(settings)
        source = f"credentials block {credentials_block!r}"
    elif settings.api_key.get_secret_value():
        pass  # the environment's key
    elif secret_block:
        try:
            # ``_sync`` is consumed by Prefect's async_dispatch wrapper, so it is missing from
            # the typed signature, which also still offers the async branch's coroutine.
            with _quiet_prefect_start():
                secret = Secret.load(secret_block, _sync=True)  # type: ignore[call-arg]
        except ValueError:
            secret = None  # no such block: fall back to the environment
        value = secret.get() if isinstance(secret, Secret) else None
        if value:
            settings = settings.with_key(str(value))
            source = f"Secret block {secret_block!r}"
    if base_url:
        settings = settings.model_copy(update={"base_url": base_url})
    return settings, source


@contextmanager
def _quiet_prefect_start() -> Iterator[None]:
    """Keep Prefect's "Starting temporary server" lines off a one-line CLI answer.

    Without a configured Prefect API, loading a block starts Prefect's temporary local server,
    which announces itself at INFO; a failure is still raised (and a warning still shown).
    """
    logger_ = logging.getLogger("prefect")
    level = logger_.level
    logger_.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger_.setLevel(level)


def load_settings(
    *,
    secret_block: str | None = DEFAULT_SECRET_BLOCK,
    base_url: str | None = None,
    credentials_block: str | None = None,
) -> BrevoSettings:
    """The settings of :func:`resolve_settings`, without their source."""
    settings, _ = resolve_settings(
        credentials_block=credentials_block, secret_block=secret_block, base_url=base_url
    )
    return settings


def build_client(
    *, secret_block: str | None, base_url: str | None, credentials_block: str | None = None
) -> BrevoClient:
    """The client for one flow run."""
    return load_settings(
        secret_block=secret_block, base_url=base_url, credentials_block=credentials_block
    ).client()


def retry_if_transient(task: object, task_run: object, state: State[Any]) -> bool:
    """A task's ``retry_condition_fn``: retry transient failures only.

    A 4xx answer (a wrong key, an unknown list), bad input or a bad configuration is final:
    waiting and asking again cannot change it, so the run fails at once with its one line.
    The client already retried 429s, 5xx and transport errors within its budget; a connect
    failure (nothing was sent: a wrong base URL, or Brevo unreachable) is final too, after the
    client's own retries, so it is one line in seconds rather than a minute of task retries.
    """
    try:
        state.result()
    except BrevoAPIError as exc:
        return exc.retriable
    except BrevoTransportError as exc:
        return exc.kind != "connect"
    except (BrevoConfigError, InputError):
        return False
    except Exception:  # anything else may be transient
        return True
    return True


# --- Untracked runs (see the module docstring) -----------------------------------------------


class _UntrackedRun:
    """One untracked flow run: its thread pool for ``.map``."""

    def __init__(self, max_workers: int) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="contacts-etl-step"
        )

    def call(self, step: Task[Any, R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        """Call the step's function, retrying as its task options say (Prefect's engine would)."""
        attempt = 0
        while True:
            try:
                return step.fn(*args, **kwargs)
            except Exception as exc:
                if attempt >= step.retries or not _wants_retry(step, exc):
                    raise
                delay = _retry_delay(step, attempt)
                attempt += 1
                logger.info(
                    "%s failed (%s); retry %d/%d in %gs",
                    step.name,
                    type(exc).__name__,
                    attempt,
                    step.retries,
                    delay,
                )
                time.sleep(delay)

    def map(
        self, step: Task[Any, R], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> PrefectFutureList[R]:
        """Call the step once per item, on the run's thread pool, as Prefect's ``.map`` does."""
        parameters = get_call_parameters(step.fn, args, kwargs, apply_defaults=False)
        futures: list[PrefectConcurrentFuture[R]] = []
        for call_parameters in expand_mapping_parameters(step.fn, parameters):
            context = contextvars.copy_context()  # the worker sees this untracked run
            wrapped = self.executor.submit(context.run, self.call, step, (), call_parameters)
            futures.append(PrefectConcurrentFuture(uuid.uuid4(), wrapped))
        # Prefect's own list type (``.result()``, ``.wait()``); mypy takes the abstract
        # ``__next__`` of its Iterator base for missing, as in Prefect's own calls.
        return PrefectFutureList(futures)  # type: ignore[abstract]


def _wants_retry(step: Task[Any, Any], exc: Exception) -> bool:
    condition = step.retry_condition_fn
    if condition is None:
        return True
    # The condition reads the failure from a state, as under Prefect; there is no task run.
    return bool(condition(step, cast("TaskRun", None), Failed(data=exc)))


def _retry_delay(step: Task[Any, Any], attempt: int) -> float:
    delays = step.retry_delay_seconds
    if isinstance(delays, list | tuple):
        return float(delays[min(attempt, len(delays) - 1)]) if delays else 0.0
    return float(delays or 0)


_UNTRACKED: contextvars.ContextVar[_UntrackedRun | None] = contextvars.ContextVar(
    "contacts_etl_untracked_run", default=None
)


class Step(Task[P, R], Generic[P, R]):
    """A Prefect task that is a plain function call inside :func:`run_untracked`."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:  # type: ignore[override]
        run = _UNTRACKED.get()
        if run is None:
            return super().__call__(*args, **kwargs)
        return run.call(self, args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> PrefectFutureList[R]:  # type: ignore[override]
        run = _UNTRACKED.get()
        if run is None:
            return cast(PrefectFutureList[R], super().map(*args, **kwargs))
        return run.map(self, args, kwargs)


def task(**options: Any) -> Callable[[Callable[P, R]], Step[P, R]]:
    """``@prefect.task(**options)`` for the flows' steps, which can also run untracked."""

    def decorate(fn: Callable[P, R]) -> Step[P, R]:
        return Step(fn=fn, **options)

    return decorate


def brevo_task(
    *, retry_delay_seconds: tuple[float, float] = (2, 10)
) -> Callable[[Callable[P, R]], Step[P, R]]:
    """A step that calls Brevo: not cached (it takes a live client), retried twice on transient
    failures only (:func:`retry_if_transient`), after ``retry_delay_seconds``."""
    return task(
        cache_policy=NO_CACHE,
        retries=2,
        retry_delay_seconds=list(retry_delay_seconds),
        retry_condition_fn=retry_if_transient,
    )


def get_run_logger() -> logging.Logger | LoggingAdapter:
    """Prefect's run logger in a Prefect run; the ``flows.runs`` logger otherwise."""
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return logging.getLogger(RUN_LOGGER)
    return _prefect_run_logger()


def create_markdown_artifact(*, key: str, markdown: str, description: str | None = None) -> None:
    """A markdown artifact of the run (skipped in an untracked run: no API keeps it)."""
    if _UNTRACKED.get() is not None:
        logger.debug("artifact %s not kept: untracked run", key)
        return
    _prefect_markdown_artifact(key=key, markdown=markdown, description=description)


def create_table_artifact(
    *,
    key: str,
    table: list[dict[str, Any]] | dict[str, list[Any]] | list[list[Any]],
    description: str | None = None,
) -> None:
    """A table artifact of the run (skipped in an untracked run: no API keeps it)."""
    if _UNTRACKED.get() is not None:
        logger.debug("artifact %s not kept: untracked run", key)
        return
    _prefect_table_artifact(key=key, table=table, description=description)


def prefect_api_configured() -> bool:
    """True when ``PREFECT_API_URL`` is set (environment or Prefect profile)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


_PREFECT_HELPERS = {
    id(obj): name
    for name, obj in (
        ("prefect.task", __import__("prefect").task),
        ("prefect.get_run_logger", _prefect_run_logger),
        ("prefect.artifacts.create_markdown_artifact", _prefect_markdown_artifact),
        ("prefect.artifacts.create_table_artifact", _prefect_table_artifact),
    )
}


def untracked_blockers(flow: Flow[Any, Any]) -> list[str]:
    """What in the flow's module needs a Prefect run (empty: it can run untracked).

    A module that still takes ``task``, ``get_run_logger`` or the artifact functions from
    Prefect, or holds a plain Prefect task, would need the API from inside an untracked run.
    """
    module = sys.modules[flow.fn.__module__]
    blockers = []
    for name, value in vars(module).items():
        if id(value) in _PREFECT_HELPERS:
            blockers.append(f"{name} is {_PREFECT_HELPERS[id(value)]}")
        elif isinstance(value, Task) and not isinstance(value, Step):
            blockers.append(f"{name} is a plain Prefect task")
    return blockers


def run_untracked(
    flow: Flow[P, R], parameters: Mapping[str, Any], *, max_workers: int | None = None
) -> R:
    """Run ``flow``'s function with ``parameters``, without a Prefect API or server.

    Parameters are validated and coerced as Prefect does for a flow run. ``.map`` runs on a
    pool of ``max_workers`` threads (default: as the flows' thread-pool task runner).

    Raises:
        RuntimeError: the flow's module needs a Prefect run (see :func:`untracked_blockers`).
    """
    blockers = untracked_blockers(flow)
    if blockers:
        raise RuntimeError(f"{flow.name} cannot run untracked: {'; '.join(blockers)}")
    validated = flow.validate_parameters(dict(parameters))
    run = _UntrackedRun(max_workers or max(2, os.cpu_count() or 2))
    token = _UNTRACKED.set(run)
    finished = False
    function: Callable[..., R] = flow.fn
    try:
        result = function(**validated)
        finished = True
        return result
    finally:
        _UNTRACKED.reset(token)
        # On a failure or an interrupt, steps not started are dropped, not waited for.
        run.executor.shutdown(wait=finished, cancel_futures=not finished)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A small markdown table (artifacts and the CLI share it)."""
    if not rows:
        return "_none_"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(r.get(h, "")) for h in headers) + " |" for r in rows]
    return "\n".join(lines)


STALE_WORK_DIR_S = 6 * 3600


def clean_stale_work_dirs(
    state_dir: Path, prefix: str, *, older_than_s: float = STALE_WORK_DIR_S
) -> int:
    """Remove work folders a killed run left behind (they hold chunk or export files).

    A folder is stale when nothing in it changed for ``older_than_s``; a run in progress keeps
    touching its own. Returns how many were removed.
    """
    removed = 0
    if not state_dir.is_dir():
        return 0
    now = time.time()
    for folder in state_dir.glob(f"{prefix}*"):
        if not folder.is_dir():
            continue
        newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
        if now - max(newest, folder.stat().st_mtime) > older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
