"""Issue 9 load: a million contacts in, a million out, with one request in five answered 429.

Slow (minutes): marked ``slow``, run by ``make test-slow``, not by ``make test``. Timing of one
run is in ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq
import pytest
import requests

from bench.generate import write_contacts_csv
from flows.export_contacts import export_contacts
from flows.import_contacts import import_contacts

from ._support import api, assert_accounting, assert_exactly_once, assert_partitions_complete

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

MILLION = 1_000_000


def contact_count(sandbox) -> int:
    return api(sandbox, "GET", "/contacts", params={"limit": 1}).json()["count"]


def test_a_million_contacts_import_under_429s(account, tmp_path):
    sandbox = account["sandbox"]
    api(
        sandbox,
        "POST",
        "/contacts/attributes/category/GENDER",
        json={
            "type": "category",
            "enumeration": [{"value": 1, "label": "Mr"}, {"value": 2, "label": "Ms"}],
        },
    )
    api(sandbox, "POST", "/contacts/attributes/normal/SCORE", json={"type": "float"})
    src = write_contacts_csv(tmp_path / "million.csv", MILLION)
    sandbox.add_fault(path_prefix="/v3/", kind="status", status=429, every=5)
    started = time.monotonic()
    result = import_contacts(
        files=[str(src)],
        list_ids=[account["list_id"]],
        default_region="FR",
        dayfirst=True,
        state_dir=str(tmp_path / "state"),
        report_path=str(tmp_path / "report.json"),
        secret_block=None,
    )
    elapsed = time.monotonic() - started
    sandbox.clear_faults()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    print(f"import of {MILLION} rows under 429s: {elapsed:.0f} s; {report['rows_sent']} sent")
    assert result["ok"] is True
    assert_accounting(report)
    assert report["rows_read"] == MILLION
    assert sum(r["status"] == 429 for r in sandbox.requests_log()) > 0
    assert_exactly_once(sandbox, len(report["chunks"]))
    # Every row sent is in the account, less what Brevo itself refused and reported.
    refused = report["brevo"]["invalid_emails"] + report["brevo"]["duplicates"]
    assert contact_count(sandbox) == report["rows_sent"] - refused


def _seed(sandbox, list_id: int, total: int) -> None:
    """``total`` contacts straight into the sandbox, ~8 MB fileBody imports, no faults."""
    session = requests.Session()
    session.headers["api-key"] = sandbox.api_key
    ids = []
    step = 100_000
    for start in range(0, total, step):
        lines = ["EMAIL;FIRSTNAME;LASTNAME"]
        lines += [
            f"c{i:07d}@example.com;First{i % 977};Last{i % 331}" for i in range(start, start + step)
        ]
        resp = session.post(
            f"{sandbox.url}/contacts/import",
            json={"fileBody": "\n".join(lines), "listIds": [list_id]},
            timeout=120,
        )
        resp.raise_for_status()
        ids.append(resp.json()["processId"])
    for process_id in ids:
        while (
            session.get(f"{sandbox.url}/processes/{process_id}", timeout=60).json()["status"]
            != "completed"
        ):
            time.sleep(0.5)


def test_a_million_contacts_export_under_429s(account, tmp_path):
    sandbox = account["sandbox"]
    _seed(sandbox, account["list_id"], MILLION)
    assert contact_count(sandbox) == MILLION
    sandbox.add_fault(path_prefix="/", kind="status", status=429, every=5)
    started = time.monotonic()
    summary = export_contacts(
        out=str(tmp_path / "out"),
        list_ids=[account["list_id"]],
        attributes="FIRSTNAME,LASTNAME",
        state_dir=str(tmp_path / "state"),
        secret_block=None,
    )
    elapsed = time.monotonic() - started
    print(f"export of {MILLION} contacts under 429s: {elapsed:.0f} s")
    assert summary["merged_rows"] == MILLION
    assert sum(r["status"] == 429 for r in sandbox.requests_log()) > 0
    seen = assert_partitions_complete(tmp_path / "out")
    (emails,) = seen.values()
    assert len(emails) == MILLION
    rows = sum(pq.read_metadata(f).num_rows for f in summary["files"])
    assert rows == MILLION
