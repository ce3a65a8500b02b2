"""Export orchestration against the sandbox (no Prefect): legacy filters mean what v2 meant,
truncated downloads are retried, an expired link re-requests the export once, a lost answer is
recovered by process id; under both sandbox profiles."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from etl.brevo.client import BrevoClient
from etl.brevo.errors import ExportLinkExpired
from etl.brevo.models import DateTimePreferences, ExportInfo
from etl.brevo.ratelimit import RateLimits
from etl.exports.merge import merge_exports
from etl.exports.options import ExportOptions, plan_exports
from etl.exports.run import date_settings_from, is_export_process, run_exports
from tests._seed import create_lists

EXPORT_PATH = "/v3/contacts/export"

EMAILS = [f"u{i}@example.com" for i in range(6)]
CAMPAIGN = 7


@pytest.fixture
def world(sandbox, brevo_profile):
    sandbox.configure(profile=brevo_profile)
    sandbox.configure(other_rph=100000, contacts_rps=1000, process_delay_s=0.02)
    h = {"api-key": sandbox.api_key}
    base = sandbox.url
    lists = create_lists(sandbox, 2)
    # u0-u3 in list 0, u3-u5 in list 1; u1 and u4 blacklisted.
    for i, email in enumerate(EMAILS):
        ids = ([lists[0]] if i <= 3 else []) + ([lists[1]] if i >= 3 else [])
        requests.post(
            f"{base}/contacts",
            json={"email": email, "listIds": ids, "emailBlacklisted": i in (1, 4)},
            headers=h,
            timeout=5,
        ).raise_for_status()
    # u6 is in no list, and blacklisted: only a whole-account export can find it.
    requests.post(
        f"{base}/contacts",
        json={"email": "u6@example.com", "emailBlacklisted": True},
        headers=h,
        timeout=5,
    ).raise_for_status()
    # Campaign 7 went to u0-u3: u0 opened and clicked, u1 opened, u2 hard-bounced, u3 soft-bounced.
    sandbox.seed_events(channel="email", campaign_id=CAMPAIGN, event="delivered", emails=EMAILS[:4])
    sandbox.seed_events(channel="email", campaign_id=CAMPAIGN, event="open", emails=EMAILS[:2])
    sandbox.seed_events(channel="email", campaign_id=CAMPAIGN, event="click", emails=EMAILS[:1])
    sandbox.seed_events(
        channel="email", campaign_id=CAMPAIGN, event="hardBounce", emails=[EMAILS[2]]
    )
    sandbox.seed_events(
        channel="email", campaign_id=CAMPAIGN, event="softBounce", emails=[EMAILS[3]]
    )
    sandbox.seed_events(channel="sms", campaign_id=3, event="unsubscribe", emails=[EMAILS[5]])
    client = BrevoClient(
        sandbox.api_key,
        base_url=sandbox.url,
        limits=RateLimits(other_per_hour=100000),
        poll_interval_s=0.05,
    )
    yield {"client": client, "lists": lists, "sandbox": sandbox, "profile": brevo_profile}
    client.close()


def exported_emails(world, tmp_path, legacy: str) -> set[str]:
    client = world["client"]
    plan = plan_exports(ExportOptions(legacy_filter=legacy), all_list_ids=world["lists"])
    runs = run_exports(client, list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30)
    files = [f for r in runs for f in r.files]
    prefs = client.get_account().date_time_preferences
    assert prefs is not None
    merged = merge_exports(
        files,
        client.get_attributes(),
        work_dir=tmp_path / "merge",
        row_filter=plan.row_filter,
        account_timezone=prefs.timezone,
        account_date_format=prefs.date_format,
        account_time_format=prefs.time_format,
    )
    try:
        emails = {e for batch in merged.batches for e in batch.column("email").to_pylist()}
    finally:
        merged.close()
    return emails


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ('{"listid.id": L0}', {0, 1, 2, 3}),
        ('{"blacklisted": 0, "listid.id": L0}', {0, 3}),  # u2's hard bounce blacklisted it
        ('{"blacklisted": 1, "listid.id": L1}', {4}),
        ('{"opened_message.messageid": 7, "messages_sent.messageid": 7}', {0, 1}),
        ('{"clicked_message.messageid": 7, "messages_sent.messageid": 7}', {0}),
        ('{"opened_message.messageid": {"$nin": [7]}, "messages_sent.messageid": 7}', {2, 3}),
        ('{"clicked_message.messageid": {"$nin": [7]}, "messages_sent.messageid": 7}', {1, 2, 3}),
        ('{"messages_sent.bnc.r": "h_b", "messages_sent.messageid": 7}', {2}),
        ('{"messages_sent.bnc.r": "h_b"}', {2}),
        ('{"messages_sent.bnc.r": "s_b", "messages_sent.messageid": 7}', {3}),
        ('{"messages_sent.bnc.r": "s_b"}', {3}),
        ('{"sms_bl": 1}', {5}),
        ('{"blacklisted": 1}', {1, 2, 4, 6}),  # u2: blacklisted by its hard bounce; u6: no list
        ('{"blacklisted": 0}', {0, 3, 5}),
    ],
)
def test_legacy_filters_return_what_v2_meant(world, tmp_path, legacy, expected):
    l0, l1 = world["lists"]
    text = legacy.replace("L0", str(l0)).replace("L1", str(l1))
    got = exported_emails(world, tmp_path, text)
    assert got == {f"u{i}@example.com" for i in expected}


def test_truncated_download_is_retried(world, tmp_path):
    world["sandbox"].add_fault(path_prefix="/exports/", method="GET", kind="truncate", count=1)
    l0, _ = world["lists"]
    plan = plan_exports(ExportOptions(list_ids=(l0,)), all_list_ids=world["lists"])
    runs = run_exports(world["client"], list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30)
    text = runs[0].files[0].path.read_text(encoding="utf-8")
    assert text.count("@example.com") == 4
    downloads = [r for r in world["sandbox"].requests_log() if r["path"].startswith("/exports/")]
    assert len(downloads) >= 2


def test_an_expired_link_re_requests_the_export_once(world, tmp_path):
    sb = world["sandbox"]
    sb.configure(export_link_ttl_s=1)
    # The first download is held past the link's lifetime; the second export's link is fresh.
    sb.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5, count=1)
    l0, _ = world["lists"]
    plan = plan_exports(ExportOptions(list_ids=(l0,)), all_list_ids=world["lists"])
    runs = run_exports(world["client"], list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30)
    assert runs[0].rerequested is True
    exports = [
        r for r in sb.requests_log() if r["path"] == "/v3/contacts/export" and r["processed"]
    ]
    assert len(exports) == 2
    assert runs[0].files[0].path.read_text(encoding="utf-8").count("@example.com") == 4


def test_an_expired_link_twice_fails_with_one_line(world, tmp_path):
    sb = world["sandbox"]
    sb.configure(export_link_ttl_s=1)
    sb.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5, count=2)
    l0, _ = world["lists"]
    plan = plan_exports(ExportOptions(list_ids=(l0,)), all_list_ids=world["lists"])
    with pytest.raises(ExportLinkExpired) as err:
        run_exports(world["client"], list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30)
    assert "\n" not in str(err.value)


def export_one(world, tmp_path):
    l0, _ = world["lists"]
    plan = plan_exports(ExportOptions(list_ids=(l0,)), all_list_ids=world["lists"])
    [run] = run_exports(
        world["client"], list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30
    )
    return run


def processed_exports(sandbox):
    return [r for r in sandbox.requests_log() if r["path"] == EXPORT_PATH and r["processed"]]


def test_a_403_expired_link_re_requests_the_export_once(world, tmp_path):
    # Presigned S3 links answer 403 once expired (docs/brevo/FACTS.md F5); the 2026 spec said 410.
    sb = world["sandbox"]
    sb.configure(export_link_ttl_s=1, expired_link_status=403)
    sb.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5, count=1)
    run = export_one(world, tmp_path)
    assert run.rerequested is True
    assert len(processed_exports(sb)) == 2
    expired = [r for r in sb.requests_log() if r["path"].startswith("/exports/")]
    assert [r["status"] for r in expired] == [403, 200]
    assert run.files[0].path.read_text(encoding="utf-8").count("@example.com") == 4


def test_a_lost_answer_adopts_the_export_process_whatever_its_name(world, tmp_path):
    # Brevo started the export but its answer was lost. Under `minimal` the process is named
    # SEARCH_EXPORT_USERS_API and has no created_at: it is still found, by id, and adopted.
    sb = world["sandbox"]
    sb.add_fault(
        path_prefix=EXPORT_PATH, method="POST", kind="status", status=503, when="after", count=1
    )
    run = export_one(world, tmp_path)
    assert len(processed_exports(sb)) == 1  # no second export
    process = world["client"].get_process(run.process_id)
    expected = "SEARCH_EXPORT_USERS_API" if world["profile"] == "minimal" else "SEARCH_EXPORT_USERS"
    assert process.name == expected
    assert (process.created_at is None) == (world["profile"] == "minimal")
    assert run.files[0].path.read_text(encoding="utf-8").count("@example.com") == 4


def test_a_lost_request_never_adopts_an_earlier_export(world, tmp_path):
    # An earlier export exists; the next request is lost before Brevo saw it. Nothing newer
    # than the request exists, so the earlier process must not be taken: the export is asked again.
    sb = world["sandbox"]
    earlier = export_one(world, tmp_path / "a")
    sb.add_fault(
        path_prefix=EXPORT_PATH, method="POST", kind="status", status=503, when="before", count=1
    )
    run = export_one(world, tmp_path / "b")
    assert run.process_id != earlier.process_id
    assert run.process_id is not None
    assert earlier.process_id is not None
    assert run.process_id > earlier.process_id
    assert len(processed_exports(sb)) == 2


def test_brevo_file_size_that_disagrees_is_a_warning(world, tmp_path, monkeypatch):
    real_wait = BrevoClient.wait_for_process

    def wrong_size(self, process_id, **kw):
        return replace(
            real_wait(self, process_id, **kw),
            export_info=ExportInfo(total_records=4, file_size=3),
        )

    monkeypatch.setattr(BrevoClient, "wait_for_process", wrong_size)
    run = export_one(world, tmp_path)
    assert run.downloaded_bytes
    assert run.downloaded_bytes != 3
    assert run.warnings == [
        f"export {run.label}: downloaded {run.downloaded_bytes} bytes, Brevo's "
        "info.export.file_size says 3"
    ]
    downloads = [r for r in world["sandbox"].requests_log() if r["path"].startswith("/exports/")]
    assert len(downloads) == 1  # not retried: the transfer itself was whole
    assert run.files[0].path.read_text(encoding="utf-8").count("@example.com") == 4


def test_info_export_is_used_when_present(world, tmp_path):
    run = export_one(world, tmp_path)
    if world["profile"] == "minimal":
        assert (run.total_records, run.file_size) == (None, None)
    else:
        assert run.total_records == 4
        assert run.file_size == run.downloaded_bytes
    assert run.warnings == []


@pytest.mark.parametrize(
    "name",
    [
        "SEARCH_EXPORT_USERS",
        "SEARCH_EXPORT_USERS_API",
        "CONTACT_EXPORT",
        "LIST_EXPORT",
        "list_export",
    ],
)
def test_every_export_process_name_is_recognised(name):
    assert is_export_process(name)


@pytest.mark.parametrize("name", ["IMPORTUSER", "TRANS-CALC", "", None])
def test_other_process_names_are_not_exports(name):
    assert not is_export_process(name)


def test_date_settings_from_account_preferences():
    dates = date_settings_from(DateTimePreferences("MM/DD/YYYY", "12h", "America/New_York"))
    assert dates.to_dict() == {
        "source": "account",
        "date_format": "mm-dd-yyyy",
        "time_format": "12",
        "timezone": "America/New_York",
    }
    assert dates.notes == ()
    odd = date_settings_from(DateTimePreferences("yy.mm.dd", "24", "Mars/Olympus"))
    assert odd.settings.date_format == "dd-mm-yyyy"
    assert odd.settings.timezone == "UTC"
    assert len(odd.notes) == 2
    missing = date_settings_from(None, failure="GET /account failed (503)")
    assert missing.source == "default"
    assert missing.settings.date_format == "dd-mm-yyyy"
    assert missing.notes
    assert "GET /account failed (503)" in missing.notes[0]


def test_progress_shows_brevo_status_and_time_waited_then_the_bytes(world, tmp_path):
    from etl import progress

    world["sandbox"].configure(process_delay_s=0.3)
    l0, _ = world["lists"]
    plan = plan_exports(ExportOptions(list_ids=(l0,)), all_list_ids=world["lists"])
    reports: list[tuple[str, int, int]] = []
    lines: list[str] = []
    progress.set_reporter(lambda step, done, total: reports.append((step, done, total)))
    try:
        runs = run_exports(
            world["client"],
            list(plan.requests),
            work_dir=tmp_path / "dl",
            timeout_s=30,
            status=lines.append,
        )
    finally:
        progress.set_reporter(None)
    label = f"list:{l0}"
    steps = [step for step, _, _ in reports]
    assert f"export {label}: queued" in steps
    assert f"export {label}: completed" in steps
    assert any(
        s.startswith(f"export {label}: ") and s.endswith(("processing", "in_process"))
        for s in steps
    )
    size = runs[0].downloaded_bytes
    assert (f"export {label}: downloaded bytes", size, size) in reports
    assert lines[0].startswith(f"export {label}: process {runs[0].process_id} queued after ")
    assert any(" completed after " in line for line in lines)
    assert f"downloaded {size} bytes" in lines[-1]
