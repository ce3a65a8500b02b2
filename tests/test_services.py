"""Issue 9 services: what listens binds loopback unless told otherwise; the sandbox's fileUrl
fetcher cannot be turned against its own admin API or non-HTTP schemes.

Already covered elsewhere, not repeated here: the notify receiver binds 127.0.0.1 on a free
port, answers 403 to a wrong or missing token and 413 to a body over its limit (also chunked),
and records nothing then (``tests/brevo/test_notify.py``); ``fileUrl`` refuses ``file:``,
``ftp:`` and other schemes and a URL under ``/_sandbox`` (``tests/sandbox/test_sandbox_import.py``).
This file checks every entry point's default bind address, that a non-loopback interface really
cannot reach them, and the ways around the fileUrl guard: redirects and spellings of the path.
"""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from etl.brevo.notify import NotifyReceiver
from etl.imports.publish import LocalFilePublisher
from etl.sandbox.__main__ import main as sandbox_main
from etl.sandbox.server import SandboxServer


def _outside_address() -> str | None:
    """This machine's address on its default route, if it has one that is not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _refused_from_outside(port: int) -> None:
    outside = _outside_address()
    if outside is None:
        return  # no other interface to try
    with pytest.raises(OSError), socket.create_connection((outside, port), timeout=2):
        pass


def test_the_sandbox_binds_loopback_by_default():
    with SandboxServer() as sandbox:
        assert sandbox.host == "127.0.0.1"
        assert sandbox._server.socket.getsockname()[0] == "127.0.0.1"
        assert sandbox.url.startswith("http://127.0.0.1:")
        _refused_from_outside(sandbox.port)
    assert inspect.signature(SandboxServer).parameters["host"].default == "127.0.0.1"


def test_the_sandbox_entry_points_default_to_loopback(monkeypatch):
    from etl.cli.tools import sandbox as cli_sandbox

    host = next(p for p in cli_sandbox.params if p.name == "host")
    assert host.default == "127.0.0.1"
    seen = {}

    class Recorder(SandboxServer):
        def __init__(self, **kw):
            seen.update(kw)
            raise SystemExit(0)

    monkeypatch.setattr("etl.sandbox.__main__.SandboxServer", Recorder)
    with pytest.raises(SystemExit):
        sandbox_main(["--port", "0"])
    assert seen["host"] == "127.0.0.1"


def test_the_sandbox_binds_elsewhere_only_when_told():
    with SandboxServer(host="0.0.0.0") as sandbox:
        assert sandbox._server.socket.getsockname()[0] == "0.0.0.0"
        assert sandbox.url.startswith("http://127.0.0.1:")  # a usable URL nonetheless


def test_the_receiver_and_the_publisher_bind_loopback_by_default(tmp_path):
    with NotifyReceiver() as receiver:
        assert receiver._server is not None
        assert receiver._server.socket.getsockname()[0] == "127.0.0.1"
        _refused_from_outside(receiver.port)
    publisher = LocalFilePublisher(tmp_path)
    try:
        assert publisher._server.socket.getsockname()[0] == "127.0.0.1"
        _refused_from_outside(publisher._server.server_address[1])
    finally:
        publisher.close()


def test_flows_and_cli_default_their_listeners_to_loopback():
    from etl.cli.exports import export_cmd
    from etl.cli.imports import import_cmd
    from flows.export_contacts import export_contacts
    from flows.import_contacts import import_contacts

    for fn, names in (
        (import_contacts.fn, ("callback_host", "publish_host")),
        (export_contacts.fn, ("callback_host",)),
    ):
        params = inspect.signature(fn).parameters
        for name in names:
            assert params[name].default == "127.0.0.1", (fn.__name__, name)
    for command, names in (
        (import_cmd, ("callback_host", "publish_host")),
        (export_cmd, ("callback_host",)),
    ):
        defaults = {p.name: p.default for p in command.params}
        for name in names:
            assert defaults[name] == "127.0.0.1", (command.name, name)


# ---------------------------------------------------------------------------- fileUrl


@contextmanager
def _redirector(location: str) -> Iterator[str]:
    """A loopback server answering every GET with a 302 to ``location``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/contacts.csv"
    finally:
        server.shutdown()
        server.server_close()


def _import_from(sandbox, url: str) -> tuple[int, dict | None]:
    """POST an import of ``url``; returns (HTTP status, the process once it ended, if any)."""
    h = {"api-key": sandbox.api_key}
    folder = requests.post(
        f"{sandbox.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    list_id = requests.post(
        f"{sandbox.url}/contacts/lists",
        json={"name": "L", "folderId": folder.json()["id"]},
        headers=h,
        timeout=5,
    ).json()["id"]
    resp = requests.post(
        f"{sandbox.url}/contacts/import",
        json={"fileUrl": url, "listIds": [list_id]},
        headers=h,
        timeout=10,
    )
    if resp.status_code != 202:
        return resp.status_code, None
    pid = resp.json()["processId"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        proc = requests.get(f"{sandbox.url}/processes/{pid}", headers=h, timeout=5).json()
        if proc["status"] in ("completed", "failed"):
            return 202, proc
        time.sleep(0.05)
    pytest.fail("the import never ended")


def _admin_untouched(sandbox) -> None:
    h = {"api-key": sandbox.api_key}
    count = requests.get(f"{sandbox.url}/contacts", params={"limit": 1}, headers=h, timeout=5)
    assert count.json()["count"] == 0
    config = requests.get(f"{sandbox.root_url}/_sandbox/config", headers=h, timeout=5).json()
    assert config["process_delay_s"] == 0.01


@pytest.fixture
def quick(sandbox):
    sandbox.configure(process_delay_s=0.01, other_rph=100_000)
    return sandbox


@pytest.mark.parametrize(
    "path",
    [
        "/%5Fsandbox/requests",
        "//_sandbox/requests",
        "/v3/../_sandbox/requests",
        "/./_sandbox/config",
        "/_sandbox%2Frequests",
    ],
)
def test_file_url_spellings_of_the_admin_path_never_reach_it(quick, path):
    status, proc = _import_from(quick, f"{quick.root_url}{path}")
    assert status == 400 or (proc is not None and proc["status"] == "failed"), (status, proc)
    _admin_untouched(quick)


@pytest.mark.parametrize(
    "target",
    ["{root}/_sandbox/requests", "{root}/_sandbox/reset", "file:///etc/passwd", "ftp://x/y.csv"],
)
def test_file_url_redirects_to_the_admin_api_or_other_schemes_are_refused(quick, target):
    with _redirector(target.format(root=quick.root_url)) as url:
        status, proc = _import_from(quick, url)
    assert status == 202
    assert proc is not None
    assert proc["status"] == "failed", proc
    _admin_untouched(quick)
