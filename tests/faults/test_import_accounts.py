"""Issue 13: runs scoped to an account, reconciliation by process id and content, honest counts.

Each test runs under every sandbox profile (the ``brevo_env`` fixture), so what is proven here
holds both for the pessimistic reading of real Brevo (``minimal``: no process times,
``info.import`` as CSV links, ``false`` not overwriting ``true``) and for the 2026-02 spec.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from etl.brevo.client import BrevoClient
from etl.brevo.errors import SubmissionUncertain
from etl.brevo.ratelimit import RateLimits
from etl.brevo.retry import RetryPolicy
from etl.imports import (
    ChunkFile,
    ReconcileAmbiguous,
    Target,
    reconcile_uncertain,
)
from etl.imports.ledger import Ledger
from flows.import_contacts import import_contacts

from ._support import (
    IMPORT_PATH,
    api,
    assert_accounting,
    expected_emails,
    processes,
    sandbox_emails,
    seed_account,
    write_people,
)

ROWS = 30


def run(tmp_path, list_id, **kw):
    src = tmp_path / "people.csv"
    if not src.exists():
        write_people(src, ROWS)
    params = {
        "files": [str(src)],
        "list_ids": [list_id],
        "chunk_bytes": 400,
        "state_dir": str(tmp_path / "state"),
        "report_path": str(tmp_path / "report.json"),
        "secret_block": None,
        **kw,
    }
    return import_contacts(**params)


def wait_idle(sandbox):
    deadline = time.monotonic() + 10
    while any(p["status"] != "completed" for p in processes(sandbox, "IMPORTUSER")):
        assert time.monotonic() < deadline
        time.sleep(0.05)


# ---------------------------------------------------------------------------- accounts


def test_a_state_dir_reused_against_another_account_skips_nothing(account, tmp_path):
    sandbox = account["sandbox"]
    first = run(tmp_path, account["list_id"])
    assert first["rows_sent"] == ROWS
    # Rehearsal over: the same command, the same state dir, another account (another key),
    # whose list happens to have the same id.
    profile = sandbox.app.config.current.profile
    sandbox.reset()
    sandbox.configure(profile=profile, other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    sandbox.configure(account={"email": "production@example.com"})
    other = seed_account(sandbox)
    assert other["list_id"] == account["list_id"]
    second = run(tmp_path, other["list_id"])
    assert second["run_action"] == "new"
    assert second["account"]["email"] == "production@example.com"
    assert second["account"]["key"] != first["account"]["key"]
    assert second["rows_sent"] == ROWS
    assert {c["action"] for c in second["chunks"]} == {"submitted"}
    assert sandbox_emails(sandbox) == expected_emails(ROWS)
    assert len(list((tmp_path / "state").glob("accounts/*/ledger.sqlite"))) == 2


def test_an_emptied_account_gets_everything_again_and_a_new_list(account, tmp_path):
    sandbox = account["sandbox"]
    kw = {"list_ids": None, "new_list": "Rehearsal", "folder_id": account["folder_id"]}
    first = run(tmp_path, None, **kw)
    profile = sandbox.app.config.current.profile
    sandbox.reset()  # same key, same account identity, nothing in it
    sandbox.configure(profile=profile, other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    again = seed_account(sandbox)
    squatter = api(
        sandbox, "POST", "/contacts/lists", json={"name": "Other", "folderId": again["folder_id"]}
    ).json()["id"]
    # Another list now holds the id the ledger remembers for "Rehearsal".
    assert squatter == first["list_ids"][0]
    second = run(tmp_path, None, **{**kw, "folder_id": again["folder_id"]})
    assert second["run_action"] == "new"
    assert second["rows_sent"] == ROWS
    assert second["list_ids"] not in ([squatter], [again["list_id"]])
    lists = api(sandbox, "GET", "/contacts/lists").json()["lists"]
    assert {lst["name"] for lst in lists} == {"Faults", "Other", "Rehearsal"}
    assert sandbox_emails(sandbox) == expected_emails(ROWS)


# ---------------------------------------------------------------------------- reconciling


def test_another_import_inside_the_window_is_never_adopted(account, tmp_path, monkeypatch):
    sandbox = account["sandbox"]
    monkeypatch.setenv("BREVO_TIMEOUT_S", "1")
    # The second chunk's POST never reaches Brevo ...
    sandbox.add_fault(
        path_prefix=IMPORT_PATH, method="POST", kind="status", status=503, every=2, count=1
    )
    with pytest.raises(SubmissionUncertain):
        run(tmp_path, account["list_id"])
    # ... and someone else imports other contacts before the re-run.
    other = api(
        sandbox,
        "POST",
        "/contacts/import",
        json={"fileBody": "EMAIL\nsomeone@else.example", "listIds": [account["list_id"]]},
    ).json()["processId"]
    wait_idle(sandbox)
    result = run(tmp_path, account["list_id"])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert_accounting(report)
    assert result["rows_sent"] == ROWS
    assert report["chunks"][1]["action"] == "submitted"  # sent, not mistaken for `other`
    assert other not in [c["process_id"] for c in report["chunks"]]
    assert sandbox_emails(sandbox) == expected_emails(ROWS) | {"someone@else.example"}


@pytest.fixture
def reconcile_setup(account, tmp_path):
    """A client, a ledger on a run, and one chunk whose submission is in doubt."""
    sandbox = account["sandbox"]
    body = "EMAIL;FIRSTNAME\nr1@example.com;Ann\nr2@example.com;Bob\nr3@example.com;Cy\n"
    path = tmp_path / "chunk.csv"
    path.write_text(body, encoding="utf-8")
    chunk = ChunkFile(index=1, path=path, rows=3, bytes=len(body), sha256="x", columns=())
    target = Target((account["list_id"],), True, False, False, False)
    client = BrevoClient(
        sandbox.api_key,
        base_url=sandbox.url,
        retry=RetryPolicy(base_s=0),
        limits=RateLimits(contacts_per_second=500, other_per_hour=100_000),
        poll_interval_s=0.05,
    )
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_run("fp")
    newest = max((p["id"] for p in processes(sandbox)), default=0)
    ledger.begin_submission(
        chunk_key="k", body_sha256="x", target="t", rows=3, size=1, after_process_id=newest
    )

    def post(text):
        return api(
            sandbox,
            "POST",
            "/contacts/import",
            json={"fileBody": text, "listIds": [account["list_id"]]},
        ).json()["processId"]

    yield client, ledger, chunk, target, post, body
    client.close()
    ledger.close()


def test_reconcile_adopts_the_import_that_holds_the_chunk(reconcile_setup):
    client, ledger, chunk, target, post, body = reconcile_setup
    ours = post(body)
    found = reconcile_uncertain(client, ledger, chunk, target, ledger.get("k"))
    assert found == ours


def test_reconcile_refuses_to_choose_between_two_candidates(reconcile_setup):
    client, ledger, chunk, target, post, body = reconcile_setup
    post(body)
    post("EMAIL\nsomeone@else.example")
    with pytest.raises(ReconcileAmbiguous, match="candidates"):
        reconcile_uncertain(client, ledger, chunk, target, ledger.get("k"))
    assert ledger.get("k").status == "submitting"  # state kept


def test_reconcile_finds_nothing_when_the_post_never_arrived(reconcile_setup):
    client, ledger, chunk, target, post, _ = reconcile_setup
    post("EMAIL\nsomeone@else.example")  # only someone else's import in the window
    assert reconcile_uncertain(client, ledger, chunk, target, ledger.get("k")) is None


def test_a_delayed_post_that_lands_during_the_settle_window_is_adopted(reconcile_setup):
    client, ledger, chunk, target, post, body = reconcile_setup
    landed: list[int] = []
    timer = threading.Timer(1.0, lambda: landed.append(post(body)))
    timer.start()
    try:
        found = reconcile_uncertain(client, ledger, chunk, target, ledger.get("k"), settle_s=8)
    finally:
        timer.join()
    assert found == landed[0]


# ---------------------------------------------------------------------------- Brevo's counts


def test_rows_brevo_refuses_are_counted_listed_and_never_sent(account, tmp_path):
    sandbox = account["sandbox"]
    src = tmp_path / "phones.csv"
    # Two contacts with one mobile number: Brevo keeps it on one and names the other row.
    src.write_text(
        "Email,Mobile\na@example.com,+33612345678\nb@example.com,+33612345678\n"
        "c@example.com,+33612345679\n",
        encoding="utf-8",
    )
    result = run(tmp_path, account["list_id"], files=[str(src)])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert_accounting(report)
    assert report["rows_refused_by_brevo"] == 1
    assert result["rows_sent"] == 2
    assert report["brevo"]["counts"]["duplicate_phone_id"] == 1
    assert "info.import" in report["brevo"]["counts_source"]
    if sandbox.app.config.current.import_info == "links":
        refusals = (tmp_path / "report.refusals.csv").read_text(encoding="utf-8").splitlines()
        assert refusals[0] == "chunk,kind,identifier,row"
        assert len(refusals) == 2
        assert "duplicate_phone_id" in refusals[1]


def test_false_booleans_are_applied_even_where_the_import_keeps_true(account, tmp_path):
    sandbox = account["sandbox"]
    api(
        sandbox,
        "POST",
        "/contacts",
        json={"email": "p1@example.com", "attributes": {"NEWSLETTER": True}},
    )
    src = tmp_path / "flags.csv"
    src.write_text("Email,Newsletter\np1@example.com,no\np2@example.com,yes\n", encoding="utf-8")
    result = run(tmp_path, account["list_id"], files=[str(src)])
    assert result["brevo"]["false_booleans_reapplied"] == 1
    held = api(sandbox, "GET", "/contacts/p1@example.com").json()
    assert held["attributes"]["NEWSLETTER"] is False
    # With --no-update-existing Brevo leaves existing contacts alone, and so do we.
    api(sandbox, "PUT", "/contacts/p1@example.com", json={"attributes": {"NEWSLETTER": True}})
    result = run(tmp_path, account["list_id"], files=[str(src)], update_existing=False)
    assert result["brevo"]["false_booleans_reapplied"] == 0
    held = api(sandbox, "GET", "/contacts/p1@example.com").json()
    assert held["attributes"]["NEWSLETTER"] is True
