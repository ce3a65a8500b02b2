"""Issue 9 fault matrix, export side: the export flow against a misbehaving sandbox.

Every case ends with a complete run directory holding exactly the account's contacts, or with a
one-line failure that leaves the earlier runs as they were (and no temporary file behind), after
which a re-run completes. A loader globbing ``OUT/contacts/export_date=*/run=*/`` never sees a
partial run.
"""

from __future__ import annotations

import errno
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import etl.exports.parquet
from etl.brevo.errors import (
    DownloadError,
    ExportLinkExpired,
    ProcessFailed,
    ProcessTimeout,
)
from flows.export_contacts import export_contacts

from ._support import (
    EXPORT_PATH,
    PartitionWatcher,
    api,
    assert_partitions_complete,
    one_line,
    processed,
    read_partition,
)

DAY = date(2026, 3, 1)
PART = f"export_date={DAY.isoformat()}"
# Two lists that overlap: x0..x5 in A, x4..x9 in B.
LIST_A = [f"x{i}@example.com" for i in range(6)]
LIST_B = [f"x{i}@example.com" for i in range(4, 10)]


@pytest.fixture
def lists(account):
    sandbox = account["sandbox"]
    ids = [account["list_id"]]
    ids.append(
        api(
            sandbox, "POST", "/contacts/lists", json={"name": "B", "folderId": account["folder_id"]}
        ).json()["id"]
    )
    for i in range(10):
        member = ([ids[0]] if i < 6 else []) + ([ids[1]] if i >= 4 else [])
        api(
            sandbox,
            "POST",
            "/contacts",
            json={"email": f"x{i}@example.com", "attributes": {"FIRSTNAME": f"X{i}"}},
        )
        api(sandbox, "PUT", f"/contacts/x{i}@example.com", json={"listIds": member})
    return {"sandbox": sandbox, "a": ids[0], "b": ids[1]}


def run_export(tmp_path, list_ids, **kw):
    params = {
        "out": str(tmp_path / "out"),
        "list_ids": list_ids,
        "state_dir": str(tmp_path / "state"),
        "secret_block": None,
        "export_date": DAY,
        **kw,
    }
    return export_contacts(**params)


def check_partition(tmp_path, summary, emails, *, earlier=()):
    """This run's directory holds exactly ``emails``; every run of the day is whole."""
    out = tmp_path / "out"
    seen = assert_partitions_complete(out)
    assert seen == {PART: set(emails) | set(earlier)}
    run_dir = Path(summary["partition"])
    assert run_dir.parent.name == PART
    assert read_partition(run_dir)[0] == set(emails)
    assert summary["merged_rows"] == len(set(emails))
    assert summary["validation"]["passed"], summary["validation"]


# ---------------------------------------------------------------------------- rate limits


def test_a_429_storm_one_request_in_three(lists, tmp_path):
    sandbox = lists["sandbox"]
    before = len(sandbox.requests_log())
    sandbox.add_fault(path_prefix="/", kind="status", status=429, every=3)
    summary = run_export(tmp_path, [lists["a"], lists["b"]])
    statuses = [r["status"] for r in sandbox.requests_log()[before:]]
    assert statuses.count(429) >= len(statuses) // 4
    check_partition(tmp_path, summary, LIST_A + LIST_B)


# ---------------------------------------------------------------------------- the request

REQUEST_FAULTS = {
    "503-before": {"kind": "status", "status": 503, "when": "before"},
    "503-after": {"kind": "status", "status": 503, "when": "after"},
    "reset-before": {"kind": "reset", "when": "before"},
    "reset-after": {"kind": "reset", "when": "after"},
    "slow-before": {"kind": "delay", "delay_s": 1.5, "when": "before"},
    "slow-after": {"kind": "delay", "delay_s": 1.5, "when": "after"},
}


