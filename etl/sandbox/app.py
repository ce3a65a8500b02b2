"""The sandbox's WSGI application: Brevo v3 routes, the ``/_sandbox/`` admin API, export files.

Order of work for a ``/v3`` request: scripted faults that fire ``before`` (a 5xx, a reset or a
delay in front of everything, as a load balancer would), then authentication (``api-key``),
then the rate limit of the endpoint's family, then the handler, then faults that fire
``after``. Every ``/v3`` response carries the ``x-sib-ratelimit-*`` headers. Export files are
served under ``/exports/{token}/{name}`` without the key (like a presigned S3 URL); faults
apply to them too, the key and the rate limits don't. ``/_sandbox/`` needs the key and is
neither faulted, rate-limited nor recorded.

``GET /_sandbox/requests`` records every ``/v3`` and ``/exports`` request: ``processed`` is
true when the request got past faults, authentication and the rate limit and its handler ran
(whatever the handler answered); false when a fault, a 401 or a 429 answered first.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from etl.sandbox.batch import parse_batch
from etl.sandbox.config import ConfigStore, SandboxConfig
from etl.sandbox.errors import ApiError, invalid, missing, not_found, out_of_range
from etl.sandbox.exporter import parse_export_request, run_export
from etl.sandbox.faults import Fault, FaultSet
from etl.sandbox.importer import (
    ImportReport,
    apply_batch,
    fetch_url,
    import_info,
    iter_csv_batches,
    iter_json_batches,
    parse_import_request,
)
from etl.sandbox.processes import RUNNING, JobFailed, JobResult, ProcessRunner
from etl.sandbox.profiles import DEFAULT_PROFILE, account_wire, default_account
from etl.sandbox.ratelimit import RateLimiter
from etl.sandbox.state import IDENTIFIER_TYPES, Account
from etl.sandbox.values import INVALID, parse_moment, utc_now_iso

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

EXPORT_PREFIX = "/exports/"
MAX_LOG = 100_000
MAX_LIST_BATCH = 150
EMAIL_EVENTS = (
    "delivered",
    "open",
    "click",
    "hardBounce",
    "softBounce",
    "unsubscribe",
    "spam",
    "listUnsubscribe",
)
RESERVED_CONTACT_PATHS = frozenset(
    {"import", "export", "attributes", "folders", "lists", "segments", "batch"}
)
SMS_EVENTS = ("delivered", "hardBounce", "softBounce", "unsubscribe")
_FILTER = re.compile(r"^\s*equals\(\s*([A-Za-z0-9_]+)\s*,\s*(.*?)\s*\)\s*$", re.S)
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    402: "not_enough_credits",
    403: "permission_denied",
    404: "document_not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    422: "unprocessable_entity",
    429: "out_of_range",
}
# No authoritative Brevo 429 body is known (FACTS.md section 2) and the spec's errorModel code
# is a closed enum with no rate-limit entry: the sandbox answers the nearest one, out_of_range
# (the request count is out of the allowed range). Clients should key on the 429 status.
RATE_LIMITED_BODY = {"code": "out_of_range", "message": "Too many requests: rate limit exceeded"}

Handler = Callable[..., Response]


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    """Brevo's ``{code, message}`` body for an ``ApiError``."""
    resp = json_response(error.body(), error.status)
    for key, value in error.headers.items():
        resp.headers[key] = value
    return resp


def _rule(path: str, endpoint: str, *methods: str) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


ROUTES = Map(
    [
        _rule("/v3/contacts", "contacts", "GET", "POST"),
        _rule("/v3/contacts/import", "import", "POST"),
        _rule("/v3/contacts/export", "export", "POST"),
        _rule("/v3/contacts/attributes", "attributes", "GET"),
        _rule("/v3/contacts/attributes/<category>/<name>", "attribute", "POST", "DELETE"),
        _rule("/v3/contacts/folders", "folders", "GET", "POST"),
        _rule("/v3/contacts/folders/<folder_id>", "folder", "GET", "PUT", "DELETE"),
        _rule("/v3/contacts/folders/<folder_id>/lists", "folder_lists", "GET"),
        _rule("/v3/contacts/lists", "lists", "GET", "POST"),
        _rule("/v3/contacts/lists/<list_id>", "list", "GET", "PUT", "DELETE"),
        _rule("/v3/contacts/lists/<list_id>/contacts", "list_contacts", "GET"),
        _rule("/v3/contacts/lists/<list_id>/contacts/add", "list_add", "POST"),
        _rule("/v3/contacts/lists/<list_id>/contacts/remove", "list_remove", "POST"),
        _rule("/v3/contacts/segments", "segments", "GET"),
        _rule("/v3/contacts/batch", "batch", "POST"),
        _rule("/v3/contacts/<path:identifier>", "contact", "GET", "PUT", "DELETE"),
        _rule("/v3/processes", "processes", "GET"),
        _rule("/v3/processes/<process_id>", "process", "GET"),
        _rule("/v3/account", "account", "GET"),
        _rule("/_sandbox/reset", "admin_reset", "POST"),
        _rule("/_sandbox/faults", "admin_faults", "GET", "POST", "DELETE"),
        _rule("/_sandbox/config", "admin_config", "GET", "POST"),
        _rule("/_sandbox/events", "admin_events", "POST"),
        _rule("/_sandbox/segments", "admin_segments", "POST"),
        _rule("/_sandbox/requests", "admin_requests", "GET", "DELETE"),
        _rule("/_sandbox/notifications", "admin_notifications", "GET"),
    ]
)


