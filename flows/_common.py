"""What every flow shares: building the client at the boundary, and artifacts."""

from __future__ import annotations

import logging
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
            value = Secret.load(secret_block, _sync=True).get()  # type: ignore[call-arg]
        except ValueError:
            value = None  # no such block: fall back to the environment
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
