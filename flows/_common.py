"""What every flow shares: building the client at the boundary, and artifacts."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.blocks.system import Secret
from prefect.client.schemas.objects import State

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoAPIError, BrevoConfigError
from etl.errors import InputError
from etl.settings import DEFAULT_SECRET_BLOCK, BrevoSettings

logger = logging.getLogger(__name__)


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
    The client already retried 429s, 5xx and transport errors within its budget.
    """
    try:
        state.result()
    except BrevoAPIError as exc:
        return exc.retriable
    except (BrevoConfigError, InputError):
        return False
    except Exception:  # anything else may be transient
        return True
    return True


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
