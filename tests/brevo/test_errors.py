"""The one status-to-class map, one-line messages, and errors that survive pickling."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest
import requests

from etl.brevo import (
    BrevoAPIError,
    BrevoAuthError,
    BrevoBadRequest,
    BrevoError,
    BrevoNotFound,
    BrevoRateLimited,
    BrevoServerError,
    BrevoTooEarly,
    BrevoTransportError,
    ExportLinkExpired,
    ImportRequest,
    Process,
    ProcessFailed,
    ProcessTimeout,
    SubmissionUncertain,
    error_class_for_status,
    error_for_response,
)


def make_response(status: int, body: object = None, *, method="GET", url=None, reason="Reason"):
    """A real requests.Response value, as an adapter would build it (no network needed)."""
    resp = requests.Response()
    resp.status_code = status
    resp.reason = reason
    if isinstance(body, dict | list):
        resp._content = json.dumps(body).encode()
        resp.headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        resp._content = body.encode()
    else:
        resp._content = b""
    url = url or "https://api.brevo.com/v3/contacts/lists/9?limit=10&offset=0"
    resp.url = url
    resp.request = requests.Request(method, url).prepare()
    return resp


@pytest.mark.parametrize(
    ("status", "code", "exc", "retriable"),
    [
        (400, "invalid_parameter", BrevoBadRequest, False),
        (400, "duplicate_parameter", BrevoBadRequest, False),
        (422, "unprocessable_entity", BrevoBadRequest, False),
        (401, "unauthorized", BrevoAuthError, False),
        (403, "permission_denied", BrevoAuthError, False),
        (404, "document_not_found", BrevoNotFound, False),
        (425, "too_early", BrevoTooEarly, True),
        (429, "too_many_requests", BrevoRateLimited, True),
        (500, "internal_error", BrevoServerError, True),
        (502, None, BrevoServerError, True),
        (503, None, BrevoServerError, True),
        (402, "not_enough_credits", BrevoAPIError, False),
        (405, "method_not_allowed", BrevoAPIError, False),
    ],
)
def test_status_maps_to_class(status, code, exc, retriable):
    body = {"code": code, "message": "Something went wrong"} if code else None
    err = error_for_response(make_response(status, body))
    assert type(err) is exc
    assert isinstance(err, BrevoAPIError)
    assert isinstance(err, BrevoError)
    assert err.status == status
    assert err.code == code
    assert err.retriable is retriable
    assert error_class_for_status(status) is exc
    with pytest.raises(exc, match=rf"^GET /v3/contacts/lists/9 -> {status}"):
        raise err


def test_message_is_one_line_with_method_path_status_code_and_message():
    err = error_for_response(
        make_response(404, {"code": "document_not_found", "message": "List ID\nnot found"})
    )
    assert str(err) == "GET /v3/contacts/lists/9 -> 404 document_not_found: List ID not found"
    assert "limit" not in str(err)  # never the query string
    assert err.brevo_message == "List ID\nnot found"


def test_method_and_path_overrides():
    err = error_for_response(
        make_response(400, {"code": "missing_parameter", "message": "Missing listIds or newList"}),
        method="post",
        path="/contacts/import",
    )
    assert str(err) == (
        "POST /contacts/import -> 400 missing_parameter: Missing listIds or newList"
    )


def test_falls_back_to_reason_without_a_brevo_body():
    err = error_for_response(make_response(503, "<html><body>busy</body></html>", reason="Busy"))
    assert str(err) == "GET /v3/contacts/lists/9 -> 503: Busy"
    assert err.code is None
    assert err.body == "<html><body>busy</body></html>"


def test_short_plain_text_body_is_the_message():
    err = error_for_response(make_response(502, "upstream went away"))
    assert str(err).endswith("-> 502: upstream went away")


def test_free_text_code_and_metadata_are_kept():
    body = {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }
    err = error_for_response(make_response(400, body, method="POST"))
    assert err.metadata == {"duplicate_identifiers": ["email"]}
    assert err.body == body
    other = error_for_response(make_response(404, {"code": "Contact email not found"}))
    assert other.code == "Contact email not found"
    assert str(other).endswith("404 Contact email not found: Reason")


def test_retry_after_is_carried():
    err = error_for_response(make_response(429, {"code": "x", "message": "slow"}), retry_after=3)
    assert isinstance(err, BrevoRateLimited)
    assert err.retry_after == 3


def _roundtrip(err: BaseException) -> BaseException:
    return pickle.loads(pickle.dumps(err))


def test_errors_survive_pickling():
    api = error_for_response(make_response(400, {"code": "bad", "message": "m", "metadata": {}}))
    copy = _roundtrip(api)
    assert type(copy) is BrevoBadRequest
    assert str(copy) == str(api)
    assert copy.status == 400
    assert copy.code == "bad"

    transport = BrevoTransportError("GET /x -> reset", method="GET", path="/x", kind="reset")
    sent_at = datetime(2026, 11, 23, tzinfo=UTC)
    request = ImportRequest(file_body="EMAIL\na@b.c", list_ids=(2,))
    uncertain = SubmissionUncertain(
        method="POST",
        path="/contacts/import",
        body_sha256="ab" * 32,
        sent_at=sent_at,
        request=request,
        cause=transport,
    )
    copy_u = _roundtrip(uncertain)
    assert isinstance(copy_u, SubmissionUncertain)
    assert copy_u.request == request
    assert copy_u.sent_at == sent_at
    assert str(copy_u.cause) == str(transport)
    assert "\n" not in str(copy_u)

    process = Process(id=7, name="IMPORTUSER", status="failed", error="bad file")
    failed = _roundtrip(ProcessFailed(process))
    assert isinstance(failed, ProcessFailed)
    assert failed.process == process
    assert str(failed) == "process 7 (IMPORTUSER) ended failed: bad file"

    timeout = _roundtrip(ProcessTimeout(7, process, timeout_s=2))
    assert isinstance(timeout, ProcessTimeout)
    assert timeout.process_id == 7
    assert timeout.last == process

    expired = _roundtrip(ExportLinkExpired(path="/exports/x.csv", status=410))
    assert str(expired) == "GET /exports/x.csv -> 410: export link expired or unknown"
