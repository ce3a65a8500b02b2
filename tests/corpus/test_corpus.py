"""Issue 9 bad-input corpus, at the etl level: each hostile file gives its declared outcome.

Unusable input stops the run with a one-line :class:`~etl.errors.InputError` (the CLI's exit
code 2); anything else is accounted for row by row, with reasons in the rejects file, and the
chunks hold exactly the rows sent. Never another exception (a traceback), never a hang (each
case has a timeout), and the heavy cases run in a subprocess under an address-space cap, with
their peak RSS checked.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from etl.imports.body import parse_body
from etl.imports.rejects import read_rejects

from .make_corpus import CASES, Case, write_case
from .run_case import run

ROOT = Path(__file__).resolve().parents[2]
LIGHT = [c for c in CASES if not c.heavy]
HEAVY = [c for c in CASES if c.heavy]
ADDRESS_SPACE_CAP = 6 << 30  # a runaway allocation dies here rather than taking the machine
PEAK_RSS_LIMIT = 1536 << 20  # the import's memory target (issue 4): 1.5 GB
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    for c in LIGHT:
        write_case(c, directory)
    return directory


def test_the_corpus_has_fifty_cases_each_with_a_declared_outcome(corpus_dir):
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)
    for c in CASES:
        if not c.heavy:  # heavy files are written by their own test
            declared = json.loads((corpus_dir / f"{c.name}.expected.json").read_text())
            assert declared["exit_code"] == c.exit_code
        if c.error is None:
            assert c.rows_read is not None or c.rows_sent is not None or c.extracted is not None
    kinds = Counter(c.name.split("_", 1)[0] for c in CASES)
    for prefix in ("enc", "dia", "quo", "ctl", "str", "inj", "bin", "zip"):
        assert kinds[prefix] >= 3, prefix


def check(c: Case, result: dict, work: Path) -> None:
    """The outcome matches the declaration, and the outputs are consistent with it."""
    if c.error is not None:
        assert "error" in result, f"{c.name}: expected an input error, got {result}"
        message = result["error"]
        assert "\n" not in message, message
        assert "\r" not in message, message
        assert re.search(c.error, message), message
        if c.kind == "archive":
            dest = work / "parts"
            assert not dest.exists() or not any(dest.rglob("*")), "a refused archive left files"
            assert not list(work.parent.rglob("evil.csv"))
        else:
            assert not (work / "prep" / "chunks").exists() or not any(
                (work / "prep" / "chunks").iterdir()
            ), "chunks were cut for unusable input"
        return
    assert "error" not in result, f"{c.name}: {result['error']}"
    if c.kind == "archive":
        assert result["extracted"] == list(c.extracted or ())
        return
    assert result["rows_read"] == result["rows_sent"] + result["rows_rejected"]
    if c.rows_read is not None:
        assert result["rows_read"] == c.rows_read
    if c.rows_sent is not None:
        assert result["rows_sent"] == c.rows_sent
    if c.rejects is not None:
        assert result["rejects"] == c.rejects
    if c.reasons is not None:
        assert set(result["rejects"]) <= set(c.reasons)
    # The rejects file holds every rejected row with its reason, safe to open in Excel.
    rejects = [r for r in read_rejects(Path(result["rejects_path"])) if r["action"] == "rejected"]
    assert Counter(r["reason"] for r in rejects) == Counter(result["rejects"])
    for row in rejects:
        assert row["message"], row
        for cell in row.values():
            assert not cell.startswith(FORMULA_START), row
    # The bodies hold exactly the rows sent, and parse back.
    sent = sum(len(parse_body(Path(p).read_text(encoding="utf-8"))) for p in result["chunks"])
    assert sent == result["rows_sent"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("c", LIGHT, ids=lambda c: c.name)
def test_hostile_file(corpus_dir, c, tmp_path):
    check(c, run(c, corpus_dir / c.name, tmp_path / "work"), tmp_path / "work")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("c", HEAVY, ids=lambda c: c.name)
def test_heavy_hostile_file_in_bounded_memory(c, tmp_path):
    path = write_case(c, tmp_path / "in")
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.corpus.run_case", c.name, str(path), str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
        preexec_fn=_cap_memory,  # setrlimit in the child, before exec
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["peak_rss"] < PEAK_RSS_LIMIT, f"peak RSS {result['peak_rss'] >> 20} MiB"
    check(c, result, work)
