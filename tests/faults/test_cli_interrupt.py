"""Issue 17: Ctrl-C on a real ``contacts-etl`` process: one line, exit 130, in seconds; a re-run
of the same command resumes without submitting any chunk twice.

The sandbox holds every process ``queued`` (``process_stall``), so the CLI is waiting on Brevo
when the terminal's Ctrl-C (SIGINT to the whole process group) arrives. Each case runs untracked
(no Prefect API: the CLI's default) and tracked (``PREFECT_API_URL`` of the test harness).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._support import (
    EXPORT_PATH,
    IMPORT_PATH,
    api,
    assert_accounting,
    assert_exactly_once,
    assert_partitions_complete,
    expected_emails,
    processed,
    run_cli,
    sandbox_emails,
    sandbox_env,
    write_people,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40
STOP_BOUND_S = 30  # a hang detector only: the CLI stops within STOP_WITHIN_S (5 s)


def cli_env(sandbox, *, tracked: bool) -> dict[str, str]:
    import prefect.settings

    env = sandbox_env(sandbox)
    env.pop("PREFECT_API_URL", None)
    if tracked:
        env["PREFECT_API_URL"] = str(prefect.settings.PREFECT_API_URL.value())
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def wait_for(proc, condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the CLI ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ctrl_c_twice(proc) -> tuple[str, str, float]:
    """Ctrl-C, and again 50 ms later as an impatient user does; the output and the time taken."""
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # already gone
    try:
        out, err = proc.communicate(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the CLI did not stop within {STOP_BOUND_S} s of Ctrl-C")
    return out, err, time.monotonic() - started


def assert_one_interrupt_line(proc, out: str, err: str) -> str:
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("interrupted (")
    return lines[0]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "tracked"])
def test_ctrl_c_while_an_import_waits_then_the_same_command_resumes(account, tmp_path, tracked):
    sandbox = account["sandbox"]
    src = write_people(tmp_path / "people.csv", ROWS)
    state = tmp_path / "state"
    args = ["import", str(src), "--list-id", str(account["list_id"]), "--chunk-bytes", "400"]
    args += ["--state-dir", str(state), "--report", str(tmp_path / "report.json"), "--json"]
    env = cli_env(sandbox, tracked=tracked)
    sandbox.configure(process_stall=True)
    proc = start(args, env)

    seen: list[int] = []

    def all_chunks_submitted_and_waiting() -> bool:
        # Every chunk is submitted once the count of imports stops growing while the CLI polls.
        seen.append(len(processed(sandbox, IMPORT_PATH)))
        polls = [r for r in sandbox.requests_log() if r["path"].startswith("/v3/processes/")]
        return len(seen) > 10 and seen[-1] > 0 and len(set(seen[-10:])) == 1 and bool(polls)

    wait_for(proc, all_chunks_submitted_and_waiting, "every chunk was submitted")
    submitted = seen[-1]
    out, err, took = ctrl_c_twice(proc)
    line = assert_one_interrupt_line(proc, out, err)
    assert f"read {ROWS + 3} rows of people.csv" in line
    assert f"{submitted} of {submitted} chunk(s) submitted, 0 finished" in line
    assert line.endswith(
        "re-run the same command to resume: chunks already submitted are not sent again"
    )
    assert took < STOP_BOUND_S

    sandbox.configure(process_stall=False)
    again = run_cli(args, env)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["run_action"] == "resumed"
    assert [c["action"] for c in report["chunks"]] == ["resumed"] * submitted
    assert_accounting(report)
    assert report["rows_sent"] == ROWS
    # The sandbox received each chunk once: the re-run waited for the same processes.
    assert len(processed(sandbox, IMPORT_PATH)) == submitted
    assert_exactly_once(sandbox, submitted)
    assert sandbox_emails(sandbox) == expected_emails(ROWS)


@pytest.mark.timeout(300)
def test_ctrl_c_while_an_export_waits_is_one_line_and_leaves_no_partition(account, tmp_path):
    sandbox = account["sandbox"]
    for i in range(3):
        contact = {"email": f"x{i}@example.com", "listIds": [account["list_id"]]}
        api(sandbox, "POST", "/contacts", json=contact)
    out_dir = tmp_path / "out"
    args = ["export", "--list-id", str(account["list_id"]), "--out", str(out_dir)]
    args += ["--state-dir", str(tmp_path / "state"), "--json"]
    env = cli_env(sandbox, tracked=False)
    sandbox.configure(process_stall=True)
    proc = start(args, env)

    def export_polled() -> bool:
        log = sandbox.requests_log()
        asked = any(r["path"] == EXPORT_PATH and r["method"] == "POST" for r in log)
        return asked and any(r["path"].startswith("/v3/processes/") for r in log)

    wait_for(proc, export_polled, "the export was requested and polled")
    out, err, took = ctrl_c_twice(proc)
    line = assert_one_interrupt_line(proc, out, err)
    assert "1 export(s) requested from Brevo, 0 downloaded" in line
    assert "re-run the same command to export again" in line
    assert took < STOP_BOUND_S
    assert not list(out_dir.glob("contacts/export_date=*/run=*"))

    sandbox.configure(process_stall=False)
    again = run_cli(args, env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["merged_rows"] == 3
    seen = assert_partitions_complete(out_dir)
    assert [emails for emails in seen.values()] == [{f"x{i}@example.com" for i in range(3)}]


def _workers_of(parent: int) -> list[int]:
    """Pids of the import's worker processes a process started."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            stat = (proc_dir / "stat").read_text()
            cmdline = (proc_dir / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"etl.imports.workers" in cmdline:
            found.append(int(proc_dir.name))
    return found


@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_while_worker_processes_normalise_is_one_line_and_stops_them(account, tmp_path):
    sandbox = account["sandbox"]
    src = tmp_path / "big.csv"
    rows = 160_000  # over the 100,000 rows from which files are normalised by workers
    with src.open("w", encoding="utf-8") as out:
        out.write("email,firstname\n")
        out.writelines(f"w{i}@example.com,Zoé {i}\n" for i in range(rows))
    args = ["import", str(src), "--list-id", str(account["list_id"]), "--workers", "2"]
    args += ["--state-dir", str(tmp_path / "state"), "--report", str(tmp_path / "r.json")]
    env = cli_env(sandbox, tracked=False)
    proc = start(args, env)
    wait_for(proc, lambda: len(_workers_of(proc.pid)) == 2, "the worker processes started")
    workers = _workers_of(proc.pid)
    out, err, took = ctrl_c_twice(proc)
    assert assert_one_interrupt_line(proc, out, err).endswith("are not sent again")
    assert took < STOP_BOUND_S
    # The workers went with it; nothing was sent.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "worker processes outlived the CLI"
        time.sleep(0.05)
    assert processed(sandbox, IMPORT_PATH) == []
    # The same command then does the whole import.
    again = run_cli(args, env)
    assert again.returncode == 0, again.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert_accounting(report)
    assert report["rows_sent"] == rows
