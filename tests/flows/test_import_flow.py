"""Issue 4 end to end: the import flow against the sandbox, exactly once, nothing lost."""

from __future__ import annotations

import csv
import json

import pytest

from etl.imports.rejects import read_rejects
from flows.import_contacts import ImportIncomplete, import_contacts

ROWS = [
    ["Email", "First name", "Mobile", "Birthday", "Newsletter"],
    ["ann@Example.com", "Ann", "06 12 34 56 78", "12/03/1990", "yes"],
    ["bob@example.com", "Bob", "", "1991-01-02", "no"],
    ["bad email", "Bad", "", "", ""],
    [" ANN@example.com ", "Ann2", "", "", "1"],
    ["", "NoId", "", "", ""],
    ["", "Sms only", "+44 7911 123456", "", ""],
    ["cy@example.com", "Cy", "0612", "", ""],
]


def write_csv(path, rows, *, delimiter=",", encoding="utf-8"):
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def contacts_by_key(sandbox):
    import requests

    out = {}
    offset = 0
    while True:
        page = requests.get(
            f"{sandbox.url}/contacts",
            params={"limit": 1000, "offset": offset},
            headers={"api-key": sandbox.api_key},
            timeout=10,
        ).json()
        for c in page["contacts"]:
            out[c.get("email") or str(c["attributes"].get("SMS")).lstrip("+")] = c
        offset += 1000
        if offset >= page["count"]:
            return out


def processed_imports(sandbox):
    return [
        r
        for r in sandbox.requests_log()
        if r["method"] == "POST" and r["path"] == "/v3/contacts/import" and r["processed"]
    ]


@pytest.fixture
def account(brevo_env):
    import requests

    h = {"api-key": brevo_env.api_key}
    for name, kind in (("BIRTHDAY", "date"), ("NEWSLETTER", "boolean")):
        requests.post(
            f"{brevo_env.url}/contacts/attributes/normal/{name}",
            json={"type": kind},
            headers=h,
            timeout=5,
        ).raise_for_status()
    folder = requests.post(
        f"{brevo_env.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    return {"folder_id": folder.json()["id"], "sandbox": brevo_env}


def test_import_lands_normalised_rows_and_accounts_for_every_row(account, tmp_path):
    sandbox = account["sandbox"]
    src = write_csv(tmp_path / "people.csv", ROWS)
    report_path = tmp_path / "out" / "report.json"
    result = import_contacts(
        files=[str(src)],
        new_list="Leads",
        folder_id=account["folder_id"],
        default_region="FR",
        dayfirst=True,
        state_dir=str(tmp_path / "state"),
        report_path=str(report_path),
        secret_block=None,
    )
    report = json.loads(report_path.read_text())
    assert result["rows_read"] == report["rows_read"] == 7
    assert report["rows_sent"] == 3  # bob, ann (last row wins), the SMS-only contact
    assert report["rows_rejected"] == 4
    assert report["rejects_by_reason"] == {
        "duplicate": 1,
        "invalid_email": 1,
        "invalid_phone": 1,
        "missing_identifier": 1,
    }
    assert report["rows_read"] == report["rows_sent"] + report["rows_rejected"]
    assert report["run_action"] == "new"
    assert report["rows_already_sent"] == 0
    for key in (
        "new_emails",
        "emails_exists",
        "invalid_email",
        "duplicates_email",
        "brevo",
        "chunks",
    ):
        assert key in report
    assert all(c["status"] == "completed" for c in report["chunks"])

    held = contacts_by_key(sandbox)
    assert set(held) == {"ann@example.com", "bob@example.com", "447911123456"}
    assert held["ann@example.com"]["attributes"]["FIRSTNAME"] == "Ann2"
    assert held["ann@example.com"]["attributes"]["NEWSLETTER"] is True
    assert held["bob@example.com"]["attributes"]["BIRTHDAY"].startswith("1991-01-02")
    assert held["bob@example.com"]["listIds"] == report["list_ids"]

    rejects = read_rejects(tmp_path / "out" / "report.rejects.csv")
    assert sorted(r["reason"] for r in rejects) == sorted(report["rejects_by_reason"].keys())
    assert {r["line"] for r in rejects} == {"2", "4", "6", "8"}

    # A re-run sends nothing again and reuses the list it created.
    before = len(processed_imports(sandbox))
    again = import_contacts(
        files=[str(src)],
        new_list="Leads",
        folder_id=account["folder_id"],
        default_region="FR",
        dayfirst=True,
        state_dir=str(tmp_path / "state"),
        report_path=str(report_path),
        secret_block=None,
    )
    assert len(processed_imports(sandbox)) == before
    assert again["list_ids"] == report["list_ids"]
    assert again["chunks"] == []
    assert again["run_action"] == "already_completed"
    assert (again["rows_sent"], again["rows_already_sent"]) == (0, 3)
    assert again["previous_run"]["id"] == report["run_id"]
    assert again["previous_run"]["rows_sent"] == 3
    assert again["rows_read"] == again["rows_rejected"] + again["rows_already_sent"]

    # --again is a new run that sends everything again, into the same list.
    fresh = import_contacts(
        files=[str(src)],
        new_list="Leads",
        folder_id=account["folder_id"],
        default_region="FR",
        dayfirst=True,
        state_dir=str(tmp_path / "state"),
        report_path=str(report_path),
        secret_block=None,
        again=True,
    )
    assert len(processed_imports(sandbox)) == before + 1
    assert fresh["run_action"] == "new"
    assert fresh["run_id"] != report["run_id"]
    assert fresh["rows_sent"] == 3
    assert fresh["list_ids"] == report["list_ids"]


def test_several_files_and_dialects_in_small_chunks(account, tmp_path):
    sandbox = account["sandbox"]
    header = ["E-mail", "Prénom"]
    a = write_csv(
        tmp_path / "a.csv", [header] + [[f"a{i}@example.com", f"Élise {i}"] for i in range(40)]
    )
    b = write_csv(
        tmp_path / "b.csv",
        [[["email", "first name"][0], "first name"]]
        + [[f"b{i}@example.com", f"Zoë;{i}"] for i in range(40)],
        delimiter=";",
        encoding="cp1252",
    )
    result = import_contacts(
        files=[str(tmp_path / "*.csv")],
        new_list="Many",
        folder_id=account["folder_id"],
        chunk_bytes=600,
        state_dir=str(tmp_path / "state"),
        report_path=str(tmp_path / "r.json"),
        secret_block=None,
    )
    assert result["rows_sent"] == 80
    assert len(result["chunks"]) > 2
    assert all(c["bytes"] <= 600 for c in result["chunks"])
    hashes = [r["body_sha256"] for r in processed_imports(sandbox)]
    assert len(hashes) == len(set(hashes)) == len(result["chunks"])
    held = contacts_by_key(sandbox)
    assert len(held) == 80
    assert held["b7@example.com"]["attributes"]["FIRSTNAME"] == "Zoë;7"
    assert held["a3@example.com"]["attributes"]["FIRSTNAME"] == "Élise 3"
    assert a.exists()
    assert b.exists()


def test_a_failed_process_fails_the_run_and_a_rerun_completes_it(account, tmp_path):
    sandbox = account["sandbox"]
    src = write_csv(tmp_path / "p.csv", [["email"], ["z@example.com"]])
    sandbox.configure(process_fail=True)
    kwargs = dict(
        files=[str(src)],
        list_ids=None,
        new_list="Retry",
        folder_id=account["folder_id"],
        state_dir=str(tmp_path / "state"),
        report_path=str(tmp_path / "r.json"),
        secret_block=None,
    )
    with pytest.raises(ImportIncomplete, match="did not complete"):
        import_contacts(**kwargs)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] is False
    assert report["chunks"][0]["status"] == "failed"
    sandbox.configure(process_fail=False)
    again = import_contacts(**kwargs)
    assert again["ok"] is True
    assert "z@example.com" in contacts_by_key(sandbox)


