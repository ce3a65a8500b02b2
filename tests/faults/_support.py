"""What every fault case checks: exactly-once chunks, row accounting, complete partitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import requests

ROOT = Path(__file__).resolve().parents[2]
IMPORT_PATH = "/v3/contacts/import"
EXPORT_PATH = "/v3/contacts/export"


def sandbox_env(sandbox: Any, **extra: str) -> dict[str, str]:
    """The environment of a ``contacts-etl`` subprocess against the sandbox (fast polling)."""
    return {
        **os.environ,
        "BREVO_API_KEY": sandbox.api_key,
        "BREVO_BASE_URL": sandbox.url,
        "BREVO_OTHER_PER_HOUR": "100000",
        "BREVO_POLL_INTERVAL_S": "0.1",
        **extra,
    }


def run_cli(
    args: Sequence[str], env: dict[str, str], *, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``contacts-etl ARGS`` in a subprocess, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_import(sandbox: Any, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``contacts-etl import ARGS`` in a subprocess against the sandbox."""
    return run_cli(["import", *args], sandbox_env(sandbox), timeout=timeout)


def api(sandbox: Any, method: str, path: str, **kw: Any) -> requests.Response:
    """One call to the sandbox with its key (faults apply: use before adding them)."""
    resp = requests.request(
        method, f"{sandbox.url}{path}", headers={"api-key": sandbox.api_key}, timeout=10, **kw
    )
    resp.raise_for_status()
    return resp


def seed_account(sandbox: Any) -> dict[str, Any]:
    """A folder, a list, and the attributes the people files use."""
    for name, kind in (("BIRTHDAY", "date"), ("NEWSLETTER", "boolean")):
        api(sandbox, "POST", f"/contacts/attributes/normal/{name}", json={"type": kind})
    folder_id = api(sandbox, "POST", "/contacts/folders", json={"name": "Faults"}).json()["id"]
    list_id = api(
        sandbox, "POST", "/contacts/lists", json={"name": "Faults", "folderId": folder_id}
    ).json()["id"]
    return {"sandbox": sandbox, "folder_id": folder_id, "list_id": list_id}


