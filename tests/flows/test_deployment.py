"""Issue 7: run it as users do. A real Prefect server on loopback, a process worker, the
deployments of prefect.yaml, the API key in a Secret block, the export deployment against the
sandbox: the run completes and its Parquet appears."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, env, timeout=120, **kw):
    proc = subprocess.run(
        args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, **kw
    )
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def prefect_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
    }
    env.pop("PREFECT_API_KEY", None)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        assert time.monotonic() < deadline, "prefect server did not start"
        time.sleep(0.5)
    yield env
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


@pytest.mark.timeout(300)
def test_export_deployment_runs_on_a_process_worker(prefect_server, sandbox, tmp_path):
    env = dict(prefect_server)
    sandbox.configure(other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    h = {"api-key": sandbox.api_key}
    folder = requests.post(
        f"{sandbox.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    list_id = requests.post(
        f"{sandbox.url}/contacts/lists",
        json={"name": "Nightly", "folderId": folder.json()["id"]},
        headers=h,
        timeout=5,
    ).json()["id"]
    for i in range(5):
        requests.post(
            f"{sandbox.url}/contacts",
            json={"email": f"n{i}@example.com", "listIds": [list_id]},
            headers=h,
            timeout=5,
        ).raise_for_status()

    # The key goes into a Secret block, never into prefect.yaml or the worker's environment.
    _run(
        [
            sys.executable,
            "-c",
            "import sys; from prefect.blocks.system import Secret; "
            "Secret(value=sys.stdin.read()).save('brevo-api-key', overwrite=True)",
        ],
        env,
        input=sandbox.api_key,
    )
    _run([PREFECT, "work-pool", "create", "contacts-etl", "--type", "process"], env)
    out = _run([PREFECT, "--no-prompt", "deploy", "--all"], env, timeout=180)
    assert "export-contacts-nightly" in out

    worker_env = {
        **env,
        "BREVO_BASE_URL": sandbox.url,
        "BREVO_OTHER_PER_HOUR": "100000",
        "BREVO_POLL_INTERVAL_S": "0.1",
    }
    worker_env.pop("BREVO_API_KEY", None)
    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "contacts-etl"],
        env=worker_env,
        cwd=REPO,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out_dir = tmp_path / "exports"
        params = {
            "out": str(out_dir),
            "list_ids": [list_id],
            "incremental": False,
            "state_dir": str(tmp_path / "state"),
        }
        run = subprocess.run(
            [
                PREFECT,
                "deployment",
                "run",
                "export-contacts/export-contacts-nightly",
                "--params",
                json.dumps(params),
                "--watch",
                "--watch-timeout",
                "150",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=200,
        )
        assert run.returncode == 0, run.stdout + run.stderr + (tmp_path / "worker.log").read_text()
        assert "Completed" in run.stdout + run.stderr
        parquet = list(out_dir.glob("contacts/export_date=*/run=*/*.parquet"))
        assert parquet, list(out_dir.rglob("*"))
        import duckdb

        count = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{parquet[0].parent}/*.parquet')"
        ).fetchall()
        assert count == [(5,)]
        # The key never reached the server's records of the run.
        assert sandbox.api_key not in (tmp_path / "worker.log").read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
