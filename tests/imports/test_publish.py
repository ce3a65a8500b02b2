from __future__ import annotations

import pytest
import requests

from etl.errors import InputError
from etl.imports.publish import LocalFilePublisher


def test_local_publisher_serves_files_under_a_token(tmp_path):
    root = tmp_path / "chunks"
    root.mkdir()
    body = "EMAIL;FIRSTNAME\nann@example.com;Ann\n"
    (root / "chunk-00001.csv").write_text(body, encoding="utf-8")
    with LocalFilePublisher(root) as pub:
        url = pub.publish(root / "chunk-00001.csv")
        assert url.startswith("http://127.0.0.1:")
        got = requests.get(url, timeout=5)
        assert got.status_code == 200
        assert got.text == body
        # Without the token, or outside the folder, nothing is served.
        base = url.rsplit("/", 2)[0]
        assert requests.get(f"{base}/chunk-00001.csv", timeout=5).status_code == 404
        assert requests.get(url.rsplit("/", 1)[0] + "/", timeout=5).status_code == 404
        assert requests.get(url.rsplit("/", 1)[0] + "/../x", timeout=5).status_code == 404


def test_local_publisher_refuses_files_outside_its_root(tmp_path):
    (tmp_path / "root").mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("x", encoding="utf-8")
    with LocalFilePublisher(tmp_path / "root") as pub, pytest.raises(InputError):
        pub.publish(outside)


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible server on loopback (moto in server mode)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_s3_publisher_uploads_and_presigns(tmp_path, s3_endpoint, monkeypatch):
    import boto3

    from etl.imports.publish import S3Publisher

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="imports")
    chunk = tmp_path / "chunk-00001.csv"
    chunk.write_text("EMAIL\nann@example.com\n", encoding="utf-8")
    pub = S3Publisher("s3://imports/run-1", endpoint_url=s3_endpoint, expires_s=600)
    url = pub.publish(chunk)
    assert "run-1/chunk-00001.csv" in url
    assert "Signature" in url or "X-Amz-Signature" in url
    got = requests.get(url, timeout=5)
    assert got.status_code == 200
    assert got.text == "EMAIL\nann@example.com\n"
    assert "Expires=" in url  # a presigned URL that lapses
    with pytest.raises(InputError):
        S3Publisher("https://not-s3/bucket")
