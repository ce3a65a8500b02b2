"""The benchmark workers run and measure what they claim (tiny sizes; the figures live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.generate import write_contacts_csv, write_export_parts


def _worker(task: str, params: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", task, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_prep_and_its_baseline_measure_the_same_rows(tmp_path):
    path = write_contacts_csv(tmp_path / "c.csv", 3000)
    ours = _worker("import_prep", {"path": str(path), "tmp_dir": str(tmp_path)})
    base = _worker("pandas_csv", {"path": str(path), "tmp_dir": str(tmp_path)})
    assert ours["rows"] == base["rows"] == 3000
    assert ours["rows_sent"] + ours["rows_rejected"] == 3000
    assert 0 < ours["rows_rejected"] < 3000 * 0.25  # a few percent invalid, not a quarter
    assert ours["seconds"] > 0
    assert ours["peak_rss_mb"] > 0


def test_export_merge_and_its_baseline(tmp_path):
    paths = [str(p) for p in write_export_parts(tmp_path / "parts", 4000, parts=4)]
    ours = _worker("export_merge", {"paths": paths, "tmp_dir": str(tmp_path)})
    base = _worker("pyarrow_csv", {"paths": paths, "tmp_dir": str(tmp_path)})
    assert ours["rows"] == base["rows"] == 4000
