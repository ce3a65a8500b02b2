"""The one error tree of ``etl.brevo`` and the one status-to-class map.

::

    BrevoError
    ├── BrevoConfigError          bad client settings (empty key, http on a public host)
    ├── BrevoTransportError       connection failed, reset or timed out (wraps requests' error)
    ├── SubmissionUncertain       a non-idempotent POST may or may not have reached Brevo
    ├── ProcessFailed             a background process ended failed/cancelled/error/aborted
    ├── ProcessTimeout            a background process did not end in time
    ├── ExportLinkExpired         an export URL answered 400/403/404/410
    ├── DownloadError             a download stayed truncated or grew past its limit
    ├── PaginationLoopError       a paged endpoint served the same page twice
    └── BrevoAPIError             any non-2xx answer of the API
        ├── BrevoBadRequest       400, 422
        ├── BrevoAuthError        401, 403
        ├── BrevoNotFound         404
        ├── BrevoTooEarly         425 (retriable: Brevo refused before doing anything)
        ├── BrevoRateLimited      429 (retriable)
        └── BrevoServerError      5xx (retriable for idempotent calls)

``str()`` of every error is a single line, ``<METHOD> <path> -> <status> <code>: <message>``
for API errors. Paths never carry a query string, and no error ever holds the API key, the
``requests`` session or a prepared request (whose headers would carry it): errors may end up in
logs, Prefect states and pickles.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

    from etl.brevo.models import CreateContact, ExportRequest, ImportRequest, Process

_MAX_BODY_CHARS = 2000


def _restore(cls: type[BrevoError], args: tuple[Any, ...], state: dict[str, Any]) -> BrevoError:
    err = cls.__new__(cls, *args)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


def _one_line(text: str) -> str:
    return " ".join(text.split())


class BrevoError(Exception):
    """Base for everything ``etl.brevo`` raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive Exception's default pickling; Prefect and
        # process pools pickle exceptions, so rebuild from the instance state instead.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class BrevoConfigError(BrevoError):
    """The client was configured wrongly (empty key, plain http to a public host ...)."""


class BrevoTransportError(BrevoError):
    """The request did not get an HTTP answer: connect failure, reset or timeout.

    Attributes:
        method: HTTP method.
        path: request path (no query string).
        kind: ``connect`` (nothing was sent), ``timeout``, ``reset`` or ``other``.
    """

    def __init__(self, message: str, *, method: str, path: str, kind: str) -> None:
        super().__init__(_one_line(message))
        self.method = method
        self.path = path
        self.kind = kind


