"""``GET /processes`` and ``GET /processes/{id}``, in the configured spelling."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from etl.sandbox.config import SandboxConfig
from etl.sandbox.errors import ApiError, invalid
from etl.sandbox.processes import RUNNING
from etl.sandbox.routes.common import Context, json_response, q_int, q_sort


def handle_processes(ctx: Context, req: Request, body: bytes) -> Response:
    """``GET /processes``: a page of processes."""
    count, records = ctx.account.processes.rows(
        limit=q_int(req, "limit", default=10, maximum=50),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
    )
    return json_response({"processes": [process_wire(ctx, r) for r in records], "count": count})


def handle_process(ctx: Context, req: Request, body: bytes, process_id: str) -> Response:
    """``GET /processes/{id}``."""
    if not process_id.isdigit():
        raise invalid("processId is invalid")
    _, records = ctx.account.processes.rows(process_id=int(process_id))
    if not records:
        # The spec's own example for an unknown id.
        raise ApiError(404, "invalid_parameter", "processId is invalid")
    return json_response(process_wire(ctx, records[0]))


def process_wire(ctx: Context, record: dict[str, Any]) -> dict[str, Any]:
    """A process as ``GET /processes[/{id}]`` shows it, in the configured spelling."""
    cfg = ctx.config.current
    status = record["status"]
    if status == RUNNING:
        status = "in_process" if cfg.statuses == "2025" else "processing"
    out: dict[str, Any] = {"id": record["id"], "status": status, "name": record["name"]}
    if record["export_url"]:
        url = ctx.url(record["export_url"])
        if cfg.export_url == "anchor":
            name = url.rsplit("/", 1)[-1]
            url = f'<a href="{url}" target="_blank">{name}</a>'
        out["export_url"] = url
    info = _info_wire(record["info"], cfg)
    if info:
        out["info"] = {
            group: {k: (ctx.url(v) if isinstance(v, str) else v) for k, v in values.items()}
            for group, values in info.items()
        }
    if not cfg.process_times:
        return out  # docs/brevo/FACTS.md F2: no created_at, completed_at or error
    out["created_at"] = record["created_at"]
    if record["completed_at"]:
        out["completed_at"] = record["completed_at"]
    if record["error"]:
        out["error"] = record["error"]
    return out


def _info_wire(info: dict[str, Any] | None, cfg: SandboxConfig) -> dict[str, Any]:
    """The ``info`` groups config ``import_info`` / ``export_info`` show (docs/brevo/FACTS.md F3)."""
    if not info:
        return {}
    links = info.get("import_links")
    if cfg.import_info == "links":
        kept = {"import": links} if links is not None else {}
    else:
        kept = {k: v for k, v in info.items() if k not in ("export", "import_links")}
    if cfg.export_info and "export" in info:
        kept["export"] = info["export"]
    return kept
