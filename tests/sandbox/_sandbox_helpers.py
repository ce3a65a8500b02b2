"""Helpers for the sandbox's semantic tests: a plain-``requests`` API handle and loopback servers.

Deliberately not ``etl.brevo.client``: the sandbox is tested as any outside client sees it.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from etl.sandbox.server import SandboxServer

FAST = {"process_delay_s": 0.02, "contacts_rps": 100_000, "other_rph": 100_000}
# The profiles (etl/sandbox/profiles.py): ``sandbox.configure(**SPEC, **FAST)``.
MINIMAL = {"profile": "minimal"}
SPEC = {"profile": "spec-2026-02"}


class Api:
    """``requests`` against one sandbox, with the key set; paths are relative to ``/v3``."""

    def __init__(self, sandbox: SandboxServer, *, key: str | None = None) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers["api-key"] = key if key is not None else sandbox.api_key

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        base = self.sandbox.root_url if path.startswith("/_sandbox") else self.sandbox.url
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # ------------------------------------------------------------------ shortcuts

    def ok(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        assert resp.status_code == status, (resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def new_list(self, name: str = "L") -> int:
        folder = self.ok("POST", "/contacts/folders", 201, json={"name": f"{name}-folder"})["id"]
        return int(
            self.ok("POST", "/contacts/lists", 201, json={"name": name, "folderId": folder})["id"]
        )

    def attribute(self, category: str, name: str, **body: Any) -> None:
        self.ok("POST", f"/contacts/attributes/{category}/{name}", 201, json=body)

    def wait(self, process_id: int, *, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            proc = self.ok("GET", f"/processes/{process_id}", 200)
            if proc["status"] in ("completed", "failed", "cancelled"):
                return dict(proc)
            assert time.monotonic() < deadline, f"process {process_id} still {proc['status']}"
            time.sleep(0.01)

    def import_(self, **body: Any) -> dict[str, Any]:
        process_id = self.ok("POST", "/contacts/import", 202, json=body)["processId"]
        proc = self.wait(process_id)
        assert proc["status"] == "completed", proc
        return proc

    def export(self, **body: Any) -> tuple[dict[str, Any], bytes]:
        process_id = self.ok("POST", "/contacts/export", 202, json=body)["processId"]
        proc = self.wait(process_id)
        assert proc["status"] == "completed", proc
        resp = requests.get(proc["export_url"], timeout=30)
        assert resp.status_code == 200, resp.text
        return proc, resp.content

    def export_rows(self, **body: Any) -> list[dict[str, str]]:
        return read_csv(self.export(**body)[1])

    def export_emails(self, **body: Any) -> set[str]:
        return {row["EMAIL"] for row in self.export_rows(**body)}

    def contact(self, identifier: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/contacts/{identifier}", 200))


def read_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of a ``;`` CSV export."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter=";"))


def read_zip(data: bytes) -> dict[str, list[dict[str, str]]]:
    """The CSV parts of a ``skipFilesMerge`` export."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: read_csv(archive.read(name)) for name in sorted(archive.namelist())}


@dataclass
class Received:
    """One request a loopback receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server: records POSTs, serves ``files``, fails the first ``fail`` POSTs."""

    url: str
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    fail: int = 0
    event: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Run a ``Receiver`` on an ephemeral loopback port."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            found = state.files.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.received.append(Received("POST", self.path, dict(self.headers), body))
            status = 500 if state.fail > 0 else 200
            state.fail -= 1
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
