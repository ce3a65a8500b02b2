"""Issue 9 secrets: a distinctive API key, used through the demo and through failing runs, never
shows up anywhere a person or a machine could read it afterwards.

The demo path runs with the key (``etl.cli.demo.run_demo`` starts its own sandbox with
``BREVO_SANDBOX_API_KEY``); then the flows run against a sandbox with the same key through a
5xx that is retried, an uncertain submission (5xx after the body went out), a lost answer on an
export and a reset download, and a 401 with a second, wrong key. Then every place is searched:
captured log records (DEBUG and up) and everything written to stdout/stderr, the logs, flow and
task runs (parameters, states) and artifacts stored by the Prefect API, the Prefect database and
home directory as raw bytes, the import reports and rejects files, the Parquet files (data,
key-value and schema metadata), the manifests, the ledger SQLite file, and the text, repr and
full traceback of every exception raised.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from etl.brevo.errors import BrevoAuthError, SubmissionUncertain
from etl.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "xkeysib-" + "5ec12e7" * 6 + "-DISTINCTIVE"
WRONG = "xkeysib-" + "0ddba11" * 6 + "-NOT-THE-KEY"
NEEDLES = (KEY, WRONG, "5ec12e75ec12e75ec12e7", "0ddba110ddba110ddba11")


def _leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def _scan_tree(root: Path) -> dict[str, list[str]]:
    """Files under ``root`` whose bytes (or UTF-16 text) hold a needle."""
    found: dict[str, list[str]] = {}
    if not root.exists():
        return found
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits = [n for n in NEEDLES if n.encode() in data or n.encode("utf-16-le") in data]
        if hits:
            found[str(path)] = hits
    return found


def _parquet_texts(out: Path) -> list[str]:
    texts = []
    for path in out.rglob("*.parquet"):
        meta = pq.read_metadata(path)
        texts.append(repr(meta.metadata))
        texts.append(repr(pq.read_schema(path).metadata))
        texts.append(pq.read_table(path).to_pandas().to_csv())
    return texts


def _prefect_texts() -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    texts: list[str] = []
    with get_client(sync_client=True) as client:
        texts += [log.message for log in _all(client.read_logs)]
        texts += [repr(a.data) + repr(a.description) for a in _all(client.read_artifacts)]
        for run in _all(client.read_flow_runs):
            texts.append(repr(run.parameters))
            texts.append(repr(run.state.message if run.state else ""))
        for run in _all(client.read_task_runs):
            texts.append(repr(run.task_inputs))
            texts.append(repr(run.state.message if run.state else ""))
    return texts


def _all(read: Callable[..., list[Any]]) -> list[Any]:
    """Every item of a Prefect API listing (pages of 200, the server's maximum)."""
    items: list[Any] = []
    while page := read(limit=200, offset=len(items)):
        items += page
        if len(page) < 200:
            break
    return items


def _exception_texts(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        texts += [str(cur), repr(cur), repr(vars(cur)) if hasattr(cur, "__dict__") else ""]
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return texts


def _folder_and_list(sandbox: SandboxServer) -> int:
    h = {"api-key": sandbox.api_key}
    folder = requests.post(
        f"{sandbox.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    return requests.post(
        f"{sandbox.url}/contacts/lists",
        json={"name": "L", "folderId": folder.json()["id"]},
        headers=h,
        timeout=5,
    ).json()["id"]


@pytest.mark.timeout(300)
def test_a_distinctive_key_leaks_nowhere(prefect_harness, tmp_path, monkeypatch, caplog, capfd):
    from etl.cli.demo import run_demo
    from flows.export_contacts import export_contacts
    from flows.import_contacts import import_contacts

    caplog.set_level(logging.DEBUG)
    raised: list[BaseException] = []

    # 1. The demo path, with the key.
    monkeypatch.setenv("BREVO_SANDBOX_API_KEY", KEY)
    demo = run_demo(
        samples=str(ROOT / "data" / "samples" / "contacts_*"),
        mapping=str(ROOT / "data" / "samples" / "mapping.yaml"),
        out=str(tmp_path / "demo-out"),
        state_dir=str(tmp_path / "demo-state"),
    )
    assert demo.export_summary["merged_rows"] > 0

    # 2. Failing calls, with the same key.
    src = tmp_path / "people.csv"
    src.write_text(
        "email,first name\n" + "".join(f"s{i}@example.com,S{i}\n" for i in range(20)) + "bad,X\n",
        encoding="utf-8",
    )
    with SandboxServer(host="127.0.0.1", port=0, api_key=KEY) as sandbox:
        sandbox.configure(other_rph=100_000, contacts_rps=1000, process_delay_s=0.05)
        monkeypatch.setenv("BREVO_API_KEY", KEY)
        monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
        monkeypatch.setenv("BREVO_OTHER_PER_HOUR", "100000")
        monkeypatch.setenv("BREVO_POLL_INTERVAL_S", "0.1")
        list_id = _folder_and_list(sandbox)
        run = {
            "files": [str(src)],
            "list_ids": [list_id],
            "state_dir": str(tmp_path / "state"),
            "report_path": str(tmp_path / "report.json"),
            "secret_block": None,
        }
        sandbox.add_fault(
            path_prefix="/v3/contacts/import", method="POST", kind="status", status=503, count=1
        )
        with pytest.raises(SubmissionUncertain) as uncertain:
            import_contacts(**run)
        raised.append(uncertain.value)
        sandbox.add_fault(path_prefix="/v3/processes/", kind="status", status=503, count=2)
        assert import_contacts(**run)["ok"] is True

        sandbox.add_fault(
            path_prefix="/v3/contacts/export", method="POST", kind="status", status=502,
            when="after", count=1,
        )  # fmt: skip
        sandbox.add_fault(path_prefix="/exports/", kind="reset", count=1)
        export = export_contacts(
            out=str(tmp_path / "out"),
            list_ids=[list_id],
            state_dir=str(tmp_path / "state"),
            secret_block=None,
        )
        assert export["merged_rows"] == 20

        monkeypatch.setenv("BREVO_API_KEY", WRONG)
        with pytest.raises(BrevoAuthError) as unauthorized:
            export_contacts(out=str(tmp_path / "out"), list_ids=[list_id], secret_block=None)
        raised.append(unauthorized.value)
    monkeypatch.delenv("BREVO_API_KEY")

    # 3. Search everything.
    out, err = capfd.readouterr()
    places: dict[str, list[str]] = {
        "captured stdout/stderr": [out, err],
        "log records": [caplog.text]
        + [r.getMessage() + repr(r.args) + (r.exc_text or "") for r in caplog.records],
        "exceptions": [t for exc in raised for t in _exception_texts(exc)],
        "Prefect API (logs, runs, artifacts)": _prefect_texts(),
        "Parquet": _parquet_texts(tmp_path),
        "demo result": [repr(demo)],
    }
    leaks = {where: hits for where, texts in places.items() if (hits := _leaks("\n".join(texts)))}
    import prefect.settings

    database = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    trees = [tmp_path, Path(os.environ["PREFECT_HOME"])]
    if database and database.startswith("sqlite"):
        trees.append(Path(database.split("///", 1)[1]).parent)
    for tree in trees:
        leaks.update(_scan_tree(tree))
    assert leaks == {}
    # The search really looked at the right things.
    assert list((tmp_path / "state").glob("accounts/*/ledger.sqlite"))
    assert list((tmp_path / "out").rglob("*.parquet"))
    assert list((tmp_path / "out").rglob("_manifests/*.json"))
    assert (tmp_path / "report.rejects.csv").exists()
    assert "401" in str(unauthorized.value) or "Key not found" in str(unauthorized.value)
    assert places["Prefect API (logs, runs, artifacts)"]
