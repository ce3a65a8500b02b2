"""Issue 9 crashes: a real ``contacts-etl`` killed (SIGKILL) at the worst moments, then re-run.

The kill between a chunk's submission and its ledger entry is in
``tests/flows/test_import_crash_resume.py``; here: between two chunks (the next one marked
"submitting" in the ledger but not yet sent), during an export's download, and between the
Parquet write and the rename that publishes it. Re-runs go through the flows in-process.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.export_contacts import export_contacts
from flows.import_contacts import import_contacts

from ._support import (
    IMPORT_PATH,
    api,
    assert_accounting,
    assert_exactly_once,
    assert_partitions_complete,
    expected_emails,
    processed,
    processes,
    sandbox_emails,
    sandbox_env,
    write_people,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40


def cli_env(sandbox, **extra):
    import prefect.settings

    # Talk to the test harness's Prefect API instead of starting an ephemeral server.
    api_url = str(prefect.settings.PREFECT_API_URL.value())
    return sandbox_env(sandbox, PREFECT_API_URL=api_url, **extra)


def start(args, env, *, probe: Path | None = None):
    head = ["-m", "tests.faults._probe", str(probe)] if probe else ["-m", "etl.cli"]
    return subprocess.Popen(
        [sys.executable, *head, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(proc, condition, what, timeout=90):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the CLI ended before {what}: {proc.stdout.read()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()


def ledger_statuses(state: Path) -> list[str]:
    found = sorted(state.glob("accounts/*/ledger.sqlite"))
    if not found:
        return []
    path = found[0]
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return [r[0] for r in db.execute("SELECT status FROM chunks ORDER BY submitted_at")]
    except sqlite3.Error:
        return []


@pytest.mark.timeout(180)
def test_killed_between_two_chunks_then_resumed(account, tmp_path):
    sandbox = account["sandbox"]
    src = write_people(tmp_path / "people.csv", ROWS)
    state = tmp_path / "state"
    report = tmp_path / "report.json"
    # One /contacts request per 2.5 s on the client side: after the first chunk went out, the
    # second is marked "submitting" in the ledger and waits for its slot, unsent, long enough
    # to be killed there.
    env = cli_env(sandbox, BREVO_CONTACTS_PER_SECOND="0.4")
    args = ["import", str(src), "--list-id", str(account["list_id"]), "--chunk-bytes", "400"]
    args += ["--state-dir", str(state), "--report", str(report), "--json"]
    proc = start(args, env)
    wait_for(
        proc,
        lambda: ledger_statuses(state) == ["submitted", "submitting"],
        "the second chunk was marked submitting",
    )
    kill(proc)
    time.sleep(1.0)
    assert len(processed(sandbox, IMPORT_PATH)) == 1  # the second chunk never left

    result = import_contacts(
        files=[str(src)],
        list_ids=[account["list_id"]],
        chunk_bytes=400,
        state_dir=str(state),
        report_path=str(report),
        secret_block=None,
    )
    assert [c["action"] for c in result["chunks"]][:2] == ["resumed", "submitted"]
    assert_accounting(result)
    assert result["rows_sent"] == ROWS
    assert_exactly_once(sandbox, len(result["chunks"]))
    assert sandbox_emails(sandbox) == expected_emails(ROWS)


@pytest.fixture
def export_world(account, tmp_path):
    """Ten contacts in two lists, and today's partition from an earlier run of list A."""
    sandbox = account["sandbox"]
    folder, list_a = account["folder_id"], account["list_id"]
    list_b = api(sandbox, "POST", "/contacts/lists", json={"name": "B", "folderId": folder})
    list_b = list_b.json()["id"]
    for i in range(10):
        member = ([list_a] if i < 6 else []) + ([list_b] if i >= 4 else [])
        api(sandbox, "POST", "/contacts", json={"email": f"k{i}@example.com", "listIds": member})
    out, state = tmp_path / "out", tmp_path / "state"
    today = datetime.now(UTC).date()
    first = export_contacts(
        out=str(out), list_ids=[list_a], state_dir=str(state), secret_block=None, export_date=today
    )
    part = Path(first["partition"])  # the earlier run's directory: export_date=.../run=...
    before = {f.name: f.read_bytes() for f in part.glob("*.parquet")}
    assert before
    args = ["export", "--out", str(out), "--list-id", str(list_a), "--list-id", str(list_b)]
    args += ["--state-dir", str(state), "--json"]
    return {
        "sandbox": sandbox,
        "lists": [list_a, list_b],
        "out": out,
        "state": state,
        "today": today,
        "part": part,
        "before": before,
        "args": args,
    }


