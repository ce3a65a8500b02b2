"""Semantics of the sandbox's contacts, lists, folders, segments and attributes endpoints."""

from __future__ import annotations

import time

import pytest

from tests.sandbox._sandbox_helpers import FAST, SPEC, Api


@pytest.fixture
def api(sandbox):
    # These tests pin the spec-2026-02 profile's behaviour; test_sandbox_profiles.py covers both.
    sandbox.configure(**SPEC, **FAST)
    return Api(sandbox)


# --------------------------------------------------------------------------- auth and routing


@pytest.mark.parametrize(
    "path", ["/v3/contacts", "/v3/processes", "/_sandbox/config", "/_sandbox/requests"]
)
def test_missing_and_wrong_keys_get_401(sandbox, path):
    import requests

    url = sandbox.root_url + path
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "unauthorized",
        "message": "authentication not found in headers",
    }
    wrong = requests.get(url, headers={"api-key": "not-the-key"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "unauthorized", "message": "Key not found"}
    assert sandbox.api_key not in missing.text + wrong.text


def test_wrong_method_and_unknown_path(api):
    resp = api.delete("/contacts/import")
    assert resp.status_code == 405
    assert resp.json() == {
        "code": "method_not_allowed",
        "message": "DELETE Method is not allowed on this path",
    }
    assert api.post("/contacts/segments").status_code == 405
    assert api.put("/contacts/lists", json={}).status_code == 405
    assert api.get("/nothing/here").status_code == 404
    assert api.get("/contacts/lists/abc").status_code == 400


# --------------------------------------------------------------------------- contacts


def test_contact_crud_by_every_identifier(api):
    list_a, list_b = api.new_list("A"), api.new_list("B")
    created = api.ok(
        "POST",
        "/contacts",
        201,
        json={
            "email": "Jane@Example.com",
            "ext_id": "ext-1",
            "attributes": {"firstname": "Jane", "SMS": "+33 6 12 34 56 78", "UNKNOWN": 1},
            "listIds": [list_a],
        },
    )
    cid = created["id"]
    contact = api.contact("jane@example.com")
    assert contact["id"] == cid
    assert contact["email"] == "jane@example.com"
    assert contact["attributes"] == {"FIRSTNAME": "Jane", "SMS": "33612345678", "EXT_ID": "ext-1"}
    assert contact["listIds"] == [list_a]
    assert contact["emailBlacklisted"] is False
    assert contact["createdAt"] == contact["modifiedAt"]
    for identifier, id_type in [
        (str(cid), None),
        ("33612345678", None),
        ("+33612345678", None),
        ("ext-1", "ext_id"),
        ("33612345678", "phone_id"),
        (str(cid), "contact_id"),
        ("JANE@example.com", "email_id"),
    ]:
        params = {"identifierType": id_type} if id_type else {}
        assert api.ok("GET", f"/contacts/{identifier}", 200, params=params)["id"] == cid
    assert api.get("/contacts/ext-1").status_code == 400  # needs identifierType
    assert api.get("/contacts/x", params={"identifierType": "nope"}).status_code == 400
    missing = api.get("/contacts/nobody@example.com")
    assert missing.status_code == 404
    assert missing.json()["code"] == "document_not_found"

    time.sleep(0.005)
    api.ok(
        "PUT",
        f"/contacts/{cid}",
        204,
        json={
            "attributes": {"EMAIL": "jane.doe@example.com", "LASTNAME": "Doe", "FIRSTNAME": ""},
            "emailBlacklisted": True,
            "listIds": [list_b],
            "unlinkListIds": [list_a],
            "ext_id": "ext-2",
        },
    )
    updated = api.contact("jane.doe@example.com")
    assert updated["attributes"] == {"LASTNAME": "Doe", "SMS": "33612345678", "EXT_ID": "ext-2"}
    assert updated["emailBlacklisted"] is True
    assert updated["listIds"] == [list_b]
    assert updated["modifiedAt"] > contact["modifiedAt"]
    assert updated["statistics"]["unsubscriptions"]["adminUnsubscription"][0]["eventTime"]

    api.ok("DELETE", "/contacts/jane.doe@example.com", 204)
    assert api.get(f"/contacts/{cid}").status_code == 404
    assert api.delete(f"/contacts/{cid}").status_code == 404


def test_create_contact_duplicates_and_update_enabled(api):
    api.ok(
        "POST",
        "/contacts",
        201,
        json={"email": "a@example.com", "attributes": {"SMS": "33611111111"}, "ext_id": "E"},
    )
    dup = api.post("/contacts", json={"email": "A@example.com"})
    assert dup.status_code == 400
    assert dup.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }
    sms = api.post(
        "/contacts",
        json={"email": "b@example.com", "attributes": {"SMS": "+33611111111"}, "ext_id": "E"},
    )
    assert sms.status_code == 400
    assert sms.json()["metadata"] == {"duplicate_identifiers": ["SMS", "ext_id"]}
    updated = api.post(
        "/contacts",
        json={"email": "a@example.com", "attributes": {"FIRSTNAME": "Up"}, "updateEnabled": True},
    )
    assert updated.status_code == 204
    assert api.contact("a@example.com")["attributes"]["FIRSTNAME"] == "Up"
    assert api.ok("GET", "/contacts", 200)["count"] == 1

    api.ok("POST", "/contacts", 201, json={"email": "c@example.com"})
    taken = api.put("/contacts/c@example.com", json={"attributes": {"EMAIL": "a@example.com"}})
    assert taken.status_code == 400
    assert taken.json() == {
        "code": "invalid_parameter",
        "message": "Unable to update contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }
    taken_sms = api.put("/contacts/c@example.com", json={"attributes": {"SMS": "0033611111111"}})
    assert taken_sms.json()["metadata"] == {"duplicate_identifiers": ["SMS"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_parameter"),
        ({"attributes": {"FIRSTNAME": "x"}}, "missing_parameter"),
        ({"email": "not-an-email"}, "invalid_parameter"),
        ({"email": "a@example.com", "listIds": [999]}, "invalid_parameter"),
        ({"email": "a@example.com", "listIds": "1"}, "invalid_parameter"),
        ({"email": "a@example.com", "emailBlacklisted": "yes"}, "invalid_parameter"),
        ({"email": "a@example.com", "attributes": {"SMS": "12"}}, "invalid_parameter"),
        ({"email": "a@example.com", "attributes": []}, "invalid_parameter"),
    ],
)
def test_invalid_contact_bodies(api, body, code):
    resp = api.post("/contacts", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code


def test_sms_only_and_ext_id_only_contacts(api):
    sms_id = api.ok("POST", "/contacts", 201, json={"attributes": {"SMS": "447700900001"}})["id"]
    ext_id = api.ok("POST", "/contacts", 201, json={"ext_id": "only-ext"})["id"]
    assert "email" not in api.contact("447700900001")
    assert (
        api.ok("GET", "/contacts/only-ext", 200, params={"identifierType": "ext_id"})["id"]
        == ext_id
    )
    api.ok(
        "PUT",
        "/contacts/447700900001",
        204,
        params={"identifierType": "phone_id"},
        json={"attributes": {"LASTNAME": "S"}},
    )
    assert api.contact(str(sms_id))["attributes"]["LASTNAME"] == "S"


def test_list_contacts_paging_and_filters(api, sandbox):
    api.attribute(
        "category",
        "GENDER",
        enumeration=[{"value": 1, "label": "Men"}, {"value": 2, "label": "Women"}],
    )
    list_a, list_b = api.new_list("A"), api.new_list("B")
    api.import_(
        fileBody="EMAIL;FIRSTNAME;GENDER\n"
        + "\n".join(f"c{i:02d}@x.io;N{i % 2};{1 + i % 2}" for i in range(60)),
        listIds=[list_a],
    )
    page = api.ok("GET", "/contacts", 200)
    assert page["count"] == 60
    assert len(page["contacts"]) == 50  # default limit
    assert page["contacts"][0]["email"] == "c59@x.io"  # default sort: newest first
    asc = api.ok("GET", "/contacts", 200, params={"limit": 7, "offset": 5, "sort": "asc"})
    assert [c["email"] for c in asc["contacts"]] == [f"c{i:02d}@x.io" for i in range(5, 12)]
    assert len(api.ok("GET", "/contacts", 200, params={"limit": 1000})["contacts"]) == 60
    too_many = api.get("/contacts", params={"limit": 1001})
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "out_of_range"
    assert api.get("/contacts", params={"limit": -1}).status_code == 400
    assert api.get("/contacts", params={"limit": "ten"}).status_code == 400
    assert api.get("/contacts", params={"sort": "up"}).status_code == 400

    cut = api.contact("c59@x.io")["modifiedAt"]
    time.sleep(0.005)
    api.ok("PUT", "/contacts/c03@x.io", 204, json={"listIds": [list_b]})
    since = api.ok("GET", "/contacts", 200, params={"modifiedSince": cut})
    assert [c["email"] for c in since["contacts"]] == ["c03@x.io"]
    assert api.ok("GET", "/contacts", 200, params={"createdSince": cut})["count"] == 0
    assert (
        api.ok("GET", "/contacts", 200, params={"createdSince": "2000-01-01T00:00:00+01:00"})[
            "count"
        ]
        == 60
    )
    assert api.get("/contacts", params={"modifiedSince": "yesterday"}).status_code == 400

    in_b = api.ok("GET", "/contacts", 200, params={"listIds": [list_b]})
    assert [c["email"] for c in in_b["contacts"]] == ["c03@x.io"]
    segment = sandbox.create_segment("S", ["c01@x.io", "c02@x.io"])
    in_segment = api.ok("GET", "/contacts", 200, params={"segmentId": segment})
    assert {c["email"] for c in in_segment["contacts"]} == {"c01@x.io", "c02@x.io"}
    assert api.get("/contacts", params={"segmentId": segment, "listIds": list_a}).status_code == 400

    men = api.ok("GET", "/contacts", 200, params={"filter": 'equals(GENDER,"Men")', "limit": 1000})
    assert men["count"] == 30
    assert api.ok("GET", "/contacts", 200, params={"filter": "equals(GENDER, 2)"})["count"] == 30
    named = api.ok(
        "GET", "/contacts", 200, params={"filter": 'equals(FIRSTNAME,"N1")', "limit": 1000}
    )
    assert {c["attributes"]["FIRSTNAME"] for c in named["contacts"]} == {"N1"}
    assert api.get("/contacts", params={"filter": "like(FIRSTNAME,x)"}).status_code == 400

    members = api.ok("GET", f"/contacts/lists/{list_a}/contacts", 200, params={"limit": 500})
    assert members["count"] == 60
    assert api.get(f"/contacts/lists/{list_a}/contacts", params={"limit": 501}).status_code == 400
    assert len(api.ok("GET", f"/contacts/lists/{list_a}/contacts", 200)["contacts"]) == 50
    assert api.get("/contacts/lists/999/contacts").status_code == 404


# --------------------------------------------------------------------------- folders and lists


def test_folders_and_lists(api):
    folder = api.ok("POST", "/contacts/folders", 201, json={"name": "F"})["id"]
    assert api.post("/contacts/folders", json={}).json()["code"] == "missing_parameter"
    assert api.ok("GET", f"/contacts/folders/{folder}", 200) == {
        "id": folder,
        "name": "F",
        "totalBlacklisted": 0,
        "totalSubscribers": 0,
        "uniqueSubscribers": 0,
    }
    assert api.get("/contacts/folders/99").status_code == 404
    no_folder = api.post("/contacts/lists", json={"name": "L"})
    assert no_folder.status_code == 400
    assert no_folder.json()["code"] == "missing_parameter"
    assert (
        api.post("/contacts/lists", json={"folderId": folder}).json()["code"] == "missing_parameter"
    )
    assert api.post("/contacts/lists", json={"name": "L", "folderId": 99}).status_code == 400
    list_id = api.ok("POST", "/contacts/lists", 201, json={"name": "L", "folderId": folder})["id"]
    api.import_(fileBody="EMAIL\na@x.io\nb@x.io\nc@x.io", listIds=[list_id])
    api.ok("PUT", "/contacts/b@x.io", 204, json={"emailBlacklisted": True})
    detail = api.ok("GET", f"/contacts/lists/{list_id}", 200)
    assert detail["totalSubscribers"] == 2
    assert detail["totalBlacklisted"] == 1
    assert detail["uniqueSubscribers"] == 3
    assert detail["folderId"] == folder
    assert detail["createdAt"]
    assert api.ok("GET", f"/contacts/folders/{folder}", 200)["uniqueSubscribers"] == 3
    assert api.ok("GET", f"/contacts/folders/{folder}/lists", 200)["count"] == 1
    api.ok("PUT", f"/contacts/lists/{list_id}", 204, json={"name": "Renamed"})
    assert (
        api.put(f"/contacts/lists/{list_id}", json={"name": "x", "folderId": folder}).status_code
        == 400
    )
    assert api.ok("GET", "/contacts/lists", 200)["lists"][0]["name"] == "Renamed"
    assert api.get("/contacts/lists/99").status_code == 404

    for i in range(55):
        api.ok("POST", "/contacts/lists", 201, json={"name": f"L{i}", "folderId": folder})
    lists = api.ok("GET", "/contacts/lists", 200)
    assert lists["count"] == 56
    assert len(lists["lists"]) == 10
    assert len(api.ok("GET", "/contacts/lists", 200, params={"limit": 50})["lists"]) == 50
    assert api.get("/contacts/lists", params={"limit": 51}).status_code == 400
    assert api.get("/contacts/folders", params={"limit": 51}).status_code == 400
    assert api.get("/contacts/segments", params={"limit": 51}).status_code == 400

    api.ok("DELETE", f"/contacts/folders/{folder}", 204)
    assert api.ok("GET", "/contacts/lists", 200)["count"] == 0
    assert api.contact("a@x.io")["listIds"] == []


def test_segments_are_listed(api, sandbox):
    api.ok("POST", "/contacts", 201, json={"email": "a@x.io"})
    first = sandbox.create_segment("First", ["a@x.io", "ghost@x.io"])
    second = sandbox.create_segment("Second", [])
    page = api.ok("GET", "/contacts/segments", 200)
    assert page["count"] == 2
    assert [(s["id"], s["segmentName"]) for s in page["segments"]] == [
        (second, "Second"),
        (first, "First"),
    ]
    assert all(s["categoryName"] and s["updatedAt"] for s in page["segments"])
    resp = api.post(
        "/_sandbox/segments", json={"name": "Third", "emails": ["a@x.io", "nobody@x.io"]}
    )
    assert resp.status_code == 201
    assert resp.json()["unknown"] == ["nobody@x.io"]


def test_add_and_remove_list_members(api):
    list_id = api.new_list()
    api.ok("POST", "/contacts", 201, json={"email": "a@x.io", "ext_id": "EA"})
    b = api.ok("POST", "/contacts", 201, json={"email": "b@x.io"})["id"]
    added = api.ok(
        "POST",
        f"/contacts/lists/{list_id}/contacts/add",
        201,
        json={"emails": ["a@x.io", "ghost@x.io"]},
    )
    assert added == {"contacts": {"success": ["a@x.io"], "failure": ["ghost@x.io"]}}
    again = api.ok("POST", f"/contacts/lists/{list_id}/contacts/add", 201, json={"ids": [b, 999]})
    assert again == {"contacts": {"success": [b], "failure": [999]}}
    already = api.ok(
        "POST", f"/contacts/lists/{list_id}/contacts/add", 201, json={"extIds": ["EA"]}
    )
    assert already == {"contacts": {"success": [], "failure": ["EA"]}}  # already in the list
    assert api.contact("b@x.io")["listIds"] == [list_id]
    removed = api.ok(
        "POST", f"/contacts/lists/{list_id}/contacts/remove", 201, json={"extIds": ["EA"]}
    )
    assert removed == {"contacts": {"success": ["EA"], "failure": []}}
    assert api.contact("a@x.io")["listIds"] == []

    too_many = api.post(
        f"/contacts/lists/{list_id}/contacts/add",
        json={"emails": [f"u{i}@x.io" for i in range(151)]},
    )
    assert too_many.status_code == 400
    assert (
        api.post(f"/contacts/lists/{list_id}/contacts/add", json={"emails": []}).status_code == 400
    )
    assert (
        api.post(
            f"/contacts/lists/{list_id}/contacts/add", json={"emails": ["a@x.io"], "ids": [b]}
        ).status_code
        == 400
    )
    assert api.post(f"/contacts/lists/{list_id}/contacts/add", json={}).status_code == 400
    assert (
        api.post("/contacts/lists/999/contacts/add", json={"emails": ["a@x.io"]}).status_code == 404
    )
    ok150 = api.post(
        f"/contacts/lists/{list_id}/contacts/add",
        json={"emails": [f"u{i}@x.io" for i in range(150)]},
    )
    assert ok150.status_code == 201


def test_remove_all_starts_a_process(api):
    list_id = api.new_list()
    other = api.new_list("other")
    api.import_(fileBody="EMAIL\na@x.io\nb@x.io\nc@x.io", listIds=[list_id, other])
    resp = api.ok("POST", f"/contacts/lists/{list_id}/contacts/remove", 201, json={"all": True})
    assert resp["contacts"]["total"] == 3
    proc = api.wait(resp["contacts"]["processId"])
    assert proc["status"] == "completed"
    assert api.ok("GET", f"/contacts/lists/{list_id}/contacts", 200)["count"] == 0
    assert api.contact("a@x.io")["listIds"] == [other]
    assert (
        api.post(f"/contacts/lists/{list_id}/contacts/remove", json={"all": False}).status_code
        == 400
    )
    assert api.post("/contacts/lists/999/contacts/remove", json={"all": True}).status_code == 404


# --------------------------------------------------------------------------- attributes


def test_default_attributes_and_creating_each_type(api):
    names = [a["name"] for a in api.ok("GET", "/contacts/attributes", 200)["attributes"]]
    assert names == [
        "EMAIL",
        "FIRSTNAME",
        "LASTNAME",
        "SMS",
        "WHATSAPP",
        "LANDLINE_NUMBER",
        "EXT_ID",
    ]
    for name, type_ in (("note", "text"), ("DOB", "date"), ("SCORE", "float"), ("VIP", "boolean")):
        resp = api.post(f"/contacts/attributes/normal/{name}", json={"type": type_})
        assert resp.status_code == 201
        assert resp.content == b""
    api.attribute("category", "GENDER", enumeration=[{"value": 1, "label": "Men"}])
    api.attribute(
        "normal", "COUNTRY", type="multiple-choice", multiCategoryOptions=["USA", "India"]
    )
    attrs = {a["name"]: a for a in api.ok("GET", "/contacts/attributes", 200)["attributes"]}
    assert attrs["NOTE"] == {"name": "NOTE", "category": "normal", "type": "text"}
    assert attrs["DOB"]["type"] == "date"
    assert attrs["GENDER"] == {
        "name": "GENDER",
        "category": "category",
        "type": "text",
        "enumeration": [{"value": 1, "label": "Men"}],
    }
    assert attrs["COUNTRY"]["multiCategoryOptions"] == ["USA", "India"]
    assert attrs["FIRSTNAME"] == {"name": "FIRSTNAME", "category": "normal", "type": "text"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/contacts/attributes/normal/FIRSTNAME", {"type": "text"}),
        ("/contacts/attributes/secret/X", {"type": "text"}),
        ("/contacts/attributes/normal/X", {"type": "colour"}),
        ("/contacts/attributes/category/X", {}),
        ("/contacts/attributes/category/X", {"enumeration": [{"value": "1", "label": "a"}]}),
        ("/contacts/attributes/category/X", {"enumeration": [{"value": 1, "label": "a" * 201}]}),
        ("/contacts/attributes/normal/X", {"type": "multiple-choice"}),
        ("/contacts/attributes/normal/X", {"enumeration": [{"value": 1, "label": "a"}]}),
        ("/contacts/attributes/calculated/X", {}),
        ("/contacts/attributes/normal/BAD-NAME", {"type": "text"}),
    ],
)
def test_invalid_attribute_creation(api, path, body):
    resp = api.post(path, json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] in ("invalid_parameter", "missing_parameter")


# --------------------------------------------------------------------------- statistics


def test_statistics_come_from_seeded_events(api, sandbox):
    list_id = api.new_list()
    api.ok("POST", "/contacts", 201, json={"email": "s@x.io", "listIds": [list_id]})
    sandbox.seed_events(
        campaign_id=21, event="delivered", emails=["s@x.io"], time="2026-01-02T03:04:05Z"
    )
    sandbox.seed_events(campaign_id=21, event="open", emails=["s@x.io"], ip="10.0.0.1")
    sandbox.seed_events(campaign_id=21, event="open", emails=["s@x.io"], ip="10.0.0.2")
    sandbox.seed_events(campaign_id=21, event="click", emails=["s@x.io"], url="https://a.example/x")
    sandbox.seed_events(campaign_id=22, event="softBounce", emails=["s@x.io"])
    sandbox.seed_events(campaign_id=23, event="hardBounce", emails=["s@x.io"])
    sandbox.seed_events(campaign_id=23, event="spam", emails=["s@x.io"])
    sandbox.seed_events(campaign_id=24, event="unsubscribe", emails=["s@x.io"])
    sandbox.seed_events(event="listUnsubscribe", list_id=list_id, emails=["s@x.io"])
    contact = api.contact("s@x.io")
    stats = contact["statistics"]
    assert stats["messagesSent"] == [{"campaignId": 21, "eventTime": "2026-01-02T03:04:05.000Z"}]
    assert stats["delivered"] == [{"campaignId": 21, "eventTime": "2026-01-02T03:04:05.000Z"}]
    assert len(stats["opened"]) == 1
    assert stats["opened"][0]["count"] == 2
    assert stats["opened"][0]["ip"] == "10.0.0.2"
    assert stats["clicked"][0]["campaignId"] == 21
    assert stats["clicked"][0]["links"][0]["url"] == "https://a.example/x"
    assert stats["clicked"][0]["links"][0]["count"] == 1
    assert [e["campaignId"] for e in stats["softBounces"]] == [22]
    assert [e["campaignId"] for e in stats["hardBounces"]] == [23]
    assert [e["campaignId"] for e in stats["complaints"]] == [23]
    assert [e["campaignId"] for e in stats["unsubscriptions"]["userUnsubscription"]] == [24]
    assert stats["unsubscriptions"]["adminUnsubscription"] == []
    assert contact["emailBlacklisted"] is True  # unsubscribing through a campaign blocklists
    assert contact["listIds"] == []
    assert contact["listUnsubscribed"] == [list_id]


@pytest.mark.parametrize(
    "body",
    [
        {"event": "open", "emails": ["a@x.io"]},
        {"campaign_id": 1, "event": "teleport", "emails": ["a@x.io"]},
        {"campaign_id": 1, "event": "open", "emails": []},
        {"channel": "fax", "campaign_id": 1, "event": "open", "emails": ["a@x.io"]},
        {"channel": "sms", "campaign_id": 1, "event": "open", "emails": ["a@x.io"]},
        {"event": "listUnsubscribe", "list_id": 99, "emails": ["a@x.io"]},
        {"campaign_id": 1, "event": "open", "emails": ["a@x.io"], "time": "soon"},
        {"campaign_id": 1, "event": "open", "emails": ["a@x.io"], "extra": 1},
    ],
)
def test_invalid_event_seeds(api, body):
    resp = api.post("/_sandbox/events", json=body)
    assert resp.status_code == 400, resp.text


def test_seeding_events_reports_unknown_emails(api):
    api.ok("POST", "/contacts", 201, json={"email": "a@x.io"})
    resp = api.ok(
        "POST",
        "/_sandbox/events",
        200,
        json={"campaign_id": 1, "event": "open", "emails": ["a@x.io", "b@x.io"]},
    )
    assert resp == {"recorded": 1, "unknown": ["b@x.io"]}
