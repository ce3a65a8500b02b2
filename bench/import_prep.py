"""Import preparation speed: read -> normalise -> validate -> serialise, against pandas.

``python bench/import_prep.py --rows 1000000`` writes a messy file with ``bench.generate``, then
times, each in its own process (so that peak RSS is measured apart):

- baseline: ``pandas.read_csv(dtype=str, keep_default_na=False)`` + ``to_csv(sep=";")``;
- pipeline: ``sniff_csv`` -> ``iter_csv_batches`` -> ``normalise_batch`` -> ``ContactValidator``
  -> ``ChunkBuilder`` (bodies built and hashed), GX import and suite set-up timed apart.

It prints both wall times, the ratio (with and without GX's one-off import), and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_ATTRIBUTES = (
    ("FIRSTNAME", "normal", "text", ()),
    ("LASTNAME", "normal", "text", ()),
    ("SMS", "normal", "text", ()),
    ("BIRTHDAY", "normal", "date", ()),
    ("GENDER", "category", "category", ((1, "Mr"), (2, "Ms"))),
    ("NEWSLETTER", "normal", "boolean", ()),
    ("SCORE", "normal", "float", ()),
)


def _peak_rss_mb() -> float:
    # VmHWM is this process's own peak; ru_maxrss would include the parent's across fork.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(path: Path, out: Path) -> dict[str, float]:
    """pandas read_csv(dtype=str) + to_csv(sep=';')."""
    import pandas as pd

    start, cpu = time.perf_counter(), time.process_time()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.to_csv(out, sep=";", index=False)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": len(frame),
        "rss_mb": _peak_rss_mb(),
    }


def run_pipeline(path: Path, *, batch_rows: int) -> dict[str, float]:
    """The import's data side, end to end, without any network."""
    start = time.perf_counter()
    import great_expectations  # noqa: F401  (its import alone takes seconds: timed apart)

    gx_import = time.perf_counter() - start

    from etl.body import ChunkBuilder
    from etl.brevo.models import Attribute, EnumValue
    from etl.csv_io import iter_csv_batches, sniff_csv
    from etl.mapping import map_columns
    from etl.normalise import NormaliseOptions, build_specs, normalise_batch
    from etl.validate import ContactValidator, merge_reports

    attributes = [
        Attribute(name, category, type_, tuple(EnumValue(v, lab) for v, lab in enum))
        for name, category, type_, enum in BENCH_ATTRIBUTES
    ]
    specs = build_specs(attributes)
    options = NormaliseOptions(default_region="FR", dayfirst=True)
    begin, cpu = time.perf_counter(), time.process_time()
    fmt = sniff_csv(path)
    mapping = map_columns(fmt.header, known_attributes=[a.name for a in attributes])
    attrs = list(mapping.columns.values())
    setup_start = time.perf_counter()
    validator = ContactValidator(specs, [*attrs, "_line", "_identifier"])
    setup = time.perf_counter() - setup_start
    builder = ChunkBuilder(attrs)
    stages = {"read": 0.0, "normalise": 0.0, "validate": 0.0, "serialise": 0.0}
    rows_read = rows_ok = rows_rejected = chunks = body_bytes = 0
    reports = []
    tick = time.perf_counter()
    for batch in iter_csv_batches(path, fmt, batch_rows=batch_rows):
        now = time.perf_counter()
        stages["read"] += now - tick
        result = normalise_batch(batch, mapping, specs, options)
        stages["normalise"] += (tock := time.perf_counter()) - now
        reports.append(validator.validate(result.contacts))
        stages["validate"] += (now := time.perf_counter()) - tock
        for chunk in builder.add(result.contacts):
            chunks += 1
            body_bytes += chunk.bytes
        stages["serialise"] += (tick := time.perf_counter()) - now
        rows_read += batch.rows_read
        rows_ok += result.rows_ok
        rows_rejected += result.rows_rejected
    last = builder.flush()
    if last is not None:
        chunks += 1
        body_bytes += last.bytes
    stages["serialise"] += time.perf_counter() - tick
    report = merge_reports(reports)
    elapsed = time.perf_counter() - begin
    cpu_seconds = time.process_time() - cpu
    assert rows_read == rows_ok + rows_rejected
    return {
        "seconds": elapsed - setup,
        "cpu_seconds": cpu_seconds - setup,
        "seconds_with_gx_startup": elapsed + gx_import,
        "gx_import": gx_import,
        "gx_setup": setup,
        **{f"stage_{k}": v for k, v in stages.items()},
        "rows": rows_read,
        "rows_ok": rows_ok,
        "rows_rejected": rows_rejected,
        "chunks": chunks,
        "body_bytes": body_bytes,
        "validation_passed": report.passed,
        "rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    """Run both sides in child processes and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--input", type=Path, help="use this CSV instead of generating one")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--phase", choices=("baseline", "pipeline"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    if args.phase:
        path = args.input
        if args.phase == "baseline":
            with tempfile.TemporaryDirectory() as tmp:
                result = run_baseline(path, Path(tmp) / "out.csv")
        else:
            result = run_pipeline(path, batch_rows=args.batch_rows)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.input
        if path is None:
            from bench.generate import write_contacts_csv

            path = write_contacts_csv(Path(tmp) / "contacts.csv", args.rows)
        results = {}
        for phase in ("baseline", "pipeline"):
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--input", str(path),
                 "--batch-rows", str(args.batch_rows)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    base, pipe = results["baseline"], results["pipeline"]
    summary = {
        "rows": pipe["rows"],
        "baseline_s": round(base["seconds"], 2),
        "pipeline_s": round(pipe["seconds"], 2),
        "ratio": round(pipe["seconds"] / base["seconds"], 2),
        "ratio_with_gx_startup": round(pipe["seconds_with_gx_startup"] / base["seconds"], 2),
        "cpu_ratio": round(pipe["cpu_seconds"] / base["cpu_seconds"], 2),
        "baseline_rss_mb": round(base["rss_mb"]),
        "pipeline_rss_mb": round(pipe["rss_mb"]),
        "pipeline": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in pipe.items()},
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"rows                  {summary['rows']:,}")
    for label, key in (("baseline (pandas)", "baseline"), ("pipeline", "pipeline")):
        print(f"{label:<22}{summary[key + '_s']:.2f} s, peak RSS {summary[key + '_rss_mb']} MB")
    print(f"ratio                 {summary['ratio']:.2f}x "
          f"({summary['ratio_with_gx_startup']:.2f}x counting GX's import; "
          f"CPU time {summary['cpu_ratio']:.2f}x)")  # fmt: skip
    stages = ", ".join(f"{k[6:]} {v:.2f} s" for k, v in pipe.items() if k.startswith("stage_"))
    print(f"stages                {stages}")
    print(f"rows ok / rejected    {pipe['rows_ok']:,} / {pipe['rows_rejected']:,}, "
          f"{pipe['chunks']} chunks")  # fmt: skip


if __name__ == "__main__":
    main()
