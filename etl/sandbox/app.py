"""The sandbox's WSGI application: the URL map, dispatch, faults, auth, rate limits and the
request log. The handlers live in ``etl.sandbox.routes`` (Brevo v3 by resource, the
``/_sandbox/`` admin API, export files).

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

import hashlib
import logging
import os
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
from werkzeug.wrappers import Request, Response

from etl.sandbox.config import ConfigStore, SandboxConfig
from etl.sandbox.errors import ApiError
from etl.sandbox.faults import Fault, FaultSet
from etl.sandbox.processes import ProcessRunner
from etl.sandbox.profiles import DEFAULT_PROFILE, default_account
from etl.sandbox.ratelimit import RateLimiter
from etl.sandbox.routes import (
    account,
    admin,
    attributes,
    contacts,
    files,
    folders,
    imports_exports,
    lists,
    processes,
    segments,
)
from etl.sandbox.routes.common import EXPORT_PREFIX, Context, error_response, json_response
from etl.sandbox.state import Account
from etl.sandbox.values import utc_now_iso

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

MAX_LOG = 100_000
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
# No authoritative Brevo 429 body is known (docs/brevo/FACTS.md section 2) and the spec's errorModel code
# is a closed enum with no rate-limit entry: the sandbox answers the nearest one, out_of_range
# (the request count is out of the allowed range). Clients should key on the 429 status.
RATE_LIMITED_BODY = {"code": "out_of_range", "message": "Too many requests: rate limit exceeded"}

ApiHandler = Callable[..., Response]  # (ctx, request, body, **path args)
AdminHandler = Callable[..., Response]  # (app, request, body, **path args)


def _rule(path: str, handler: Callable[..., Response], *methods: str) -> Rule:
    return Rule(path, endpoint=handler, methods=list(methods))


API_ROUTES = Map(
    [
        _rule("/v3/contacts", contacts.handle_contacts, "GET", "POST"),
        _rule("/v3/contacts/import", imports_exports.handle_import, "POST"),
        _rule("/v3/contacts/export", imports_exports.handle_export, "POST"),
        _rule("/v3/contacts/attributes", attributes.handle_attributes, "GET"),
        _rule(
            "/v3/contacts/attributes/<category>/<name>",
            attributes.handle_attribute,
            "POST",
            "DELETE",
        ),
        _rule("/v3/contacts/folders", folders.handle_folders, "GET", "POST"),
        _rule("/v3/contacts/folders/<folder_id>", folders.handle_folder, "GET", "PUT", "DELETE"),
        _rule("/v3/contacts/folders/<folder_id>/lists", folders.handle_folder_lists, "GET"),
        _rule("/v3/contacts/lists", lists.handle_lists, "GET", "POST"),
        _rule("/v3/contacts/lists/<list_id>", lists.handle_list, "GET", "PUT", "DELETE"),
        _rule("/v3/contacts/lists/<list_id>/contacts", lists.handle_list_contacts, "GET"),
        _rule("/v3/contacts/lists/<list_id>/contacts/add", lists.handle_list_add, "POST"),
        _rule("/v3/contacts/lists/<list_id>/contacts/remove", lists.handle_list_remove, "POST"),
        _rule("/v3/contacts/segments", segments.handle_segments, "GET"),
        _rule("/v3/contacts/batch", contacts.handle_batch, "POST"),
        _rule("/v3/contacts/<path:identifier>", contacts.handle_contact, "GET", "PUT", "DELETE"),
        _rule("/v3/processes", processes.handle_processes, "GET"),
        _rule("/v3/processes/<process_id>", processes.handle_process, "GET"),
        _rule("/v3/account", account.handle_account, "GET"),
    ]
)
ADMIN_ROUTES = Map(
    [
        _rule("/_sandbox/reset", admin.handle_reset, "POST"),
        _rule("/_sandbox/faults", admin.handle_faults, "GET", "POST", "DELETE"),
        _rule("/_sandbox/config", admin.handle_config, "GET", "POST"),
        _rule("/_sandbox/events", admin.handle_events, "POST"),
        _rule("/_sandbox/segments", admin.handle_segments, "POST"),
        _rule("/_sandbox/requests", admin.handle_requests, "GET", "DELETE"),
        _rule("/_sandbox/notifications", admin.handle_notifications, "GET"),
    ]
)


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
        self.ctx = Context(
            account=self.account, config=self.config, runner=self.runner, files_dir=files_dir
        )
        self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._log_lock = threading.Lock()

    @property
    def root_url(self) -> str:
        """The base of absolute links (export URLs); the server sets it once it has a port."""
        return self.ctx.root_url

    @root_url.setter
    def root_url(self, value: str) -> None:
        self.ctx.root_url = value

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
        self.clear_requests_log()
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

    def clear_requests_log(self) -> None:
        """Forget the recorded requests."""
        with self._log_lock:
            self._log.clear()

    def seed_events(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Record campaign events (same body as ``POST /_sandbox/events``)."""
        return admin.seed_events(self.account, raw)

    def create_segment(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Create a segment from emails (same body as ``POST /_sandbox/segments``)."""
        return admin.create_segment(self.account, raw)

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
            return files.download(self.ctx, request)
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
        adapter = API_ROUTES.bind("sandbox", path_info=path)
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
        handler: ApiHandler = endpoint
        try:
            resp = handler(self.ctx, request, body, **args)
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
        adapter = ADMIN_ROUTES.bind("sandbox", path_info=request.path)
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
        except MethodNotAllowed:
            return json_response(
                {"code": "method_not_allowed", "message": f"{request.method} not allowed"}, 405
            )
        except NotFound:
            return json_response({"code": "document_not_found", "message": "Not found"}, 404)
        admin_handler: AdminHandler = endpoint
        try:
            return admin_handler(self, request, request.get_data(), **args)
        except ApiError as error:
            return error_response(error)
