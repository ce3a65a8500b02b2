"""Every client method against the real sandbox on loopback."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from etl.brevo import (
    BrevoAuthError,
    BrevoBadRequest,
    BrevoClient,
    BrevoConfigError,
    BrevoNotFound,
    ContactFilter,
    CreateContact,
    EnumValue,
    ExportRequest,
    ImportRequest,
    NewList,
    ProcessFailed,
    ProcessTimeout,
    RateLimits,
    UpdateContact,
)

from ._support import RecordingEvent, csv_body, rows


def import_and_wait(client: BrevoClient, emails: list[str], list_id: int, **columns) -> int:
    pid = client.start_import(
        ImportRequest(file_body=csv_body(emails, **columns), list_ids=(list_id,))
    )
    client.wait_for_process(pid, timeout_s=20)
    return pid


@pytest.fixture
def folder_and_list(client) -> tuple[int, int]:
    folder_id = client.create_folder("Pipeline")
    return folder_id, client.create_list("Customers", folder_id=folder_id)


# ------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    ("key", "base_url", "match"),
    [
        ("", "https://api.brevo.com/v3", "empty"),
        ("   ", "https://api.brevo.com/v3", "empty"),
        ("k", "http://api.brevo.com/v3", "must be https"),
        ("k", "http://10.0.0.8:8787/v3", "must be https"),
        ("k", "ftp://127.0.0.1/v3", "http"),
        ("k", "https://api.brevo.com/v3?x=1", "query"),
        ("bad key", "https://api.brevo.com/v3", "spaces"),
        ("k", "https://api.brevo.com/v 3", "whitespace"),
    ],
)
def test_config_errors(key, base_url, match):
    with pytest.raises(BrevoConfigError, match=match):
        BrevoClient(key, base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8787/v3", "http://localhost:1/v3/", "http://[::1]:8787/v3", "https://x/v3"],
)
def test_loopback_may_be_plain_http(base_url):
    client = BrevoClient(" k\n", base_url=base_url + "\n")  # pasted from a .env file
    assert client.base_url == base_url.rstrip("/")
    assert client.request_count == 0


def test_context_manager_takes_the_key_out_of_an_injected_session():
    import requests

    session = requests.Session()
    with BrevoClient("k-123", base_url="http://127.0.0.1:1/v3", session=session):
        assert session.headers["api-key"] == "k-123"
    assert "api-key" not in session.headers


def test_wrong_key_is_an_auth_error_without_retries(make_client, fast_sandbox):
    client = make_client(api_key="not-the-key")
    with pytest.raises(BrevoAuthError, match=r"^GET /contacts/attributes -> 401 unauthorized"):
        client.get_attributes()
    assert client.request_count == 1


# ------------------------------------------------------------------ attributes


def test_attributes(client):
    names = {a.name for a in client.get_attributes()}
    assert {"EMAIL", "FIRSTNAME", "LASTNAME", "SMS", "EXT_ID"} <= names
    client.create_attribute("AGE", type="float")
    client.create_attribute("BIRTHDAY", type="date")
    client.create_attribute("VIP", type="boolean")
    client.create_attribute(
        "TIER",
        category="category",
        type="category",
        enumeration=[EnumValue(1, "Gold"), EnumValue(2, "Silver")],
    )
    client.create_attribute("TAGS", type="multiple-choice", multi_category_options=["a", "b"])
    by_name = {a.name: a for a in client.get_attributes()}
    assert by_name["AGE"].type == "float"
    assert by_name["BIRTHDAY"].type == "date"
    assert by_name["VIP"].type == "boolean"
    assert by_name["TIER"].kind == "category"
    assert [e.label for e in by_name["TIER"].enumeration] == ["Gold", "Silver"]
    assert by_name["TAGS"].multi_category_options == ("a", "b")
    with pytest.raises(BrevoBadRequest):
        client.create_attribute("AGE", type="float")


# ------------------------------------------------------------------ folders, lists, segments


def test_folders_and_lists(client, fast_sandbox):
    folder_ids = [client.create_folder(f"Folder {i}") for i in range(5)]
    assert client.get_folder(folder_ids[2]).name == "Folder 2"
    pages = list(client.iter_folders(page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [f.id for p in pages for f in p] == folder_ids
    list_ids = [client.create_list(f"List {i}", folder_id=folder_ids[0]) for i in range(3)]
    got = client.get_list(list_ids[1])
    assert (got.name, got.folder_id) == ("List 1", folder_ids[0])
    assert [li.id for p in client.iter_lists(page_size=2) for li in p] == list_ids
    assert [li.id for p in client.iter_folder_lists(folder_ids[0]) for li in p] == list_ids
    with pytest.raises(BrevoNotFound, match=r"GET /contacts/lists/9999 -> 404"):
        client.get_list(9999)
    with pytest.raises(BrevoNotFound):
        client.get_folder(9999)


def test_page_size_above_the_maximum_is_clamped(client, fast_sandbox):
    client.create_folder("only")
    assert [f.name for p in client.iter_folders(page_size=10_000) for f in p] == ["only"]
    assert all(r["status"] == 200 for r in rows(fast_sandbox, "GET", "/v3/contacts/folders"))
    with pytest.raises(ValueError, match="page_size"):
        list(client.iter_lists(page_size=0))


def test_segments(client, folder_and_list, fast_sandbox):
    _, list_id = folder_and_list
    import_and_wait(client, ["s1@x.org", "s2@x.org", "s3@x.org"], list_id)
    seg = fast_sandbox.create_segment("Engaged", ["s1@x.org", "s3@x.org"])
    segments = [s for p in client.iter_segments() for s in p]
    assert [(s.id, s.name) for s in segments] == [(seg, "Engaged")]
    emails = {c.email for p in client.iter_contacts(segment_id=seg) for c in p}
    assert emails == {"s1@x.org", "s3@x.org"}


# ------------------------------------------------------------------ contacts


def test_contact_lifecycle(client, folder_and_list):
    _, list_id = folder_and_list
    new_id = client.create_contact(
        CreateContact(email="ada@x.org", attributes={"FIRSTNAME": "Ada"}, list_ids=(list_id,))
    )
    assert isinstance(new_id, int)
    contact = client.get_contact("ada@x.org")
    assert contact.id == new_id
    assert contact.attributes["FIRSTNAME"] == "Ada"
    assert contact.list_ids == (list_id,)
    assert contact.statistics is not None
    assert client.get_contact(new_id, identifier_type="contact_id").email == "ada@x.org"

    with pytest.raises(BrevoBadRequest) as dup:
        client.create_contact(CreateContact(email="ada@x.org"))
    assert dup.value.code == "duplicate_parameter"
    assert (
        client.create_contact(
            CreateContact(email="ada@x.org", attributes={"LASTNAME": "L"}, update_enabled=True)
        )
        is None
    )

    client.update_contact("ada@x.org", UpdateContact(attributes={"FIRSTNAME": "Augusta"}))
    assert client.get_contact("ada@x.org").attributes["FIRSTNAME"] == "Augusta"
    client.update_contact(
        new_id, UpdateContact(email_blacklisted=True), identifier_type="contact_id"
    )
    assert client.get_contact(new_id).email_blacklisted is True

    client.delete_contact("ada@x.org")
    with pytest.raises(BrevoNotFound, match="404"):
        client.get_contact("ada@x.org")
    with pytest.raises(BrevoNotFound):
        client.delete_contact("ada@x.org")


def test_contact_identifier_with_reserved_characters(client, folder_and_list):
    _, list_id = folder_and_list
    client.create_contact(CreateContact(email="a+b/c@x.org", list_ids=(list_id,)))
    assert client.get_contact("a+b/c@x.org").email == "a+b/c@x.org"


def test_iter_contacts_pages_and_filters(client, fast_sandbox):
    folder = client.create_folder("F")
    list_a = client.create_list("A", folder_id=folder)
    list_b = client.create_list("B", folder_id=folder)
    emails_a = [f"a{i}@x.org" for i in range(7)]
    import_and_wait(client, emails_a, list_a)
    cutoff = datetime.now(UTC)
    time.sleep(0.01)
    import_and_wait(client, ["b0@x.org", "b1@x.org"], list_b)

    pages = list(client.iter_contacts(page_size=3))
    assert [len(p) for p in pages] == [3, 3, 3]
    assert [c.email for p in pages for c in p][:7] == emails_a  # creation order (asc)
    get_rows = rows(fast_sandbox, "GET", "/v3/contacts")
    assert len(get_rows) == 3  # stopped at count, no extra empty page

    in_b = {c.email for p in client.iter_contacts(list_ids=[list_b]) for c in p}
    assert in_b == {"b0@x.org", "b1@x.org"}
    recent = {c.email for p in client.iter_contacts(created_since=cutoff) for c in p}
    assert recent == {"b0@x.org", "b1@x.org"}
    modified = {
        c.email for p in client.iter_contacts(modified_since=cutoff - timedelta(0)) for c in p
    }
    assert modified == {"b0@x.org", "b1@x.org"}
    newest_first = [c.email for p in client.iter_contacts(sort="desc") for c in p]
    assert newest_first[0] in {"b0@x.org", "b1@x.org"}
    with pytest.raises(ValueError, match="not both"):
        list(client.iter_contacts(list_ids=[1], segment_id=2))

    members = [c.email for p in client.iter_list_contacts(list_a, page_size=5) for c in p]
    assert members == emails_a


def test_list_membership_in_batches_of_150(client, fast_sandbox, folder_and_list):
    folder_id, list_id = folder_and_list
    other = client.create_list("Other", folder_id=folder_id)
    emails = [f"m{i}@x.org" for i in range(320)]
    import_and_wait(client, emails, other)

    added = client.add_contacts_to_list(list_id, emails=emails)
    assert len(added.success) == 320
    assert added.failure == ()
    add_rows = rows(fast_sandbox, "POST", f"/v3/contacts/lists/{list_id}/contacts/add")
    assert len(add_rows) == 3  # 150 + 150 + 20
    assert client.get_list(list_id).unique_subscribers in (None, 320)

    again = client.add_contacts_to_list(list_id, emails=[*emails[:2], "nobody@x.org"])
    assert set(again.failure) >= {"nobody@x.org"}

    ids = [c.id for p in client.iter_list_contacts(list_id) for c in p][:5]
    removed = client.remove_contacts_from_list(list_id, ids=ids)
    assert len(removed.success) == 5
    removed = client.remove_contacts_from_list(list_id, emails=emails[100:110])
    assert len(removed.success) == 10

    everyone = client.remove_contacts_from_list(list_id, all=True)
    assert everyone.process_id is not None
    client.wait_for_process(everyone.process_id, timeout_s=20)
    assert [c for p in client.iter_list_contacts(list_id) for c in p] == []

    with pytest.raises(ValueError, match="emails, ids or ext_ids"):
        client.add_contacts_to_list(list_id)
    with pytest.raises(ValueError, match="all=True"):
        client.remove_contacts_from_list(list_id, emails=["a@x.org"], all=True)


# ------------------------------------------------------------------ processes


def test_import_then_export_then_download(client, folder_and_list, tmp_path):
    _, list_id = folder_and_list
    statuses: list[str] = []
    pid = client.start_import(
        ImportRequest(
            file_body=csv_body(["i1@x.org", "not-an-email", "i2@x.org"], FIRSTNAME=["A", "B", "C"]),
            list_ids=(list_id,),
        )
    )
    done = client.wait_for_process(pid, timeout_s=20, on_poll=lambda p: statuses.append(p.status))
    assert done.is_completed
    assert done.name == "IMPORTUSER"
    assert statuses[-1] == "completed"
    assert done.import_info is not None
    # A count (2026-02 spec) or the URL of a CSV of the invalid rows (current reference).
    invalid = done.import_info.invalid_emails
    if isinstance(invalid, str):
        rows = client.download(invalid, tmp_path / "invalid.csv").read_text().splitlines()
        assert rows[1:] == ["not-an-email;B"]
    else:
        assert invalid == 1

    export_id = client.start_export(
        ExportRequest(
            custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id),
            export_attributes=("FIRSTNAME",),
        )
    )
    export = client.wait_for_process(export_id, timeout_s=20)
    assert export.export_url
    size = export.export_info.file_size if export.export_info else None
    path = client.download(export.export_url, tmp_path / "out" / "export.csv", expected_size=size)
    text = path.read_text()
    assert "i1@x.org" in text
    assert "i2@x.org" in text
    assert "not-an-email" not in text
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["export.csv"]  # no temp left

    seen = [p.id for page in client.iter_processes() for p in page]
    assert seen == [export_id, pid]  # newest first
    assert [p.id for page in client.iter_processes(sort="asc", page_size=1) for p in page] == [
        pid,
        export_id,
    ]
    assert client.get_process(pid).import_info == done.import_info


def test_json_body_import_into_a_new_list(client, fast_sandbox):
    folder_id = client.create_folder("New")
    pid = client.start_import(
        ImportRequest(
            json_body=[{"email": "j@x.org", "attributes": {"FIRSTNAME": "J"}}],
            new_list=NewList("Fresh", folder_id=folder_id),
        )
    )
    client.wait_for_process(pid, timeout_s=20)
    lists = [li for p in client.iter_lists() for li in p]
    assert [li.name for li in lists] == ["Fresh"]
    assert client.get_contact("j@x.org").list_ids == (lists[0].id,)


def test_import_request_is_checked_before_sending(client):
    with pytest.raises(ValueError, match="exactly one"):
        client.start_import(ImportRequest(list_ids=(1,)))
    with pytest.raises(ValueError, match="exactly one"):
        client.start_import(ImportRequest(file_body="EMAIL", file_url="http://x", list_ids=(1,)))
    with pytest.raises(ValueError, match="list_ids or new_list"):
        client.start_import(ImportRequest(file_body="EMAIL\na@x.org"))
    with pytest.raises(ValueError, match="not both"):
        client.start_export(
            ExportRequest(
                custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=1),
                contact_filter={"blacklisted": True},
            )
        )
    assert client.request_count == 0


def test_bad_import_is_a_bad_request(client):
    with pytest.raises(BrevoBadRequest, match=r"^POST /contacts/import -> 400"):
        client.start_import(ImportRequest(file_url="file:///etc/passwd", list_ids=(1,)))


@pytest.mark.parametrize(("statuses", "export_url"), [("2026", "anchor"), ("2025", "anchor")])
def test_other_status_spellings_and_anchor_export_url(
    client, fast_sandbox, folder_and_list, tmp_path, statuses, export_url
):
    fast_sandbox.configure(statuses=statuses, export_url=export_url, process_delay_s=0.15)
    _, list_id = folder_and_list
    seen: list[str] = []
    pid = client.start_import(ImportRequest(file_body=csv_body(["q@x.org"]), list_ids=(list_id,)))
    client.wait_for_process(pid, timeout_s=20, on_poll=lambda p: seen.append(p.status))
    running = "processing" if statuses == "2026" else "in_process"
    assert running in seen
    export_id = client.start_export(
        ExportRequest(
            custom_contact_filter=ContactFilter(action_for_contacts="allContacts", list_id=list_id)
        )
    )
    export = client.wait_for_process(export_id, timeout_s=20)
    assert export.export_url is not None
    assert export.export_url.startswith("http://")
    assert "<a" not in export.export_url
    assert "q@x.org" in client.download(export.export_url, tmp_path / "e.csv").read_text()


def test_failed_process_raises(client, fast_sandbox, folder_and_list):
    fast_sandbox.configure(process_fail=True)
    pid = client.start_import(
        ImportRequest(file_body=csv_body(["f@x.org"]), list_ids=(folder_and_list[1],))
    )
    with pytest.raises(ProcessFailed, match=f"process {pid}") as info:
        client.wait_for_process(pid, timeout_s=20)
    assert info.value.process.is_failed


def test_stuck_process_times_out(client, fast_sandbox, folder_and_list):
    fast_sandbox.configure(process_stall=True)
    pid = client.start_import(
        ImportRequest(file_body=csv_body(["t@x.org"]), list_ids=(folder_and_list[1],))
    )
    started = time.monotonic()
    with pytest.raises(ProcessTimeout) as info:
        client.wait_for_process(pid, timeout_s=0.6)
    assert time.monotonic() - started >= 0.6  # waited the whole timeout (pytest-timeout bounds it)
    assert info.value.process_id == pid
    assert info.value.last is not None
    assert info.value.last.status == "queued"


def test_unknown_process_is_not_found(client):
    with pytest.raises(BrevoNotFound, match=r"GET /processes/424242 -> 404"):
        client.get_process(424242)
    with pytest.raises(BrevoNotFound):
        client.wait_for_process(424242, timeout_s=5)


def test_wake_ends_the_sleep_at_once(make_client, fast_sandbox, folder_and_list):
    slow = make_client(poll_interval_s=30)
    fast_sandbox.configure(process_stall=True)
    pid = slow.start_import(
        ImportRequest(file_body=csv_body(["w@x.org"]), list_ids=(folder_and_list[1],))
    )
    wake = RecordingEvent()
    polls: list[str] = []

    def release() -> None:
        time.sleep(0.3)
        fast_sandbox.configure(process_stall=False)
        time.sleep(0.4)  # queued and in_process take 0.05 s each
        wake.set()

    threading.Thread(target=release, daemon=True).start()
    done = slow.wait_for_process(
        pid, timeout_s=20, wake=wake, on_poll=lambda p: polls.append(p.status)
    )
    assert done.is_completed
    assert wake.waits == [True]  # the one sleep was ended by the wake, not the 30 s interval
    assert polls == ["queued", "completed"]
    assert not wake.is_set()  # cleared, so later sleeps are real sleeps


def test_poll_interval_follows_the_budget(make_client, fast_sandbox, folder_and_list):
    # 3600/hour: a full bucket spreads 7200 requests over the hour, one every 0.5 s.
    budgeted = make_client(limits=RateLimits(contacts_per_second=500, other_per_hour=3600))
    fast_sandbox.configure(process_stall=True)
    pid = budgeted.start_import(
        ImportRequest(file_body=csv_body(["p@x.org"]), list_ids=(folder_and_list[1],))
    )
    threading.Timer(1.6, fast_sandbox.configure, kwargs={"process_stall": False}).start()
    polls: list[float] = []
    budgeted.wait_for_process(pid, timeout_s=20, on_poll=lambda p: polls.append(time.monotonic()))
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps
    assert min(gaps) >= 0.45
    assert len(polls) <= 6


def test_concurrent_waits_share_the_budget(make_client, fast_sandbox, folder_and_list):
    budgeted = make_client(limits=RateLimits(contacts_per_second=500, other_per_hour=3600))
    fast_sandbox.configure(process_stall=True)
    pids = [
        budgeted.start_import(
            ImportRequest(file_body=csv_body([f"c{i}@x.org"]), list_ids=(folder_and_list[1],))
        )
        for i in range(2)
    ]
    polls: dict[int, list[float]] = {pid: [] for pid in pids}
    threads = [
        threading.Thread(
            target=budgeted.wait_for_process,
            args=(pid,),
            kwargs={"timeout_s": 20, "on_poll": lambda p: polls[p.id].append(time.monotonic())},
        )
        for pid in pids
    ]
    for t in threads:
        t.start()
    time.sleep(3.2)
    fast_sandbox.configure(process_stall=False)
    for t in threads:
        t.join(timeout=20)
    for times in polls.values():
        # The first gap may predate the other wait's start; after that, two waits each poll
        # half as often as one would (about every 1 s, not 0.5 s).
        gaps = [b - a for a, b in itertools.pairwise(times)][1:]
        assert len(gaps) >= 2
        assert min(gaps) >= 0.9
