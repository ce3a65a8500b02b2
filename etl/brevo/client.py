"""BrevoClient: typed methods over the Brevo v3 contacts and processes endpoints.

Every call goes through :meth:`BrevoClient._request`, the one place that sets the timeout,
waits for the rate limiter, retries, maps errors and logs (method and path only). The API key
lives only in the session's headers; it is never logged, put in an error, or shown by ``repr``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, urlsplit

import requests

from etl.brevo.download import Downloader, origin_of
from etl.brevo.errors import (
    BrevoAPIError,
    BrevoConfigError,
    BrevoError,
    BrevoTransportError,
    ProcessFailed,
    ProcessTimeout,
    SubmissionUncertain,
    error_for_response,
)
from etl.brevo.models import (
    AccountInfo,
    Attribute,
    BatchContactUpdate,
    Contact,
    ContactList,
    CreateContact,
    EnumValue,
    ExportRequest,
    Folder,
    ImportRequest,
    ListMembershipResult,
    Process,
    Segment,
    UpdateContact,
)
from etl.brevo.pagination import Page, iter_offset_pages
from etl.brevo.ratelimit import Family, RateLimiter, RateLimits, family_for
from etl.brevo.retry import (
    Decision,
    Jitter,
    RetryPolicy,
    TransportKind,
    backoff_seconds,
    decide,
    default_jitter,
    describe_transport,
    parse_ratelimit_remaining,
    parse_ratelimit_reset,
    rate_limit_wait,
    transport_kind,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.brevo.com/v3"
DEFAULT_TIMEOUT_S: Final = 30.0
# Polls of GET /processes/{id} spend the 100-per-hour budget: never faster than this on Brevo.
DEFAULT_POLL_INTERVAL_S: Final = 1.0
# Against a loopback sandbox, poll fast enough for tests (the budget still applies).
LOOPBACK_POLL_INTERVAL_S: Final = 0.1
# A young process is polled after 1 s, then 2 s, 4 s, ... (never below poll_interval_s) until
# the doubling reaches the budget's even spread: most imports and exports of a few contacts
# complete within seconds, and waiting the spread (18 s on the general tier) for the second
# poll made a 5-contact run wait 17 s for a process done in one. The doubling costs a handful
# of polls per wait (log2 of the spread), each still taken from the rate limiter's bucket.
YOUNG_POLL_FIRST_S: Final = 1.0

# Page-size maxima per endpoint (Brevo's spec; docs/brevo/FACTS.md section 9).
CONTACTS_PAGE_MAX: Final = 1000
LIST_CONTACTS_PAGE_MAX: Final = 500
SMALL_PAGE_MAX: Final = 50  # lists, folders, segments, processes
MEMBERSHIP_BATCH: Final = 150  # emails/ids/extIds per add/remove call

_Params = dict[str, str | int | list[int]]


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def encode_body(json_body: object) -> bytes:
    """The exact bytes the client sends for a JSON body (compact, UTF-8).

    ``SubmissionUncertain.body_sha256`` and the sandbox's request log hash these bytes, so a
    caller can compute the same digest: ``sha256(encode_body(request.to_wire()))``.
    """
    return json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()


def _check_base_url(base_url: str) -> str:
    base_url = (base_url or "").strip()
    if any(c.isspace() or ord(c) < 32 for c in base_url):
        raise BrevoConfigError("base URL must not contain whitespace or control characters")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BrevoConfigError(f"base URL must be an http(s) URL, got scheme {parts.scheme!r}")
    if parts.query or parts.fragment:
        raise BrevoConfigError("base URL must not carry a query string or fragment")
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise BrevoConfigError(
            f"base URL for {parts.hostname} must be https (plain http only for loopback)"
        )
    return base_url.rstrip("/")


def _check_key(api_key: str) -> str:
    key = (api_key or "").strip()
    if not key:
        raise BrevoConfigError("BREVO_API_KEY is empty; see .env.example")
    # requests would otherwise reject the header with an error message that quotes the value.
    if not all(33 <= ord(c) <= 126 for c in key):
        raise BrevoConfigError("BREVO_API_KEY contains spaces or non-printable characters")
    return key


def _date_param(value: datetime | str) -> str:
    """Brevo's ``YYYY-MM-DDTHH:mm:ss.SSSZ``; a naive datetime is taken as UTC."""
    if isinstance(value, str):
        return value
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _segment(identifier: str | int) -> str:
    return quote(str(identifier), safe="")


