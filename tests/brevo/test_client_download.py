"""download(): expiry, size limits, atomic writes, and the key never leaving the API's host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etl.brevo import (
    BrevoConfigError,
    ContactFilter,
    DownloadError,
    ExportLinkExpired,
    ExportRequest,
    ImportRequest,
    RetryPolicy,
)

from ._support import csv_body


class FileServer:
    """A plain loopback server standing in for S3: serves one file, records request headers."""

    def __init__(self, body: bytes, *, redirect_to: str | None = None) -> None:
        self.body = body
        self.redirect_to = redirect_to
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                outer.seen.append({k.lower(): v for k, v in self.headers.items()})
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/upload/export.csv?X-Amz-Signature=abc"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer(b"EMAIL\ns3@x.org\n")
    yield server
    server.close()


def finished_export(client):
    list_id = client.create_list("L", folder_id=client.create_folder("F"))
    pid = client.start_import(
        ImportRequest(file_body=csv_body([f"d{i}@x.org" for i in range(50)]), list_ids=(list_id,))
    )
    client.wait_for_process(pid, timeout_s=20)
    export_id = client.start_export(
        ExportRequest(
            custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id)
        )
    )
    return client.wait_for_process(export_id, timeout_s=20)


def test_unknown_link_is_expired(client, fast_sandbox, tmp_path):
    with pytest.raises(ExportLinkExpired, match=r"GET /exports/nope/x.csv -> 404"):
        client.download(f"{fast_sandbox.root_url}/exports/nope/x.csv", tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_expired_link_is_410(client, fast_sandbox, tmp_path):
    fast_sandbox.configure(export_link_ttl_s=0.0)
    export = finished_export(client)
    with pytest.raises(ExportLinkExpired) as info:
        client.download(export.export_url, tmp_path / "x.csv")
    assert info.value.status == 410


def test_size_limits(client, tmp_path):
    export = finished_export(client)
    size = export.export_info.file_size
    assert size
    with pytest.raises(DownloadError, match="over the 100 limit"):
        client.download(export.export_url, tmp_path / "x.csv", max_bytes=100)
    assert list(tmp_path.iterdir()) == []
    ok = client.download(export.export_url, tmp_path / "x.csv", max_bytes=size, expected_size=size)
    assert ok.stat().st_size == size


def test_expected_size_mismatch_fails_after_retries(make_client, fast_sandbox, tmp_path):
    client = make_client(retry=RetryPolicy(max_attempts=2, base_s=0))
    export = finished_export(client)
    with pytest.raises(DownloadError, match="got"):
        client.download(export.export_url, tmp_path / "x.csv", expected_size=3)
    assert list(tmp_path.iterdir()) == []
    downloads = [r for r in fast_sandbox.requests_log() if r["path"].startswith("/exports/")]
    assert len(downloads) == 2


def test_existing_file_is_replaced_whole(client, tmp_path):
    export = finished_export(client)
    dest = tmp_path / "x.csv"
    dest.write_text("old contents")
    client.download(export.export_url, dest)
    assert dest.read_text().startswith("EMAIL")
    assert "old contents" not in dest.read_text()


def test_the_key_is_not_sent_to_another_host(client, file_server, tmp_path):
    path = client.download(file_server.url, tmp_path / "s3.csv")
    assert path.read_bytes() == b"EMAIL\ns3@x.org\n"
    assert len(file_server.seen) == 1
    assert "api-key" not in file_server.seen[0]


def test_the_key_goes_to_the_api_host_only(file_server, tmp_path):
    from etl.brevo import BrevoClient

    # A client whose API lives on the file server's origin does send its key there.
    origin = file_server.url.split("/upload/")[0]
    with BrevoClient("k-on-this-host", base_url=f"{origin}/v3") as client:
        client.download(file_server.url, tmp_path / "same.csv")
    assert file_server.seen[-1]["api-key"] == "k-on-this-host"


def test_redirects_are_followed_without_the_key(client, file_server, tmp_path):
    hop = FileServer(b"", redirect_to=file_server.url)
    try:
        path = client.download(hop.url, tmp_path / "r.csv")
    finally:
        hop.close()
    assert path.read_bytes() == b"EMAIL\ns3@x.org\n"
    assert [h.get("api-key") for h in hop.seen + file_server.seen] == [None, None]


def test_only_http_urls(client, tmp_path):
    with pytest.raises(BrevoConfigError, match="http"):
        client.download("file:///etc/passwd", tmp_path / "x")
