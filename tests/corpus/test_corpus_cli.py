"""A representative handful of the corpus through ``contacts-etl import`` against the sandbox:
the exit code (2 for unusable input, 0 when rows are merely rejected) and one line on stderr,
never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from etl.imports.rejects import read_rejects
from tests.faults._support import run_import, seed_account

from .make_corpus import FORMULAS, find, write_case

ROOT = Path(__file__).resolve().parents[2]

# Refused by the CLI's pre-flight, before Prefect starts: fast.
PREFLIGHT = [
    "str_empty.csv",
    "bin_png.csv",
    "bin_truncated_gzip.csv.gz",
    "enc_utf16_lone_surrogate.csv",
    "dia_sep_line_lies.csv",
    "inj_newline_in_header_strict.csv",
    "bin_fifo.csv",
    "str_too_many_columns.csv",
]


def cli(sandbox, *args, timeout=240):
    return run_import(sandbox, *args, timeout=timeout)


@pytest.fixture
def fast_sandbox(sandbox):
    sandbox.configure(other_rph=100_000, contacts_rps=1000, process_delay_s=0.05)
    return sandbox


def one_line_error(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", PREFLIGHT)
def test_unusable_input_exits_2_with_one_line(fast_sandbox, tmp_path, name):
    c = find(name)
    path = write_case(c, tmp_path / "in")
    args = [str(path), "--list-id", "1", "--state-dir", str(tmp_path / "state")]
    proc = cli(fast_sandbox, *args, *(["--strict"] if c.options.get("strict") else []))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    one_line_error(proc)
    assert not [r for r in fast_sandbox.requests_log() if r["method"] == "POST"]


@pytest.mark.timeout(300)
def test_a_record_over_64_mib_found_mid_run_exits_2_with_one_line(fast_sandbox, tmp_path):
    # The pre-flight only sniffs the head; the monster record is met inside the flow.
    path = write_case(find("str_100mb_data_line.csv"), tmp_path / "in")
    list_id = seed_account(fast_sandbox)["list_id"]
    proc = cli(
        fast_sandbox, str(path), "--list-id", str(list_id), "--state-dir", str(tmp_path / "s")
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "64 MiB" in one_line_error(proc)
    assert not [r for r in fast_sandbox.requests_log() if r["path"] == "/v3/contacts/import"]


@pytest.mark.timeout(300)
def test_formula_payloads_are_rejected_row_by_row_and_neutralised(fast_sandbox, tmp_path):
    c = find("inj_formulas.csv")
    path = write_case(c, tmp_path / "in")
    h = {"api-key": fast_sandbox.api_key}
    fid = requests.post(
        f"{fast_sandbox.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    lid = requests.post(
        f"{fast_sandbox.url}/contacts/lists",
        json={"name": "L", "folderId": fid.json()["id"]},
        headers=h,
        timeout=5,
    ).json()["id"]
    report = tmp_path / "report.json"
    proc = cli(
        fast_sandbox,
        str(path),
        "--list-id",
        str(lid),
        "--state-dir",
        str(tmp_path / "state"),
        "--report",
        str(report),
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    rejects = read_rejects(report.with_name("report.rejects.csv"))
    assert [r["reason"] for r in rejects] == ["invalid_email"] * len(rejects)
    assert len(rejects) == c.rejects["invalid_email"]
    for row in rejects:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")), row
    # The rows with a valid email were sent, their values untouched (Brevo stores text).
    held = requests.get(f"{fast_sandbox.url}/contacts", params={"limit": 50}, headers=h, timeout=5)
    names = {c["attributes"].get("FIRSTNAME") for c in held.json()["contacts"]}
    assert held.json()["count"] == len(FORMULAS)
    assert "=cmd|' /C calc'!A0" in names
