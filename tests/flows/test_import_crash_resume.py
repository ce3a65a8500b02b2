"""Kill a real `contacts-etl import` between a chunk's submission and its ledger entry, re-run it:
no chunk is processed twice and the sandbox ends with every row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

ROWS = 60


def _processed_imports(sandbox):
    return [
        r
        for r in sandbox.requests_log()
        if r["method"] == "POST" and r["path"] == "/v3/contacts/import" and r["processed"]
    ]


def _cli(args, env, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kw,
    )


@pytest.mark.timeout(240)
def test_kill_mid_import_then_resume(sandbox, tmp_path):
    sandbox.configure(other_rph=100000, process_delay_s=0.05)
    headers = {"api-key": sandbox.api_key}
    folder = requests.post(
        f"{sandbox.url}/contacts/folders", json={"name": "F"}, headers=headers, timeout=5
    )
    src = tmp_path / "people.csv"
    src.write_text(
        "email,first name\n" + "".join(f"p{i}@example.com,Person {i}\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    # The second import request is held for 4 s before the sandbox processes it: the client is
    # killed while it waits for the answer, so the ledger has no process id for that chunk.
    sandbox.add_fault(
        path_prefix="/v3/contacts/import", method="POST", kind="delay", delay_s=4, every=2, count=1
    )
    env = {
        **os.environ,
        "BREVO_API_KEY": sandbox.api_key,
        "BREVO_BASE_URL": sandbox.url,
        "BREVO_OTHER_PER_HOUR": "100000",
        "BREVO_POLL_INTERVAL_S": "0.1",
    }
    args = [
        "import",
        str(src),
        "--new-list",
        "Crash",
        "--folder-id",
        str(folder.json()["id"]),
        "--chunk-bytes",
        "400",
        "--state-dir",
        str(tmp_path / "state"),
        "--report",
        str(tmp_path / "report.json"),
        "--json",
    ]
    proc = _cli(args, env)
    deadline = time.monotonic() + 120
    while not _processed_imports(sandbox):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the first chunk never arrived"
        time.sleep(0.1)
    time.sleep(1.0)  # the second submission is now inside the sandbox's delay
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(4.5)  # let the held request finish: Brevo would still run it
    assert len(_processed_imports(sandbox)) == 2

    rerun = _cli(args, env)
    out, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    actions = [c["action"] for c in report["chunks"]]
    assert "reconciled" in actions or "resumed" in actions
    processed = _processed_imports(sandbox)
    hashes = [r["body_sha256"] for r in processed]
    assert len(hashes) == len(set(hashes)) == len(report["chunks"])  # none twice
    assert report["rows_sent"] == ROWS
    count = requests.get(f"{sandbox.url}/contacts", params={"limit": 1}, headers=headers, timeout=5)
    assert count.json()["count"] == ROWS
