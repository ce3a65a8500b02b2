"""NotifyReceiver: the token admits a callback, anything else is refused, big bodies too."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from etl.brevo import NotifyReceiver

from ._support import RecordingEvent


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    with NotifyReceiver(max_body_bytes=1024) as r:
        yield r


def test_binds_loopback_on_a_free_port(receiver):
    ticket = receiver.register()
    parts = urlsplit(ticket.url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port == receiver.port != 0


def test_empty_callback_sets_the_event(receiver):
    ticket = receiver.register()
    assert not ticket.event.is_set()
    resp = requests.post(ticket.url, timeout=5)
    assert resp.status_code == 200
    assert ticket.event.is_set()
    assert ticket.payloads == [{}]


def test_json_and_form_payloads_are_recorded(receiver):
    ticket = receiver.register()
    requests.post(ticket.url, json={"url": "http://x/e.csv", "proc_success": 1}, timeout=5)
    requests.post(
        ticket.url,
        data={"proc_success": "1", "new_emails": "3", "listids": ["2", "7"]},
        timeout=5,
    )
    assert ticket.payloads == [
        {"url": "http://x/e.csv", "proc_success": 1},
        {"proc_success": "1", "new_emails": "3", "listids": ["2", "7"]},
    ]


def test_tickets_are_independent_and_unguessable(receiver):
    a, b = receiver.register(), receiver.register()
    token_a, token_b = a.url.rsplit("/", 1)[1], b.url.rsplit("/", 1)[1]
    assert token_a != token_b
    assert len(token_a) >= 40
    requests.post(b.url, timeout=5)
    assert b.event.is_set()
    assert not a.event.is_set()
    assert token_a not in repr(a)
    assert token_a not in repr(receiver)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda url: url[:-1] + ("A" if url[-1] != "A" else "B"),  # one character off
        lambda url: url.rsplit("/", 1)[0] + "/",  # missing token
        lambda url: url.rsplit("/", 2)[0] + "/",  # no path at all
        lambda url: url.rsplit("/", 1)[0] + "/" + "x" * 43,
    ],
)
def test_wrong_or_missing_token_is_403(receiver, mangle):
    ticket = receiver.register()
    resp = requests.post(mangle(ticket.url), data=b"proc_success=1", timeout=5)
    assert resp.status_code == 403
    assert not ticket.event.is_set()
    assert ticket.payloads == []


def test_body_over_the_limit_is_413_and_not_recorded(receiver):
    ticket = receiver.register()
    resp = requests.post(ticket.url, data=b"x" * 1025, timeout=5)
    assert resp.status_code == 413
    assert not ticket.event.is_set()
    assert ticket.payloads == []
    ok = requests.post(ticket.url, data=b"a=" + b"y" * 1022, timeout=5)  # exactly the limit
    assert ok.status_code == 200
    assert ticket.payloads == [{"a": "y" * 1022}]


def test_chunked_body_over_the_limit_is_413(receiver):
    ticket = receiver.register()

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"z" * 400

    resp = requests.post(ticket.url, data=chunks(), timeout=5)
    assert resp.status_code == 413
    assert ticket.payloads == []
    small = requests.post(ticket.url, data=iter([b'{"a": ', b"1}"]), timeout=5)
    assert small.status_code == 200
    assert ticket.payloads == [{"a": 1}]


def test_the_default_limit_is_64_kib():
    with NotifyReceiver() as receiver:
        ticket = receiver.register()
        assert requests.post(ticket.url, data=b"x" * 65537, timeout=5).status_code == 413
        assert requests.post(ticket.url, data=b"x" * 65536, timeout=5).status_code == 200


def test_other_methods_are_refused(receiver):
    ticket = receiver.register()
    assert requests.get(ticket.url, timeout=5).status_code == 405
    assert not ticket.event.is_set()


def test_unregistered_ticket_is_refused(receiver):
    ticket = receiver.register()
    receiver.unregister(ticket)
    assert requests.post(ticket.url, timeout=5).status_code == 403


def test_concurrent_callbacks_are_all_recorded(receiver):
    ticket = receiver.register()
    threads = [
        threading.Thread(target=requests.post, args=(ticket.url,), kwargs={"timeout": 5})
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ticket.payloads) == 20


def test_public_base_url_and_stop_releases_the_port():
    receiver = NotifyReceiver(public_base_url="https://hooks.example.org/brevo/")
    ticket = receiver.register()
    assert ticket.url.startswith("https://hooks.example.org/brevo/notify/")
    port = receiver.port
    receiver.stop()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    with pytest.raises(OSError):
        conn.connect()


# ------------------------------------------------------------------ with the sandbox


@pytest.mark.parametrize(("mode", "expected"), [("empty", {}), ("v2form", "proc_success")])
def test_a_sandbox_import_calls_back_and_wakes_the_waiter(
    make_client, fast_sandbox, mode, expected
):
    from etl.brevo import ImportRequest

    fast_sandbox.configure(notify=mode, process_delay_s=0.2)
    client = make_client(poll_interval_s=30)  # without the callback this wait would take 30 s
    list_id = client.create_list("L", folder_id=client.create_folder("F"))
    with NotifyReceiver() as receiver:
        ticket = receiver.register()
        ticket.event = RecordingEvent()  # the callback sets it; it remembers how waits ended
        pid = client.start_import(
            ImportRequest(file_body="EMAIL\nn@x.org", list_ids=(list_id,), notify_url=ticket.url)
        )
        done = client.wait_for_process(pid, timeout_s=20, wake=ticket.event)
        assert True in ticket.event.waits  # woken by the callback, not the 30 s interval
    assert done.is_completed
    assert len(ticket.payloads) == 1
    if expected == {}:
        assert ticket.payloads == [{}]
    else:
        assert expected in ticket.payloads[0]
