"""Issue 6: the legacy v2 "User" operations on v3, through the CLI, against the sandbox."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from etl.cli import cli
from tests._seed import create_attributes, create_lists


@pytest.fixture
def account(sandbox, monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    headers = {"api-key": sandbox.api_key}
    base = sandbox.url
    create_attributes(sandbox)
    lists = create_lists(sandbox, 3)
    return {"lists": lists, "headers": headers, "base": base}


def run(*args: str):
    return CliRunner().invoke(cli, ["contact", *args], obj={}, catch_exceptions=False)


def fetch(account, email: str) -> dict:
    resp = requests.get(
        f"{account['base']}/contacts/{email}", headers=account["headers"], timeout=5
    )
    resp.raise_for_status()
    return resp.json()


@pytest.mark.parametrize(
    ("on_create", "expected"), [("0", False), ("1", True), ("", False), (None, False)]
)
def test_create_blacklist_semantics(account, on_create, expected):
    args = ["upsert", "Ann@Example.com", "--attr", "FIRSTNAME=Ann"]
    if on_create is not None:
        args += ["--blacklisted", on_create, "--blacklisted-sms", on_create]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.output.strip().isdigit()  # the new id
    contact = fetch(account, "ann@example.com")
    assert contact["id"] == int(result.output.strip())
    assert contact["emailBlacklisted"] is expected
    assert contact["smsBlacklisted"] is expected
    assert contact["attributes"]["FIRSTNAME"] == "Ann"


@pytest.mark.parametrize(
    ("start", "on_update", "expected"),
    [("0", "1", True), ("1", "0", False), ("1", "", True), ("0", "", False), ("1", None, True)],
)
def test_update_blacklist_semantics(account, start, on_update, expected):
    assert run("upsert", "bob@example.com", "--blacklisted", start).exit_code == 0
    args = ["upsert", "bob@example.com", "--attr", "LASTNAME=Builder"]
    if on_update is not None:
        args += ["--blacklisted", on_update]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "updated"
    contact = fetch(account, "bob@example.com")
    assert contact["emailBlacklisted"] is expected
    assert contact["attributes"]["LASTNAME"] == "Builder"


def test_link_and_unlink_in_one_call_with_category_label_and_national_sms(account):
    l1, l2, l3 = account["lists"]
    assert (
        run("upsert", "cy@example.com", "--list-id", str(l1), "--list-id", str(l2)).exit_code == 0
    )
    result = run(
        "upsert",
        "cy@example.com",
        "--list-id",
        str(l3),
        "--unlink-list-id",
        str(l1),
        "--attr",
        "GENDER=Ms",
        "--attr",
        "SMS=06 12 34 56 78",
        "--default-region",
        "FR",
        "--attr",
        "BIRTHDAY=1990-03-12",
        "--attr",
        "NEWSLETTER=yes",
    )
    assert result.exit_code == 0, result.output
    contact = fetch(account, "cy@example.com")
    assert sorted(contact["listIds"]) == sorted([l2, l3])
    # The sandbox shows a category by its label; what was sent is the value (see below).
    assert contact["attributes"]["GENDER"] in (2, "2", "Ms")
    assert contact["attributes"]["SMS"].lstrip("+") == "33612345678"
    assert contact["attributes"]["BIRTHDAY"].startswith("1990-03-12")
    assert contact["attributes"]["NEWSLETTER"] is True


def test_get_shows_lists_and_seeded_statistics(account, sandbox):
    l1 = account["lists"][0]
    assert run("upsert", "dee@example.com", "--list-id", str(l1)).exit_code == 0
    for event in ("delivered", "open", "click", "hardBounce"):
        sandbox.seed_events(channel="email", campaign_id=7, event=event, emails=["dee@example.com"])
    result = run("get", "dee@example.com", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["lists"] == [{"id": l1, "name": "L0"}]
    assert data["statistics"]["delivered"] == 1
    assert data["statistics"]["opened"] == 1
    assert data["statistics"]["clicked"] == 1
    assert data["statistics"]["hardBounces"] == 1
    # A hard bounce blacklists the address in the sandbox, as in Brevo: get reports what it holds.
    assert data["email_blacklisted"] is fetch(account, "dee@example.com")["emailBlacklisted"]
    human = run("get", "dee@example.com")
    assert human.exit_code == 0
    assert "dee@example.com" in human.output
    assert "L0" in human.output


def test_unlink_all_from_three_lists(account):
    lists = account["lists"]
    args = ["upsert", "eve@example.com"]
    for lid in lists:
        args += ["--list-id", str(lid)]
    assert run(*args).exit_code == 0
    result = run("unlink-all", "eve@example.com", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["unlinked_list_ids"]) == sorted(lists)
    assert fetch(account, "eve@example.com")["listIds"] == []
    again = run("unlink-all", "eve@example.com")
    assert again.exit_code == 0
    assert "in no list" in again.output


@pytest.mark.parametrize("command", ["get", "unlink-all"])
def test_unknown_email_is_one_line_exit_1(account, command):
    result = CliRunner().invoke(cli, ["contact", command, "nobody@example.com"], obj={})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: no contact with email nobody@example.com"]


def test_sms_held_by_another_contact_names_the_identifier(account):
    assert run("upsert", "f1@example.com", "--attr", "SMS=+33612345670").exit_code == 0
    assert run("upsert", "f2@example.com").exit_code == 0
    result = CliRunner().invoke(
        cli, ["contact", "upsert", "f2@example.com", "--attr", "SMS=+33612345670"], obj={}
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "SMS" in lines[0].upper()
    assert "another contact" in lines[0]


def test_bad_value_names_the_attribute(account):
    result = CliRunner().invoke(
        cli, ["contact", "upsert", "g@example.com", "--attr", "BIRTHDAY=not a date"], obj={}
    )
    assert result.exit_code == 1
    assert "BIRTHDAY" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(
        cli, ["contact", "upsert", "g@example.com", "--attr", "GENDER=Alien"], obj={}
    )
    assert result.exit_code == 1
    assert "GENDER" in result.output


def test_unknown_attribute_lists_the_known_ones(account):
    result = CliRunner().invoke(
        cli, ["contact", "upsert", "h@example.com", "--attr", "SHOE_SIZE=44"], obj={}
    )
    assert result.exit_code == 1
    assert "SHOE_SIZE" in result.output
    assert "FIRSTNAME" in result.output  # the known ones are listed
    assert "Traceback" not in result.output


def test_invalid_email_is_refused(account):
    result = CliRunner().invoke(cli, ["contact", "upsert", "not-an-email"], obj={})
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_values_are_normalised_like_the_import_flow():
    from etl.brevo.models import Attribute, EnumValue
    from etl.contacts.ops import normalise_attributes

    account = [
        Attribute(name="EMAIL", category="normal", type="text"),
        Attribute(name="SMS", category="normal", type="text"),
        Attribute(
            name="GENDER", category="category", enumeration=(EnumValue(1, "Mr"), EnumValue(2, "Ms"))
        ),
        Attribute(name="BIRTHDAY", category="normal", type="date"),
        Attribute(name="NEWSLETTER", category="normal", type="boolean"),
        Attribute(name="SCORE", category="normal", type="float"),
    ]
    got = normalise_attributes(
        {
            "GENDER": "ms",
            "SMS": "06 12 34 56 78",
            "BIRTHDAY": "12/03/1990",
            "NEWSLETTER": "Yes",
            "SCORE": "4.5",
        },
        account,
        default_region="FR",
        dayfirst=True,
    )
    assert got == {
        "GENDER": 2,
        "SMS": "+33612345678",
        "BIRTHDAY": "1990-03-12",
        "NEWSLETTER": True,
        "SCORE": 4.5,
    }
    assert normalise_attributes({"GENDER": "1"}, account) == {"GENDER": 1}


@pytest.mark.parametrize(
    ("value", "flag", "stored"),
    [
        ("03/02/2024", "--dayfirst", "2024-02-03"),
        ("03/02/2024", "--monthfirst", "2024-03-02"),
        ("25/12/2023", None, "2023-12-25"),  # no month 25: one reading only, flag or not
        ("25/12/2023", "--monthfirst", "2023-12-25"),
        ("12/25/2023", "--dayfirst", "2023-12-25"),
    ],
)
def test_upsert_reads_a_date_as_dayfirst_or_monthfirst_says(account, value, flag, stored):
    email = f"d{abs(hash((value, flag))) % 10_000}@example.com"
    args = ["upsert", email, "--attr", f"BIRTHDAY={value}"] + ([flag] if flag else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert fetch(account, email)["attributes"]["BIRTHDAY"].startswith(stored)


def test_an_ambiguous_date_without_an_order_is_one_line_exit_2(account, sandbox):
    before = len(sandbox.requests_log())
    result = CliRunner().invoke(
        cli, ["contact", "upsert", "amb@example.com", "--attr", "BIRTHDAY=03/02/2024"], obj={}
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "BIRTHDAY" in lines[0]
    assert "'03/02/2024'" in lines[0]
    assert "--dayfirst or --monthfirst" in lines[0]
    writes = [r for r in sandbox.requests_log()[before:] if r["method"] != "GET"]
    assert writes == []