class SubmissionUncertain(BrevoError):
    """A non-idempotent POST was sent, but whether Brevo acted on it is unknown.

    Raised on a 5xx, a read timeout or a connection reset after the body went out. Brevo's
    import and export take no idempotency key, so the client never resends them blindly; the
    caller reconciles (e.g. looks for a process created after ``sent_at``) before retrying.

    Attributes:
        method: HTTP method.
        path: request path.
        body_sha256: hex SHA-256 of the exact body bytes sent.
        sent_at: aware UTC time taken just before sending.
        request: the request object the caller passed (ImportRequest, ExportRequest ...).
        cause: the sanitised error that made the outcome unknown.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        body_sha256: str,
        sent_at: datetime,
        request: ImportRequest | ExportRequest | CreateContact | None,
        cause: BrevoError,
    ) -> None:
        super().__init__(
            f"{method} {path} -> outcome unknown ({cause}); body sha256 {body_sha256[:16]}, "
            f"sent {sent_at.isoformat()}; reconcile before resubmitting"
        )
        self.method = method
        self.path = path
        self.body_sha256 = body_sha256
        self.sent_at = sent_at
        self.request = request
        self.cause = cause


class ProcessFailed(BrevoError):
    """A background process ended in a failed status (failed, cancelled, error, aborted)."""

    def __init__(self, process: Process) -> None:
        detail = f": {_one_line(process.error)}" if process.error else ""
        super().__init__(f"process {process.id} ({process.name}) ended {process.status}{detail}")
        self.process = process


class ProcessTimeout(BrevoError):
    """A background process was still pending when the wait ran out."""

    def __init__(self, process_id: int, last: Process | None, *, timeout_s: float = 0.0) -> None:
        status = last.status if last is not None else "unknown"
        super().__init__(f"process {process_id} still {status} after {timeout_s:.1f}s of waiting")
        self.process_id = process_id
        self.last = last
        self.timeout_s = timeout_s


class ExportLinkExpired(BrevoError):
    """The export file URL answered 400, 403, 404 or 410: the link expired or never existed.

    Attributes:
        path: the link's path (no query string: presigned URLs carry signatures).
        status: the HTTP status.
        detail: a short reason from the body (S3's ``AccessDenied: Request has expired``), or None.
    """

    def __init__(self, *, path: str, status: int, detail: str | None = None) -> None:
        reason = f" ({_one_line(detail)})" if detail else ""
        super().__init__(f"GET {path} -> {status}: export link expired or unknown{reason}")
        self.path = path
        self.status = status
        self.detail = detail


class DownloadError(BrevoError):
    """A download failed its size checks (still truncated after retries, or too large)."""


class PaginationLoopError(BrevoError):
    """A paged endpoint kept serving the same page; iteration stopped to avoid looping."""


class BrevoAPIError(BrevoError):
    """A non-2xx answer of the API; carries what is needed to debug it, never the key.

    Attributes:
        status: HTTP status.
        code: Brevo's ``code`` (not always snake_case) or None.
        brevo_message: Brevo's ``message`` (or the HTTP reason).
        method: HTTP method.
        path: request path (no query string).
        body: the decoded JSON body, or up to 2000 characters of text, or None.
        metadata: Brevo's ``metadata`` (e.g. ``{"duplicate_identifiers": ["email"]}``) or None.
        retry_after: seconds to wait, when the response said so (429).
    """

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        method: str,
        path: str,
        body: object = None,
        retry_after: float | None = None,
    ) -> None:
        code_part = f" {code}" if code else ""
        super().__init__(_one_line(f"{method} {path} -> {status}{code_part}: {message}"))
        self.status = status
        self.code = code
        self.brevo_message = message
        self.method = method
        self.path = path
        self.body = body
        self.retry_after = retry_after
        metadata = body.get("metadata") if isinstance(body, dict) else None
        self.metadata: dict[str, Any] | None = metadata if isinstance(metadata, dict) else None


class BrevoBadRequest(BrevoAPIError):
    """400/422: invalid_parameter, missing_parameter, duplicate_parameter ..."""


class BrevoAuthError(BrevoAPIError):
    """401/403: missing or wrong key, or not permitted."""


class BrevoNotFound(BrevoAPIError):
    """404: document_not_found (or Brevo's free-text equivalents)."""


class BrevoTooEarly(BrevoAPIError):
    """425: Brevo declined to act yet (documented for contact create/update)."""

    retriable = True


class BrevoRateLimited(BrevoAPIError):
    """429: too many requests; ``retry_after`` holds the advised wait when known."""

    retriable = True


class BrevoServerError(BrevoAPIError):
    """5xx: Brevo (or something in front of it) failed."""

    retriable = True


_BY_STATUS: dict[int, type[BrevoAPIError]] = {
    400: BrevoBadRequest,
    401: BrevoAuthError,
    403: BrevoAuthError,
    404: BrevoNotFound,
    422: BrevoBadRequest,
    425: BrevoTooEarly,
    429: BrevoRateLimited,
}


def error_class_for_status(status: int) -> type[BrevoAPIError]:
    """Return the error class for an HTTP status (the one status-to-class map)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return BrevoServerError
    return BrevoAPIError


def _decode_body(resp: requests.Response) -> object:
    try:
        return resp.json()
    except ValueError:
        text = resp.text if resp.content else ""
        return text[:_MAX_BODY_CHARS] or None


def error_for_response(
    resp: requests.Response,
    *,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> BrevoAPIError:
    """Build the error for a non-2xx response.

    Brevo's ``{code, message}`` body is used when present, else the HTTP reason. ``method`` and
    ``path`` default to the request's; the query string is always dropped.
    """
    if method is None:
        method = resp.request.method if resp.request is not None else None
    if path is None:
        url = resp.request.url if resp.request is not None else resp.url
        path = urlsplit(url or "").path
    body = _decode_body(resp)
    code: str | None = None
    message = ""
    if isinstance(body, dict):
        raw_code, raw_message = body.get("code"), body.get("message")
        code = str(raw_code) if raw_code is not None else None
        message = str(raw_message) if raw_message is not None else ""
    elif isinstance(body, str) and len(body) <= 200 and not body.lstrip().startswith("<"):
        message = body
    if not message:
        message = resp.reason or "HTTP error"
    cls = error_class_for_status(resp.status_code)
    return cls(
        message,
        status=resp.status_code,
        code=code,
        method=(method or "?").upper(),
        path=path or "?",
        body=body,
        retry_after=retry_after,
    )
