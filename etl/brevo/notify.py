"""A small HTTP receiver for Brevo's ``notifyUrl`` callbacks.

Brevo POSTs to ``notifyUrl`` when an import or export ends, but the callback carries no process
id (often an empty body, sometimes v2-style form fields). So each waiter registers its own
ticket, whose URL carries an unguessable token; a POST with that token wakes that waiter at once,
and polling ``GET /processes/{id}`` stays the source of truth. A wrong or missing token gets 403;
a body over ``max_body_bytes`` gets 413 and nothing is recorded.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
_PREFIX = "/notify/"
_DRAIN_LIMIT = 1 << 20


@dataclass(eq=False)
class NotifyTicket:
    """One registered callback: give ``url`` to Brevo as ``notifyUrl``, wait on ``event``.

    Attributes:
        url: the callback URL, carrying the ticket's token.
        event: set when a callback with the token arrives.
        payloads: the body of every callback received (``{}`` for an empty one).
    """

    url: str
    event: threading.Event = field(default_factory=threading.Event)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:
        # The token is a capability: keep it out of logs that print the ticket.
        base = self.url.rsplit("/", 1)[0]
        return f"NotifyTicket(url='{base}/…', calls={len(self.payloads)})"

    def _record(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.payloads.append(payload)
        self.event.set()


def _parse_payload(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    text = body.decode("utf-8", errors="replace")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or (not kind and "=" in text):
        fields = parse_qs(text, keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_json": value}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: NotifyReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, token included; log nothing that carries it.
        return

    def _reply(self, status: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _drain(self, length: int | None) -> None:
        if length:
            self.rfile.read(min(length, _DRAIN_LIMIT))

    def _read_chunked(self, limit: int) -> bytes | None:
        """Read a chunked body; None once it exceeds ``limit``."""
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if len(out) + size > limit:
                return None
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        path = urlsplit(self.path).path
        token = path[len(_PREFIX) :] if path.startswith(_PREFIX) else ""
        ticket = receiver._ticket_for(token)
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else None
        except ValueError:
            self._reply(400, "bad Content-Length")
            return
        if ticket is None:
            logger.warning("notify callback refused: wrong or missing token")
            self._drain(length)
            self._reply(403, "forbidden")
            return
        limit = receiver.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            try:
                body = self._read_chunked(limit)
            except ValueError:
                self._reply(400, "bad chunked body")
                return
        elif length is not None and length > limit:
            self._drain(length)
            body = None
        else:
            body = self.rfile.read(length) if length else b""
        if body is None:
            logger.warning("notify callback refused: body over %d bytes", limit)
            self._reply(413, "payload too large")
            return
        payload = _parse_payload(body, self.headers.get("Content-Type") or "")
        ticket._record(payload)
        logger.info("notify callback received (%d bytes)", len(body))
        self._reply(200, "ok")

    def _refuse_method(self) -> None:
        self._reply(405, "method not allowed")

    do_GET = do_PUT = do_DELETE = do_PATCH = _refuse_method


class NotifyReceiver:
    """Threaded HTTP receiver of notify callbacks; binds 127.0.0.1 on a free port by default."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_base_url: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """Configure (not start) the receiver.

        Args:
            host: interface to bind.
            port: port to bind; 0 picks a free one.
            public_base_url: base URL Brevo should call (e.g. behind a tunnel); default is the
                bound address.
            max_body_bytes: larger callbacks are refused with 413.
        """
        self.host = host
        self.port = port
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.max_body_bytes = max_body_bytes
        self._tickets: dict[str, NotifyTicket] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"NotifyReceiver(base_url={self.base_url!r}, tickets={len(self._tickets)})"

    @property
    def base_url(self) -> str | None:
        """Base of the callback URLs (None until started, unless ``public_base_url`` is set)."""
        if self.public_base_url:
            return self.public_base_url
        if self._server is None:
            return None
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread (no-op when running)."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.receiver = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"notify-receiver-{self.port}",
        )
        self._thread.start()
        logger.info("notify receiver listening on %s", self.base_url)

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> NotifyReceiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def register(self) -> NotifyTicket:
        """Create a ticket with a fresh unguessable token (starts the receiver if needed)."""
        self.start()
        token = secrets.token_urlsafe(32)
        ticket = NotifyTicket(url=f"{self.base_url}{_PREFIX}{token}")
        with self._lock:
            self._tickets[token] = ticket
        return ticket

    def unregister(self, ticket: NotifyTicket) -> None:
        """Forget a ticket; later callbacks with its token get 403."""
        with self._lock:
            for token, known in list(self._tickets.items()):
                if known is ticket:
                    del self._tickets[token]

    def _ticket_for(self, token: str) -> NotifyTicket | None:
        if not token:
            return None
        with self._lock:
            for known, ticket in self._tickets.items():
                if secrets.compare_digest(known, token):
                    return ticket
        return None
