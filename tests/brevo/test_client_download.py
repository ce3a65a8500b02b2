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

PROFILES = ["minimal", "spec-2026-02"]
# What an unknown and an expired export link answer under each sandbox profile (docs/brevo/FACTS.md F5).
UNKNOWN_LINK_STATUS = {"minimal": 403, "spec-2026-02": 404}
EXPIRED_LINK_STATUS = {"minimal": 403, "spec-2026-02": 410}
S3_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><X-Amz-Expires>604800</X-Amz-Expires></Error>"
)


@pytest.fixture(params=PROFILES)
def profile(request, fast_sandbox) -> str:
    """Run the test under both sandbox profiles (real Brevo's ``minimal`` and the 2026 spec)."""
    fast_sandbox.configure(profile=request.param)
    return request.param


class FileServer:
    """A plain loopback server standing in for S3: serves one file, records request headers."""

    def __init__(self, body: bytes, *, redirect_to: str | None = None, status: int = 200) -> None:
        self.body = body
        self.redirect_to = redirect_to
        self.status = status
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
                self.send_response(outer.status)
                self.send_header(
                    "Content-Type", "text/csv" if outer.status == 200 else "application/xml"
                )
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


def test_unknown_link_is_expired(client, fast_sandbox, profile, tmp_path):
    status = UNKNOWN_LINK_STATUS[profile]
    with pytest.raises(ExportLinkExpired, match=rf"GET /exports/nope/x.csv -> {status}"):
        client.download(f"{fast_sandbox.root_url}/exports/nope/x.csv", tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_expired_link_is_expired_in_both_profiles(client, fast_sandbox, profile, tmp_path):
    fast_sandbox.configure(export_link_ttl_s=0.0)
    export = finished_export(client)
    with pytest.raises(ExportLinkExpired) as info:
        client.download(export.export_url, tmp_path / "x.csv")
    assert info.value.status == EXPIRED_LINK_STATUS[profile]
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_an_s3_link_that_no_longer_serves_is_expired(client, status, tmp_path):
    # Presigned S3 links answer 403 (sometimes 400) with an XML body once expired.
    server = FileServer(S3_EXPIRED, status=status)
    try:
        with pytest.raises(ExportLinkExpired) as info:
            client.download(server.url, tmp_path / "x.csv")
    finally:
        server.close()
    assert info.value.status == status
    assert info.value.detail == "AccessDenied: Request has expired"
    assert str(info.value) == (
        f"GET /upload/export.csv -> {status}: export link expired or unknown "
        "(AccessDenied: Request has expired)"
    )
    assert "Signature" not in str(info.value)
    assert len(server.seen) == 1  # not retried: the caller re-requests the export
    assert list(tmp_path.iterdir()) == []


def test_size_limits(client, profile, tmp_path):
    export = finished_export(client)
    # info.export.file_size only under the 2026 spec; real Brevo leaves it out (docs/brevo/FACTS.md F3).
    assert (export.export_info is None) == (profile == "minimal")
    size = client.download(export.export_url, tmp_path / "probe.csv").stat().st_size
    (tmp_path / "probe.csv").unlink()
    if export.export_info is not None:
        assert export.export_info.file_size == size
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