def test_via_url_with_the_local_publisher_and_callbacks(account, tmp_path):
    """--via url publishes each chunk on a loopback file server that the sandbox fetches;
    --wait callback listens for Brevo's notify call (polling stays the fallback)."""
    sandbox = account["sandbox"]
    rows = [["email", "first name", "shoe size"]] + [
        [f"u{i}@example.com", f"U{i}", "44"] for i in range(30)
    ]
    src = write_csv(tmp_path / "u.csv", rows)
    result = import_contacts(
        files=[str(src)],
        new_list="Url",
        folder_id=account["folder_id"],
        chunk_bytes=300,
        via="url",
        publish="local",
        wait="callback",
        state_dir=str(tmp_path / "state"),
        report_path=str(tmp_path / "r.json"),
        secret_block=None,
    )
    assert result["rows_sent"] == 30
    assert len(result["chunks"]) > 1
    assert result["unknown_columns"] == ["SHOE_SIZE"]  # reported: Brevo would ignore it
    imports = [
        r for r in sandbox.requests_log() if r["path"] == "/v3/contacts/import" and r["processed"]
    ]
    assert len(imports) == len(result["chunks"])
    assert len(contacts_by_key(sandbox)) == 30
    import requests

    notified = requests.get(
        f"{sandbox.root_url}/_sandbox/notifications",
        headers={"api-key": sandbox.api_key},
        timeout=5,
    ).json()
    assert len(notified["notifications"]) >= len(result["chunks"])  # one callback per process


def test_strict_refuses_unknown_columns_before_sending(account, tmp_path):
    from etl.errors import InputError

    src = write_csv(tmp_path / "s.csv", [["email", "shoe size"], ["a@example.com", "44"]])
    with pytest.raises(InputError, match="SHOE_SIZE"):
        import_contacts(
            files=[str(src)],
            new_list="Strict",
            folder_id=account["folder_id"],
            strict=True,
            state_dir=str(tmp_path / "state"),
            secret_block=None,
        )
    assert processed_imports(account["sandbox"]) == []
