"""Issue 16 item 3: ``--verify`` finds per row what Brevo holds; ``--repair`` fixes what it can.

Every test runs under both sandbox profiles (``minimal`` keeps a stored ``true`` when ``false``
is imported; ``spec-2026-02`` overwrites it) and, where it matters, by both routes: one read per
contact, and an export of the target list (``small_run_max=0``).
"""

from __future__ import annotations

import csv

import pytest

from etl.brevo.errors import BrevoServerError, ExportLinkExpired
from etl.verify import OUTCOMES_HEADER, Difference, VerifyResult, repair, verify_import

from .conftest import api, import_rows

ROUTES = {"reads": 1000, "export": 0}
ROWS = [
    "a@example.com,Ann,no,2024-02-03,12.5,Ms",  # NEWSLETTER true before the import
    "b@example.com,Bob,yes,1990-12-25,3,Mr",
    "C@Example.com,Cy,oui,,,",  # the body sends it lower-cased
    "d@example.com,Dee,no,1985-06-01,7,Ms",  # held with exactly these values already
]


def outcomes(path):
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == OUTCOMES_HEADER
        return [tuple(r) for r in reader]


def verify(account, chunks, specs, list_ids, tmp_path, route, name="outcomes.csv"):
    return verify_import(
        account["client"],
        chunks=chunks,
        list_ids=list_ids,
        specs=specs,
        outcomes_path=tmp_path / name,
        small_run_max=ROUTES[route],
    )


@pytest.fixture
def imported(account, tmp_path):
    sandbox = account["sandbox"]
    api(
        sandbox,
        "POST",
        "/contacts",
        json={"email": "a@example.com", "attributes": {"NEWSLETTER": True}},
    )
    api(
        sandbox,
        "POST",
        "/contacts",
        json={
            "email": "d@example.com",
            "listIds": account["lists"][:1],
            "attributes": {
                "FIRSTNAME": "Dee",
                "NEWSLETTER": False,
                "BIRTHDAY": "1985-06-01",
                "SCORE": 7,
                "GENDER": 2,
            },
        },
    )
    chunks, specs, list_ids = import_rows(account, tmp_path, ROWS)
    assert len(chunks) == 1
    return {**account, "chunks": chunks, "specs": specs, "list_ids": list_ids}


@pytest.mark.parametrize("route", ROUTES)
def test_a_false_kept_as_true_differs_and_repair_makes_it_land(imported, tmp_path, route):
    chunks, specs, list_ids = imported["chunks"], imported["specs"], imported["list_ids"]
    result = verify(imported, chunks, specs, list_ids, tmp_path, route)
    assert result.route == route
    assert result.checked == 4
    kept_true = imported["profile"] == "minimal"  # docs/brevo/FACTS.md F4
    if kept_true:
        assert (result.landed, result.differs, result.missing) == (3, 1, 0)
        assert result.differences == (
            Difference("a@example.com", "EMAIL", "NEWSLETTER", "false", "true"),
        )
        assert ("a@example.com", "differs", "NEWSLETTER", "false", "true") in outcomes(
            result.outcomes_path
        )
    else:
        assert (result.landed, result.differs, result.missing) == (4, 0, 0)
    assert ("d@example.com", "landed", "", "", "") in outcomes(result.outcomes_path)
    assert ("c@example.com", "landed", "", "", "") in outcomes(result.outcomes_path)

    fixed = repair(imported["client"], result, specs)
    assert (fixed.contacts, fixed.repaired, fixed.still_differing) == (
        (1, 1, 0) if kept_true else (0, 0, 0)
    )
    assert fixed.differences == ()
    again = verify(imported, chunks, specs, list_ids, tmp_path, route, name="again.csv")
    assert (again.landed, again.differs, again.missing) == (4, 0, 0)
    assert imported["client"].get_contact("a@example.com").attributes["NEWSLETTER"] is False