@pytest.mark.parametrize("name", REQUEST_FAULTS)
def test_a_lost_export_request_is_found_or_asked_again(lists, tmp_path, name, monkeypatch):
    # An export only reads the account: asking again is harmless; the run completes in one go.
    sandbox = lists["sandbox"]
    monkeypatch.setenv("BREVO_TIMEOUT_S", "0.5")
    sandbox.add_fault(path_prefix=EXPORT_PATH, method="POST", count=1, **REQUEST_FAULTS[name])
    summary = run_export(tmp_path, [lists["a"]])
    check_partition(tmp_path, summary, LIST_A)
    if not name.startswith("slow"):
        # The process the lost answer named is found (after), or nothing arrived (before):
        # either way Brevo ran one export. (A slow request may land after the client looked,
        # and a second export is then requested: harmless, an export only reads.)
        assert len(processed(sandbox, EXPORT_PATH)) == 1


def test_a_lost_answer_among_concurrent_exports_is_not_taken_for_another(lists, tmp_path):
    # Two exports start together; the first one's answer is lost after Brevo started it, and
    # held long enough for the second to start meanwhile. The first must not adopt the second's
    # process (its list would silently be missing from the output).
    sandbox = lists["sandbox"]
    sandbox.add_fault(
        path_prefix=EXPORT_PATH, method="POST", kind="delay", delay_s=0.6, when="after", count=1
    )
    sandbox.add_fault(
        path_prefix=EXPORT_PATH, method="POST", kind="status", status=503, when="after", count=1
    )
    summary = run_export(tmp_path, [lists["a"], lists["b"]])
    check_partition(tmp_path, summary, LIST_A + LIST_B)
    rows = {e["label"]: e["rows"] for e in summary["exports"]}
    assert rows == {f"list:{lists['a']}": len(LIST_A), f"list:{lists['b']}": len(LIST_B)}


READ_FAULTS = {
    "503-before": {"kind": "status", "status": 503, "when": "before", "every": 2},
    "503-after": {"kind": "status", "status": 503, "when": "after", "every": 2},
    "reset": {"kind": "reset", "every": 3},
    "slow": {"kind": "delay", "delay_s": 0.8, "every": 3},
}


@pytest.mark.parametrize("name", READ_FAULTS)
def test_reads_polls_and_downloads_are_retried_through_faults(lists, tmp_path, name, monkeypatch):
    sandbox = lists["sandbox"]
    monkeypatch.setenv("BREVO_TIMEOUT_S", "0.5")
    sandbox.add_fault(path_prefix="/", method="GET", **READ_FAULTS[name])
    summary = run_export(tmp_path, [lists["a"], lists["b"]])
    check_partition(tmp_path, summary, LIST_A + LIST_B)


# ---------------------------------------------------------------------------- processes


@pytest.fixture
def previous(lists, tmp_path):
    """A run of the same day from earlier (list A only)."""
    summary = run_export(tmp_path, [lists["a"]])
    check_partition(tmp_path, summary, LIST_A)
    files = sorted((tmp_path / "out" / "contacts" / PART).glob("run=*/*.parquet"))
    return {str(f.relative_to(tmp_path)): f.read_bytes() for f in files}


def assert_unchanged(tmp_path, previous):
    """The earlier run is still there, byte for byte, alone, and nothing temporary is left."""
    part = tmp_path / "out" / "contacts" / PART
    files = part.glob("run=*/*.parquet")
    assert {str(f.relative_to(tmp_path)): f.read_bytes() for f in files} == previous
    assert assert_partitions_complete(tmp_path / "out") == {PART: set(LIST_A)}


@pytest.mark.parametrize(
    ("config", "kw", "error", "words"),
    [
        ({"process_fail": True}, {}, ProcessFailed, "failed"),
        ({"process_stall": True}, {"wait_timeout_s": 0.5}, ProcessTimeout, "still queued"),
    ],
    ids=["process-fails", "queued-past-the-wait-limit"],
)
def test_a_process_that_does_not_complete_fails_the_run_then_a_rerun_completes(
    lists, tmp_path, previous, config, kw, error, words
):
    sandbox = lists["sandbox"]
    sandbox.configure(**config)
    with pytest.raises(error) as caught:
        run_export(tmp_path, [lists["a"], lists["b"]], **kw)
    assert words in one_line(caught.value)
    assert_unchanged(tmp_path, previous)
    sandbox.configure(process_fail=False, process_stall=False)
    summary = run_export(tmp_path, [lists["a"], lists["b"]])
    check_partition(tmp_path, summary, LIST_A + LIST_B, earlier=LIST_A)


