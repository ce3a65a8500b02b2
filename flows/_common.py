"""What every flow shares: building the client at the boundary, and artifacts."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from prefect.blocks.system import Secret

from etl.brevo.client import BrevoClient
from etl.settings import DEFAULT_SECRET_BLOCK, BrevoSettings

logger = logging.getLogger(__name__)


def load_settings(
    *, secret_block: str | None = DEFAULT_SECRET_BLOCK, base_url: str | None = None
) -> BrevoSettings:
    """Settings from the environment, the key from a Prefect Secret block when one exists.

    The block wins over ``BREVO_API_KEY`` so deployments never need the key in their
    environment; the key is never a flow parameter, so it never lands in the Prefect database.
    """
    settings = BrevoSettings()
    if base_url:
        settings = settings.model_copy(update={"base_url": base_url})
    if secret_block:
        try:
            # ``_sync`` is consumed by Prefect's async_dispatch wrapper, so it is missing from
            # the typed signature, which also still offers the async branch's coroutine.
            block = Secret.load(secret_block, _sync=True)  # type: ignore[call-arg]
        except ValueError:
            block = None  # no such block: fall back to the environment
        value = block.get() if isinstance(block, Secret) else None
        if value:
            settings = settings.with_key(str(value))
    return settings


def build_client(*, secret_block: str | None, base_url: str | None) -> BrevoClient:
    """The client for one flow run."""
    return load_settings(secret_block=secret_block, base_url=base_url).client()


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
