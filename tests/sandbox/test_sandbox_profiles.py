"""The sandbox's profiles (``minimal``, the default, and ``spec-2026-02``), ``GET /account``
and ``POST /contacts/batch``: each profile switch is checked under both profiles.

A test selects a profile with ``sandbox.configure(profile=...)`` (or
``POST /_sandbox/config {"profile": ...}``), or starts its own ``SandboxServer(profile=...)``;
``reset()`` returns to the profile the server was started with.
"""

from __future__ import annotations

import copy
import csv
import io
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from openapi_schema_validator import OAS30Validator

from etl.sandbox.profiles import PROFILES, SWITCHES, default_account
from etl.sandbox.server import SandboxServer
from tests.sandbox._openapi import check_request, check_response, load_spec
from tests.sandbox._sandbox_helpers import FAST, Api, read_csv

PROFILE_NAMES = ("minimal", "spec-2026-02")
LINK_KEYS = {
    "invalid_emails",
    "duplicate_contact_id",
    "duplicate_ext_id",
    "duplicate_email_id",
    "duplicate_phone_id",
    "duplicate_whatsapp_id",
    "duplicate_landline_number_id",
}


@pytest.fixture
def api(sandbox: SandboxServer) -> Api:
    sandbox.configure(**FAST)
    return Api(sandbox)


def _use(sandbox: SandboxServer, profile: str) -> None:
    sandbox.configure(profile=profile, **FAST)


def _csv_rows(url: str) -> list[list[str]]:
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8")), delimiter=";"))


# --------------------------------------------------------------------------- profile mechanics


def test_minimal_is_the_default_and_a_profile_sets_every_switch(api: Api) -> None:
    config = api.ok("GET", "/_sandbox/config", 200)
    assert config["profile"] == "minimal"
    assert {k: config[k] for k in SWITCHES} == PROFILES["minimal"]
    assert config["account"]["dateTimePreferences"] == {
        "dateFormat": "mm-dd-yyyy",
        "timeFormat": "12",
        "timezone": "America/New_York",
    }
    spec = api.ok("POST", "/_sandbox/config", 200, json={"profile": "spec-2026-02"})
    assert {k: spec[k] for k in SWITCHES} == PROFILES["spec-2026-02"]
    assert spec["account"]["dateTimePreferences"] == {
        "dateFormat": "dd-mm-yyyy",
        "timeFormat": "24",
        "timezone": "UTC",
    }
    # Other keys of the same request apply after the profile, whatever their order.
    mixed = api.ok(
        "POST",
        "/_sandbox/config",
        200,
        json={"statuses": "2025", "profile": "minimal", "account": {"companyName": "Mixed"}},
    )
    assert mixed["statuses"] == "2025"
    assert mixed["import_info"] == "links"
    assert mixed["account"]["companyName"] == "Mixed"
    for bad in (
        {"profile": "optimistic"},
        {"import_info": "urls"},
        {"expired_link_status": 404},
        {"export_times": "hour"},
        {"category_labels": "no"},
        {"account": {"colour": "blue"}},
        {"account": {"email": "not-an-email"}},
        {"account": {"dateTimePreferences": {"timezone": "Mars/Olympus"}}},
        {"account": {"dateTimePreferences": {"dateFormat": "yyyy-yyyy-mm"}}},
        {"account": {"dateTimePreferences": {"timeFormat": "13"}}},
    ):
        assert api.post("/_sandbox/config", json=bad).status_code == 400, bad
    assert api.ok("GET", "/_sandbox/config", 200)["statuses"] == "2025"  # nothing half-applied


def test_reset_returns_to_the_profile_the_server_started_with(api: Api, sandbox) -> None:
    sandbox.configure(profile="spec-2026-02")
    sandbox.reset()
    assert api.ok("GET", "/_sandbox/config", 200)["profile"] == "minimal"
    with SandboxServer(port=0, api_key="k-spec", profile="spec-2026-02") as server:
        spec = Api(server)
        config = spec.ok("GET", "/_sandbox/config", 200)
        assert {k: config[k] for k in SWITCHES} == PROFILES["spec-2026-02"]
        spec.ok("POST", "/_sandbox/config", 200, json={"profile": "minimal"})
        spec.ok("POST", "/_sandbox/reset", 204)
        config = spec.ok("GET", "/_sandbox/config", 200)
        assert config["profile"] == "spec-2026-02"
        assert config["account"]["dateTimePreferences"]["timezone"] == "UTC"
    with pytest.raises(ValueError, match="profile"):
        SandboxServer(port=0, profile="optimistic")