@pytest.mark.parametrize("route", ROUTES)
def test_a_contact_deleted_after_the_import_is_missing(imported, tmp_path, route):
    client = imported["client"]
    client.delete_contact("b@example.com")
    result = verify(
        imported, imported["chunks"], imported["specs"], imported["list_ids"], tmp_path, route
    )
    assert result.missing == 1
    assert ("b@example.com", "missing", "", "", "") in outcomes(result.outcomes_path)
    assert result.landed + result.differs == 3
    assert all(d.identifier != "b@example.com" for d in result.differences)


@pytest.mark.parametrize("route", ROUTES)
def test_a_contact_taken_out_of_the_target_list_is_missing(account, tmp_path, route):
    # Two target lists; b leaves the second one after the import.
    lists = account["lists"]
    chunks, specs, list_ids = import_rows(account, tmp_path, ROWS[1:3], list_ids=lists)
    account["client"].remove_contacts_from_list(lists[1], emails=["b@example.com"])
    result = verify(account, chunks, specs, list_ids, tmp_path, route)
    assert (result.landed, result.differs, result.missing) == (1, 0, 1)
    target = f"{lists[0]}|{lists[1]}"
    assert ("b@example.com", "missing", "_listIds", target, str(lists[0])) in outcomes(
        result.outcomes_path
    )


@pytest.mark.parametrize("route", ROUTES)
def test_values_changed_in_brevo_after_the_import_differ_in_typed_form(imported, tmp_path, route):
    # Someone edits b in Brevo: each changed attribute is one line, held value as Brevo has it.
    client = imported["client"]
    api(
        imported["sandbox"],
        "PUT",
        "/contacts/b@example.com",
        json={"attributes": {"SCORE": 3.5, "GENDER": 2, "BIRTHDAY": "1990-12-26"}},
    )
    result = verify(
        imported, imported["chunks"], imported["specs"], imported["list_ids"], tmp_path, route
    )
    lines = {r[2]: r for r in outcomes(result.outcomes_path) if r[0] == "b@example.com"}
    assert set(lines) == {"SCORE", "GENDER", "BIRTHDAY"}
    assert lines["SCORE"][1:] == ("differs", "SCORE", "3", "3.5")
    assert lines["GENDER"][3] == "1"  # sent as the enumeration value
    assert lines["GENDER"][4] in ("Ms", "2")  # held as label or value: not promised
    assert lines["BIRTHDAY"][3:] == ("1990-12-25", "1990-12-26")
    fixed = repair(client, result, imported["specs"])
    assert fixed.repaired == fixed.contacts
    assert client.get_contact("b@example.com").attributes["SCORE"] == 3


def test_a_verify_export_whose_link_expires_mid_download_is_requested_again(imported, tmp_path):
    sandbox = imported["sandbox"]
    sandbox.configure(export_link_ttl_s=2)
    # The first download is cut off halfway; by the retry, the link has expired.
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="truncate", count=1)
    sandbox.add_fault(
        path_prefix="/exports/", method="GET", kind="delay", delay_s=2.5, every=2, count=1
    )
    result = verify(
        imported, imported["chunks"], imported["specs"], imported["list_ids"], tmp_path, "export"
    )
    downloads = [r["status"] for r in sandbox.requests_log() if r["path"].startswith("/exports/")]
    expired = 403 if imported["profile"] == "minimal" else 410  # docs/brevo/FACTS.md F5
    assert downloads == [200, expired, 200]  # truncated, expired, a new export's file
    exports = [
        r for r in sandbox.requests_log() if r["path"] == "/v3/contacts/export" and r["processed"]
    ]
    assert len(exports) == 2
    kept_true = imported["profile"] == "minimal"
    assert (result.landed, result.differs, result.missing) == (
        (3, 1, 0) if kept_true else (4, 0, 0)
    )