def test_a_callback_that_never_comes_still_finishes_by_polling(lists, tmp_path):
    sandbox = lists["sandbox"]
    summary = run_export(
        tmp_path, [lists["a"]], wait="callback", callback_public_url="http://127.0.0.1:9"
    )
    check_partition(tmp_path, summary, LIST_A)
    calls = sandbox.app.runner.notifications
    assert calls
    assert all("error" in c for c in calls)


# ---------------------------------------------------------------------------- the file


def test_an_expired_link_is_requested_again_once(lists, tmp_path):
    sandbox = lists["sandbox"]
    sandbox.configure(export_link_ttl_s=1)
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5, count=1)
    summary = run_export(tmp_path, [lists["a"]])
    check_partition(tmp_path, summary, LIST_A)
    assert summary["exports"][0]["rerequested"] is True
    assert len(processed(sandbox, EXPORT_PATH)) == 2


def test_a_link_that_keeps_expiring_fails_with_one_line_then_a_rerun_completes(
    lists, tmp_path, previous
):
    sandbox = lists["sandbox"]
    sandbox.configure(export_link_ttl_s=1)
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=1.5, count=2)
    with pytest.raises(ExportLinkExpired) as caught:
        run_export(tmp_path, [lists["b"]])
    assert "expired" in one_line(caught.value)
    assert_unchanged(tmp_path, previous)
    summary = run_export(tmp_path, [lists["b"]])
    check_partition(tmp_path, summary, LIST_B, earlier=LIST_A)


def test_a_truncated_download_is_fetched_again(lists, tmp_path):
    sandbox = lists["sandbox"]
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="truncate", count=2)
    summary = run_export(tmp_path, [lists["a"]])
    check_partition(tmp_path, summary, LIST_A)
    downloads = [r for r in sandbox.requests_log() if r["path"].startswith("/exports/")]
    assert len(downloads) == 3


def test_a_download_that_stays_truncated_fails_with_one_line_then_a_rerun_completes(
    lists, tmp_path, previous
):
    sandbox = lists["sandbox"]
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="truncate")
    with pytest.raises(DownloadError) as caught:
        run_export(tmp_path, [lists["b"]])
    assert "truncated" in one_line(caught.value)
    assert_unchanged(tmp_path, previous)
    assert not list((tmp_path / "state").rglob("*.part"))
    sandbox.clear_faults()
    summary = run_export(tmp_path, [lists["b"]])
    check_partition(tmp_path, summary, LIST_B, earlier=LIST_A)


# ---------------------------------------------------------------------------- the disk


class _FullDisk(pq.ParquetWriter):
    """A writer whose disk fills up after the first row group reached the file."""

    def write_table(self, table, row_group_size=None):
        super().write_table(table.slice(0, 1), row_group_size=row_group_size)
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_parquet_keeps_the_previous_partition(
    lists, tmp_path, previous, monkeypatch
):
    with monkeypatch.context() as patch:
        patch.setattr(etl.exports.parquet.pq, "ParquetWriter", _FullDisk)
        with PartitionWatcher(tmp_path / "out") as watcher, pytest.raises(OSError) as caught:
            run_export(tmp_path, [lists["a"], lists["b"]])
    assert caught.value.errno == errno.ENOSPC
    one_line(caught.value)
    assert watcher.reads
    assert watcher.problems == []
    assert_unchanged(tmp_path, previous)
    with PartitionWatcher(tmp_path / "out") as watcher:
        summary = run_export(tmp_path, [lists["a"], lists["b"]])
    assert watcher.problems == []
    check_partition(tmp_path, summary, LIST_A + LIST_B, earlier=LIST_A)
