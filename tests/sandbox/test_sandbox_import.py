"""Semantics of the sandbox's ``POST /v3/contacts/import`` and its processes."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.sandbox._sandbox_helpers import FAST, SPEC, Api, read_csv, receiver


@pytest.fixture
def api(sandbox):
    # These tests pin the spec-2026-02 profile's behaviour; test_sandbox_profiles.py covers both.
    sandbox.configure(**SPEC, **FAST)
    return Api(sandbox)


def _typed_attributes(api: Api) -> None:
    api.attribute("normal", "BIRTHDAY", type="date")
    api.attribute("normal", "SCORE", type="float")
    api.attribute("normal", "VIP", type="boolean")
    api.attribute(
        "category",
        "GENDER",
        enumeration=[{"value": 1, "label": "Men"}, {"value": 2, "label": "Women"}],
    )
    api.attribute(
        "normal", "COLORS", type="multiple-choice", multiCategoryOptions=["Red", "Green", "Blue"]
    )


def test_import_then_export_round_trips_every_attribute_type(api):
    _typed_attributes(api)
    list_id = api.new_list()
    body = (
        "email;FIRSTNAME;LASTNAME;BIRTHDAY;SCORE;VIP;GENDER;COLORS;SMS;EXT_ID\r\n"
        'Ann@Example.com;Ann;"O""Neil; Jr";1990-01-02;12.5;yes;Men;"Red,Blue";+33612345678;X1\r\n'
        "bob@example.com;Bob;Smith;03-04-1991;3;false;2;green, purple;0044 7700 900123;X2\n"
        "cy@example.com;Cy;Doe;05/06/1992;1,25;1;women;Blue;;\n"
    )
    proc = api.import_(fileBody=body, listIds=[list_id])
    assert proc["name"] == "IMPORTUSER"
    assert proc["info"]["import"]["invalid_emails"] == 0

    ann = api.contact("ann@example.com")["attributes"]
    assert ann == {
        "FIRSTNAME": "Ann",
        "LASTNAME": 'O"Neil; Jr',
        "BIRTHDAY": "1990-01-02",
        "SCORE": 12.5,
        "VIP": True,
        "GENDER": "Men",
        "COLORS": ["Red", "Blue"],
        "SMS": "33612345678",
        "EXT_ID": "X1",
    }
    bob = api.contact("bob@example.com")["attributes"]
    assert bob["BIRTHDAY"] == "1991-04-03"
    assert bob["SCORE"] == 3
    assert bob["VIP"] is False
    assert bob["GENDER"] == "Women"
    assert bob["COLORS"] == ["Green"]  # the unknown option is ignored
    assert bob["SMS"] == "447700900123"

    rows = api.export_rows(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id},
        exportAttributes=[
            "FIRSTNAME",
            "lastname",
            "BIRTHDAY",
            "SCORE",
            "VIP",
            "GENDER",
            "COLORS",
            "SMS",
            "EXT_ID",
        ],
    )
    by_email = {row["EMAIL"]: row for row in rows}
    assert set(by_email) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert by_email["ann@example.com"] | {"ADDED_TIME": "", "MODIFIED_TIME": ""} == {
        "EMAIL": "ann@example.com",
        "ADDED_TIME": "",
        "MODIFIED_TIME": "",
        "FIRSTNAME": "Ann",
        "LASTNAME": 'O"Neil; Jr',
        "BIRTHDAY": "1990-01-02",
        "SCORE": "12.5",
        "VIP": "true",
        "GENDER": "Men",
        "COLORS": "Red,Blue",
        "SMS": "33612345678",
        "EXT_ID": "X1",
    }
    cy = by_email["cy@example.com"]
    assert (cy["BIRTHDAY"], cy["SCORE"], cy["VIP"], cy["GENDER"], cy["SMS"]) == (
        "1992-06-05",
        "1.25",
        "true",
        "Women",
        "",
    )

    # Re-importing the exported file (the export's own format) changes nothing.
    exported = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id},
        exportAttributes=["FIRSTNAME", "LASTNAME", "BIRTHDAY", "SCORE", "VIP", "GENDER", "COLORS"],
        exportMandatoryAttributes=False,
    )[1]
    before = api.ok("GET", "/contacts", 200)["contacts"]
    api.import_(fileBody="EMAIL;" + exported.decode(), listIds=[list_id])
    after = api.ok("GET", "/contacts", 200)["contacts"]
    assert [c["attributes"] for c in after] == [c["attributes"] for c in before]


def test_values_that_do_not_fit_and_unknown_attributes_are_ignored(api):
    _typed_attributes(api)
    list_id = api.new_list()
    body = (
        "EMAIL;FIRSTNAME;BIRTHDAY;SCORE;VIP;GENDER;COLORS;NOT_AN_ATTRIBUTE;SMS\n"
        "a@example.com;A;2020-02-30;abc;maybe;Alien;purple;zzz;12\n"
    )
    proc = api.import_(fileBody=body, listIds=[list_id])
    assert proc["info"]["import"]["invalid_emails"] == 0
    assert api.contact("a@example.com")["attributes"] == {"FIRSTNAME": "A"}


def test_invalid_and_duplicate_rows_are_counted_and_reported_as_csv(api):
    list_id = api.new_list()
    body = (
        "EMAIL;FIRSTNAME\n"
        "good@example.com;First\n"
        "not-an-email;Bad\n"
        "GOOD@example.com;Second\n"
        "@example.com;Worse\n"
        ";NoIdentifier\n"
        "other@example.com;Other\n"
    )
    proc = api.import_(fileBody=body, listIds=[list_id])
    info = proc["info"]["import"]
    assert info["invalid_emails"] == 3
    assert info["duplicate_contact_id"] == 1
    invalid_rows = read_csv(requests.get(info["invalid_emails_url"], timeout=10).content)
    assert [r["FIRSTNAME"] for r in invalid_rows] == ["Bad", "Worse", "NoIdentifier"]
    dup_rows = read_csv(requests.get(info["duplicate_email_id"], timeout=10).content)
    assert dup_rows == [{"EMAIL": "GOOD@example.com", "FIRSTNAME": "Second"}]
    assert api.contact("good@example.com")["attributes"]["FIRSTNAME"] == "First"  # first kept
    assert api.ok("GET", "/contacts", 200)["count"] == 2

    clean = api.import_(fileBody="EMAIL\nthird@example.com", listIds=[list_id])
    assert clean["info"]["import"]["invalid_emails_url"] is None
    assert clean["info"]["import"]["duplicate_email_id"] is None


def test_update_existing_false_leaves_contacts_untouched_but_links_them(api):
    first, second = api.new_list("one"), api.new_list("two")
    api.import_(fileBody="EMAIL;FIRSTNAME\nkeep@example.com;Old", listIds=[first])
    before = api.contact("keep@example.com")
    api.import_(
        fileBody="EMAIL;FIRSTNAME\nkeep@example.com;New\nfresh@example.com;Fresh",
        listIds=[second],
        updateExistingContacts=False,
    )
    after = api.contact("keep@example.com")
    assert after["attributes"] == {"FIRSTNAME": "Old"}
    assert after["modifiedAt"] == before["modifiedAt"]
    assert after["listIds"] == [first, second]
    assert api.contact("fresh@example.com")["attributes"] == {"FIRSTNAME": "Fresh"}


def test_empty_cells_erase_only_with_empty_contacts_attributes(api):
    list_id = api.new_list()
    api.import_(fileBody="EMAIL;FIRSTNAME;LASTNAME\na@example.com;Ann;Lee", listIds=[list_id])
    api.import_(fileBody="EMAIL;FIRSTNAME;LASTNAME\na@example.com;;Li", listIds=[list_id])
    assert api.contact("a@example.com")["attributes"] == {"FIRSTNAME": "Ann", "LASTNAME": "Li"}
    api.import_(
        fileBody="EMAIL;FIRSTNAME;LASTNAME\na@example.com;;Lu",
        listIds=[list_id],
        emptyContactsAttributes=True,
    )
    assert api.contact("a@example.com")["attributes"] == {"LASTNAME": "Lu"}


def test_blacklist_flags_apply_to_imported_contacts(api):
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\nold@example.com", listIds=[list_id])
    api.import_(
        fileBody="EMAIL\nold@example.com\nnew@example.com",
        listIds=[list_id],
        emailBlacklist=True,
        smsBlacklist=True,
    )
    for email in ("old@example.com", "new@example.com"):
        contact = api.contact(email)
        assert contact["emailBlacklisted"] is True
        assert contact["smsBlacklisted"] is True
    api.import_(fileBody="EMAIL\nplain@example.com", listIds=[list_id])
    assert api.contact("plain@example.com")["emailBlacklisted"] is False


def test_new_list_is_created_in_its_folder(api):
    folder = api.ok("POST", "/contacts/folders", 201, json={"name": "F"})["id"]
    api.import_(
        fileBody="EMAIL\nn@example.com", newList={"listName": "Imported", "folderId": folder}
    )
    lists = api.ok("GET", "/contacts/lists", 200)["lists"]
    assert [(item["name"], item["folderId"], item["uniqueSubscribers"]) for item in lists] == [
        ("Imported", folder, 1)
    ]
    assert api.contact("n@example.com")["listIds"] == [lists[0]["id"]]


def test_import_without_a_list_is_refused_like_brevo(api):
    resp = api.post("/contacts/import", json={"fileBody": "EMAIL\na@example.com"})
    assert resp.status_code == 400
    assert resp.json() == {"code": "missing_parameter", "message": "Missing listIds or newList"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"listIds": [1]}, "missing_parameter"),
        ({"fileBody": "EMAIL\na@b.co", "jsonBody": [], "listIds": [1]}, "invalid_parameter"),
        ({"fileBody": 12, "listIds": [1]}, "invalid_parameter"),
        ({"fileBody": "EMAIL\na@b.co", "listIds": ["1"]}, "invalid_parameter"),
        ({"fileBody": "EMAIL\na@b.co", "listIds": [999]}, "invalid_parameter"),
        (
            {"fileBody": "EMAIL\na@b.co", "listIds": [1], "updateExistingContacts": "no"},
            "invalid_parameter",
        ),
        ({"fileBody": "EMAIL\na@b.co", "newList": {"listName": "x"}}, "missing_parameter"),
        (
            {"fileBody": "EMAIL\na@b.co", "newList": {"listName": "x", "folderId": 99}},
            "invalid_parameter",
        ),
        ({"jsonBody": "nope", "listIds": [1]}, "invalid_parameter"),
        (
            {"fileBody": "EMAIL\na@b.co", "listIds": [1], "notifyUrl": "ftp://x/y"},
            "invalid_parameter",
        ),
    ],
)
def test_invalid_import_requests_get_400(api, body, code):
    api.new_list()
    resp = api.post("/contacts/import", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code
    assert api.ok("GET", "/processes", 200)["count"] == 0


def test_malformed_json_is_a_400(api):
    resp = api.post(
        "/contacts/import", data=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"code", "message"}


def test_file_body_limit_is_10_mb(api):
    list_id = api.new_list()
    prefix = "EMAIL;FIRSTNAME\nbig@example.com;"
    limit = 10 * 1024 * 1024
    at_limit = prefix + "x" * (limit - len(prefix))
    assert len(at_limit.encode()) == limit
    ok = api.post("/contacts/import", json={"fileBody": at_limit, "listIds": [list_id]})
    assert ok.status_code == 202
    too_big = api.post("/contacts/import", json={"fileBody": at_limit + "x", "listIds": [list_id]})
    assert too_big.status_code == 400
    assert too_big.json()["code"] == "invalid_parameter"
    # Multi-byte characters count in bytes, not characters.
    accents = api.post(
        "/contacts/import",
        json={"fileBody": prefix + "é" * (limit // 2), "listIds": [list_id]},
    )
    assert accents.status_code == 400
    items = [
        {"email": f"u{i}@example.com", "attributes": {"FIRSTNAME": "y" * 1000}}
        for i in range(11_000)
    ]
    json_big = api.post("/contacts/import", json={"jsonBody": items, "listIds": [list_id]})
    assert json_big.status_code == 400
    assert json_big.json()["code"] == "invalid_parameter"
    proc = api.wait(ok.json()["processId"])
    assert proc["status"] == "completed"
    assert len(api.contact("big@example.com")["attributes"]["FIRSTNAME"]) == limit - len(prefix)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/contacts.csv", "/etc/passwd", "gopher://x/", "http://"],
)
def test_file_url_refuses_anything_but_http_and_https(api, url):
    list_id = api.new_list()
    resp = api.post("/contacts/import", json={"fileUrl": url, "listIds": [list_id]})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_parameter"


def test_file_url_refuses_the_sandbox_admin_api(api, sandbox):
    list_id = api.new_list()
    for path in ("/_sandbox/requests", "/_sandbox/config"):
        resp = api.post(
            "/contacts/import", json={"fileUrl": sandbox.root_url + path, "listIds": [list_id]}
        )
        assert resp.status_code == 400
        assert "admin" in resp.json()["message"]


def test_file_url_fetches_csv_and_json_over_loopback(api):
    list_id = api.new_list()
    with receiver() as server:
        server.files["/contacts.csv"] = (
            b"EMAIL;FIRSTNAME\ncsv@example.com;Csv\n",
            "text/csv",
        )
        payload = [{"email": "json@example.com", "attributes": {"firstname": "Json"}}]
        server.files["/contacts.json"] = (json.dumps(payload).encode(), "application/json")
        api.import_(fileUrl=f"{server.url}/contacts.csv", listIds=[list_id])
        api.import_(fileUrl=f"{server.url}/contacts.json", listIds=[list_id])
        pid = api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileUrl": f"{server.url}/missing.csv", "listIds": [list_id]},
        )["processId"]
        failed = api.wait(pid)
    assert api.contact("csv@example.com")["attributes"] == {"FIRSTNAME": "Csv"}
    assert api.contact("json@example.com")["attributes"] == {"FIRSTNAME": "Json"}
    assert failed["status"] == "failed"
    assert "404" in failed["error"]


def test_json_body_and_sms_only_contacts(api):
    list_id = api.new_list()
    proc = api.import_(
        jsonBody=[
            {
                "email": "j@example.com",
                "attributes": {"FIRSTNAME": "J", "SMS": "+33 6 11 22 33 44"},
            },
            {"attributes": {"SMS": "0033700000001", "LASTNAME": "OnlySms"}},
            {"email": "dup-sms@example.com", "attributes": {"SMS": "33611223344"}},
            {"attributes": {"LASTNAME": "nothing"}},
        ],
        listIds=[list_id],
    )
    info = proc["info"]["import"]
    assert info["invalid_emails"] == 1
    assert info["duplicate_phone_id"] == 1
    sms_only = api.contact("33700000001")
    assert "email" not in sms_only
    assert sms_only["attributes"] == {"SMS": "33700000001", "LASTNAME": "OnlySms"}
    assert api.contact("j@example.com")["attributes"]["SMS"] == "33611223344"
    # The SMS already held by j@ is dropped from the other contact.
    assert "SMS" not in api.contact("dup-sms@example.com")["attributes"]
    # Importing the SMS-only contact again updates it (SMS is its identifier).
    api.import_(fileBody="SMS;LASTNAME\n33700000001;Updated", listIds=[list_id])
    assert api.contact("33700000001")["attributes"]["LASTNAME"] == "Updated"
    assert api.ok("GET", "/contacts", 200)["count"] == 3


def test_a_file_without_identifier_column_fails_the_process(api):
    list_id = api.new_list()
    pid = api.ok(
        "POST", "/contacts/import", 202, json={"fileBody": "FIRSTNAME\nA", "listIds": [list_id]}
    )["processId"]
    proc = api.wait(pid)
    assert proc["status"] == "failed"
    assert "EMAIL" in proc["error"]


def _observe(api: Api, process_id: int) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = api.ok("GET", f"/processes/{process_id}", 200)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("completed", "failed"):
            break
        time.sleep(0.01)
    return seen


@pytest.mark.parametrize(("edition", "running"), [("2025", "in_process"), ("2026", "processing")])
def test_statuses_go_queued_running_completed(api, sandbox, edition, running):
    sandbox.configure(process_delay_s=0.25, statuses=edition)
    list_id = api.new_list()
    pid = api.ok(
        "POST",
        "/contacts/import",
        202,
        json={"fileBody": "EMAIL\na@example.com", "listIds": [list_id]},
    )["processId"]
    assert _observe(api, pid) == ["queued", running, "completed"]


def test_process_stall_keeps_processes_queued_until_released(api, sandbox):
    list_id = api.new_list()
    sandbox.configure(process_stall=True)
    pid = api.ok(
        "POST",
        "/contacts/import",
        202,
        json={"fileBody": "EMAIL\na@example.com", "listIds": [list_id]},
    )["processId"]
    time.sleep(0.3)
    assert api.ok("GET", f"/processes/{pid}", 200)["status"] == "queued"
    assert api.ok("GET", "/contacts", 200)["count"] == 0
    sandbox.configure(process_stall=False)
    assert api.wait(pid)["status"] == "completed"
    assert api.ok("GET", "/contacts", 200)["count"] == 1


def test_process_fail_ends_failed_without_touching_the_account(api, sandbox):
    list_id = api.new_list()
    sandbox.configure(process_fail=True)
    pid = api.ok(
        "POST",
        "/contacts/import",
        202,
        json={"fileBody": "EMAIL\na@example.com", "listIds": [list_id]},
    )["processId"]
    proc = api.wait(pid)
    assert proc["status"] == "failed"
    assert proc["error"]
    assert "completed_at" in proc
    assert api.ok("GET", "/contacts", 200)["count"] == 0


def test_processes_run_in_order_and_are_paged(api):
    list_id = api.new_list()
    ids = [
        api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileBody": f"EMAIL;FIRSTNAME\na@example.com;{i}", "listIds": [list_id]},
        )["processId"]
        for i in range(12)
    ]
    for pid in ids:
        api.wait(pid)
    assert api.contact("a@example.com")["attributes"]["FIRSTNAME"] == "11"  # the last one won
    page = api.ok("GET", "/processes", 200)
    assert page["count"] == 12
    assert [p["id"] for p in page["processes"]] == ids[::-1][:10]  # default limit 10, desc
    page = api.ok("GET", "/processes", 200, params={"limit": 5, "offset": 10, "sort": "asc"})
    assert [p["id"] for p in page["processes"]] == ids[10:]
    assert api.get("/processes", params={"limit": 51}).status_code == 400
    missing = api.get("/processes/999")
    assert missing.status_code == 404
    assert missing.json() == {"code": "invalid_parameter", "message": "processId is invalid"}
    assert api.get("/processes/abc").status_code == 400


def test_explicit_nulls_mean_defaults(api):
    list_id = api.new_list()
    proc = api.import_(
        fileBody="EMAIL\nnull@example.com",
        fileUrl=None,
        jsonBody=None,
        listIds=[list_id],
        newList=None,
        notifyUrl=None,
        updateExistingContacts=None,
        emptyContactsAttributes=None,
        emailBlacklist=None,
    )
    assert proc["status"] == "completed"
    assert api.contact("null@example.com")["emailBlacklisted"] is False
    rows = api.export_rows(
        customContactFilter={
            "actionForContacts": "allContacts",
            "listId": list_id,
            "segmentId": None,
        },
        exportAttributes=None,
        exportMandatoryAttributes=None,
        exportDateInUTC=None,
        skipFilesMerge=None,
        notifyUrl=None,
    )
    assert [r["EMAIL"] for r in rows] == ["null@example.com"]
