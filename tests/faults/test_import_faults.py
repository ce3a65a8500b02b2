"""Issue 9 fault matrix, import side: the import flow against a misbehaving sandbox.

Every case ends one of two ways: the run completes with every good row in the account, or it
fails with a one-line reason and a re-run completes it. Either way no chunk is imported twice
(the request log pairs each processed ``POST /contacts/import`` with the process it started),
and ``rows_read == rows_sent + rows_rejected``.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from etl.brevo.errors import SubmissionUncertain
from flows.import_contacts import ImportIncomplete, import_contacts

from ._support import (
    IMPORT_PATH,
    assert_accounting,
    assert_exactly_once,
    expected_emails,
    import_outcomes,
    one_line,
    processed,
    sandbox_emails,
    write_people,
)

ROWS = 40  # about 14 rows per 400-byte chunk: three chunks


def run_import(tmp_path, account, **kw):
    src = tmp_path / "people.csv"
    if not src.exists():
        write_people(src, ROWS)
    params = {
        "files": [str(src)],
        "list_ids": [account["list_id"]],
        "chunk_bytes": 400,
        "state_dir": str(tmp_path / "state"),
        "report_path": str(tmp_path / "report.json"),
        "secret_block": None,
        **kw,
    }
    return import_contacts(**params)


def check_complete(account, result, tmp_path):
    """The run's report, the account and the request log all agree; returns the report."""
    sandbox = account["sandbox"]
    sandbox.clear_faults()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert result["ok"] is True
    assert_accounting(report)
    assert report["rows_read"] == ROWS + 3
    assert report["rows_sent"] == ROWS
    assert report["rejects_by_reason"] == {
        "duplicate": 1,
        "invalid_email": 1,
        "missing_identifier": 1,
    }
    assert len(report["chunks"]) >= 3
    assert all(c["status"] == "completed" for c in report["chunks"])
    assert_exactly_once(sandbox, len(report["chunks"]))
    assert sandbox_emails(sandbox) == expected_emails(ROWS)
    return report


def ledger_rows(tmp_path):
    (path,) = (tmp_path / "state").glob("accounts/*/ledger.sqlite")  # one account
    with sqlite3.connect(path) as db:
        return db.execute("SELECT status, process_id FROM chunks ORDER BY submitted_at").fetchall()


# ---------------------------------------------------------------------------- rate limits


def test_a_429_storm_one_request_in_three(account, tmp_path):
    sandbox = account["sandbox"]
    before = len(sandbox.requests_log())
    sandbox.add_fault(path_prefix="/v3/", kind="status", status=429, every=3)
    result = run_import(tmp_path, account)
    statuses = [r["status"] for r in sandbox.requests_log()[before:]]
    assert statuses.count(429) >= len(statuses) // 4  # the storm really blew
    check_complete(account, result, tmp_path)


# ---------------------------------------------------------------------------- the submission

# The second chunk's POST /contacts/import meets the fault once. "before": Brevo never saw it
# (nothing imported); "after": Brevo imported it and only the answer was lost.
SUBMISSION_FAULTS = {
    "503-before": {"kind": "status", "status": 503, "when": "before"},
    "503-after": {"kind": "status", "status": 503, "when": "after"},
    "reset-before": {"kind": "reset", "when": "before"},
    "reset-after": {"kind": "reset", "when": "after"},
    "slow-before": {"kind": "delay", "delay_s": 2.0, "when": "before"},
    "slow-after": {"kind": "delay", "delay_s": 2.0, "when": "after"},
}


