"""Semantics of the sandbox's ``POST /v3/contacts/export``: filters, file format, links, notify."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs

import pytest
import requests

from tests.sandbox._sandbox_helpers import FAST, SPEC, Api, read_csv, read_zip, receiver


@pytest.fixture
def api(sandbox):
    # These tests pin the spec-2026-02 profile's behaviour; test_sandbox_profiles.py covers both.
    sandbox.configure(**SPEC, **FAST)
    return Api(sandbox)


def _seed(api: Api, sandbox) -> dict[str, int]:
    """Contacts a..g in lists A and B, a segment, campaign events and an import process.

    a: A, opened+clicked email 7, SMS-unsubscribed on SMS campaign 3
    b: A, blocklisted by the admin (PUT), hard-bounced email 7
    c: A, unsubscribed from list A only, soft-bounced email 8
    d: B, hard-bounced SMS campaign 3
    e: A and B, opened email 7 and unsubscribed through it, soft-bounced SMS 3
    f, g: A, created by a separate import (its process id is "import")
    """
    list_a, list_b = api.new_list("A"), api.new_list("B")
    api.import_(fileBody="EMAIL\na@x.io\nb@x.io\nc@x.io\ne@x.io", listIds=[list_a])
    api.import_(fileBody="EMAIL\nd@x.io\ne@x.io", listIds=[list_b])
    imported = api.import_(fileBody="EMAIL\nf@x.io\ng@x.io", listIds=[list_a])
    api.ok("PUT", "/contacts/b@x.io", 204, json={"emailBlacklisted": True})
    sandbox.seed_events(event="listUnsubscribe", list_id=list_a, emails=["c@x.io"])
    sandbox.seed_events(
        campaign_id=7, event="delivered", emails=["a@x.io", "b@x.io", "c@x.io", "e@x.io"]
    )
    sandbox.seed_events(campaign_id=7, event="open", emails=["a@x.io", "e@x.io"])
    sandbox.seed_events(campaign_id=7, event="click", emails=["a@x.io"])
    sandbox.seed_events(campaign_id=7, event="unsubscribe", emails=["e@x.io"])
    sandbox.seed_events(campaign_id=7, event="hardBounce", emails=["b@x.io"])
    sandbox.seed_events(campaign_id=8, event="softBounce", emails=["c@x.io"])
    sandbox.seed_events(channel="sms", campaign_id=3, event="hardBounce", emails=["d@x.io"])
    sandbox.seed_events(channel="sms", campaign_id=3, event="softBounce", emails=["e@x.io"])
    sandbox.seed_events(channel="sms", campaign_id=3, event="unsubscribe", emails=["a@x.io"])
    segment = sandbox.create_segment("S", ["a@x.io", "d@x.io"])
    return {"A": list_a, "B": list_b, "S": segment, "import": imported["id"]}


CASES = [
    ({"actionForContacts": "allContacts", "listId": "A"}, "abcefg"),
    ({"actionForContacts": "allContacts", "listId": "B"}, "de"),
    ({"actionForContacts": "subscribed", "listId": "A"}, "afg"),
    ({"actionForContacts": "unsubscribed", "listId": "A"}, "be"),
    ({"actionForContacts": "unsubscribedPerList", "listId": "A"}, "c"),
    ({"actionForContacts": "allContacts", "segmentId": "S"}, "ad"),
    ({"actionForContacts": "subscribed", "segmentId": "S"}, "ad"),
    ({"actionForContacts": "allContacts", "listId": "A", "importProcessId": "import"}, "fg"),
    ({"actionForEmailCampaigns": "openers", "emailCampaignId": 7}, "ae"),
    ({"actionForEmailCampaigns": "nonOpeners", "emailCampaignId": 7}, "bc"),
    ({"actionForEmailCampaigns": "clickers", "emailCampaignId": 7}, "a"),
    ({"actionForEmailCampaigns": "nonClickers", "emailCampaignId": 7}, "bce"),
    ({"actionForEmailCampaigns": "unsubscribed", "emailCampaignId": 7}, "e"),
    ({"actionForEmailCampaigns": "hardBounces", "emailCampaignId": 7}, "b"),
    ({"actionForEmailCampaigns": "hardBounces"}, "b"),
    ({"actionForEmailCampaigns": "softBounces"}, "c"),
    ({"actionForEmailCampaigns": "softBounces", "emailCampaignId": 7}, ""),
    ({"actionForEmailCampaigns": "openers", "emailCampaignId": 99}, ""),
    ({"actionForSmsCampaigns": "hardBounces"}, "d"),
    ({"actionForSmsCampaigns": "softBounces", "smsCampaignId": 3}, "e"),
    ({"actionForSmsCampaigns": "unsubscribed"}, "a"),
    ({"actionForSmsCampaigns": "unsubscribed", "smsCampaignId": 4}, ""),
    (
        {
            "actionForContacts": "allContacts",
            "listId": "B",
            "actionForEmailCampaigns": "openers",
            "emailCampaignId": 7,
        },
        "e",
    ),
]


@pytest.mark.parametrize(("custom", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_custom_contact_filter_action_selects_exactly_the_right_contacts(
    api, sandbox, custom, expected
):
    ids = _seed(api, sandbox)
    body = {k: ids[v] if isinstance(v, str) and v in ids else v for k, v in custom.items()}
    emails = api.export_emails(customContactFilter=body)
    assert emails == {f"{ch}@x.io" for ch in expected}


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ({"blacklisted": True}, "be"),
        ({"blacklisted": False}, "acdfg"),
        ({"blacklisted": True, "listid.id": "B"}, "e"),
        ({"blacklisted": False, "listid.id": "A"}, "acfg"),
        ({"smsBlacklisted": True}, "a"),
    ],
)
def test_deprecated_contact_filter(api, sandbox, legacy, expected):
    ids = _seed(api, sandbox)
    body = {k: ids[v] if isinstance(v, str) else v for k, v in legacy.items()}
    assert api.export_emails(contactFilter=body) == {f"{ch}@x.io" for ch in expected}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_parameter"),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "contactFilter": {"blacklisted": True},
            },
            "invalid_parameter",
        ),
        ({"customContactFilter": {}}, "missing_parameter"),
        ({"customContactFilter": {"actionForContacts": "allContacts"}}, "missing_parameter"),
        (
            {"customContactFilter": {"actionForContacts": "everyone", "listId": 1}},
            "invalid_parameter",
        ),
        (
            {
                "customContactFilter": {
                    "actionForContacts": "allContacts",
                    "listId": 1,
                    "segmentId": 1,
                }
            },
            "invalid_parameter",
        ),
        (
            {"customContactFilter": {"actionForContacts": "allContacts", "listId": 404}},
            "invalid_parameter",
        ),
        ({"customContactFilter": {"actionForEmailCampaigns": "openers"}}, "missing_parameter"),
        (
            {
                "customContactFilter": {
                    "actionForEmailCampaigns": "clickers",
                    "emailCampaignId": "7",
                }
            },
            "invalid_parameter",
        ),
        ({"customContactFilter": {"actionForSmsCampaigns": "openers"}}, "invalid_parameter"),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "exportMandatoryAttributes": False,
            },
            "missing_parameter",
        ),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "exportAttributes": ["NOPE"],
            },
            "invalid_parameter",
        ),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "exportMetadata": ["_nope"],
            },
            "invalid_parameter",
        ),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "exportSubscriptionStatus": ["fax"],
            },
            "invalid_parameter",
        ),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "exportDateInUTC": "yes",
            },
            "invalid_parameter",
        ),
        (
            {
                "customContactFilter": {"actionForContacts": "allContacts", "listId": 1},
                "notifyUrl": "file:///tmp/x",
            },
            "invalid_parameter",
        ),
        ({"contactFilter": {"colour": "red"}}, "invalid_parameter"),
    ],
)
def test_invalid_export_requests_get_400(api, body, code):
    api.new_list()
    resp = api.post("/contacts/export", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code
    assert api.ok("GET", "/processes", 200)["count"] == 0


def test_file_format_columns_dates_metadata_and_subscription_status(api, sandbox):
    list_a, list_b = api.new_list("A"), api.new_list("B")
    api.import_(fileBody="EMAIL;FIRSTNAME\nboth@x.io;Both\none@x.io;One", listIds=[list_a])
    api.ok("PUT", "/contacts/both@x.io", 204, json={"listIds": [list_b], "smsBlacklisted": True})
    both = api.contact("both@x.io")
    proc, data = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_a},
        exportAttributes=["FIRSTNAME"],
        exportMetadata=["_listIds", "ADDED_TIME AS _ADDED_TIME", "MODIFIED_TIME AS _MODIFIED_TIME"],
        exportSubscriptionStatus=["email_marketing", "sms_marketing"],
    )
    assert proc["name"] == "SEARCH_EXPORT_USERS"
    assert proc["info"]["export"] == {"total_records": 2, "file_size": len(data)}
    text = data.decode("utf-8")
    header = text.splitlines()[0]
    assert header == (
        "EMAIL;ADDED_TIME;MODIFIED_TIME;FIRSTNAME;_listIds;_ADDED_TIME;_MODIFIED_TIME;"
        "_SUBSCRIBED;_BLOCKLISTED"
    )
    rows = {r["EMAIL"]: r for r in read_csv(data)}
    row = rows["both@x.io"]
    created = both["createdAt"]  # 2026-11-23T10:00:00.123Z
    assert row["ADDED_TIME"] == f"{created[8:10]}-{created[5:7]}-{created[0:4]} {created[11:19]}"
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}", row["MODIFIED_TIME"])
    assert row["_ADDED_TIME"] == row["ADDED_TIME"]
    assert row["_listIds"] == f"[{list_a}|{list_b}]"
    assert rows["one@x.io"]["_listIds"] == f"[{list_a}]"
    assert row["_SUBSCRIBED"] == "email_marketing"
    assert row["_BLOCKLISTED"] == "sms_marketing"
    assert rows["one@x.io"]["_SUBSCRIBED"] == "email_marketing|sms_marketing"
    assert rows["one@x.io"]["_BLOCKLISTED"] == ""

    utc_rows = api.export_rows(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_a},
        exportDateInUTC=True,
    )
    utc = {r["EMAIL"]: r for r in utc_rows}["both@x.io"]
    assert utc["ADDED_TIME"] == created
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", utc["MODIFIED_TIME"])
    assert list(utc) == ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"]

    bare = api.export_rows(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_a},
        exportMandatoryAttributes=False,
        exportAttributes=["firstname"],
    )
    assert sorted(r["FIRSTNAME"] for r in bare) == ["Both", "One"]
    assert all(list(r) == ["FIRSTNAME"] for r in bare)


def test_an_empty_export_has_just_the_header(api):
    list_id = api.new_list()
    proc, data = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    assert data.decode() == "EMAIL;ADDED_TIME;MODIFIED_TIME\n"
    assert proc["info"]["export"]["total_records"] == 0


def test_skip_files_merge_gives_a_zip_of_parts(api, sandbox):
    sandbox.configure(export_part_rows=2)
    list_id = api.new_list()
    emails = [f"p{i}@x.io" for i in range(5)]
    api.import_(fileBody="EMAIL\n" + "\n".join(emails), listIds=[list_id])
    proc, data = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id},
        skipFilesMerge=True,
    )
    assert proc["export_url"].endswith(".zip")
    assert proc["info"]["export"]["total_records"] == 5
    parts = read_zip(data)
    assert [len(rows) for rows in parts.values()] == [2, 2, 1]
    assert [r["EMAIL"] for rows in parts.values() for r in rows] == emails
    merged = api.export_rows(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    assert [r["EMAIL"] for r in merged] == emails  # without skipFilesMerge: one CSV


def test_export_links_need_no_key_and_expire(api, sandbox):
    sandbox.configure(export_link_ttl_s=0.5)
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    proc, _ = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    url = proc["export_url"]
    assert url.startswith(sandbox.root_url + "/")
    assert sandbox.api_key not in url
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url + "x", timeout=10).status_code == 404
    assert (
        requests.get(sandbox.root_url + "/exports/unknown/file.csv", timeout=10).status_code == 404
    )
    time.sleep(0.6)
    assert requests.get(url, timeout=10).status_code == 410


def test_export_url_anchor_form(api, sandbox):
    sandbox.configure(export_url="anchor")
    list_id = api.new_list()
    pid = api.ok(
        "POST",
        "/contacts/export",
        202,
        json={"customContactFilter": {"actionForContacts": "allContacts", "listId": list_id}},
    )["processId"]
    proc = api.wait(pid)
    match = re.fullmatch(r'<a href="([^"]+)" target="_blank">([^<]+\.csv)</a>', proc["export_url"])
    assert match is not None, proc["export_url"]
    assert match.group(1).endswith("/" + match.group(2))
    assert requests.get(match.group(1), timeout=10).status_code == 200


def test_notify_callback_arrives_once_with_an_empty_body(api):
    list_id = api.new_list()
    with receiver() as hook:
        pid = api.ok(
            "POST",
            "/contacts/import",
            202,
            json={
                "fileBody": "EMAIL\na@x.io",
                "listIds": [list_id],
                "notifyUrl": f"{hook.url}/import/{list_id}?token=t",
            },
        )["processId"]
        got = hook.wait_for(1)
        assert api.ok("GET", f"/processes/{pid}", 200)["status"] == "completed"
        time.sleep(0.3)
        assert len(hook.received) == 1
    assert got[0].path == f"/import/{list_id}?token=t"
    assert got[0].body == b""


def test_notify_v2_form_for_import_and_export(api, sandbox):
    sandbox.configure(notify="v2form")
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\nold@x.io", listIds=[list_id])
    with receiver() as hook:
        api.ok(
            "POST",
            "/contacts/import",
            202,
            json={
                "fileBody": "EMAIL\nold@x.io\nnew@x.io\nbad\nnew@x.io",
                "listIds": [list_id],
                "notifyUrl": hook.url + "/imp",
            },
        )
        imported = hook.wait_for(1)[0]
        api.ok(
            "POST",
            "/contacts/export",
            202,
            json={
                "customContactFilter": {"actionForContacts": "allContacts", "listId": list_id},
                "notifyUrl": hook.url + "/exp",
            },
        )
        exported = hook.wait_for(2)[1]
    form = {k: v[0] for k, v in parse_qs(imported.body.decode()).items()}
    assert form == {
        "proc_success": "1",
        "new_emails": "1",
        "emails_exists": "1",
        "invalid_email": "1",
        "duplicates_email": "1",
        "listids": str(list_id),
    }
    assert imported.headers["Content-Type"] == "application/x-www-form-urlencoded"
    exp_form = {k: v[0] for k, v in parse_qs(exported.body.decode()).items()}
    assert exp_form["proc_success"] == "1"
    assert len(read_csv(requests.get(exp_form["url"], timeout=10).content)) == 2


def test_notify_is_retried_three_times_on_failure(api, sandbox):
    list_id = api.new_list()
    with receiver() as hook:
        hook.fail = 2
        api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileBody": "EMAIL\na@x.io", "listIds": [list_id], "notifyUrl": hook.url},
        )
        assert len(hook.wait_for(3)) == 3
        time.sleep(0.3)
        assert len(hook.received) == 3  # the third attempt succeeded: no more
        hook.received.clear()
        hook.fail = 10
        api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileBody": "EMAIL\nb@x.io", "listIds": [list_id], "notifyUrl": hook.url},
        )
        assert len(hook.wait_for(4, timeout=5)) == 4
        time.sleep(0.3)
        assert len(hook.received) == 4  # one attempt plus three retries


def test_notify_on_a_failed_process(api, sandbox):
    sandbox.configure(notify="v2form", process_fail=True)
    list_id = api.new_list()
    with receiver() as hook:
        api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileBody": "EMAIL\na@x.io", "listIds": [list_id], "notifyUrl": hook.url},
        )
        got = hook.wait_for(1)
    assert parse_qs(got[0].body.decode()) == {"proc_success": ["0"]}
