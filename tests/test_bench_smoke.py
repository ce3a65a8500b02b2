"""The benchmark workers run and measure what they claim (tiny sizes; the figures live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.__main__ import ratio_ci95, round_ratios, summarise
from bench.generate import (
    CHANGE_SUFFIX,
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
    forced = _worker(
        "export_merge",
        {"paths": paths, "sources": sources, "tmp_dir": str(tmp_path), "memory_merge_bytes": 0},
    )
    assert ours["strategy"] == forced["strategy"] == "duckdb"
    assert (ours["grouping"], forced["grouping"]) == ("in-memory", "duckdb")
    assert ours["rows"] == forced["rows"] == 3000  # one row per contact
    assert base["rows"] > 3000  # the overlapping files hold some contacts twice or thrice
    assert ours["validation_passed"], ours["validation_failures"]
    assert forced["validation_passed"], forced["validation_failures"]
    assert not ours["work_dir_left"]
    assert not forced["work_dir_left"]


def test_ratio_is_the_median_of_per_round_ratios_with_an_interval():
    ours = [{"seconds": s, "rows": 1, "peak_rss_mb": 1} for s in (2.0, 3.0, 4.0, 2.2, 3.3)]
    base = [{"seconds": s, "rows": 1, "peak_rss_mb": 1} for s in (1.0, 2.0, 2.0, 2.0, 3.0)]
    entry = summarise(ours, base)
    assert [round(r, 3) for r in round_ratios(ours, base)] == [2.0, 1.5, 2.0, 1.1, 1.1]
    assert entry["ratio"] == 1.5
    low, high = entry["ratio_ci95"]
    assert 1.1 <= low <= entry["ratio"] <= high <= 2.0
    assert ratio_ci95([1.0]) is None


def test_sync_diff_sends_exactly_the_changed_rows(tmp_path):
    """The next night's files (5% changed) against the snapshot of the first run: the rows
    sent are exactly the kept rows whose values changed (from the generator's ground truth)."""
    base = generate_contacts(tmp_path / "base", 1500, truth=True)
    changed = generate_contacts(tmp_path / "next", 1500, truth=True, changed=0.05)
    assert base.truth is not None
    assert changed.truth is not None
    before = {(t.file, t.line): t.values for t in base.truth}
    kept = [t for t in changed.truth if t.reason is None]
    expected = sum(1 for t in kept if before[(t.file, t.line)] != t.values)
    assert 0 < expected < len(kept) * 0.1
    state = str(tmp_path / "state")
    first = _worker(
        "sync_base",
        {"base_files": base.manifest()["files"], "state_dir": state, "tmp_dir": str(tmp_path)},
    )
    assert first["rows_sent"] == first["snapshot_rows"] == len(kept)
    ours = _worker(
        "sync_diff",
        {"files": changed.manifest()["files"], "state_dir": state, "tmp_dir": str(tmp_path)},
    )
    assert ours["rows_kept"] == len(kept)
    assert ours["rows_sent"] == expected
    assert ours["rows_unchanged"] + ours["rows_sent"] == ours["rows_kept"]
    assert ours["accounted"]
    assert ours["snapshot_rows"] == len(kept)


def test_changed_files_differ_only_in_the_changed_last_names(tmp_path):
    base = generate_contacts(tmp_path / "a", 800)
    changed = generate_contacts(tmp_path / "b", 800, changed=0.02)
    differing = 0
    for one, two in zip(base.files, changed.files, strict=True):
        lines_a = one.path.read_text(encoding=one.encoding).splitlines()
        lines_b = two.path.read_text(encoding=two.encoding).splitlines()
        assert len(lines_a) == len(lines_b)
        for a, b in zip(lines_a, lines_b, strict=True):
            if a != b:
                differing += 1
                assert CHANGE_SUFFIX in b
                assert b.replace(CHANGE_SUFFIX, "", 1) == a
    assert 0 < differing < 800 * 0.05