# --------------------------------------------------------------------------- processes


def _import_with_rejects(api: Api) -> dict[str, Any]:
    """One import with an invalid email, an email twice, an SMS twice and an EXT_ID taken."""
    list_id = api.new_list()
    api.ok("POST", "/contacts", 201, json={"email": "owner@x.io", "ext_id": "E1"})
    body = (
        "EMAIL;SMS;EXT_ID\n"
        "good@x.io;;\n"
        "not-an-email;;\n"
        "good@x.io;;\n"
        ";+33612345678;\n"
        ";0033612345678;\n"
        "thief@x.io;;E1\n"
    )
    return api.import_(fileBody=body, listIds=[list_id])


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_process_times(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    proc = api.import_(fileBody="EMAIL\na@x.io", listIds=[api.new_list()])
    listed = api.ok("GET", "/processes", 200)["processes"][0]
    for item in (proc, listed):
        if profile == "minimal":
            assert set(item) <= {"id", "name", "status", "info", "export_url"}, item
        else:
            assert {"created_at", "completed_at"} <= set(item), item
    sandbox.configure(process_fail=True)
    body = {"fileBody": "EMAIL\nb@x.io", "listIds": [api.new_list("F")]}
    failed = api.wait(api.ok("POST", "/contacts/import", 202, json=body)["processId"])
    assert failed["status"] == "failed"
    assert ("error" in failed) is (profile == "spec-2026-02")


def test_import_info_links_under_minimal(api: Api, sandbox) -> None:
    proc = _import_with_rejects(api)
    info = proc["info"]["import"]
    assert set(info) == LINK_KEYS
    assert set(proc["info"]) == {"import"}
    header = ["EMAIL", "SMS", "EXT_ID"]
    assert _csv_rows(info["invalid_emails"]) == [header, ["not-an-email", "", ""]]
    assert _csv_rows(info["duplicate_email_id"]) == [header, ["good@x.io", "", ""]]
    assert _csv_rows(info["duplicate_phone_id"]) == [header, ["", "0033612345678", ""]]
    assert _csv_rows(info["duplicate_ext_id"]) == [header, ["thief@x.io", "", "E1"]]
    for key in ("duplicate_contact_id", "duplicate_whatsapp_id", "duplicate_landline_number_id"):
        assert info[key] is None
    clean = api.import_(fileBody="EMAIL\nfresh@x.io", listIds=[api.new_list("C")])
    assert clean["info"]["import"] == dict.fromkeys(LINK_KEYS)
    # The stored result is rendered per the live config: counts come back with the profile.
    sandbox.configure(import_info="counts")
    again = api.ok("GET", f"/processes/{proc['id']}", 200)["info"]["import"]
    assert again["invalid_emails"] == 1
    assert isinstance(again["invalid_emails_url"], str)


def test_import_info_counts_under_spec(api: Api, sandbox) -> None:
    _use(sandbox, "spec-2026-02")
    info = _import_with_rejects(api)["info"]["import"]
    assert set(info) == LINK_KEYS | {"invalid_emails_url"}
    assert info["invalid_emails"] == 1
    assert info["duplicate_contact_id"] == 2
    assert info["duplicate_phone_id"] == 0  # the in-body SMS duplicate counts as a contact id
    assert info["duplicate_ext_id"] == 1
    assert info["duplicate_email_id"].startswith("http")
    assert _csv_rows(info["invalid_emails_url"])[1] == ["not-an-email", "", ""]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_export_info_and_process_name(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io\nb@x.io", listIds=[list_id])
    proc, _ = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    if profile == "minimal":
        assert proc["name"] == "SEARCH_EXPORT_USERS_API"
        assert "info" not in proc
    else:
        assert proc["name"] == "SEARCH_EXPORT_USERS"
        assert proc["info"]["export"]["total_records"] == 2
    sandbox.configure(export_info=True, export_process_name="SEARCH_EXPORT_USERS")
    assert api.ok("GET", f"/processes/{proc['id']}", 200)["info"]["export"]["total_records"] == 2


@pytest.mark.parametrize(
    ("profile", "running"), [("minimal", "processing"), ("spec-2026-02", "in_process")]
)
def test_running_status_name(api: Api, sandbox, profile: str, running: str) -> None:
    _use(sandbox, profile)
    sandbox.configure(process_delay_s=0.3)
    pid = api.ok(
        "POST",
        "/contacts/import",
        202,
        json={"fileBody": "EMAIL\na@x.io", "listIds": [api.new_list()]},
    )["processId"]
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = api.ok("GET", f"/processes/{pid}", 200)["status"]
        seen.add(status)
        if status == "completed":
            break
        time.sleep(0.02)
    assert seen == {"queued", running, "completed"}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_expired_and_unknown_links(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    sandbox.configure(export_link_ttl_s=0.2)
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    proc = api.wait(
        api.ok(
            "POST",
            "/contacts/export",
            202,
            json={"customContactFilter": {"actionForContacts": "allContacts", "listId": list_id}},
        )["processId"]
    )
    time.sleep(0.3)
    expired = requests.get(proc["export_url"], timeout=30)
    unknown = requests.get(f"{sandbox.root_url}/exports/nope/contacts.csv", timeout=30)
    if profile == "minimal":
        for resp in (expired, unknown):
            assert resp.status_code == 403
            assert resp.headers["content-type"].startswith("application/xml")
            assert resp.text.startswith("<?xml")
            assert "<Code>AccessDenied</Code>" in resp.text
            assert "<Message>Request has expired</Message>" in resp.text
    else:
        assert expired.status_code == 410
        assert unknown.status_code == 404
        assert expired.json()["code"] == "document_not_found"


# --------------------------------------------------------------------------- export times


def _added(api: Api, email: str, zone: str, fmt: str) -> str:
    created = api.contact(email)["createdAt"]
    moment = datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return moment.strftime(fmt)


@pytest.mark.parametrize("utc", [False, True])
@pytest.mark.parametrize(
    ("date_format", "zone", "strftime"),
    [
        ("mm-dd-yyyy", "America/New_York", "%m-%d-%Y"),
        ("dd-mm-yyyy", "Pacific/Kiritimati", "%d-%m-%Y"),
        ("yyyy/mm/dd", "Pacific/Pago_Pago", "%Y/%m/%d"),
    ],
)
def test_day_only_export_times_under_minimal(
    api: Api, sandbox, utc: bool, date_format: str, zone: str, strftime: str
) -> None:
    prefs = {"dateFormat": date_format, "timezone": zone}
    sandbox.configure(account={"dateTimePreferences": prefs})
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    rows = api.export_rows(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id},
        exportMetadata=["ADDED_TIME AS _ADDED_TIME"],
        exportDateInUTC=utc,
    )
    expected = _added(api, "a@x.io", zone, strftime)
    assert rows[0]["ADDED_TIME"] == expected
    assert rows[0]["MODIFIED_TIME"] == expected
    assert rows[0]["_ADDED_TIME"] == expected


def test_datetime_export_times_under_spec(api: Api, sandbox) -> None:
    _use(sandbox, "spec-2026-02")
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    flt = {"actionForContacts": "allContacts", "listId": list_id}
    created = api.contact("a@x.io")["createdAt"]
    local = api.export_rows(customContactFilter=flt)[0]["ADDED_TIME"]
    assert local == _added(api, "a@x.io", "UTC", "%d-%m-%Y %H:%M:%S")
    iso = api.export_rows(customContactFilter=flt, exportDateInUTC=True)[0]["ADDED_TIME"]
    assert iso == created
    sandbox.configure(account={"dateTimePreferences": {"timezone": "Asia/Tokyo"}})
    tokyo = api.export_rows(customContactFilter=flt)[0]["ADDED_TIME"]
    assert tokyo == _added(api, "a@x.io", "Asia/Tokyo", "%d-%m-%Y %H:%M:%S")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_importing_false_over_true(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    api.attribute("normal", "OPTIN", type="boolean")
    list_id = api.new_list()
    for email in ("csv@x.io", "json@x.io", "put@x.io", "batch@x.io"):
        api.ok("POST", "/contacts", 201, json={"email": email, "attributes": {"OPTIN": True}})
    api.ok("POST", "/contacts", 201, json={"email": "off@x.io", "attributes": {"OPTIN": False}})
    api.import_(
        fileBody="EMAIL;OPTIN;FIRSTNAME\ncsv@x.io;false;Cee\nnew@x.io;no;New\noff@x.io;yes;Off",
        listIds=[list_id],
    )
    api.import_(
        jsonBody=[{"email": "json@x.io", "attributes": {"OPTIN": False, "FIRSTNAME": "Jay"}}],
        listIds=[list_id],
    )
    kept = profile == "minimal"
    for email, name in (("csv@x.io", "Cee"), ("json@x.io", "Jay")):
        attrs = api.contact(email)["attributes"]
        assert attrs["OPTIN"] is kept, (email, attrs)
        assert attrs["FIRSTNAME"] == name  # the rest of the row applies
    assert api.contact("new@x.io")["attributes"]["OPTIN"] is False
    assert api.contact("off@x.io")["attributes"]["OPTIN"] is True
    # PUT and POST /contacts/batch always apply false.
    api.ok("PUT", "/contacts/put@x.io", 204, json={"attributes": {"OPTIN": False}})
    api.ok(
        "POST",
        "/contacts/batch",
        204,
        json={"contacts": [{"email": "batch@x.io", "attributes": {"OPTIN": False}}]},
    )
    assert api.contact("put@x.io")["attributes"]["OPTIN"] is False
    assert api.contact("batch@x.io")["attributes"]["OPTIN"] is False


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_category_labels(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    api.attribute(
        "category",
        "GENDER",
        enumeration=[{"value": 1, "label": "Men"}, {"value": 2, "label": "Women"}],
    )
    list_id = api.new_list()
    api.import_(fileBody="EMAIL;GENDER\nlabel@x.io;Women\nvalue@x.io;2", listIds=[list_id])
    assert api.contact("value@x.io")["attributes"]["GENDER"] == "Women"
    label_attrs = api.contact("label@x.io")["attributes"]
    api.ok("POST", "/contacts", 201, json={"email": "put@x.io", "attributes": {"GENDER": 1}})
    api.ok("PUT", "/contacts/put@x.io", 204, json={"attributes": {"GENDER": "Women"}})
    put_attrs = api.contact("put@x.io")["attributes"]
    if profile == "minimal":
        assert "GENDER" not in label_attrs
        assert put_attrs["GENDER"] == "Men"  # the label was ignored: left unchanged
    else:
        assert label_attrs["GENDER"] == "Women"
        assert put_attrs["GENDER"] == "Women"


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_non_ascii_local_parts(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    proc = api.import_(fileBody="EMAIL\njosé@x.io\nplain@x.io", listIds=[api.new_list()])
    create = api.post("/contacts", json={"email": "zoë@x.io"})
    api.ok("POST", "/contacts", 201, json={"email": "rename@x.io"})
    rename = api.put("/contacts/rename@x.io", json={"attributes": {"EMAIL": "renée@x.io"}})
    if profile == "minimal":
        rows = _csv_rows(proc["info"]["import"]["invalid_emails"])
        assert rows == [["EMAIL"], ["josé@x.io"]]
        assert api.get("/contacts/jos%C3%A9@x.io").status_code == 404
        for resp in (create, rename):
            assert resp.status_code == 400
            assert resp.json()["code"] == "invalid_parameter"
    else:
        assert proc["info"]["import"]["invalid_emails"] == 0
        assert api.contact("josé@x.io")["email"] == "josé@x.io"
        assert create.status_code == 201
        assert rename.status_code == 204


# --------------------------------------------------------------------------- GET /account


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_get_account_conforms_and_follows_the_config(api: Api, sandbox, profile: str) -> None:
    _use(sandbox, profile)
    resp = api.get("/account")
    assert resp.status_code == 200
    for edition in ("2025", "2026"):
        check_response(resp, local_base=sandbox.url, edition=edition)
    body = resp.json()
    assert body["email"] == default_account(sandbox.api_key, profile=profile)["email"]
    assert (
        body["dateTimePreferences"]
        == default_account(sandbox.api_key, profile=profile)["dateTimePreferences"]
    )
    assert {"organization_id", "user_id", "companyName", "plan", "relay"} <= set(body)
    # The "other" rate-limit family, like /processes.
    assert resp.headers["x-sib-ratelimit-limit"] == str(FAST["other_rph"])
    sandbox.configure(
        account={
            "email": "Owner@Example.com",
            "companyName": "Acme",
            "organization_id": "org-1",
            "dateTimePreferences": {"timezone": "Europe/Paris"},
        }
    )
    body = api.ok("GET", "/account", 200)
    assert (body["email"], body["companyName"], body["organization_id"]) == (
        "owner@example.com",
        "Acme",
        "org-1",
    )
    prefs = body["dateTimePreferences"]
    assert prefs["timezone"] == "Europe/Paris"
    assert (
        prefs["dateFormat"]
        == default_account("", profile=profile)["dateTimePreferences"]["dateFormat"]
    )  # partial updates merge
    assert body["firstName"] == "Sandbox"


def test_account_differs_with_the_key_and_can_be_named(monkeypatch) -> None:
    monkeypatch.delenv("BREVO_SANDBOX_API_KEY", raising=False)
    with (
        SandboxServer(port=0, api_key="key-one") as one,
        SandboxServer(port=0, api_key="key-two") as two,
    ):
        emails = [Api(s).ok("GET", "/account", 200)["email"] for s in (one, two)]
        assert emails[0] != emails[1]
        assert all(e.startswith("sandbox-") and e.endswith("@example.com") for e in emails)
        assert one.account_email == emails[0]
    with SandboxServer(port=0, api_key="k", account_email="Me@Example.com") as named:
        api = Api(named)
        api.ok("POST", "/_sandbox/config", 200, json={"account": {"companyName": "X"}})
        api.ok("POST", "/_sandbox/reset", 204)
        body = api.ok("GET", "/account", 200)
        assert body["email"] == "me@example.com"  # kept across reset
        assert body["companyName"] != "X"
    with pytest.raises(ValueError, match="email"):
        SandboxServer(port=0, account_email="nobody")


# --------------------------------------------------------------------------- POST /contacts/batch


def test_batch_update(api: Api, sandbox) -> None:
    list_a, list_b = api.new_list("A"), api.new_list("B")
    ann = api.ok("POST", "/contacts", 201, json={"email": "ann@x.io", "listIds": [list_a]})["id"]
    api.ok(
        "POST", "/contacts", 201, json={"email": "bob@x.io", "attributes": {"SMS": "+33611111111"}}
    )
    body = {
        "contacts": [
            {"id": ann, "attributes": {"FIRSTNAME": "Ann"}, "unlinkListIds": [list_a]},
            {
                "sms": "+33611111111",
                "attributes": {"LASTNAME": "Bee"},
                "listIds": [list_b],
                "emailBlacklisted": True,
                "ext_id": "bob-1",
            },
        ]
    }
    resp = api.post("/contacts/batch", json=body)
    assert resp.status_code == 204, resp.text
    check_request(resp.request, local_base=sandbox.url, edition="2025")
    check_response(resp, local_base=sandbox.url, edition="2025")
    ann_now, bob_now = api.contact("ann@x.io"), api.contact("bob@x.io")
    assert ann_now["attributes"]["FIRSTNAME"] == "Ann"
    assert ann_now["listIds"] == []
    assert bob_now["attributes"]["LASTNAME"] == "Bee"
    assert bob_now["attributes"]["EXT_ID"] == "bob-1"
    assert bob_now["listIds"] == [list_b]
    assert bob_now["emailBlacklisted"] is True
    # All or nothing: the unknown contact refuses the whole batch.
    refused = api.post(
        "/contacts/batch",
        json={
            "contacts": [
                {"email": "ann@x.io", "attributes": {"FIRSTNAME": "Changed"}},
                {"email": "ghost@x.io", "attributes": {"FIRSTNAME": "Boo"}},
            ]
        },
    )
    assert refused.status_code == 400
    check_response(refused, local_base=sandbox.url, edition="2025")
    assert api.contact("ann@x.io")["attributes"]["FIRSTNAME"] == "Ann"
    duplicate = api.post(
        "/contacts/batch",
        json={"contacts": [{"email": "ann@x.io", "ext_id": "bob-1"}]},
    )
    assert duplicate.status_code == 400


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_parameter"),
        ({"contacts": []}, "invalid_parameter"),
        ({"contacts": [{"attributes": {"FIRSTNAME": "x"}}]}, "missing_parameter"),
        ({"contacts": [{"email": "ann@x.io", "id": 1}]}, "invalid_parameter"),
        ({"contacts": [{"email": "ann@x.io", "listIds": ["1"]}]}, "invalid_parameter"),
        ({"contacts": [{"email": "ann@x.io", "emailBlacklisted": "yes"}]}, "invalid_parameter"),
        ({"contacts": [{"email": "ann@x.io"}] * 101}, "out_of_range"),
    ],
)
def test_batch_refusals(api: Api, body: dict[str, Any], code: str) -> None:
    api.ok("POST", "/contacts", 201, json={"email": "ann@x.io"})
    resp = api.post("/contacts/batch", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code


def test_batch_maximum_is_configurable(api: Api, sandbox) -> None:
    api.ok("POST", "/contacts", 201, json={"email": "ann@x.io"})
    sandbox.configure(batch_max_contacts=2)
    many = {"contacts": [{"email": "ann@x.io", "attributes": {"FIRSTNAME": "A"}}] * 3}
    assert api.post("/contacts/batch", json=many).status_code == 400
    many["contacts"] = many["contacts"][:2]
    assert api.post("/contacts/batch", json=many).status_code == 204


# --------------------------------------------------------------------------- minimal conformance


def _minimal_process_schema() -> dict[str, Any]:
    """SPEC-26's process, widened exactly where the minimal profile follows docs/brevo/FACTS.md F3/F8."""
    spec = load_spec("2026")
    op = spec["paths"]["/processes/{processId}"]["get"]["responses"]["200"]
    schema = copy.deepcopy(op["content"]["application/json"]["schema"])
    schema["properties"]["name"]["enum"].append("SEARCH_EXPORT_USERS_API")
    imports = schema["properties"]["info"]["properties"]["import"]["properties"]
    for key in imports:
        imports[key] = {"type": "string", "pattern": "^https?://", "nullable": True}
    return dict(schema)


def test_minimal_process_bodies_conform_to_spec26_widened_for_f3_and_f8(api: Api) -> None:
    validator = OAS30Validator(_minimal_process_schema())
    imported = _import_with_rejects(api)
    list_id = api.new_list("E")
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    exported, data = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    assert read_csv(data)[0]["EMAIL"] == "a@x.io"
    listed = api.ok("GET", "/processes", 200, params={"limit": 50})["processes"]
    for body in (imported, exported, *listed):
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (body, errors)


def test_cli_sandbox_command_offers_the_profile_options() -> None:
    from click.testing import CliRunner

    from etl.cli import cli

    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0, result.output
    assert "--profile" in result.output
    assert "spec-2026-02" in result.output
    assert "--account-email" in result.output


# --------------------------------------------------------------------------- F7: whole account


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_all_contacts_without_a_list_when_created_since_is_given(
    api: Api, sandbox: SandboxServer, profile: str
) -> None:
    # Observed (docs/brevo/FACTS.md F7), so under every profile: the whole account, contacts in no list too.
    _use(sandbox, profile)
    listed = api.new_list("A")
    api.ok("POST", "/contacts", 201, json={"email": "in@x.io", "listIds": [listed]})
    api.ok("POST", "/contacts", 201, json={"email": "none@x.io", "emailBlacklisted": True})
    whole = {"actionForContacts": "allContacts", "createdSince": "2000-01-01T00:00:00.000Z"}
    assert api.export_emails(customContactFilter=whole) == {"in@x.io", "none@x.io"}
    rows = api.export_rows(customContactFilter=whole, exportSubscriptionStatus=["email_marketing"])
    blocked = {r["EMAIL"]: r["_BLOCKLISTED"] for r in rows}
    assert blocked == {"in@x.io": "", "none@x.io": "email_marketing"}
    later = {**whole, "createdSince": "2999-01-01"}
    assert api.export_emails(customContactFilter=later) == set()
    # Without createdSince, or with another action, a list or segment is still needed.
    for custom in (
        {"actionForContacts": "allContacts"},
        {"actionForContacts": "subscribed", "createdSince": "2000-01-01"},
    ):
        resp = api.post("/contacts/export", json={"customContactFilter": custom})
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == "missing_parameter"
    resp = api.post(
        "/contacts/export",
        json={"customContactFilter": {**whole, "createdSince": "yesterday"}},
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_parameter"