def rerun_and_check(world):
    summary = export_contacts(
        out=str(world["out"]),
        list_ids=world["lists"],
        state_dir=str(world["state"]),
        secret_block=None,
        export_date=world["today"],
    )
    assert summary["merged_rows"] == 10
    seen = assert_partitions_complete(world["out"])
    assert seen == {world["part"].parent.name: {f"k{i}@example.com" for i in range(10)}}


def assert_previous_intact(world):
    assert {f.name: f.read_bytes() for f in world["part"].glob("*.parquet")} == world["before"]
    seen = assert_partitions_complete(world["out"], no_staging=False)
    assert seen == {world["part"].parent.name: {f"k{i}@example.com" for i in range(6)}}


def export_processes(sandbox):
    from etl.exports.run import is_export_process

    return [p for p in processes(sandbox) if is_export_process(p["name"])]


@pytest.mark.timeout(180)
def test_export_killed_during_its_download_then_rerun(export_world):
    world = export_world
    sandbox = world["sandbox"]
    done_before = len(export_processes(sandbox))
    sandbox.add_fault(path_prefix="/exports/", method="GET", kind="delay", delay_s=8, count=1)
    proc = start(world["args"], cli_env(sandbox))

    def downloading() -> bool:
        done = [p for p in export_processes(sandbox) if p["status"] == "completed"]
        return len(done) >= done_before + 2

    wait_for(proc, downloading, "both exports completed")
    time.sleep(1.5)  # the client polls every 0.1 s, then asks for the file: held 8 s
    kill(proc)
    assert_previous_intact(world)
    rerun_and_check(world)


@pytest.mark.timeout(180)
def test_export_killed_between_parquet_write_and_rename_then_rerun(export_world, tmp_path):
    world = export_world
    marker = tmp_path / "written"
    proc = start(world["args"], cli_env(world["sandbox"]), probe=marker)
    wait_for(proc, marker.exists, "the Parquet files were written")
    staging = Path(marker.read_text(encoding="utf-8"))
    assert list(staging.glob("*.parquet")), "the probe paused before anything was written"
    kill(proc)
    # The new files exist, complete, in a hidden staging directory that no loader globs.
    assert staging.exists()
    assert staging.name.startswith(".")
    assert_previous_intact(world)
    # A later run sweeps staging directories that their (dead) writer left long ago.
    old = time.time() - 7 * 3600
    os.utime(staging, (old, old))
    rerun_and_check(world)


@pytest.mark.timeout(180)
def test_killed_between_the_last_chunk_and_the_snapshot_then_rerun(account, tmp_path):
    """--changed-only: a crash after Brevo took the changes but before the snapshot was written
    must not make the next run skip them (the old snapshot still says they changed), and the
    next run resumes the killed one instead of sending the chunk again."""
    sandbox = account["sandbox"]
    src = write_people(tmp_path / "people.csv", ROWS)
    state = tmp_path / "state"
    common = {
        "files": [str(src)],
        "list_ids": [account["list_id"]],
        "state_dir": str(state),
        "secret_block": None,
        "changed_only": True,
    }
    import_contacts(**common)
    pointer = next(state.glob("accounts/*/snapshots/*/current.json"))
    before = pointer.read_text(encoding="utf-8")
    src.write_text(
        src.read_text(encoding="utf-8").replace("p7@example.com,Person 7", "p7@example.com,Seven"),
        encoding="utf-8",
    )
    marker = tmp_path / "paused"
    args = ["import", str(src), "--list-id", str(account["list_id"]), "--changed-only"]
    args += ["--state-dir", str(state), "--json"]
    proc = start(args, cli_env(sandbox), probe=marker)
    wait_for(proc, marker.exists, "every chunk completed")
    kill(proc)
    assert pointer.read_text(encoding="utf-8") == before  # the old snapshot is in force
    posts = len(processed(sandbox, IMPORT_PATH))
    assert posts == 2  # the first run's chunk and the killed run's one-row chunk

    result = import_contacts(**common)
    assert result["rows_unchanged"] == ROWS - 1
    assert [c["action"] for c in result["chunks"]] == ["skipped_completed"]
    assert len(processed(sandbox, IMPORT_PATH)) == posts  # nothing sent twice
    assert_accounting(result)
    assert pointer.read_text(encoding="utf-8") != before
    contact = api(sandbox, "GET", "/contacts/p7@example.com").json()
    assert contact["attributes"]["FIRSTNAME"] == "Seven"
    # Now the snapshot holds the change: nothing left to send.
    after = import_contacts(**common)
    assert after["rows_sent"] == 0
    assert after["rows_unchanged"] == ROWS