def write_people(path: Path, n: int, *, prefix: str = "p", bad: bool = True) -> Path:
    """``n`` good contacts, plus (``bad``) an invalid email, a duplicate and a row without id."""
    lines = ["Email,First name,Newsletter"]
    lines += [f"{prefix}{i}@example.com,Person {i},{'yes' if i % 2 else 'no'}" for i in range(n)]
    if bad:
        lines += ["not an email,Bad,yes", f"{prefix}0@EXAMPLE.com,Again,no", ",Nobody,no"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_emails(n: int, prefix: str = "p") -> set[str]:
    """The emails ``write_people`` sends."""
    return {f"{prefix}{i}@example.com" for i in range(n)}


def sandbox_emails(sandbox: Any) -> set[str]:
    """Every email the sandbox's account holds."""
    out: set[str] = set()
    offset = 0
    while True:
        page = api(sandbox, "GET", "/contacts", params={"limit": 1000, "offset": offset}).json()
        out.update(c["email"] for c in page["contacts"] if c.get("email"))
        offset += 1000
        if offset >= page["count"]:
            return out


def processes(sandbox: Any, name: str | None = None) -> list[dict[str, Any]]:
    """The sandbox's processes, oldest first (optionally one kind)."""
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = api(
            sandbox, "GET", "/processes", params={"limit": 50, "offset": offset, "sort": "asc"}
        ).json()
        out.extend(page["processes"])
        offset += 50
        if offset >= page["count"]:
            break
    return [p for p in out if name is None or p["name"] == name]


def processed(sandbox: Any, path: str) -> list[dict[str, Any]]:
    """POSTs to ``path`` whose handler ran (whatever answer the client got)."""
    return [
        r
        for r in sandbox.requests_log()
        if r["method"] == "POST" and r["path"] == path and r["processed"]
    ]


def import_outcomes(sandbox: Any) -> dict[str, list[str]]:
    """For each import body (sha256 of the request), the status of every process it started.

    Each processed ``POST /contacts/import`` created one IMPORTUSER process, in order (the
    importer submits one chunk at a time), so the request log and the process list pair up.
    """
    deadline = time.monotonic() + 10
    while True:
        # A request held by a delay fault is logged only once its answer goes out.
        posts = processed(sandbox, IMPORT_PATH)
        procs = processes(sandbox, "IMPORTUSER")
        if len(posts) == len(procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(posts) == len(procs), (len(posts), len(procs))
    out: dict[str, list[str]] = defaultdict(list)
    for post, proc in zip(posts, procs, strict=True):
        out[post["body_sha256"]].append(proc["status"])
    return dict(out)


def assert_exactly_once(sandbox: Any, chunks: int) -> None:
    """Every chunk completed exactly once; a failed process is the only excuse for a resend."""
    outcomes = import_outcomes(sandbox)
    assert len(outcomes) == chunks, outcomes
    for sha, statuses in outcomes.items():
        assert statuses.count("completed") == 1, (sha[:12], statuses)
        assert all(s in ("completed", "failed") for s in statuses), (sha[:12], statuses)


def assert_accounting(report: dict[str, Any]) -> None:
    """Every row read is in exactly one bucket, over the run and for each file."""
    buckets = (
        "rows_sent",
        "rows_rejected",
        "rows_refused_by_brevo",
        "rows_not_completed",
        "rows_already_sent",
        "rows_unchanged",
    )
    assert report["rows_read"] == sum(report[b] for b in buckets), report
    for f in report["files"]:
        assert f["rows_read"] == f["rows_to_send"] + f["rows_rejected"] + f["rows_unchanged"], f


def one_line(exc: BaseException) -> str:
    """The exception's message, which must be one non-empty line."""
    text = str(exc)
    assert text.strip(), repr(exc)
    assert "\n" not in text, text
    return text


# ---------------------------------------------------------------------------- Parquet output


def partition_dirs(out: Path) -> list[Path]:
    """What a loader globbing ``OUT/contacts/export_date=*/run=*/`` sees: one directory a run."""
    return sorted(p for p in (out / "contacts").glob("export_date=*/run=*") if p.is_dir())


def read_partition(part: Path) -> tuple[set[str], int]:
    """(emails, rows) of a partition; raises when a file is not complete Parquet or the files
    disagree with the partition's own metadata."""
    files = sorted(part.glob("*.parquet"))
    assert files, f"{part} has no Parquet file"
    others = [p.name for p in part.iterdir() if p.suffix != ".parquet"]
    assert not others, f"{part} holds non-Parquet files: {others}"
    emails: set[str] = set()
    rows = 0
    run_ids = set()
    declared = set()
    for f in files:
        meta = pq.read_metadata(f).metadata or {}
        run_ids.add(meta.get(b"run_id"))
        declared.add(int(meta[b"partition_rows"]))
        table = pq.read_table(f)
        rows += table.num_rows
        if "email" in table.column_names:
            emails.update(e for e in table.column("email").to_pylist() if e)
    assert len(run_ids) == 1, f"{part} mixes runs: {run_ids}"
    assert declared == {rows}, f"{part}: files declare {declared} rows, hold {rows}"
    return emails, rows


def assert_partitions_complete(out: Path, *, no_staging: bool = True) -> dict[str, set[str]]:
    """Every visible run is whole and matches the day's index; returns emails per day (all runs)."""
    result: dict[str, set[str]] = {}
    day_rows: dict[str, int] = {}
    for part in partition_dirs(out):
        emails, rows = read_partition(part)
        day = part.parent.name
        result[day] = result.get(day, set()) | emails
        day_rows[day] = day_rows.get(day, 0) + rows
    for day, rows in day_rows.items():
        current = out / "contacts" / "_current" / f"{day}.json"
        if current.exists():
            manifest = json.loads(current.read_text(encoding="utf-8"))
            assert manifest["rows"] == rows, (manifest["rows"], rows)
    if no_staging:
        leftovers = [p.name for p in (out / "contacts").glob(".*")] if out.exists() else []
        assert not leftovers, f"temporary files left behind: {leftovers}"
    return result


class PartitionWatcher:
    """Reads every visible partition in a loop while a run writes; records what was incomplete.

    A listing can race a rename swap (files listed from the old partition, opened in the new), so
    an inconsistent read is retried; only a partition still broken on three reads in a row is a
    failure: that is what a loader would load.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.problems: list[str] = []
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PartitionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for part in partition_dirs(self.out) if (self.out / "contacts").exists() else []:
                for attempt in range(3):
                    try:
                        read_partition(part)
                        self.reads += 1
                        break
                    except FileNotFoundError:
                        break  # swapped away under us: the next listing sees the new one
                    except Exception as exc:
                        if attempt == 2:
                            self.problems.append(f"{part.name}: {type(exc).__name__}: {exc}")
            self._stop.wait(0.005)