def test_a_verify_export_that_keeps_expiring_fails_with_one_error_and_no_outcomes(
    imported, tmp_path
):
    sandbox = imported["sandbox"]
    sandbox.configure(export_link_ttl_s=1)
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5)
    with pytest.raises(ExportLinkExpired) as caught:
        verify(
            imported,
            imported["chunks"],
            imported["specs"],
            imported["list_ids"],
            tmp_path,
            "export",
        )
    assert "\n" not in str(caught.value)
    assert "expired" in str(caught.value)
    assert not (tmp_path / "outcomes.csv").exists()
    assert not list(tmp_path.glob(".outcomes.csv.*"))
    assert not list(tmp_path.glob(".verify-*"))


def test_repair_sends_the_others_when_brevo_refuses_one_contact(imported, tmp_path):
    # A value Brevo refuses (an SMS that is not a phone number) is isolated: the batch is
    # split until it stands alone, and the other contact's false is applied.
    client, specs = imported["client"], imported["specs"]
    result = VerifyResult(
        landed=2,
        differs=2,
        missing=0,
        outcomes_path=tmp_path / "outcomes.csv",
        route="reads",
        list_ids=imported["list_ids"],
        differences=(
            Difference("b@example.com", "EMAIL", "NEWSLETTER", "true", "false"),
            Difference("d@example.com", "EMAIL", "SMS", "+1", ""),
            Difference("d@example.com", "EMAIL", "UNKNOWN_ATTRIBUTE", "x", ""),
        ),
    )
    api(
        imported["sandbox"],
        "PUT",
        "/contacts/b@example.com",
        json={"attributes": {"NEWSLETTER": False}},
    )
    fixed = repair(client, result, specs)
    assert fixed.contacts == 2
    assert fixed.repaired == 1
    assert fixed.still_differing == 1
    assert [d.attribute for d in fixed.refused] == ["SMS"]
    assert {d.attribute for d in fixed.differences} == {"SMS", "UNKNOWN_ATTRIBUTE"}
    assert client.get_contact("b@example.com").attributes["NEWSLETTER"] is True


@pytest.mark.parametrize("route", ROUTES)
def test_a_contact_known_by_its_sms_only_is_found_by_it(account, tmp_path, route):
    chunks, specs, list_ids = import_rows(
        account,
        tmp_path,
        [",+33612345678,Sam", "e@example.com,+33612345679,Eve"],
        header="Email,SMS,First name",
    )
    api(
        account["sandbox"],
        "PUT",
        "/contacts/e@example.com",
        json={"attributes": {"FIRSTNAME": "Eva"}},
    )
    result = verify(account, chunks, specs, list_ids, tmp_path, route)
    assert (result.landed, result.differs, result.missing) == (1, 1, 0)
    # Cells a spreadsheet would read as a formula are quoted, as in the rejects file.
    assert ("'+33612345678", "landed", "", "", "") in outcomes(result.outcomes_path)
    assert ("e@example.com", "differs", "FIRSTNAME", "Eve", "Eva") in outcomes(result.outcomes_path)


def test_reads_through_5xx_are_retried_and_outcomes_stay_right(imported, tmp_path):
    sandbox = imported["sandbox"]
    sandbox.add_fault(path_prefix="/v3/contacts/", method="GET", kind="status", status=503, every=2)
    result = verify(
        imported, imported["chunks"], imported["specs"], imported["list_ids"], tmp_path, "reads"
    )
    assert result.missing == 0
    assert result.landed + result.differs == 4


def test_a_read_that_keeps_failing_is_an_error_never_a_missing_row(imported, tmp_path):
    # Only a 404 means "not in Brevo"; anything else stops the verification, reporting nothing.
    sandbox = imported["sandbox"]
    sandbox.add_fault(
        path_prefix="/v3/contacts/b@example.com", method="GET", kind="status", status=500
    )
    with pytest.raises(BrevoServerError):
        verify(
            imported,
            imported["chunks"],
            imported["specs"],
            imported["list_ids"],
            tmp_path,
            "reads",
        )
    assert not (tmp_path / "outcomes.csv").exists()
    assert not list(tmp_path.glob(".outcomes.csv.*"))
