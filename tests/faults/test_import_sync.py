"""Issue 16: nightly syncs: --changed-only, --unlink-missing and their faults, under every profile.

Each test runs under every sandbox profile (``brevo_env``); the sandbox's request log and process
list are the evidence of what was sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.errors import InputError
from flows.import_contacts import import_contacts

from ._support import (
    IMPORT_PATH,
    api,
    assert_accounting,
    expected_emails,
    processed,
    processes,
    seed_account,
    write_people,
)

ROWS = 30
BAD = 3  # write_people's invalid email, duplicate and row without identifier


def run(tmp_path: Path, list_id: int, src: Path, **kw):
    params = {
        "files": [str(src)],
        "list_ids": [list_id],
        "state_dir": str(tmp_path / "state"),
        "secret_block": None,
        "changed_only": True,
        **kw,
    }
    return import_contacts(**params)


def list_members(sandbox, list_id: int) -> set[str]:
    out: set[str] = set()
    offset = 0
    while True:
        page = api(
            sandbox,
            "GET",
            f"/contacts/lists/{list_id}/contacts",
            params={"limit": 500, "offset": offset},
        ).json()
        out.update(c["email"] for c in page.get("contacts", []) if c.get("email"))
        offset += 500
        if offset >= page.get("count", 0):
            return out


def first_name(sandbox, email: str) -> str | None:
    contact = api(sandbox, "GET", f"/contacts/{email}").json()
    return contact["attributes"].get("FIRSTNAME")


def edit(src: Path, changes: dict[int, str], *, drop: set[int] = frozenset(), add: int = 0) -> None:
    """Rewrite people.csv: new first names for some rows, rows left out, rows added."""
    lines = src.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1 : ROWS + 1]):
        if i in drop:
            continue
        if i in changes:
            email, _, news = line.split(",")
            line = f"{email},{changes[i]},{news}"
        out.append(line)
    out += [f"new{j}@example.com,New {j},yes" for j in range(add)]
    out += lines[ROWS + 1 :]
    src.write_text("\n".join(out) + "\n", encoding="utf-8")


@pytest.fixture
def people(tmp_path):
    return write_people(tmp_path / "people.csv", ROWS)


def test_changed_only_sends_only_new_and_changed_rows(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    first = run(tmp_path, list_id, people)
    assert first["rows_sent"] == ROWS
    assert first["rows_unchanged"] == 0
    assert "no earlier successful run" in first["sync"]["snapshot"]
    assert_accounting(first)
    imports_before = len(processed(sandbox, IMPORT_PATH))

    again = run(tmp_path, list_id, people)
    assert again["rows_sent"] == 0
    assert again["rows_unchanged"] == ROWS
    assert again["rows_rejected"] == BAD
    assert again["chunks"] == []
    assert_accounting(again)
    assert len(processed(sandbox, IMPORT_PATH)) == imports_before  # nothing went to Brevo

    edit(people, {3: "Changed Three", 7: "Changed Seven"}, add=2)
    third = run(tmp_path, list_id, people)
    assert third["rows_sent"] == 4
    assert third["rows_unchanged"] == ROWS - 2
    assert_accounting(third)
    assert [f["rows_unchanged"] for f in third["files"]] == [ROWS - 2]
    assert first_name(sandbox, "p3@example.com") == "Changed Three"
    assert first_name(sandbox, "new1@example.com") == "New 1"
    assert len(processed(sandbox, IMPORT_PATH)) == imports_before + 1  # one import, 4 rows
    assert [c["rows"] for c in third["chunks"]] == [4]


def test_a_changed_option_or_another_account_invalidates_the_snapshot(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people)
    changed = run(tmp_path, list_id, people, email_blacklist=True)
    assert changed["rows_sent"] == ROWS
    assert "options that change values changed" in changed["sync"]["snapshot"]

    # Another account (another key) with the same state dir and the same list id: everything.
    profile = sandbox.app.config.current.profile
    sandbox.reset()
    sandbox.configure(profile=profile, other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    sandbox.configure(account={"email": "production@example.com"})
    other = seed_account(sandbox)
    assert other["list_id"] == list_id
    fresh = run(tmp_path, list_id, people, email_blacklist=True)
    assert fresh["rows_sent"] == ROWS
    assert fresh["rows_unchanged"] == 0
    assert list_members(sandbox, list_id) == expected_emails(ROWS)


def test_an_emptied_account_gets_everything_again(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people)
    profile = sandbox.app.config.current.profile
    sandbox.reset()  # the same account, emptied: the snapshot's process is gone
    sandbox.configure(profile=profile, other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    seed_account(sandbox)
    result = run(tmp_path, list_id, people)
    assert result["rows_sent"] == ROWS
    assert "no longer knows process" in result["sync"]["snapshot"]
    assert list_members(sandbox, list_id) == expected_emails(ROWS)


def test_unlink_missing_unlinks_who_left_once_and_lists_them(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people, unlink_missing=True)
    assert list_members(sandbox, list_id) == expected_emails(ROWS)
    edit(people, {}, drop={4})
    report = tmp_path / "r" / "report.json"
    result = run(tmp_path, list_id, people, unlink_missing=True, report_path=str(report))
    assert result["rows_sent"] == 0
    assert result["sync"]["unlinked"] == 1
    assert list_members(sandbox, list_id) == expected_emails(ROWS) - {"p4@example.com"}
    # Unlinked, not deleted.
    assert api(sandbox, "GET", "/contacts/p4@example.com").json()["email"] == "p4@example.com"
    listed = (report.parent / "report.unlinked.csv").read_text(encoding="utf-8").splitlines()
    assert listed == ["identifier,list_id,outcome", f"p4@example.com,{list_id},unlinked"]
    removes = [r for r in sandbox.requests_log() if r["path"].endswith("/contacts/remove")]
    assert len(removes) == 1
    # The next run has nothing to unlink.
    again = run(tmp_path, list_id, people, unlink_missing=True)
    assert again["sync"]["unlinked"] == 0
    assert len([r for r in sandbox.requests_log() if r["path"].endswith("/contacts/remove")]) == 1


def test_a_rejected_row_does_not_unlink_its_contact(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people, unlink_missing=True)
    text = people.read_text(encoding="utf-8").replace(
        "p5@example.com,Person 5,yes", "p5@example.com,Person 5,maybe-not-a-boolean"
    )
    people.write_text(text, encoding="utf-8")
    result = run(tmp_path, list_id, people, unlink_missing=True)
    assert result["rows_rejected"] == BAD + 1
    assert result["sync"]["unlinked"] == 0
    assert "p5@example.com" in list_members(sandbox, list_id)


def test_the_unlink_guard_stops_before_anything_is_sent(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people, unlink_missing=True)
    edit(people, {1: "Changed"}, drop=set(range(10, 20)))
    imports_before = len(processed(sandbox, IMPORT_PATH))
    with pytest.raises(InputError) as caught:
        run(tmp_path, list_id, people, unlink_missing=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "would unlink 10 of 30 contacts" in message
    assert "--max-unlink 5%" in message
    assert len(processed(sandbox, IMPORT_PATH)) == imports_before
    assert list_members(sandbox, list_id) == expected_emails(ROWS)
    # Raised on purpose, the run goes through.
    result = run(tmp_path, list_id, people, unlink_missing=True, max_unlink="10")
    assert result["sync"]["unlinked"] == 10
    assert result["rows_sent"] == 1


def test_a_lost_unlink_answer_is_resent_and_the_run_completes(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people, unlink_missing=True)
    edit(people, {}, drop={1, 2})
    sandbox.add_fault(
        path_prefix=f"/v3/contacts/lists/{list_id}/contacts/remove",
        method="POST",
        kind="reset",
        when="after",
        count=1,
    )
    report = tmp_path / "lost" / "report.json"
    result = run(
        tmp_path, list_id, people, unlink_missing=True, max_unlink="10%", report_path=str(report)
    )
    removes = [
        r
        for r in sandbox.requests_log()
        if r["path"].endswith("/contacts/remove") and r["processed"]
    ]
    assert len(removes) == 2  # the lost call acted; the resend found nobody left to unlink
    # Brevo's second answer cannot tell "unlinked by the lost call" from "never there": both
    # contacts are reported off the list, none as an error, and none unlinked twice.
    assert result["sync"]["unlinked"] + result["sync"]["unlink_not_in_list"] == 2
    outcomes = (report.parent / "report.unlinked.csv").read_text(encoding="utf-8").splitlines()
    assert sorted(line.split(",")[0] for line in outcomes[1:]) == [
        "p1@example.com",
        "p2@example.com",
    ]
    assert list_members(sandbox, list_id) == expected_emails(ROWS) - {
        "p1@example.com",
        "p2@example.com",
    }


def test_a_failed_run_leaves_the_previous_snapshot(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    run(tmp_path, list_id, people)
    pointer = next((tmp_path / "state" / "accounts").glob("*/snapshots/*/current.json"))
    before = json.loads(pointer.read_text(encoding="utf-8"))
    edit(people, {2: "Two"})
    sandbox.configure(process_fail=True)
    with pytest.raises(Exception, match="did not complete"):
        run(tmp_path, list_id, people, wait_timeout_s=5)
    assert json.loads(pointer.read_text(encoding="utf-8")) == before
    sandbox.configure(process_fail=False)
    result = run(tmp_path, list_id, people)
    assert result["rows_sent"] == 1
    assert first_name(sandbox, "p2@example.com") == "Two"
    assert len(processes(sandbox, "IMPORTUSER")) >= 2


def test_verify_finds_a_false_kept_as_true_and_repair_fixes_it(account, tmp_path, people):
    sandbox, list_id = account["sandbox"], account["list_id"]
    # Everyone subscribed first; then the file says p1, p3 ... are not (Newsletter "no").
    everyone = tmp_path / "everyone.csv"
    everyone.write_text(
        "Email,First name,Newsletter\n"
        + "".join(f"p{i}@example.com,Person {i},yes\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    run(tmp_path, list_id, everyone, changed_only=False)
    report = tmp_path / "v" / "report.json"
    result = run(
        tmp_path,
        list_id,
        people,
        changed_only=False,
        verify=True,
        repair=True,
        report_path=str(report),
    )
    unsubscribed = [i for i in range(ROWS) if not i % 2]
    v = result["verify"]
    assert v["rows_landed"] + v["rows_differ"] + v["rows_missing"] == ROWS
    assert v["rows_missing"] == 0
    outcomes = (report.parent / "report.outcomes.csv").read_text(encoding="utf-8")
    if sandbox.app.config.current.profile == "minimal":
        # Brevo kept true where false was imported: found, then repaired.
        assert v["rows_differ"] == len(unsubscribed)
        assert "p2@example.com,differs,NEWSLETTER" in outcomes
        assert v["repaired"] == len(unsubscribed)
        assert v["still_differing"] == 0
    else:
        assert v["rows_differ"] == 0
    for i in (2, 4):
        contact = api(sandbox, "GET", f"/contacts/p{i}@example.com").json()
        assert contact["attributes"]["NEWSLETTER"] is False


def test_a_verify_export_expiring_mid_download_through_the_flow(account, tmp_path):
    """Over 300 contacts, --verify reads an export of the list: its first download is cut off
    and the link has expired by the retry; a new export is asked for and the outcomes hold."""
    sandbox, list_id = account["sandbox"], account["list_id"]
    src = write_people(tmp_path / "many.csv", 310, bad=False)
    sandbox.configure(export_link_ttl_s=2)
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="truncate", count=1)
    sandbox.add_fault(
        path_prefix="/exports/", method="GET", kind="delay", delay_s=2.5, every=2, count=1
    )
    report = tmp_path / "v" / "report.json"
    result = run(tmp_path, list_id, src, verify=True, report_path=str(report))
    v = result["verify"]
    assert v["verify_route"] == "export"
    assert (v["rows_landed"], v["rows_differ"], v["rows_missing"]) == (310, 0, 0)
    downloads = [r["status"] for r in sandbox.requests_log() if r["path"].startswith("/exports/")]
    assert downloads[0] == 200
    assert downloads[1] in (403, 410)  # the expired link (docs/brevo/FACTS.md F5)
    assert downloads[-1] == 200
    outcomes = (report.parent / "report.outcomes.csv").read_text(encoding="utf-8").splitlines()
    assert len(outcomes) == 311