# ---------------------------------------------------------------------------- request helpers


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise ApiError(400, "bad_request", "Request body is missing")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_request", "Input must be a valid JSON object") from exc


def _object(raw: bytes) -> dict[str, Any]:
    body = _json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Input must be a valid JSON object")
    return body


def _q_int(req: Request, name: str, *, default: int, maximum: int | None = None) -> int:
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


def _q_sort(req: Request) -> str:
    sort = req.args.get("sort", "desc") or "desc"
    if sort not in ("asc", "desc"):
        raise invalid("sort must be asc or desc")
    return sort


def _q_moment(req: Request, name: str) -> str | None:
    raw = req.args.get(name)
    if raw is None or raw == "":
        return None
    moment = parse_moment(raw)
    if moment is None:
        raise invalid(f"{name} must be a UTC date-time (YYYY-MM-DDTHH:mm:ss.SSSZ)")
    return moment


def _path_int(value: str, label: str) -> int:
    if not value.isdigit():
        raise invalid(f"{label} is invalid")
    return int(value)


def _ints(value: Any, key: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise invalid(f"{key} must be an array of integers")
    return list(value)


def _check_bools(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in body and body[key] is not None and not isinstance(body[key], bool):
            raise invalid(f"{key} must be a boolean")


# ---------------------------------------------------------------------------- the app


class SandboxApp:
    """The sandbox: account, config, faults, rate limits, processes and the WSGI entry point."""

    def __init__(
        self,
        *,
        api_key: str,
        db_path: str | Path | None,
        files_dir: Path,
        profile: str = DEFAULT_PROFILE,
        account_email: str | None = None,
    ) -> None:
        self._api_key = api_key
        identity = default_account(api_key, profile=profile, email=account_email)
        self.config = ConfigStore(profile=profile, account=identity)
        self.account = Account(db_path, self.config)
        self.faults = FaultSet()
        self.limiter = RateLimiter(self._limits)
        self.runner = ProcessRunner(self.account, self.config)
        self.files_dir = files_dir
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.root_url = "http://127.0.0.1"
        self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._log_lock = threading.Lock()

    def _limits(self) -> dict[str, int]:
        cfg = self.config.current
        return {"contacts": cfg.contacts_rps, "other": cfg.other_rph}

    # ------------------------------------------------------------------ admin operations

    def reset(self) -> None:
        """Empty the account; clear faults, config, rate-limit counters and the request log."""
        self.account.reset()
        self.faults.clear()
        self.faults.reseed(SandboxConfig().seed)
        self.config.reset()
        self.limiter.reset()
        self.runner.clear_notifications()
        with self._log_lock:
            self._log.clear()
        for child in self.files_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Update the config (same keys as ``POST /_sandbox/config``)."""
        config = self.config.update(changes)
        if "seed" in changes:
            self.faults.reseed(config.seed)
        return config.as_dict()

    def add_fault(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Add a fault (same keys as ``POST /_sandbox/faults``)."""
        return self.faults.add(raw).as_dict()

    def requests_log(self) -> list[dict[str, Any]]:
        """Every ``/v3`` and ``/exports`` request received since the last reset."""
        with self._log_lock:
            return [dict(row) for row in self._log]

    def seed_events(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Record campaign events (same body as ``POST /_sandbox/events``)."""
        channel = raw.get("channel", "email")
        if channel not in ("email", "sms"):
            raise invalid("channel must be email or sms")
        event = raw.get("event")
        allowed = EMAIL_EVENTS if channel == "email" else SMS_EVENTS
        if event not in allowed:
            raise invalid(f"event must be one of {', '.join(allowed)}")
        campaign = raw.get("campaign_id")
        list_id = raw.get("list_id")
        if event == "listUnsubscribe":
            if isinstance(list_id, bool) or not isinstance(list_id, int):
                raise missing("list_id is mandatory for listUnsubscribe")
        elif isinstance(campaign, bool) or not isinstance(campaign, int):
            raise missing("campaign_id is mandatory")
        emails = raw.get("emails")
        if (
            not isinstance(emails, list)
            or not emails
            or not all(isinstance(e, str) for e in emails)
        ):
            raise missing("emails must be a non-empty array of strings")
        when = utc_now_iso()
        if raw.get("time") is not None:
            parsed = parse_moment(str(raw["time"]))
            if parsed is None:
                raise invalid("time must be an ISO 8601 date-time")
            when = parsed
        for key in ("ip", "url"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise invalid(f"{key} must be a string")
        unknown_keys = set(raw) - {
            "channel",
            "event",
            "campaign_id",
            "list_id",
            "emails",
            "time",
            "ip",
            "url",
        }
        if unknown_keys:
            raise invalid(f"Unknown keys: {', '.join(sorted(unknown_keys))}")
        recorded, unknown = self.account.record_events(
            channel=channel,
            event=str(event),
            campaign_id=campaign if event != "listUnsubscribe" else None,
            list_id=list_id if event == "listUnsubscribe" else None,
            emails=emails,
            when=when,
            ip=raw.get("ip") or "127.0.0.1",
            url=raw.get("url") or ("https://example.com/" if event == "click" else None),
        )
        return {"recorded": recorded, "unknown": unknown}

    def create_segment(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Create a segment from emails (same body as ``POST /_sandbox/segments``)."""
        name, emails = raw.get("name"), raw.get("emails", [])
        if not isinstance(name, str) or not name.strip():
            raise missing("name is mandatory")
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise invalid("emails must be an array of strings")
        segment_id, unknown = self.account.create_segment(name.strip(), emails)
        return {"id": segment_id, "unknown": unknown}

    def close(self) -> None:
        """Stop the process worker and close the database."""
        self.runner.stop()
        self.account.close()

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            return self._admin(request)(environ, start_response)
        body = request.get_data(cache=True)
        served = path.startswith(("/v3/", EXPORT_PREFIX)) or path == "/v3"
        fired = self.faults.select(request.method, path) if served else []
        entry: dict[str, Any] = {
            "time": utc_now_iso(),
            "method": request.method,
            "path": path,
            "status": None,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "processed": False,
        }
        response: Response | None = None
        later: list[Fault] = []
        for fault in fired:
            if fault.kind == "truncate" or fault.when == "after":
                later.append(fault)
            elif fault.kind == "delay":
                time.sleep(fault.delay_s)
            elif fault.kind == "reset":
                self._record(entry)
                self._abort_connection(environ)
            else:
                response = self._fault_response(fault)
                break
        if response is None:
            response, entry["processed"] = self._dispatch(request, body)
        truncate = False
        for fault in later:
            if fault.kind == "delay":
                time.sleep(fault.delay_s)
            elif fault.kind == "truncate":
                truncate = True
            elif fault.kind == "reset":
                self._record(entry)
                self._abort_connection(environ)
            else:
                response = self._fault_response(fault)
        if path.startswith("/v3") and "x-sib-ratelimit-limit" not in response.headers:
            response.headers.update(self.limiter.hit(path, count=False).headers())
        entry["status"] = response.status_code
        self._record(entry)
        if truncate:
            return self._truncated(response, environ, start_response)
        return response(environ, start_response)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self._log.append(entry)

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.body is not None:
            resp = json_response(fault.body, fault.status)
        else:
            fallback = "internal_error" if fault.status >= 500 else "bad_request"
            code = _STATUS_CODES.get(fault.status, fallback)
            message = f"Sandbox fault: HTTP {fault.status}"
            resp = json_response({"code": code, "message": message}, fault.status)
        for key, value in fault.headers.items():
            resp.headers[key] = value
        return resp

    @staticmethod
    def _abort_connection(environ: WSGIEnvironment) -> None:
        """Reset the TCP connection (RST, no response) and leave werkzeug nothing to write to.

        The connection's descriptor is swapped (``dup2``) for one end of a closed socket pair:
        the TCP socket loses its last reference and, with ``SO_LINGER`` 0, the kernel resets
        it at once, while werkzeug's own later reads see EOF and its writes fail quietly.
        """
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                left, right = socket.socketpair()
                os.dup2(left.fileno(), sock.fileno())
                left.close()
                right.close()
            except OSError:
                logger.debug("could not reset the connection", exc_info=True)
        raise ConnectionResetError("sandbox fault: connection reset")

    @staticmethod
    def _truncated(
        response: Response, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Send the full ``Content-Length`` but only the first half of the body."""
        response.direct_passthrough = False
        chunks = list(response.iter_encoded())
        body = b"".join(chunks)
        headers = [
            (k, v) for k, v in response.headers.to_wsgi_list() if k.lower() != "content-length"
        ]
        headers.append(("Content-Length", str(len(body))))
        start_response(response.status, headers)
        if hasattr(response.response, "close"):
            response.response.close()
        return [body[: len(body) // 2]]

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, request: Request, body: bytes) -> tuple[Response, bool]:
        path = request.path
        if path.startswith(EXPORT_PREFIX):
            return self._download(request)
        if not (path == "/v3" or path.startswith("/v3/")):
            return json_response({"code": "document_not_found", "message": "Not found"}, 404), False
        key = request.headers.get("api-key")
        if not key:
            resp = json_response(
                {"code": "unauthorized", "message": "authentication not found in headers"}, 401
            )
            return resp, False
        if not secrets.compare_digest(key.encode(), self._api_key.encode()):
            return json_response({"code": "unauthorized", "message": "Key not found"}, 401), False
        verdict = self.limiter.hit(path)
        if not verdict.allowed:
            resp = json_response(RATE_LIMITED_BODY, 429)
            resp.headers.update(verdict.headers())
            return resp, False
        adapter = ROUTES.bind("sandbox", path_info=path)
        try:
            endpoint, args = adapter.match(path, method=request.method)
        except MethodNotAllowed:
            resp = json_response(
                {
                    "code": "method_not_allowed",
                    "message": f"{request.method} Method is not allowed on this path",
                },
                405,
            )
            resp.headers.update(verdict.headers())
            return resp, False
        except NotFound:
            resp = json_response({"code": "document_not_found", "message": "Not found"}, 404)
            resp.headers.update(verdict.headers())
            return resp, False
        handler: Handler = getattr(self, f"_h_{endpoint}")
        try:
            resp = handler(request, body, **args)
        except ApiError as error:
            resp = error_response(error)
        resp.headers.update(verdict.headers())
        return resp, True

    def _admin(self, request: Request) -> Response:
        key = request.headers.get("api-key")
        if not key:
            return json_response(
                {"code": "unauthorized", "message": "authentication not found in headers"}, 401
            )
        if not secrets.compare_digest(key.encode(), self._api_key.encode()):
            return json_response({"code": "unauthorized", "message": "Key not found"}, 401)
        adapter = ROUTES.bind("sandbox", path_info=request.path)
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
        except MethodNotAllowed:
            return json_response(
                {"code": "method_not_allowed", "message": f"{request.method} not allowed"}, 405
            )
        except NotFound:
            return json_response({"code": "document_not_found", "message": "Not found"}, 404)
        handler: Handler = getattr(self, f"_h_{endpoint}")
        try:
            return handler(request, request.get_data(), **args)
        except ApiError as error:
            return error_response(error)

    def _download(self, request: Request) -> tuple[Response, bool]:
        parts = request.path[len(EXPORT_PREFIX) :].split("/", 1)
        record = self.account.file_record(parts[0]) if len(parts) == 2 else None
        denied = self.config.current.expired_link_status == 403
        if record is None or record[1] != parts[1] or not record[0].exists():
            if denied:
                return self._access_denied(), False
            return json_response(
                {"code": "document_not_found", "message": "File not found"}, 404
            ), False
        path, name, content_type, expires_at = record
        if time.time() > expires_at:
            if denied:
                return self._access_denied(), False
            return json_response(
                {"code": "document_not_found", "message": "The export link has expired"}, 410
            ), False
        resp = send_file(
            path,
            request.environ,
            mimetype=content_type,
            as_attachment=True,
            download_name=name,
            max_age=0,
        )
        return resp, True

    @staticmethod
    def _access_denied() -> Response:
        """What an expired or missing presigned S3 object answers (FACTS.md F5)."""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            "<Message>Request has expired</Message></Error>"
        )
        return Response(body, status=403, mimetype="application/xml")

    # ------------------------------------------------------------------ rendering

    def _url(self, path: str) -> str:
        return self.root_url + path if path.startswith("/") else path

    def process_wire(self, record: dict[str, Any]) -> dict[str, Any]:
        """A process as ``GET /processes[/{id}]`` shows it, in the configured spelling."""
        cfg = self.config.current
        status = record["status"]
        if status == RUNNING:
            status = "in_process" if cfg.statuses == "2025" else "processing"
        out: dict[str, Any] = {"id": record["id"], "status": status, "name": record["name"]}
        if record["export_url"]:
            url = self._url(record["export_url"])
            if cfg.export_url == "anchor":
                name = url.rsplit("/", 1)[-1]
                url = f'<a href="{url}" target="_blank">{name}</a>'
            out["export_url"] = url
        info = self._info_wire(record["info"], cfg)
        if info:
            out["info"] = {
                group: {k: (self._url(v) if isinstance(v, str) else v) for k, v in values.items()}
                for group, values in info.items()
            }
        if not cfg.process_times:
            return out  # FACTS.md F2: no created_at, completed_at or error
        out["created_at"] = record["created_at"]
        if record["completed_at"]:
            out["completed_at"] = record["completed_at"]
        if record["error"]:
            out["error"] = record["error"]
        return out

    @staticmethod
    def _info_wire(info: dict[str, Any] | None, cfg: SandboxConfig) -> dict[str, Any]:
        """The ``info`` groups config ``import_info`` / ``export_info`` show (FACTS.md F3)."""
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

    # ------------------------------------------------------------------ admin handlers

    def _h_admin_reset(self, req: Request, body: bytes) -> Response:
        self.reset()
        return Response(status=204)

    def _h_admin_faults(self, req: Request, body: bytes) -> Response:
        if req.method == "DELETE":
            self.faults.clear()
            return Response(status=204)
        if req.method == "GET":
            return json_response({"faults": self.faults.as_list()})
        return json_response(self.add_fault(_object(body)), 201)

    def _h_admin_config(self, req: Request, body: bytes) -> Response:
        if req.method == "GET":
            return json_response(self.config.current.as_dict())
        return json_response(self.configure(_object(body)))

    def _h_admin_events(self, req: Request, body: bytes) -> Response:
        return json_response(self.seed_events(_object(body)))

    def _h_admin_segments(self, req: Request, body: bytes) -> Response:
        return json_response(self.create_segment(_object(body)), 201)

    def _h_admin_requests(self, req: Request, body: bytes) -> Response:
        if req.method == "DELETE":
            with self._log_lock:
                self._log.clear()
            return Response(status=204)
        return json_response({"requests": self.requests_log()})

    def _h_admin_notifications(self, req: Request, body: bytes) -> Response:
        return json_response({"notifications": list(self.runner.notifications)})

    # ------------------------------------------------------------------ contacts

    def _h_contacts(self, req: Request, body: bytes) -> Response:
        if req.method == "POST":
            data = _object(body)
            _check_bools(data, "emailBlacklisted", "smsBlacklisted", "updateEnabled")
            _ints(data.get("listIds"), "listIds")
            created = self.account.create_contact(data)
            if created is None:
                return Response(status=204)
            return json_response({"id": created}, 201)
        list_ids: list[int] = []
        for raw in req.args.getlist("listIds") + req.args.getlist("listIds[]"):
            for part in raw.split(","):
                if part.strip():
                    list_ids.append(_path_int(part.strip(), "listIds"))
        segment = req.args.get("segmentId")
        segment_id = _path_int(segment, "segmentId") if segment else None
        if list_ids and segment_id is not None:
            raise invalid("Either listIds or segmentId can be passed, not both")
        count, contacts = self.account.list_contacts(
            limit=_q_int(req, "limit", default=50, maximum=1000),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
            modified_since=_q_moment(req, "modifiedSince"),
            created_since=_q_moment(req, "createdSince"),
            list_ids=list_ids,
            segment_id=segment_id,
            attribute_equals=self._filter(req.args.get("filter")),
        )
        return json_response({"contacts": contacts, "count": count})

    def _filter(self, raw: str | None) -> tuple[str, Any] | None:
        if not raw:
            return None
        match = _FILTER.match(raw)
        if match is None:
            raise invalid('filter must look like equals(ATTRIBUTE,"value")')
        name, value = match.group(1).upper(), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name == "EMAIL":
            return name, value
        attr = self.account.attribute_defs().get(name)
        if attr is None:
            raise invalid(f"Attribute {name} does not exist")
        stored = attr.coercer()(value)
        if stored is INVALID:
            raise invalid(f"Invalid value for {name}")
        return name, stored

    def _identifier_type(self, req: Request) -> str | None:
        raw = req.args.get("identifierType")
        if raw is None or raw == "":
            return None
        if raw not in IDENTIFIER_TYPES:
            raise invalid(f"identifierType must be one of {', '.join(IDENTIFIER_TYPES)}")
        return raw

    def _h_contact(self, req: Request, body: bytes, identifier: str) -> Response:
        if identifier.split("/")[0] in RESERVED_CONTACT_PATHS:
            # /contacts/import etc. are endpoints, never contact identifiers.
            raise ApiError(
                405, "method_not_allowed", f"{req.method} Method is not allowed on this path"
            )
        id_type = self._identifier_type(req)
        if req.method == "GET":
            start, end = req.args.get("startDate"), req.args.get("endDate")
            if (start is None) != (end is None):
                raise invalid("startDate and endDate must be passed together")
            contact_id = self.account.require_contact(identifier, id_type)
            return json_response(self.account.get_contact(contact_id))
        if req.method == "DELETE":
            if id_type is None and "@" not in identifier and not identifier.isdigit():
                raise invalid("Pass an email or a contact id, or use identifierType")
            self.account.delete_contact(self.account.require_contact(identifier, id_type))
            return Response(status=204)
        data = _object(body)
        _check_bools(data, "emailBlacklisted", "smsBlacklisted")
        _ints(data.get("listIds"), "listIds")
        _ints(data.get("unlinkListIds"), "unlinkListIds")
        contact_id = self.account.require_contact(identifier, id_type)
        self.account.update_contact(contact_id, data)
        return Response(status=204)

    # ------------------------------------------------------------------ attributes

    def _h_attributes(self, req: Request, body: bytes) -> Response:
        attrs = [a.as_wire() for a in self.account.attribute_defs().values()]
        return json_response({"attributes": attrs})

    def _h_attribute(self, req: Request, body: bytes, category: str, name: str) -> Response:
        if req.method == "DELETE":
            self.account.delete_attribute(category, name)
            return Response(status=204)
        data = _object(body) if body.strip() else {}
        self.account.create_attribute(category, name, data)
        return Response(status=201)

    # ------------------------------------------------------------------ folders, lists, segments

    def _h_folders(self, req: Request, body: bytes) -> Response:
        if req.method == "POST":
            data = _object(body)
            name = data.get("name")
            if not isinstance(name, str) or not name.strip():
                raise missing("name is mandatory")
            return json_response({"id": self.account.create_folder(name.strip())}, 201)
        count, folders = self.account.list_folders(
            limit=_q_int(req, "limit", default=10, maximum=50),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
        )
        return json_response({"folders": folders, "count": count})

    def _h_folder(self, req: Request, body: bytes, folder_id: str) -> Response:
        fid = _path_int(folder_id, "folderId")
        if req.method == "GET":
            return json_response(self.account.get_folder(fid))
        if req.method == "DELETE":
            self.account.delete_folder(fid)
            return Response(status=204)
        data = _object(body)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise missing("name is mandatory")
        self.account.update_folder(fid, name.strip())
        return Response(status=204)

    def _h_folder_lists(self, req: Request, body: bytes, folder_id: str) -> Response:
        fid = _path_int(folder_id, "folderId")
        if not self.account.folder_exists(fid):
            raise not_found("Folder ID not found")
        count, lists = self.account.list_lists(
            limit=_q_int(req, "limit", default=10, maximum=50),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
            folder_id=fid,
        )
        for item in lists:
            item.pop("folderId", None)
        return json_response({"lists": lists, "count": count})

    def _h_lists(self, req: Request, body: bytes) -> Response:
        if req.method == "POST":
            data = _object(body)
            name, folder = data.get("name"), data.get("folderId")
            if not isinstance(name, str) or not name.strip():
                raise missing("name is mandatory")
            if folder is None:
                raise missing("folderId is mandatory")
            if isinstance(folder, bool) or not isinstance(folder, int):
                raise invalid("folderId must be an integer")
            return json_response({"id": self.account.create_list(name.strip(), folder)}, 201)
        count, lists = self.account.list_lists(
            limit=_q_int(req, "limit", default=10, maximum=50),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
        )
        return json_response({"lists": lists, "count": count})

    def _h_list(self, req: Request, body: bytes, list_id: str) -> Response:
        lid = _path_int(list_id, "listId")
        if req.method == "GET":
            return json_response(self.account.get_list(lid))
        if req.method == "DELETE":
            self.account.delete_list(lid)
            return Response(status=204)
        data = _object(body)
        name, folder = data.get("name"), data.get("folderId")
        if name is not None and folder is not None:
            raise invalid("Either name or folderId can be updated at a time")
        if name is None and folder is None:
            raise missing("name or folderId is mandatory")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise invalid("name must be a non-empty string")
        if folder is not None and (isinstance(folder, bool) or not isinstance(folder, int)):
            raise invalid("folderId must be an integer")
        self.account.update_list(lid, name=name.strip() if name else None, folder_id=folder)
        return Response(status=204)

    def _h_list_contacts(self, req: Request, body: bytes, list_id: str) -> Response:
        lid = _path_int(list_id, "listId")
        if not self.account.list_exists(lid):
            raise not_found("List ID not found")
        count, contacts = self.account.list_contacts(
            limit=_q_int(req, "limit", default=50, maximum=500),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
            modified_since=_q_moment(req, "modifiedSince"),
            list_ids=[lid],
        )
        return json_response({"contacts": contacts, "count": count})

    def _membership_body(self, data: dict[str, Any]) -> tuple[str, list[Any]]:
        given = [k for k in ("emails", "ids", "extIds") if data.get(k) is not None]
        if not given:
            raise missing("One of emails, ids or extIds is mandatory")
        if len(given) > 1:
            raise invalid("Pass only one of emails, ids or extIds")
        field = given[0]
        values = data[field]
        if not isinstance(values, list) or not values:
            raise invalid(f"{field} must be a non-empty array")
        if len(values) > MAX_LIST_BATCH:
            raise out_of_range(f"You can pass a maximum of {MAX_LIST_BATCH} {field} in one request")
        if field == "ids":
            _ints(values, field)
        elif not all(isinstance(v, str) for v in values):
            raise invalid(f"{field} must be an array of strings")
        return field, values

    def _h_list_add(self, req: Request, body: bytes, list_id: str) -> Response:
        lid = _path_int(list_id, "listId")
        field, values = self._membership_body(_object(body))
        success, failure = self.account.change_membership(lid, field=field, values=values, add=True)
        return json_response({"contacts": {"success": success, "failure": failure}}, 201)

    def _h_list_remove(self, req: Request, body: bytes, list_id: str) -> Response:
        """Remove contacts; ``{"all": true}`` starts a process (sandbox name, Brevo's unknown:
        ``REMOVE_CONTACTS_FROM_LIST``) and answers ``{"contacts": {"total", "processId"}}``."""
        lid = _path_int(list_id, "listId")
        data = _object(body)
        if data.get("all") is not None:
            if data["all"] is not True:
                raise invalid("all must be true")
            if any(data.get(k) is not None for k in ("emails", "ids", "extIds")):
                raise invalid("Pass either all or one of emails, ids or extIds")
            if not self.account.list_exists(lid):
                raise not_found("List ID not found")
            total = self.account.list_member_count(lid)
            account = self.account

            def job(process_id: int, generation: int) -> JobResult:
                removed = account.remove_all_from_list(lid, generation)
                return JobResult(info={"remove": {"total": removed}})

            process_id = self.runner.submit("REMOVE_CONTACTS_FROM_LIST", job)
            return json_response({"contacts": {"total": total, "processId": process_id}}, 201)
        field, values = self._membership_body(data)
        success, failure = self.account.change_membership(
            lid, field=field, values=values, add=False
        )
        return json_response({"contacts": {"success": success, "failure": failure}}, 201)

    def _h_segments(self, req: Request, body: bytes) -> Response:
        count, segments = self.account.list_segments(
            limit=_q_int(req, "limit", default=10, maximum=50),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
        )
        return json_response({"segments": segments, "count": count})

    # ------------------------------------------------------------------ import and export

    def _write_rejects(
        self, process_id: int, kind: str, header: list[str], rows: list[list[str]]
    ) -> str | None:
        if not rows:
            return None
        name = f"{Path(kind).name}_{process_id}.csv"
        path = self.files_dir / f"import_{process_id}" / Path(kind).parent / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";", lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        token = secrets.token_urlsafe(24)
        self.account.register_file(
            token=token,
            path=path,
            name=name,
            content_type="text/csv; charset=utf-8",
            expires_at=time.time() + self.config.current.export_link_ttl_s,
        )
        return f"{EXPORT_PREFIX}{token}/{name}"

    def _h_import(self, req: Request, body: bytes) -> Response:
        spec = parse_import_request(_object(body), self.account)
        list_ids = spec.list_ids
        if spec.new_list is not None:
            name, folder = spec.new_list
            list_ids = (*list_ids, self.account.create_list(name, folder))
        account = self.account

        def job(process_id: int, generation: int) -> JobResult:
            text, items = spec.file_body, spec.json_body
            if spec.file_url is not None:
                text, items = fetch_url(spec.file_url)
            report = ImportReport()
            seen: set[str] = set()
            if text is not None:
                batches = iter_csv_batches(text, account, spec, report, seen)
            else:
                batches = iter_json_batches(items or [], account, spec, report, seen)
            first = True
            for batch in batches:
                if first and not {"EMAIL", "SMS"} & {h.strip().upper() for h in report.header}:
                    raise JobFailed("The file has no EMAIL or SMS column")
                first = False
                apply_batch(
                    account,
                    batch,
                    spec=spec,
                    list_ids=list_ids,
                    process_id=process_id,
                    generation=generation,
                    report=report,
                )
            if report.header and not {"EMAIL", "SMS"} & {h.strip().upper() for h in report.header}:
                raise JobFailed("The file has no EMAIL or SMS column")

            def write(kind: str, header: list[str], rows: list[list[str]]) -> str | None:
                return self._write_rejects(process_id, kind, header, rows)

            info = import_info(report, write)
            form = {
                "proc_success": "1",
                "new_emails": str(report.new),
                "emails_exists": str(report.updated + report.untouched),
                "invalid_email": str(len(report.invalid_rows)),
                "duplicates_email": str(len(report.duplicate_rows)),
                "listids": ",".join(str(i) for i in list_ids),
            }
            return JobResult(info=info, notify_form=form)

        process_id = self.runner.submit("IMPORTUSER", job, notify_url=spec.notify_url)
        return json_response({"processId": process_id}, 202)

    def _h_export(self, req: Request, body: bytes) -> Response:
        spec = parse_export_request(_object(body), self.account)
        account = self.account

        def job(process_id: int, generation: int) -> JobResult:
            exported = run_export(
                account,
                spec,
                out_dir=self.files_dir / f"export_{process_id}",
                base_name=f"contacts_export_{process_id}",
                part_rows=self.config.current.export_part_rows,
                generation=generation,
            )
            token = secrets.token_urlsafe(24)
            account.register_file(
                token=token,
                path=exported.path,
                name=exported.name,
                content_type=exported.content_type,
                expires_at=time.time() + self.config.current.export_link_ttl_s,
            )
            url_path = f"{EXPORT_PREFIX}{token}/{exported.name}"
            return JobResult(
                info={"export": {"total_records": exported.total, "file_size": exported.size}},
                export_url=url_path,
                notify_form={"proc_success": "1", "url": self._url(url_path)},
            )

        name = self.config.current.export_process_name
        process_id = self.runner.submit(name, job, notify_url=spec.notify_url)
        return json_response({"processId": process_id}, 202)

    # ------------------------------------------------------------------ processes

    def _h_processes(self, req: Request, body: bytes) -> Response:
        count, records = self.account.process_rows(
            limit=_q_int(req, "limit", default=10, maximum=50),
            offset=_q_int(req, "offset", default=0),
            sort=_q_sort(req),
        )
        return json_response({"processes": [self.process_wire(r) for r in records], "count": count})

    def _h_account(self, req: Request, body: bytes) -> Response:
        """``GET /account``: the configured identity (``POST /_sandbox/config {"account"}``)."""
        return json_response(account_wire(self.config.current.account))

    def _h_batch(self, req: Request, body: bytes) -> Response:
        """``POST /contacts/batch`` (updateBatchContacts): every update, or none, then 204."""
        updates = parse_batch(_object(body), self.account, self.config.current.batch_max_contacts)
        self.account.update_contacts(updates)
        return Response(status=204)

    def _h_process(self, req: Request, body: bytes, process_id: str) -> Response:
        if not process_id.isdigit():
            raise invalid("processId is invalid")
        _, records = self.account.process_rows(process_id=int(process_id))
        if not records:
            # The spec's own example for an unknown id.
            raise ApiError(404, "invalid_parameter", "processId is invalid")
        return json_response(self.process_wire(records[0]))
