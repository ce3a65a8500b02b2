"""Downloads of export files and import reports: streamed, atomic, retried, key kept home.

An export's ``export_url`` (or an ``info.import`` report link) may point at the API's own host or
at a presigned S3 URL. The api-key header goes only to the API's origin, redirects are followed
by hand so it never follows them elsewhere, a short body is retried, and the file is written to a
temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from etl.brevo.errors import (
    BrevoAPIError,
    BrevoConfigError,
    BrevoError,
    BrevoTransportError,
    DownloadError,
    ExportLinkExpired,
    error_for_response,
)
from etl.brevo.retry import (
    Jitter,
    RetryPolicy,
    TransportKind,
    backoff_seconds,
    describe_transport,
    rate_limit_wait,
    transport_kind,
)

logger = logging.getLogger("etl.brevo.client")

_DOWNLOAD_CHUNK = 1 << 20
_MAX_REDIRECTS = 5

Origin = tuple[str, str, int | None]


def origin_of(url: str) -> Origin:
    """Scheme, host and port of a URL: what decides whether the key may be sent."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class Downloader:
    """One client's downloads: its session, timeout, retry policy and request counter."""

    def __init__(
        self,
        *,
        session: requests.Session,
        api_origin: Origin,
        timeout: float,
        retry: RetryPolicy,
        jitter: Jitter,
        sleep: Callable[[float], None],
        count: Callable[[], None],
    ) -> None:
        self._session = session
        self._api_origin = api_origin
        self._timeout = timeout
        self._policy = retry
        self._jitter_fn = jitter
        self._sleep_fn = sleep
        self._count_fn = count

    def download(
        self,
        url: str,
        dest: Path,
        *,
        expected_size: int | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Stream ``url`` to ``dest`` (see :meth:`BrevoClient.download` for the contract).

        The api-key header goes only to the API's own origin (export files may be on S3), and
        redirects are followed by hand so it never leaks to another host. A short body is
        retried; the temp file lives beside ``dest`` so the rename is atomic.
        """
        dest = Path(dest)
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise BrevoConfigError(f"download URL must be http(s), got scheme {scheme!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            try:
                size = self._download_once(url, dest, expected_size, max_bytes)
            except _RetryableDownload as exc:
                if attempt >= self._policy.max_attempts:
                    raise exc.final from None
                delay = (
                    exc.wait
                    if exc.wait is not None
                    else backoff_seconds(attempt, policy=self._policy, jitter=self._jitter_fn)
                )
                logger.info(
                    "GET %s: %s; retry %d/%d in %.2fs",
                    exc.path,
                    exc.reason,
                    attempt,
                    self._policy.max_attempts - 1,
                    delay,
                )
                self._sleep_fn(delay)
                continue
            logger.info("downloaded %d bytes to %s", size, dest.name)
            return dest

    def _open_download(self, url: str) -> tuple[requests.Response, str]:
        """GET with redirects followed by hand; the key only ever goes to the API's origin."""
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            path = urlsplit(current).path
            same_origin = origin_of(current) == self._api_origin
            headers: dict[str, str | None] = {"accept": "*/*"}
            if not same_origin:
                headers["api-key"] = None  # drops the session's header for this request
            self._count_fn()
            logger.debug("GET %s (download)", path)
            try:
                resp = self._session.get(
                    current,
                    headers=headers,  # None removes a session header
                    stream=True,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                # Built outside the except: no __context__ holding the prepared request.
                kind = transport_kind(exc)
                failed: tuple[TransportKind, str] | None = (
                    kind,
                    describe_transport(exc, kind, self._timeout),
                )
                del exc
            else:
                failed = None
            failure = failed
            if failure is not None:
                error = BrevoTransportError(
                    f"GET {path} -> {failure[1]}", method="GET", path=path, kind=failure[0]
                )
                raise _RetryableDownload(path, failure[0], error)
            if resp.is_redirect and resp.headers.get("location"):
                current = urljoin(current, resp.headers["location"])
                resp.close()
                continue
            return resp, path
        raise BrevoAPIError(
            "too many redirects", status=310, code=None, method="GET", path=urlsplit(url).path
        )

    def _download_once(
        self, url: str, dest: Path, expected_size: int | None, max_bytes: int | None
    ) -> int:
        resp, path = self._open_download(url)
        with resp:
            status = resp.status_code
            if status in _EXPIRED_LINK_STATUSES:
                raise ExportLinkExpired(path=path, status=status, detail=_link_error_detail(resp))
            if status >= 400:
                wait = None
                if status == 429:
                    wait = rate_limit_wait(
                        resp.headers, 1, policy=self._policy, jitter=self._jitter_fn
                    )
                error = error_for_response(resp, method="GET", path=path, retry_after=wait)
                if error.retriable:
                    raise _RetryableDownload(path, f"{status}", error, wait=wait)
                raise error
            declared = _int_header(resp.headers.get("content-length"))
            encoded = resp.headers.get("content-encoding", "identity").lower() != "identity"
            if (
                max_bytes is not None
                and declared is not None
                and declared > max_bytes
                and not encoded
            ):
                raise DownloadError(f"GET {path} -> {declared} bytes, over the {max_bytes} limit")
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
            )
            tmp = Path(tmp_name)
            written = 0
            try:
                with os.fdopen(fd, "wb") as out:
                    try:
                        for chunk in resp.iter_content(_DOWNLOAD_CHUNK):
                            written += len(chunk)
                            if max_bytes is not None and written > max_bytes:
                                raise DownloadError(
                                    f"GET {path} -> more than {max_bytes} bytes; stopped"
                                )
                            out.write(chunk)
                    except requests.RequestException:
                        # urllib3 enforces Content-Length: a short body lands here.
                        truncated = True
                    else:
                        truncated = False
                    if truncated:
                        raise _RetryableDownload(
                            path, "truncated", _truncated(path, written, declared)
                        )
                    out.flush()
                    os.fsync(out.fileno())
                received = resp.raw.tell() if encoded else written
                if declared is not None and received != declared:
                    raise _RetryableDownload(
                        path, "truncated", _truncated(path, received, declared)
                    )
                if expected_size is not None and written != expected_size:
                    raise _RetryableDownload(
                        path, "size mismatch", _truncated(path, written, expected_size)
                    )
                tmp.replace(dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return written


class _RetryableDownload(Exception):
    """Internal: one download attempt failed in a way worth retrying."""

    def __init__(self, path: str, reason: str, final: BrevoError, *, wait: float | None = None):
        super().__init__(reason)
        self.path = path
        self.reason = reason
        self.final = final
        self.wait = wait


# An export link that no longer serves its file: expired presigned S3 URLs answer 403 (sometimes
# 400), missing objects 404, the older sandbox 410 (docs/brevo/FACTS.md F5). The caller re-requests once.
_EXPIRED_LINK_STATUSES = frozenset({400, 403, 404, 410})
_S3_ERROR_FIELD = re.compile(r"<(Code|Message)>([^<]{1,200})</\1>")


def _link_error_detail(resp: requests.Response) -> str | None:
    """A short reason from an export link's error body (S3 XML ``Code``/``Message``, or JSON)."""
    try:
        raw = resp.raw.read(4096, decode_content=True) if resp.raw is not None else b""
    except Exception:  # the reason is a nicety; never let it hide the status
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    found = dict(_S3_ERROR_FIELD.findall(text))
    if not found and text.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict):
                found = {
                    k.title(): str(data[k]) for k in ("code", "message") if data.get(k) is not None
                }
    parts = [found[k].strip() for k in ("Code", "Message") if found.get(k, "").strip()]
    return ": ".join(parts) or None


def _truncated(path: str, got: int, want: int | None) -> DownloadError:
    return DownloadError(f"GET {path} -> got {got} of {want} bytes (truncated)")


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