@pytest.mark.parametrize("name", SUBMISSION_FAULTS)
def test_a_lost_submission_is_reconciled_never_resent_blindly(account, tmp_path, name, monkeypatch):
    sandbox = account["sandbox"]
    monkeypatch.setenv("BREVO_TIMEOUT_S", "1")  # the slow answers take 2 s
    fault = SUBMISSION_FAULTS[name]
    sandbox.add_fault(path_prefix=IMPORT_PATH, method="POST", every=2, count=1, **fault)
    if fault["when"] == "after":
        # The import happened: the run finds its process and goes on, in the same run.
        result = run_import(tmp_path, account)
        report = check_complete(account, result, tmp_path)
        assert [c["action"] for c in report["chunks"]].count("reconciled") == 1
        return
    # Nothing (yet) arrived: the run stops with one line and leaves the chunk "submitting".
    with pytest.raises(SubmissionUncertain) as caught:
        run_import(tmp_path, account)
    assert "reconcile" in one_line(caught.value)
    assert [s for s, _ in ledger_rows(tmp_path)] == ["submitted", "submitting"]
    if name == "slow-before":
        # The slow request still lands after the client gave up, as it would on Brevo.
        deadline = time.monotonic() + 10
        while len(processed(sandbox, IMPORT_PATH)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    result = run_import(tmp_path, account)
    report = check_complete(account, result, tmp_path)
    actions = [c["action"] for c in report["chunks"]]
    assert actions[0] == "resumed"
    assert actions[1] == ("reconciled" if name == "slow-before" else "submitted")


# ---------------------------------------------------------------------------- reads

READ_FAULTS = {
    "503-before": {"kind": "status", "status": 503, "when": "before", "every": 2},
    "503-after": {"kind": "status", "status": 503, "when": "after", "every": 2},
    "reset": {"kind": "reset", "every": 3},
    "slow": {"kind": "delay", "delay_s": 0.8, "every": 3},
}


@pytest.mark.parametrize("name", READ_FAULTS)
def test_reads_and_polls_are_retried_through_faults(account, tmp_path, name, monkeypatch):
    sandbox = account["sandbox"]
    monkeypatch.setenv("BREVO_TIMEOUT_S", "0.5")
    sandbox.add_fault(path_prefix="/v3/", method="GET", **READ_FAULTS[name])
    result = run_import(tmp_path, account)
    failed_gets = [r for r in sandbox.requests_log() if r["method"] == "GET" and r["status"] != 200]
    assert failed_gets or name == "slow"  # a slow answer is logged 200, then timed out
    check_complete(account, result, tmp_path)


# ---------------------------------------------------------------------------- processes


def test_failed_processes_fail_the_run_and_a_rerun_imports_each_chunk_once(account, tmp_path):
    sandbox = account["sandbox"]
    sandbox.configure(process_fail=True)
    with pytest.raises(ImportIncomplete) as caught:
        run_import(tmp_path, account)
    assert "re-run" in one_line(caught.value)
    failed = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert_accounting(failed)
    assert {c["status"] for c in failed["chunks"]} == {"failed"}
    sandbox.configure(process_fail=False)
    result = run_import(tmp_path, account)
    check_complete(account, result, tmp_path)
    assert all(s == ["failed", "completed"] for s in import_outcomes(sandbox).values())


def test_processes_queued_past_the_wait_limit_are_waited_for_by_the_rerun(account, tmp_path):
    sandbox = account["sandbox"]
    sandbox.configure(process_stall=True)
    with pytest.raises(ImportIncomplete) as caught:
        run_import(tmp_path, account, wait_timeout_s=0.5)
    assert "timeout" in one_line(caught.value)
    assert {s for s, _ in ledger_rows(tmp_path)} == {"submitted"}
    sandbox.configure(process_stall=False)
    result = run_import(tmp_path, account)
    report = check_complete(account, result, tmp_path)
    assert {c["action"] for c in report["chunks"]} == {"resumed"}  # nothing sent again
    assert all(s == ["completed"] for s in import_outcomes(sandbox).values())


def test_a_callback_that_never_comes_still_finishes_by_polling(account, tmp_path):
    sandbox = account["sandbox"]
    # Brevo is told to call a port where nothing listens: every callback fails.
    result = run_import(
        tmp_path, account, wait="callback", callback_public_url="http://127.0.0.1:9"
    )
    check_complete(account, result, tmp_path)
    calls = sandbox.app.runner.notifications
    assert calls, "the sandbox never tried to call back"
    assert all("error" in c for c in calls)


def test_a_lost_answer_on_a_resubmission_after_a_failed_process_is_reconciled(account, tmp_path):
    # The failed processes of the first run are the ledger's too: reconciling the resubmission's
    # lost answer must not mistake them for candidates (or refuse to choose among them).
    sandbox = account["sandbox"]
    sandbox.configure(process_fail=True)
    with pytest.raises(ImportIncomplete):
        run_import(tmp_path, account)
    sandbox.configure(process_fail=False)
    sandbox.add_fault(
        path_prefix=IMPORT_PATH, method="POST", kind="status", status=503, when="after", count=1
    )
    result = run_import(tmp_path, account)
    report = check_complete(account, result, tmp_path)
    assert report["chunks"][0]["action"] == "reconciled"
    assert all(s == ["failed", "completed"] for s in import_outcomes(sandbox).values())