def _clamp_page(page_size: int, maximum: int) -> int:
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    return min(page_size, maximum)


def _batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class BrevoClient:
    """Typed client for the Brevo v3 contacts and processes endpoints.

    Thread-safe: threads may share one client; they share its session, rate limiter and
    process-poll budget.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        limits: RateLimits | None = None,
        session: requests.Session | None = None,
        poll_interval_s: float | None = None,
    ) -> None:
        """Build a client.

        Args:
            api_key: Brevo API key; kept only in the session's headers.
            base_url: API base ending in ``/v3``; must be https unless the host is loopback.
            timeout: seconds for connect and for each read.
            retry: retry policy (default :class:`RetryPolicy`).
            limits: request budgets per endpoint family (default: Brevo's general tier).
            session: a session to use (the client adds its headers to it).
            poll_interval_s: minimum seconds between process polls (default 1, or 0.1 when
                the base URL is loopback).

        Raises:
            BrevoConfigError: empty key, or a non-https base URL on a non-loopback host.
        """
        key = _check_key(api_key)
        self.base_url = _check_base_url(base_url)
        if timeout <= 0:
            raise BrevoConfigError("timeout must be > 0")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._limiter = RateLimiter(limits)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._session.headers.update({"api-key": key, "accept": "application/json"})
        loopback = is_loopback_host(urlsplit(self.base_url).hostname)
        if poll_interval_s is None:
            poll_interval_s = LOOPBACK_POLL_INTERVAL_S if loopback else DEFAULT_POLL_INTERVAL_S
        if poll_interval_s < 0:
            raise BrevoConfigError("poll_interval_s must be >= 0")
        self._poll_interval_s = poll_interval_s
        self._origin = origin_of(self.base_url)
        self._count_lock = threading.Lock()
        self._request_count = 0
        # Seams for tests of the retry loop; production uses real sleeps and jitter.
        self._sleep: Callable[[float], None] = time.sleep
        self._jitter: Jitter = default_jitter

    def __repr__(self) -> str:
        return f"BrevoClient(base_url={self.base_url!r})"

    @property
    def timeout_s(self) -> float:
        """The HTTP timeout of every call."""
        return self._timeout

    @property
    def request_count(self) -> int:
        """HTTP requests actually sent (every attempt, including failed ones)."""
        with self._count_lock:
            return self._request_count

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter shared by this client's threads."""
        return self._limiter

    def close(self) -> None:
        """Close the session (or, for an injected session, take the key out of it)."""
        if self._owns_session:
            self._session.close()
        else:
            self._session.headers.pop("api-key", None)

    def __enter__(self) -> BrevoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the one request path

    def _count(self) -> None:
        with self._count_lock:
            self._request_count += 1

    def _observe(self, family: Family, resp: requests.Response) -> None:
        self._limiter.observe(
            family,
            remaining=parse_ratelimit_remaining(resp.headers.get("x-sib-ratelimit-remaining")),
            reset_s=parse_ratelimit_reset(resp.headers.get("x-sib-ratelimit-reset")),
            cap_s=self._retry.max_wait_s,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: _Params | None = None,
        json_body: object = None,
        submission: ImportRequest | ExportRequest | CreateContact | None = None,
    ) -> requests.Response:
        """Send one API call with rate limiting, retries and error mapping.

        Args:
            method: HTTP method.
            path: path below the base URL, already quoted (``/contacts/lists/3``).
            params: query parameters.
            json_body: JSON body, serialised here so its SHA-256 is of the exact bytes sent.
            submission: the request object, for :class:`SubmissionUncertain`.

        Returns:
            The 2xx response.

        Raises:
            BrevoAPIError: a non-2xx answer (after retries where allowed).
            BrevoTransportError: no answer (after retries where allowed).
            SubmissionUncertain: a non-idempotent call may have been acted on.
        """
        method = method.upper()
        url = self.base_url + path
        body = None
        headers: dict[str, str] | None = None
        if json_body is not None:
            body = encode_body(json_body)
            headers = {"content-type": "application/json"}
        body_sha256 = hashlib.sha256(body or b"").hexdigest()
        family = family_for(path)
        attempt = 0
        while True:
            attempt += 1
            waited = self._limiter.acquire(family)
            if waited > 0.5:
                logger.debug(
                    "%s %s waited %.2fs for the %s rate limit", method, path, waited, family
                )
            sent_at = datetime.now(UTC)
            self._count()
            logger.debug("%s %s (attempt %d)", method, path, attempt)
            # Raise nothing inside the except: requests' exception holds the prepared request
            # (api-key header included), and an implicit __context__ would carry it into
            # pickles and tracebacks (tblib, installed by Dask, pickles the whole chain).
            failure: tuple[TransportKind, str] | None = None
            try:
                resp = self._session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                kind = transport_kind(exc)
                failure = (kind, describe_transport(exc, kind, self._timeout))
                del exc
            if failure is not None:
                kind, described = failure
                error = BrevoTransportError(
                    f"{method} {path} -> {described}", method=method, path=path, kind=kind
                )
                decision = decide(
                    method, path, status=None, kind=kind, attempt=attempt, policy=self._retry
                )
                if decision is Decision.UNCERTAIN:
                    # Import/export/create take no idempotency key: the body may have arrived,
                    # and a resend could import twice. The caller reconciles instead.
                    raise self._uncertain(method, path, body_sha256, sent_at, submission, error)
                if decision is Decision.FAIL:
                    logger.debug("%s %s failed: %s", method, path, kind)
                    raise error
                delay = backoff_seconds(attempt, policy=self._retry, jitter=self._jitter)
                logger.info(
                    "%s %s: %s; retry %d/%d in %.2fs",
                    method,
                    path,
                    kind,
                    attempt,
                    self._retry.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)
                continue

            self._observe(family, resp)
            status = resp.status_code
            if 200 <= status < 300:
                if submission is not None and status != 204 and not _is_json(resp):
                    # Brevo accepted something, but we cannot read which process it started.
                    error = BrevoTransportError(
                        f"{method} {path} -> {status} with an unreadable body",
                        method=method,
                        path=path,
                        kind="other",
                    )
                    raise self._uncertain(method, path, body_sha256, sent_at, submission, error)
                logger.debug("%s %s -> %d", method, path, status)
                return resp

            wait: float | None = None
            if status == 429:
                wait = rate_limit_wait(
                    resp.headers, attempt, policy=self._retry, jitter=self._jitter
                )
            api_error = error_for_response(resp, method=method, path=path, retry_after=wait)
            decision = decide(
                method, path, status=status, kind=None, attempt=attempt, policy=self._retry
            )
            if decision is Decision.UNCERTAIN:
                # A 5xx after a non-idempotent body went out: Brevo may have acted on it (no
                # idempotency key), so resending could import twice. Hand it to the caller.
                raise self._uncertain(method, path, body_sha256, sent_at, submission, api_error)
            if decision is Decision.FAIL:
                logger.debug("%s %s -> %d %s", method, path, status, api_error.code or "")
                raise api_error
            if wait is not None:
                # Brevo told the whole family to slow down: hold every thread, not just this one.
                logger.info(
                    "%s %s -> 429; holding the %s family %.2fs (attempt %d/%d)",
                    method,
                    path,
                    family,
                    wait,
                    attempt,
                    self._retry.max_attempts,
                )
                self._limiter.block_for(family, wait)
            else:
                delay = backoff_seconds(attempt, policy=self._retry, jitter=self._jitter)
                logger.info(
                    "%s %s -> %d; retry %d/%d in %.2fs",
                    method,
                    path,
                    status,
                    attempt,
                    self._retry.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)

    @staticmethod
    def _uncertain(
        method: str,
        path: str,
        body_sha256: str,
        sent_at: datetime,
        submission: ImportRequest | ExportRequest | CreateContact | None,
        cause: BrevoError,
    ) -> SubmissionUncertain:
        logger.warning("%s %s: outcome unknown (%s); not resending", method, path, cause)
        return SubmissionUncertain(
            method=method,
            path=path,
            body_sha256=body_sha256,
            sent_at=sent_at,
            request=submission,
            cause=cause,
        )

    def _get_json(self, path: str, params: _Params | None = None) -> dict[str, Any]:
        return _json_object(self._request("GET", path, params=params), "GET", path)

    # ------------------------------------------------------------------ account

    def get_account(self) -> AccountInfo:
        """Fetch the account the key belongs to (``GET /account``).

        Returns:
            Its e-mail, organisation and user ids when Brevo gives them, and date preferences.
        """
        return AccountInfo.from_wire(self._get_json("/account"))

    # ------------------------------------------------------------------ attributes

    def get_attributes(self) -> list[Attribute]:
        """List the account's contact attributes.

        Returns:
            Every attribute, in Brevo's order.
        """
        data = self._get_json("/contacts/attributes")
        return [Attribute.from_wire(a) for a in data.get("attributes") or ()]

    def create_attribute(
        self,
        name: str,
        *,
        category: str = "normal",
        type: str | None = None,
        enumeration: Sequence[EnumValue] = (),
        multi_category_options: Sequence[str] = (),
    ) -> None:
        """Create a contact attribute.

        Args:
            name: attribute name (Brevo upper-cases it).
            category: ``normal``, ``category``, ``transactional``, ``calculated`` or ``global``.
            type: ``text``, ``date``, ``float``, ``boolean``, ``id``, ``category``,
                ``multiple-choice`` or ``user``.
            enumeration: options of a category attribute.
            multi_category_options: options of a multiple-choice attribute.

        Raises:
            BrevoBadRequest: invalid or existing attribute.
        """
        body: dict[str, Any] = {}
        if type is not None:
            body["type"] = type
        if enumeration:
            body["enumeration"] = [{"value": e.value, "label": e.label} for e in enumeration]
        if multi_category_options:
            body["multiCategoryOptions"] = list(multi_category_options)
        self._request(
            "POST", f"/contacts/attributes/{_segment(category)}/{_segment(name)}", json_body=body
        )

    # ------------------------------------------------------------------ contacts

    def iter_contacts(
        self,
        *,
        page_size: int = CONTACTS_PAGE_MAX,
        modified_since: datetime | str | None = None,
        created_since: datetime | str | None = None,
        list_ids: Sequence[int] = (),
        segment_id: int | None = None,
        sort: str = "asc",
    ) -> Iterator[list[Contact]]:
        """Page through ``GET /contacts``.

        Args:
            page_size: contacts per page (at most 1000).
            modified_since: only contacts modified after this (naive datetimes are UTC).
            created_since: only contacts created after this.
            list_ids: only contacts in these lists (not with ``segment_id``).
            segment_id: only contacts in this segment.
            sort: ``asc`` (default: creation order, stable while new contacts arrive) or ``desc``.

        Yields:
            Pages of contacts.
        """
        if list_ids and segment_id is not None:
            raise ValueError("pass list_ids or segment_id, not both (Brevo takes one)")
        params: _Params = {"sort": sort}
        if modified_since is not None:
            params["modifiedSince"] = _date_param(modified_since)
        if created_since is not None:
            params["createdSince"] = _date_param(created_since)
        if list_ids:
            params["listIds"] = [int(i) for i in list_ids]
        if segment_id is not None:
            params["segmentId"] = int(segment_id)
        yield from self._pages(
            "/contacts",
            "contacts",
            Contact.from_wire,
            limit=_clamp_page(page_size, CONTACTS_PAGE_MAX),
            params=params,
        )

    def get_contact(
        self,
        identifier: str | int,
        *,
        identifier_type: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> Contact:
        """Fetch one contact with its statistics.

        Args:
            identifier: email, contact id, SMS number or (with ``identifier_type``) ext id.
            identifier_type: ``email_id``, ``contact_id``, ``ext_id``, ``phone_id`` ...
            start_date: statistics from this date (YYYY-MM-DD).
            end_date: statistics up to this date.

        Returns:
            The contact, ``statistics`` set.

        Raises:
            BrevoNotFound: no such contact.
        """
        params: _Params = {}
        if identifier_type:
            params["identifierType"] = identifier_type
        if start_date:
            params["startDate"] = start_date
        if end_date:
            params["endDate"] = end_date
        data = self._get_json(f"/contacts/{_segment(identifier)}", params or None)
        return Contact.from_wire(data)

    def create_contact(self, request: CreateContact) -> int | None:
        """Create a contact (or update it, with ``update_enabled``).

        Returns:
            The new contact's id on 201, None on 204 (an existing contact was updated).

        Raises:
            BrevoBadRequest: e.g. ``duplicate_parameter`` (see ``.metadata``).
            SubmissionUncertain: the request may have been acted on; it is not resent.
        """
        resp = self._request("POST", "/contacts", json_body=request.to_wire(), submission=request)
        if resp.status_code == 204 or not resp.content:
            return None
        value = _json_object(resp, "POST", "/contacts").get("id")
        return int(value) if value is not None else None

    def update_contact(
        self, identifier: str | int, request: UpdateContact, *, identifier_type: str | None = None
    ) -> None:
        """Update a contact (``PUT /contacts/{identifier}``).

        Raises:
            BrevoNotFound: no such contact.
            BrevoBadRequest: invalid values or a duplicate identifier.
        """
        params: _Params | None = {"identifierType": identifier_type} if identifier_type else None
        self._request(
            "PUT", f"/contacts/{_segment(identifier)}", params=params, json_body=request.to_wire()
        )

    def update_contacts_batch(self, contacts: Sequence[BatchContactUpdate]) -> None:
        """Update several contacts in one request (``POST /contacts/batch``).

        Setting the same values twice is harmless, so a lost response may be retried.

        Raises:
            BrevoBadRequest: an invalid value or unknown attribute (nothing is promised
                about the others of the batch).
        """
        if not contacts:
            return
        self._request(
            "POST", "/contacts/batch", json_body={"contacts": [c.to_wire() for c in contacts]}
        )

    def delete_contact(self, identifier: str | int, *, identifier_type: str | None = None) -> None:
        """Delete a contact.

        Raises:
            BrevoNotFound: no such contact.
        """
        params: _Params | None = {"identifierType": identifier_type} if identifier_type else None
        self._request("DELETE", f"/contacts/{_segment(identifier)}", params=params)

    # ------------------------------------------------------------------ lists, folders, segments

    def iter_lists(self, *, page_size: int = SMALL_PAGE_MAX) -> Iterator[list[ContactList]]:
        """Page through the account's lists (at most 50 per page)."""
        yield from self._pages(
            "/contacts/lists",
            "lists",
            ContactList.from_wire,
            limit=_clamp_page(page_size, SMALL_PAGE_MAX),
            params={"sort": "asc"},
        )

    def get_list(self, list_id: int) -> ContactList:
        """Fetch one list.

        Raises:
            BrevoNotFound: no such list.
        """
        return ContactList.from_wire(self._get_json(f"/contacts/lists/{int(list_id)}"))

    def create_list(self, name: str, *, folder_id: int) -> int:
        """Create a list in a folder.

        A lost reply is reconciled by name within the folder (see :meth:`create_folder`).

        Returns:
            The new list's id (or that of the one list of this name in the folder).

        Raises:
            SubmissionUncertain: the outcome stayed unknown and several lists share the name.
        """
        folder_id = int(folder_id)

        def same_name() -> list[int]:
            return [
                found.id
                for page in self.iter_folder_lists(folder_id)
                for found in page
                if found.name == name
            ]

        return self._create_named(
            "/contacts/lists", {"name": name, "folderId": folder_id}, same_name
        )

    def iter_folder_lists(
        self, folder_id: int, *, page_size: int = SMALL_PAGE_MAX
    ) -> Iterator[list[ContactList]]:
        """Page through the lists of one folder (at most 50 per page)."""
        yield from self._pages(
            f"/contacts/folders/{int(folder_id)}/lists",
            "lists",
            ContactList.from_wire,
            limit=_clamp_page(page_size, SMALL_PAGE_MAX),
            params={"sort": "asc"},
        )

    def _create_named(
        self, path: str, body: dict[str, Any], same_name: Callable[[], list[int]]
    ) -> int:
        """POST that creates a named object, reconciling a lost reply by name.

        Brevo takes no idempotency key, so a blind resend after a 5xx, timeout or reset could
        create a second folder or list. Instead, look: exactly one object with the name means
        the caller has what it asked for (ours, or one that already existed); none means it
        was not created, so send again; several is ambiguous and is raised.
        """
        uncertain: SubmissionUncertain | None = None
        for _ in range(self._retry.max_attempts):
            try:
                resp = self._request("POST", path, json_body=body)
            except SubmissionUncertain as exc:
                matches = same_name()
                if len(matches) == 1:
                    logger.info(
                        "POST %s: outcome unknown, found it by name (id %d)", path, matches[0]
                    )
                    return matches[0]
                if matches:
                    raise
                uncertain = exc
                continue
            return int(_json_object(resp, "POST", path)["id"])
        assert uncertain is not None
        raise uncertain

    def iter_list_contacts(
        self,
        list_id: int,
        *,
        page_size: int = LIST_CONTACTS_PAGE_MAX,
        modified_since: datetime | str | None = None,
    ) -> Iterator[list[Contact]]:
        """Page through the contacts of one list (at most 500 per page)."""
        params: _Params = {"sort": "asc"}
        if modified_since is not None:
            params["modifiedSince"] = _date_param(modified_since)
        yield from self._pages(
            f"/contacts/lists/{int(list_id)}/contacts",
            "contacts",
            Contact.from_wire,
            limit=_clamp_page(page_size, LIST_CONTACTS_PAGE_MAX),
            params=params,
        )

    def add_contacts_to_list(
        self,
        list_id: int,
        *,
        emails: Sequence[str] = (),
        ids: Sequence[int] = (),
        ext_ids: Sequence[str] = (),
    ) -> ListMembershipResult:
        """Add existing contacts to a list, 150 per call, and merge the results.

        Returns:
            The merged result (``failure``: already in the list or unknown).
        """
        return self._membership(list_id, "add", emails=emails, ids=ids, ext_ids=ext_ids)

    def remove_contacts_from_list(
        self,
        list_id: int,
        *,
        emails: Sequence[str] = (),
        ids: Sequence[int] = (),
        ext_ids: Sequence[str] = (),
        all: bool = False,
    ) -> ListMembershipResult:
        """Remove contacts from a list, 150 per call; ``all=True`` empties it via a process.

        Returns:
            The merged result; with ``all=True``, ``process_id`` is the removal process.
        """
        if all:
            if emails or ids or ext_ids:
                raise ValueError("all=True removes everyone; pass no identifiers with it")
            path = f"/contacts/lists/{int(list_id)}/contacts/remove"
            resp = self._request("POST", path, json_body={"all": True})
            return ListMembershipResult.from_wire(_json_object(resp, "POST", path))
        return self._membership(list_id, "remove", emails=emails, ids=ids, ext_ids=ext_ids)

    def _membership(
        self,
        list_id: int,
        action: str,
        *,
        emails: Sequence[str],
        ids: Sequence[int],
        ext_ids: Sequence[str],
    ) -> ListMembershipResult:
        groups: list[tuple[str, list[Any]]] = [
            ("emails", list(emails)),
            ("ids", [int(i) for i in ids]),
            ("extIds", list(ext_ids)),
        ]
        if not any(values for _, values in groups):
            raise ValueError("pass emails, ids or ext_ids")
        path = f"/contacts/lists/{int(list_id)}/contacts/{action}"
        success: list[str] = []
        failure: list[str] = []
        total: int | None = None
        process_id: int | None = None
        for wire_name, values in groups:
            for batch in _batches(values, MEMBERSHIP_BATCH):
                resp = self._request("POST", path, json_body={wire_name: batch})
                part = ListMembershipResult.from_wire(_json_object(resp, "POST", path))
                success.extend(part.success)
                failure.extend(part.failure)
                if part.total is not None:
                    total = (total or 0) + int(part.total)
                if part.process_id is not None:
                    process_id = part.process_id
        return ListMembershipResult(
            success=tuple(success), failure=tuple(failure), total=total, process_id=process_id
        )

    def iter_folders(self, *, page_size: int = SMALL_PAGE_MAX) -> Iterator[list[Folder]]:
        """Page through the account's folders (at most 50 per page)."""
        yield from self._pages(
            "/contacts/folders",
            "folders",
            Folder.from_wire,
            limit=_clamp_page(page_size, SMALL_PAGE_MAX),
            params={"sort": "asc"},
        )

    def get_folder(self, folder_id: int) -> Folder:
        """Fetch one folder.

        Raises:
            BrevoNotFound: no such folder.
        """
        return Folder.from_wire(self._get_json(f"/contacts/folders/{int(folder_id)}"))

    def create_folder(self, name: str) -> int:
        """Create a folder.

        Brevo takes no idempotency key; after a 5xx, timeout or reset the client looks the
        folder up by name instead of blindly sending again (see ``_create_named``).

        Returns:
            The new folder's id (or that of the one folder already bearing the name).

        Raises:
            SubmissionUncertain: the outcome stayed unknown and several folders share the name.
        """

        def same_name() -> list[int]:
            return [
                found.id for page in self.iter_folders() for found in page if found.name == name
            ]

        return self._create_named("/contacts/folders", {"name": name}, same_name)

    def iter_segments(self, *, page_size: int = SMALL_PAGE_MAX) -> Iterator[list[Segment]]:
        """Page through the account's segments (at most 50 per page)."""
        yield from self._pages(
            "/contacts/segments",
            "segments",
            Segment.from_wire,
            limit=_clamp_page(page_size, SMALL_PAGE_MAX),
            params={"sort": "asc"},
        )

    # ------------------------------------------------------------------ processes

    def start_import(self, request: ImportRequest) -> int:
        """Start a contact import (``POST /contacts/import``).

        Returns:
            The import's process id.

        Raises:
            BrevoBadRequest: Brevo rejected the request (nothing was imported).
            SubmissionUncertain: a 5xx, timeout or reset after sending; the import may or may
                not run. It is never resent blindly: reconcile first.
        """
        sources = [request.file_body, request.file_url, request.json_body]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("an import takes exactly one of file_body, file_url, json_body")
        if not request.list_ids and request.new_list is None:
            raise ValueError("an import needs list_ids or new_list")
        return self._start("/contacts/import", request)

    def start_export(self, request: ExportRequest) -> int:
        """Start a contact export (``POST /contacts/export``).

        Returns:
            The export's process id.

        Raises:
            BrevoBadRequest: Brevo rejected the request.
            SubmissionUncertain: the export may or may not have started; not resent blindly.
        """
        if request.custom_contact_filter is not None and request.contact_filter is not None:
            raise ValueError("pass custom_contact_filter or contact_filter, not both")
        return self._start("/contacts/export", request)

    def _start(self, path: str, request: ImportRequest | ExportRequest) -> int:
        resp = self._request("POST", path, json_body=request.to_wire(), submission=request)
        data = _json_object(resp, "POST", path)
        process_id = int(data["processId"])
        logger.info("POST %s started process %d", path, process_id)
        return process_id

    def get_process(self, process_id: int) -> Process:
        """Fetch one background process.

        Raises:
            BrevoNotFound: no such process.
        """
        return Process.from_wire(self._get_json(f"/processes/{int(process_id)}"))

    def iter_processes(
        self, *, page_size: int = SMALL_PAGE_MAX, sort: str = "desc"
    ) -> Iterator[list[Process]]:
        """Page through background processes (at most 50 per page; newest first by default)."""
        yield from self._pages(
            "/processes",
            "processes",
            Process.from_wire,
            limit=_clamp_page(page_size, SMALL_PAGE_MAX),
            params={"sort": sort},
        )

    def newest_process_id(self) -> int:
        """The id of the account's newest process, 0 when it has none (one request).

        A process created after this call has a higher id: lost-response reconciliation
        considers only those (Brevo's processes carry no creation time; docs/brevo/FACTS.md F2).
        """
        pages = self.iter_processes(page_size=1, sort="desc")
        try:
            first = next(pages, [])
        finally:
            pages.close()  # type: ignore[attr-defined]
        return max((p.id for p in first), default=0)

    def wait_for_process(
        self,
        process_id: int,
        *,
        timeout_s: float = 3600.0,
        wake: threading.Event | None = None,
        on_poll: Callable[[Process], None] | None = None,
    ) -> Process:
        """Poll a process until it completes, within the hourly budget of ``/processes``.

        A young process is polled quickly: after 1 s, 2 s, 4 s, ... (:func:`young_poll_delay`)
        until the doubling reaches the steady interval, which spreads the family's remaining
        budget over the hour and over every wait running on this client. Never below
        ``poll_interval_s``, and every poll is a request the rate limiter admits. A set
        ``wake`` event (a notify callback) ends the current sleep at once; it is cleared and
        one poll follows. Transient poll failures (429, 5xx, transport) are logged and polled
        through.

        Args:
            process_id: the process to wait for.
            timeout_s: give up after this many seconds.
            wake: optional event that cuts a sleep short.
            on_poll: called with each polled Process.

        Returns:
            The completed process.

        Raises:
            ProcessFailed: the process ended failed, cancelled, error or aborted.
            ProcessTimeout: still pending after ``timeout_s``.
            BrevoNotFound: no such process.
        """
        deadline = time.monotonic() + timeout_s
        last: Process | None = None
        polls = 0
        with self._limiter.waiting():
            while True:
                polls += 1
                try:
                    last = self.get_process(process_id)
                except (BrevoAPIError, BrevoTransportError) as exc:
                    if isinstance(exc, BrevoAPIError) and not exc.retriable:
                        raise
                    logger.warning("polling process %d failed (%s); polling on", process_id, exc)
                else:
                    if on_poll is not None:
                        on_poll(last)
                    if last.is_completed:
                        return last
                    if last.is_failed:
                        raise ProcessFailed(last)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProcessTimeout(process_id, last, timeout_s=timeout_s)
                steady = self._limiter.poll_interval(min_s=self._poll_interval_s)
                delay = min(
                    young_poll_delay(polls, steady_s=steady, min_s=self._poll_interval_s),
                    remaining,
                )
                if wake is None:
                    time.sleep(delay)
                elif wake.wait(delay):
                    wake.clear()
                    logger.debug("process %d: woken by a callback", process_id)

    # ------------------------------------------------------------------ downloads

    def download(
        self,
        url: str,
        dest: Path,
        *,
        expected_size: int | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Stream a file (an export's ``export_url``) to ``dest``; see :mod:`etl.brevo.download`.

        Args:
            url: the file URL (plain; use ``Process.export_url``, already unwrapped).
            dest: where to write.
            expected_size: bytes the file must have (e.g. ``info.export.file_size``).
            max_bytes: refuse a file larger than this.

        Returns:
            ``dest``.

        Raises:
            ExportLinkExpired: the URL answered 400, 403, 404 or 410 (an expired presigned S3
                link answers 403 with an XML body, sometimes 400; docs/brevo/FACTS.md F5).
            DownloadError: still truncated after retries, or larger than ``max_bytes``.
            BrevoAPIError: another non-2xx answer.
            BrevoTransportError: no answer after retries.
        """
        downloader = Downloader(
            session=self._session,
            api_origin=self._origin,
            timeout=self._timeout,
            retry=self._retry,
            jitter=self._jitter,
            sleep=self._sleep,
            count=self._count,
        )
        return downloader.download(
            url, Path(dest), expected_size=expected_size, max_bytes=max_bytes
        )

    # ------------------------------------------------------------------ pagination

    def _pages(
        self,
        path: str,
        key: str,
        parse: Callable[[dict[str, Any]], Any],
        *,
        limit: int,
        params: _Params,
    ) -> Iterator[list[Any]]:
        def fetch(page_limit: int, offset: int) -> Page[Any]:
            data = self._get_json(path, {**params, "limit": page_limit, "offset": offset})
            raw_count = data.get("count")
            count = (
                int(raw_count)
                if isinstance(raw_count, int | str) and str(raw_count).isdigit()
                else None
            )
            return Page([parse(item) for item in data.get(key) or ()], count)

        yield from iter_offset_pages(fetch, limit=limit)


def young_poll_delay(polls: int, *, steady_s: float, min_s: float) -> float:
    """Seconds to sleep after the ``polls``-th poll of one wait: 1, 2, 4, ... up to ``steady_s``.

    Never below ``min_s`` (the client's ``poll_interval_s``) and never above ``steady_s`` (the
    budget's even spread) unless ``min_s`` is.
    """
    doubling = YOUNG_POLL_FIRST_S * 2.0 ** min(max(polls - 1, 0), 32)
    return max(min_s, min(doubling, steady_s))


def _is_json(resp: requests.Response) -> bool:
    try:
        resp.json()
    except ValueError:
        return False
    return True


def _json_object(resp: requests.Response, method: str, path: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BrevoAPIError(
            "expected a JSON object in the response",
            status=resp.status_code,
            code="invalid_response",
            method=method,
            path=path,
        )
    return data
