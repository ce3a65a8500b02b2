"""Publish import chunks at URLs for ``fileUrl`` imports.

Two publishers:

* :class:`LocalFilePublisher`: a small threaded HTTP server that serves the chunk folder under an
  unguessable path prefix. Brevo must be able to reach it, so it suits the sandbox and on-premise
  set-ups (bind it where Brevo can connect and give the public URL).
* :class:`S3Publisher`: uploads each chunk to S3-compatible storage and hands Brevo a presigned
  GET URL that expires (boto3; any endpoint, e.g. MinIO, via ``endpoint_url``).
"""

from __future__ import annotations

import secrets
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from etl.errors import InputError


class Publisher(Protocol):
    """Makes a local file reachable at a URL."""

    def publish(self, path: Path) -> str:
        """Return a URL from which the file can be fetched."""
        ...

    def close(self) -> None:
        """Release resources (stop the server, nothing for S3)."""
        ...


class _QuietHandler(SimpleHTTPRequestHandler):
    token: str = ""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _allowed(self) -> bool:
        prefix = f"/{self.token}/"
        if not self.path.startswith(prefix) or ".." in self.path:
            self.send_error(404)
            return False
        self.path = "/" + self.path[len(prefix) :]
        return True

    def do_GET(self) -> None:
        if self._allowed():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._allowed():
            super().do_HEAD()

    def list_directory(self, path: str | Path) -> None:  # type: ignore[override]
        self.send_error(404)


class LocalFilePublisher:
    """Serve files of one folder over HTTP on ``host:port`` (loopback and port 0 by default)."""

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_base_url: str | None = None,
    ) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._token = secrets.token_urlsafe(18)
        handler = type("_Handler", (_QuietHandler,), {"token": self._token})
        self._server = ThreadingHTTPServer((host, port), partial(handler, directory=str(self.root)))
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        if isinstance(bound_host, bytes):  # only for AF_UNIX; typeshed allows it
            bound_host = bound_host.decode()
        self.base_url = (public_base_url or f"http://{bound_host}:{bound_port}").rstrip("/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def publish(self, path: Path) -> str:
        """Return the URL of ``path``, which must lie inside the served folder."""
        resolved = path.resolve()
        try:
            rel = resolved.relative_to(self.root)
        except ValueError:
            raise InputError(f"{path} is outside the published folder {self.root}") from None
        return f"{self.base_url}/{self._token}/{rel.as_posix()}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalFilePublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Publisher:
    """Upload to ``s3://bucket/prefix`` and return presigned GET URLs."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        expires_s: int = 24 * 3600,
        client: Any = None,
    ) -> None:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InputError(f"{uri}: expected s3://bucket/prefix")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.expires_s = expires_s
        if client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - depends on the install
                raise InputError(
                    "publishing to S3 needs boto3: pip install 'contacts-etl[s3]'"
                ) from None
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self._s3 = client

    def publish(self, path: Path) -> str:
        """Upload ``path`` and return a presigned URL valid for ``expires_s`` seconds."""
        key = f"{self.prefix}/{path.name}" if self.prefix else path.name
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": "text/csv"})
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_s
        )
        return url

    def close(self) -> None:
        """Nothing to release."""
        return None
