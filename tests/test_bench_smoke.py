"""The benchmark workers run and measure what they claim (tiny sizes; the figures live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.__main__ import ratio_ci95, round_ratios, summarise
from bench.generate import (
    generate_contacts,
    write_contacts_csv,
    write_export_parts,
    write_overlapping_exports,
)


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


def test_mixed_profile_baselines_read_every_well_formed_row(tmp_path):
    generated = generate_contacts(tmp_path / "in", 2000, profile="mixed", truth=True)
    malformed = sum(t.reason == "malformed_row" for t in generated.truth)
    params = {"files": generated.manifest()["files"], "tmp_dir": str(tmp_path)}
    pandas = _worker("pandas_csv", params)
    arrow = _worker("arrow_csv", params)
    # Both skip the rows with too many fields; ours reads (and rejects) them.
    assert pandas["rows"] == arrow["rows"] == 2000 - malformed


def test_export_merge_validates_and_its_baseline(tmp_path):
    paths = [str(p) for p in write_export_parts(tmp_path / "parts", 4000, parts=4)]
    ours = _worker("export_merge", {"paths": paths, "tmp_dir": str(tmp_path)})
    base = _worker("pyarrow_csv", {"paths": paths, "tmp_dir": str(tmp_path)})
    gx = _worker("export_merge_gx", {"paths": paths, "tmp_dir": str(tmp_path), "validation": "gx"})
    assert ours["rows"] == base["rows"] == gx["rows"] == 4000
    assert (ours["validation"], gx["validation"]) == ("arrow", "gx")
    assert ours["validation_passed"]
    assert gx["validation_passed"]
    assert not ours["work_dir_left"]  # the merge's scratch space is cleaned up


def test_export_merge_multi_folds_overlapping_exports_with_duckdb(tmp_path):
    paths = [str(p) for p in write_overlapping_exports(tmp_path / "multi", 3000, exports=3)]
    sources = ["list:1", "list:2", "list:3"]
    ours = _worker("export_merge", {"paths": paths, "sources": sources, "tmp_dir": str(tmp_path)})
    base = _worker("pyarrow_csv", {"paths": paths, "tmp_dir": str(tmp_path)})
    assert ours["strategy"] == "duckdb"
    assert ours["rows"] == 3000  # one row per contact
    assert base["rows"] > 3000  # the overlapping files hold some contacts twice or thrice
    assert ours["validation_passed"], ours["validation_failures"]
    assert not ours["work_dir_left"]


def test_ratio_is_the_median_of_per_round_ratios_with_an_interval():
    ours = [{"seconds": s, "rows": 1, "peak_rss_mb": 1} for s in (2.0, 3.0, 4.0, 2.2, 3.3)]
    base = [{"seconds": s, "rows": 1, "peak_rss_mb": 1} for s in (1.0, 2.0, 2.0, 2.0, 3.0)]
    entry = summarise(ours, base)
    assert [round(r, 3) for r in round_ratios(ours, base)] == [2.0, 1.5, 2.0, 1.1, 1.1]
    assert entry["ratio"] == 1.5
    low, high = entry["ratio_ci95"]
    assert 1.1 <= low <= entry["ratio"] <= high <= 2.0
    assert ratio_ci95([1.0]) is None
