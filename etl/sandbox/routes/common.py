"""What every handler shares: the ``Context`` it works on, JSON responses, request parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from etl.sandbox.config import ConfigStore
from etl.sandbox.errors import ApiError, invalid, out_of_range
from etl.sandbox.processes import ProcessRunner
from etl.sandbox.state import Account
from etl.sandbox.values import parse_moment

EXPORT_PREFIX = "/exports/"


@dataclass(slots=True)
class Context:
    """What a ``/v3`` handler may use: the account, the live config, the process runner,
    the directory served files live in and the root URL links are built on."""

    account: Account
    config: ConfigStore
    runner: ProcessRunner
    files_dir: Path
    root_url: str = "http://127.0.0.1"

    def url(self, path: str) -> str:
        """An absolute URL for a sandbox path (other strings pass through)."""
        return self.root_url + path if path.startswith("/") else path


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    """Brevo's ``{code, message}`` body for an ``ApiError``."""
    resp = json_response(error.body(), error.status)
    for key, value in error.headers.items():
        resp.headers[key] = value
    return resp


def json_body(raw: bytes) -> Any:
    """The request body as JSON (400 when missing or malformed)."""
    if not raw.strip():
        raise ApiError(400, "bad_request", "Request body is missing")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_request", "Input must be a valid JSON object") from exc


def object_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object (400 otherwise)."""
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Input must be a valid JSON object")
    return body


def q_int(req: Request, name: str, *, default: int, maximum: int | None = None) -> int:
    """A non-negative integer query parameter (at most ``maximum``)."""
    raw = req.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid(f"{name} must be an integer") from exc
    if value < 0 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise out_of_range(f"{name} must be at least 0{bound}")
    return value


def q_sort(req: Request) -> str:
    """The ``sort`` query parameter: ``asc`` or ``desc`` (the default)."""
    sort = req.args.get("sort", "desc") or "desc"
    if sort not in ("asc", "desc"):
        raise invalid("sort must be asc or desc")
    return sort


def q_moment(req: Request, name: str) -> str | None:
    """A UTC date-time query parameter, in stored form."""
    raw = req.args.get(name)
    if raw is None or raw == "":
        return None
    moment = parse_moment(raw)
    if moment is None:
        raise invalid(f"{name} must be a UTC date-time (YYYY-MM-DDTHH:mm:ss.SSSZ)")
    return moment


def path_int(value: str, label: str) -> int:
    """An integer path segment (400 otherwise)."""
    if not value.isdigit():
        raise invalid(f"{label} is invalid")
    return int(value)


def ints(value: Any, key: str) -> list[int]:
    """An optional array of integers from a JSON body."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise invalid(f"{key} must be an array of integers")
    return list(value)


def check_bools(body: dict[str, Any], *keys: str) -> None:
    """400 when one of ``keys`` is present, not null and not a boolean."""
    for key in keys:
        if key in body and body[key] is not None and not isinstance(body[key], bool):
            raise invalid(f"{key} must be a boolean")
