"""The API key appears in no log line (DEBUG included), output, error, repr, pickle or file."""

from __future__ import annotations

import logging
import pickle
import socket
import time
import traceback

import pytest

from etl.brevo import (
    BrevoClient,
    BrevoError,
    ContactFilter,
    ExportRequest,
    ImportRequest,
    RetryPolicy,
)

from ._support import csv_body

WRONG_KEY = "wrong-key-Zq8-distinctive-5521"


def _texts_of(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    texts.append(pickle.dumps(exc).decode("latin-1"))
    # Dask installs tblib's pickling, which carries __cause__/__context__ chains along.
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            texts.extend([repr(linked), repr(vars(linked))])
    texts.extend(repr(v) for v in vars(exc).values())
    return texts


def test_the_key_never_leaks(make_client, fast_sandbox, caplog, capsys, tmp_path):
    key = fast_sandbox.api_key
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "etl.brevo"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    retry = RetryPolicy(max_attempts=2, base_s=0.0)
    client = make_client(retry=retry)
    assert client._session.headers["api-key"] == key  # the key really is in use
    texts: list[str] = [repr(client), str(client)]
    errors: list[BaseException] = []

    def expect_error(call) -> None:
        with pytest.raises(BrevoError) as info:
            call()
        errors.append(info.value)

    # successes, with query strings and bodies
    list_id = client.create_list("L", folder_id=client.create_folder("F"))
    pid = client.start_import(ImportRequest(file_body=csv_body(["k@x.org"]), list_ids=(list_id,)))
    client.wait_for_process(pid, timeout_s=20)
    list(client.iter_contacts(modified_since="2020-01-01T00:00:00.000Z", page_size=10))
    export_id = client.start_export(
        ExportRequest(
            custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id)
        )
    )
    export = client.wait_for_process(export_id, timeout_s=20)
    client.download(export.export_url, tmp_path / "export.csv")

    # failures: 401, 404, 429, 5xx, resets, timeouts, SubmissionUncertain, refused connections
    expect_error(make_client(api_key=WRONG_KEY, retry=retry).get_attributes)
    expect_error(lambda: client.get_list(9999))
    fast_sandbox.add_fault(kind="status", status=429, path_prefix="/v3/contacts/folders", count=2)
    expect_error(lambda: list(client.iter_folders()))
    fast_sandbox.add_fault(kind="status", status=503, path_prefix="/v3/contacts/lists", count=2)
    expect_error(lambda: list(client.iter_lists()))
    fast_sandbox.add_fault(kind="reset", path_prefix="/v3/contacts/segments", count=2)
    expect_error(lambda: list(client.iter_segments()))
    fast_sandbox.add_fault(kind="status", status=503, path_prefix="/v3/contacts/import", count=1)
    expect_error(
        lambda: client.start_import(
            ImportRequest(file_body=csv_body(["u@x.org"]), list_ids=(list_id,))
        )
    )
    slow = make_client(timeout=0.2, retry=retry)
    fast_sandbox.add_fault(kind="delay", delay_s=0.5, path_prefix="/v3/processes", count=2)
    expect_error(lambda: slow.get_process(pid))
    time.sleep(0.6)  # let the sandbox finish the abandoned requests before the next test
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = BrevoClient(key, base_url=f"http://127.0.0.1:{port}/v3", retry=retry)
    texts.append(repr(closed))
    expect_error(closed.get_attributes)

    assert {type(e).__name__ for e in errors} == {
        "BrevoAuthError",
        "BrevoNotFound",
        "BrevoRateLimited",
        "BrevoServerError",
        "BrevoTransportError",
        "SubmissionUncertain",
    }
    for exc in errors:
        texts.extend(_texts_of(exc))
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]

    assert any(r.name.startswith("urllib3") for r in caplog.records)  # DEBUG really captured
    assert any(r.name.startswith("etl.brevo") for r in caplog.records)
    for secret in (key, WRONG_KEY):
        # count only: a failure message must not print the key it found
        leaks = sum(secret in t for t in texts)
        assert leaks == 0, f"{leaks} captured texts contain an API key"
    # our own log lines carry method and path, never a query string
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("etl.brevo")]
    assert not [m for m in ours if "?" in m or "modifiedSince" in m]
