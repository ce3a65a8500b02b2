"""Export orchestration against the sandbox (no Prefect): legacy filters mean what v2 meant,
truncated downloads are retried, an expired link re-requests the export once."""

from __future__ import annotations

import pytest
import requests

from etl.brevo.client import BrevoClient
from etl.brevo.errors import ExportLinkExpired
from etl.brevo.ratelimit import RateLimits
from etl.export_options import ExportOptions, plan_exports
from etl.exporter import run_exports
from etl.exports import merge_exports
from tests._seed import create_lists

EMAILS = [f"u{i}@example.com" for i in range(6)]
CAMPAIGN = 7


@pytest.fixture
def world(sandbox):
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
    yield {"client": client, "lists": lists, "sandbox": sandbox}
    client.close()


def exported_emails(world, tmp_path, legacy: str) -> set[str]:
    client = world["client"]
    plan = plan_exports(ExportOptions(legacy_filter=legacy), all_list_ids=world["lists"])
    runs = run_exports(client, list(plan.requests), work_dir=tmp_path / "dl", timeout_s=30)
    files = [f for r in runs for f in r.files]
    merged = merge_exports(files, client.get_attributes(), work_dir=tmp_path / "merge")
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
        ('{"blacklisted": 1}', {1, 2, 4}),  # u2 is blacklisted by its hard bounce
    ],
)
def test_legacy_filters_return_what_v2_meant(world, tmp_path, legacy, expected):
    l0, l1 = world["lists"]
    text = legacy.replace("L0", str(l0)).replace("L1", str(l1))
    got = exported_emails(world, tmp_path, text)
    assert got == {EMAILS[i] for i in expected}


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
