"""Issue 17: files real tools export import through their mapping preset, against the sandbox.

The four files in tests/fixtures/real_world/ have the exact shapes HubSpot, Mailchimp, Salesforce
and French Excel export (see its README.md). Each run must account for every row with the right
reasons, recognise the Salesforce footer, and land the mapped attributes; the day/month order of
a date column is settled by its own values, national numbers of French overseas regions land in
their region, and a header-only file is a warning.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import requests

from etl.imports.rejects import read_rejects
from flows.import_contacts import import_contacts

REAL_WORLD = Path(__file__).parents[1] / "fixtures" / "real_world"
HUBSPOT = "hubspot-crm-exports-all-contacts-2024-03-14.csv"
MAILCHIMP = "subscribed_members_export_15d17415eb.csv"
SALESFORCE = "report1710430000000.csv"
EXCEL_FR = "export_contacts_excel_fr.csv"


@pytest.fixture
def account(brevo_env):
    h = {"api-key": brevo_env.api_key}
    for name, kind in (("JOB_TITLE", "text"), ("COMPANY", "text"), ("BIRTHDAY", "date")):
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


def run(account, tmp_path, path, **options):
    report_path = tmp_path / "report.json"
    import_contacts(
        files=[str(path)],
        new_list="Imported",
        folder_id=account["folder_id"],
        state_dir=str(tmp_path / "state"),
        report_path=str(report_path),
        secret_block=None,
        **options,
    )
    report = json.loads(report_path.read_text())
    assert report["rows_read"] == (
        report["rows_sent"] + report["rows_rejected"] + report["rows_refused_by_brevo"]
    )
    rejects = read_rejects(Path(report["rejects_path"]))
    return report, {int(r["line"]): r for r in rejects if r["action"] == "rejected"}


def landed(sandbox):
    page = requests.get(
        f"{sandbox.url}/contacts",
        params={"limit": 1000},
        headers={"api-key": sandbox.api_key},
        timeout=10,
    ).json()
    return {c.get("email") or c["attributes"].get("SMS"): c["attributes"] for c in page["contacts"]}


# file, preset, options, rows read, sent, {line: reason}
CASES = [
    (
        HUBSPOT,
        "hubspot",
        {"default_region": "US"},
        10,
        7,
        # Bob twice (the last row wins), no email nor phone, a doubled @.
        {3: "duplicate", 9: "missing_identifier", 10: "invalid_email"},
    ),
    (
        MAILCHIMP,
        "mailchimp",
        {},
        7,
        4,
        # (555) 555-5555 is no number; 090-... is Japanese, written without its country code.
        {3: "invalid_phone", 7: "invalid_email", 10: "invalid_phone"},
    ),
    (
        SALESFORCE,
        "salesforce",
        {"default_region": "US"},
        5,  # the blank line and the two legal lines are a footer, not rows
        1,
        # 07700 900xxx is reserved for drama; 0151 is German, not US; +33 7 12 is unallocated.
        {2: "invalid_phone", 4: "invalid_phone", 5: "invalid_email", 6: "invalid_phone"},
    ),
    (
        EXCEL_FR,
        "excel-fr",
        {},  # the preset implies FR and day-first
        6,  # line 7 (;;;;;;;;) is blank; line 8 holds a two-line comment
        4,
        {3: "duplicate", 5: "invalid_email"},
    ),
]


@pytest.mark.parametrize(
    ("name", "preset", "options", "read", "sent", "rejected"),
    CASES,
    ids=[c[1] for c in CASES],
)
def test_real_world_exports_import_through_their_preset(
    account, tmp_path, name, preset, options, read, sent, rejected
):
    report, rejects = run(account, tmp_path, REAL_WORLD / name, mapping_preset=preset, **options)
    assert (report["rows_read"], report["rows_sent"]) == (read, sent)
    assert report["rows_refused_by_brevo"] == 0
    assert {line: r["reason"] for line, r in rejects.items()} == rejected
    assert report["unknown_columns"] == []  # every other column is dropped by the preset
    assert report["warnings"] == []
    contacts = landed(account["sandbox"])
    assert len(contacts) == sent
    if preset == "hubspot":
        assert contacts["ann.lee@acme.com"]["EXT_ID"] == "51"
        assert contacts["ann.lee@acme.com"]["SMS"] == "14155550132"
        assert "CONTACT_OWNER" not in contacts["ann.lee@acme.com"]
    if preset == "mailchimp":
        assert contacts["jean.dupont@orange.fr"]["EXT_ID"] == "55331257"
        assert set(contacts["ann.lee@acme.com"]) == {"FIRSTNAME", "LASTNAME", "SMS", "EXT_ID"}
    if preset == "salesforce":
        assert report["footer_lines"] == {
            str(REAL_WORLD / name): [
                "Confidential Information - Do Not Distribute",
                "Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved.",
            ]
        }
        ann = contacts["ann.lee@acme.com"]
        assert ann["LANDLINE_NUMBER"] == "14155550132"
        assert (ann["JOB_TITLE"], ann["COMPANY"]) == ("VP", "Acme")
        # Only national numbers are blamed on the default region.
        assert rejects[2]["message"] == "SMS '+44 7700 900123' is not a valid phone number"
        assert rejects[4]["message"].endswith("(default region US)")
    else:
        assert report["footer_lines"] == {}
    if preset == "excel-fr":
        assert contacts["helene.dubois@exemple.fr"]["FIRSTNAME"] == "Hélène"
        assert contacts["francois.lefevre@exemple.fr"]["SMS"] == "33612345678"
        assert contacts["zoe.martin@exemple.fr"]["SMS"] == "41791234567"


def test_a_mapping_file_wins_over_the_preset_and_dates_follow_their_column(account, tmp_path):
    # The user maps the creation date the preset drops; the column's 25/12/2023 settles it
    # day-first, so 03/02/2024 is 3 February (not March 2) and 31/02/2024 is no date.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("Date de création: BIRTHDAY\nSociété: COMPANY\n", encoding="utf-8")
    report, rejects = run(
        account,
        tmp_path,
        REAL_WORLD / EXCEL_FR,
        mapping_preset="excel-fr",
        mapping_file=str(mapping),
        dayfirst=False,  # an explicit order only reads columns that nothing settles
    )
    assert report["date_orders"] == {
        "BIRTHDAY": f"day-first (settled by 25/12/2023, {EXCEL_FR} line 3)"
    }
    assert {line: r["reason"] for line, r in rejects.items()} == {
        3: "duplicate",
        5: "invalid_email",  # its date (31/02/2024) is invalid as well: one reason a row
    }
    contacts = landed(account["sandbox"])
    francois = contacts["francois.lefevre@exemple.fr"]
    assert (francois["BIRTHDAY"], francois["COMPANY"]) == ("2024-02-03", "Société Générale")
    assert contacts["noel.oeuvray@exemple.fr"]["BIRTHDAY"] == "2024-03-01"


def test_salesforce_dates_are_settled_month_first(account, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("Created Date: BIRTHDAY\n", encoding="utf-8")
    report, _ = run(
        account,
        tmp_path,
        REAL_WORLD / SALESFORCE,
        mapping_preset="salesforce",
        mapping_file=str(mapping),
        default_region="US",
        drop_invalid_values=True,
    )
    assert report["date_orders"] == {
        "BIRTHDAY": f"month-first (settled by 3/14/2024, {SALESFORCE} line 2)"
    }
    # With --drop-invalid-values the bad phones are dropped, and the rows sent without them.
    assert (report["rows_read"], report["rows_sent"], report["dropped_values"]) == (5, 3, 2)
    contacts = landed(account["sandbox"])
    assert contacts["hans@nakatomi.de"]["BIRTHDAY"] == "2024-01-02"
    assert "SMS" not in contacts["tom.jones@umbrella.co.uk"]


def write_csv(path, rows, *, delimiter=","):
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def test_unsettled_dates_are_rejected_as_ambiguous_without_dayfirst(account, tmp_path):
    src = write_csv(
        tmp_path / "people.csv",
        [
            ["Email", "Birthday"],
            ["a@example.com", "03/02/1990"],
            ["b@example.com", "1991-05-06"],
            ["c@example.com", "07/07/1992"],  # the same date either way
        ],
    )
    report, rejects = run(account, tmp_path, src)
    assert report["rejects_by_reason"] == {"ambiguous_date": 1}
    assert rejects[2]["message"].startswith("BIRTHDAY '03/02/1990' is a different date")
    assert report["date_orders"]["BIRTHDAY"].startswith("not settled")
    assert any("ambiguous_date" in w for w in report["warnings"])
    assert landed(account["sandbox"])["c@example.com"]["BIRTHDAY"] == "1992-07-07"


def test_overseas_numbers_dialled_the_french_way_land_in_their_region(account, tmp_path):
    src = write_csv(
        tmp_path / "dom.csv",
        [
            ["Email", "Mobile"],
            ["reunion@example.fr", "06 92 12 34 56"],
            ["guadeloupe@example.fr", "0690 00 12 34"],
            ["paris@example.fr", "06 12 34 56 78"],
            ["london@example.co.uk", "+44 7911 12345"],  # one digit short
        ],
    )
    report, rejects = run(account, tmp_path, src, default_region="FR")
    assert report["phones_reassigned_region"] == 2
    assert rejects[5]["message"] == "SMS '+44 7911 12345' is not a valid phone number"
    contacts = landed(account["sandbox"])
    assert contacts["reunion@example.fr"]["SMS"] == "262692123456"
    assert contacts["guadeloupe@example.fr"]["SMS"] == "590690001234"
    assert contacts["paris@example.fr"]["SMS"] == "33612345678"


def test_a_header_only_file_is_a_warning(account, tmp_path, caplog):
    src = write_csv(tmp_path / "empty.csv", [["Email", "First name"]])
    report, _ = run(account, tmp_path, src)
    assert report["rows_read"] == 0
    assert report["warnings"] == [f"{src}: the file has a header but no data rows"]
    assert any("no data rows" in r.getMessage() for r in caplog.records)
