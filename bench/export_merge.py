"""Benchmark: N exported contacts in K CSV parts -> typed Parquet, against an untyped baseline.

    python bench/export_merge.py [--rows 1000000] [--parts 4] [--repeat 3] [--data DIR]

Baseline: ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` on each part (inferred
types, no merge, default compression). Typed: ``etl.exports.merge_exports`` +
``etl.parquet.write_partition`` (typed from the attribute list, ``_sources``, zstd, atomic
partition). Each run happens in a fresh subprocess (so peak RSS is per pipeline), after a warm-up
on a small file in that process: pyarrow's first hash kernel call and lazy imports cost ~0.3 s
once per process, which is not what this measures. Runs alternate baseline/typed so machine load
hits both alike; the best wall time of each is compared. CPU time (all threads) is printed too.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = [
    "EMAIL",
    "ADDED_TIME",
    "MODIFIED_TIME",
    "FIRSTNAME",
    "LASTNAME",
    "SMS",
    "BIRTHDAY",
    "SCORE",
    "OPT_IN",
    "GENDER",
    "INTERESTS",
    "_listIds",
    "_SUBSCRIBED",
    "_BLOCKLISTED",
]
ATTRIBUTES = [
    {"name": "FIRSTNAME", "category": "normal", "type": "text"},
    {"name": "LASTNAME", "category": "normal", "type": "text"},
    {"name": "SMS", "category": "normal", "type": "text"},
    {"name": "BIRTHDAY", "category": "normal", "type": "date"},
    {"name": "SCORE", "category": "normal", "type": "float"},
    {"name": "OPT_IN", "category": "normal", "type": "boolean"},
    {
        "name": "GENDER",
        "category": "category",
        "enumeration": [{"value": 1, "label": "Mr"}, {"value": 2, "label": "Ms"}],
    },
    {
        "name": "INTERESTS",
        "category": "normal",
        "type": "multiple-choice",
        "multiCategoryOptions": ["sport", "music", "travel"],
    },
]


def write_part(path: Path, start: int, rows: int, seed: int) -> None:
    """One export part in Brevo's format (ISO UTC dates, as with exportDateInUTC)."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(";".join(HEADER) + "\n")
        lines = []
        for i in range(start, start + rows):
            day, month = 1 + i % 28, 1 + i % 12
            stamp = (
                f"2025-{month:02d}-{day:02d}T{i % 24:02d}:{i % 60:02d}:{rnd.randrange(60):02d}.000Z"
            )
            lists = "|".join(str(x) for x in sorted({2 + i % 5, 7, rnd.randrange(1, 40)}))
            lines.append(
                ";".join(
                    [
                        f"user{i}.{rnd.randrange(10**6)}@example.com",
                        stamp,
                        stamp,
                        f"First{rnd.randrange(5000)}",
                        f'"Last; {rnd.randrange(5000)}"',
                        f"+336{rnd.randrange(10**8):08d}",
                        f"19{50 + i % 50}-{month:02d}-{day:02d}",
                        f"{rnd.random() * 100:.3f}",
                        "true" if rnd.random() < 0.6 else "false",
                        "Mr" if i % 2 else "Ms",
                        rnd.choice(["", "sport", "sport,music", "travel,music"]),
                        f"[{lists}]",
                        rnd.choice(["email_marketing", "email_marketing|sms_marketing", ""]),
                        rnd.choice(["", "", "", "sms_marketing"]),
                    ]
                )
            )
            if len(lines) >= 50_000:
                fh.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            fh.write("\n".join(lines) + "\n")


def make_data(data_dir: Path, rows: int, parts: int) -> list[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    per = rows // parts
    for k in range(parts):
        path = data_dir / f"part-{k:02d}-{rows}.csv"
        if not path.exists():
            write_part(path, k * per, per if k < parts - 1 else rows - per * (parts - 1), seed=k)
        paths.append(path)
    warm = data_dir / "warmup.csv"
    if not warm.exists():
        write_part(warm, 10**8, 2000, seed=99)
    return paths


def _baseline(paths: list[Path], out_dir: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=";"))
        pq.write_table(table, out_dir / f"part-{i}.parquet")


def _typed(paths: list[Path], out_dir: Path, run_id: str) -> int:
    from etl.brevo.models import Attribute
    from etl.exports import ExportFile, merge_exports
    from etl.parquet import write_partition

    attributes = [Attribute.from_wire(a) for a in ATTRIBUTES]
    files = [ExportFile(path=p, source="list:2", process_id=1) for p in paths]
    result = merge_exports(files, attributes, work_dir=out_dir / "work")
    written = write_partition(
        result,
        result.schema,
        out=str(out_dir),
        export_date=date(2026, 11, 23),
        metadata={"process_ids": "[1]"},
        run_id=run_id,
    )
    return written.rows


def child(mode: str, paths: list[Path], warm: Path) -> None:
    """Run one pipeline in this process and print a JSON line with its timings."""
    import pandas  # noqa: F401 - the product imports it anyway; keep its import out of the timing

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        out = Path(tmp)
        if mode == "baseline":
            _baseline([warm], out / "warm")
        else:
            _typed([warm], out / "warm", "warm")
        wall, cpu = time.perf_counter(), time.process_time()
        if mode == "baseline":
            _baseline(paths, out / "run")
        else:
            _typed(paths, out / "run", "run")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "wall": wall, "cpu": cpu, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bench-export")
    parser.add_argument("--child", choices=["baseline", "typed"])
    args = parser.parse_args()
    paths = make_data(args.data, args.rows, args.parts)
    warm = args.data / "warmup.csv"
    if args.child:
        child(args.child, paths, warm)
        return
    size_mb = sum(p.stat().st_size for p in paths) / 2**20
    print(f"{args.rows} rows in {args.parts} parts ({size_mb:.0f} MiB of CSV)")
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "typed": []}
    for _ in range(args.repeat):
        for mode in ("baseline", "typed"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--rows",
                str(args.rows),
                "--parts",
                str(args.parts),
                "--data",
                str(args.data),
            ]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for mode, results in runs.items():
        walls = ", ".join(f"{r['wall']:.2f}" for r in results)
        best = min(results, key=lambda r: r["wall"])
        print(
            f"{mode:9s} best wall {best['wall']:.2f}s  cpu {best['cpu']:.2f}s  "
            f"peak RSS {max(r['peak_mb'] for r in results):.0f} MiB  (runs: {walls})"
        )
    base = min(r["wall"] for r in runs["baseline"])
    typed = min(r["wall"] for r in runs["typed"])
    print(f"ratio typed/baseline (best wall): {typed / base:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
