"""Run one corpus case through the etl layer and describe what happened, as JSON-ready data.

``python -m tests.corpus.run_case NAME FILE WORK_DIR`` does the same in a fresh process and
prints the result with the process's peak RSS, for the heavy cases (run under a memory cap).
Only :class:`etl.errors.InputError` is an expected failure; anything else escapes as a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from etl.errors import InputError
from etl.exports.archive import safe_extract_zip
from etl.imports import ImportOptions, plan_import, prepare_import

from .make_corpus import ATTRIBUTES, Case, find


def run_import(c: Case, path: Path, work: Path) -> dict[str, Any]:
    """plan_import + prepare_import, as the import flow calls them."""
    options = ImportOptions(
        paths=(str(path),),
        list_ids=(1,),
        state_dir=work / "state",
        report_path=work / "report.json",
        rejects_path=work / "rejects.csv",
        **c.options,
    )
    try:
        plan = plan_import(options, ATTRIBUTES)
        prepared = prepare_import(plan, options, work_dir=work / "prep")
    except InputError as exc:
        return {"error": str(exc), "error_type": type(exc).__name__}
    return {
        "rows_read": prepared.rows_read,
        "rows_sent": sum(f.rows_to_send for f in prepared.files),
        "rows_rejected": prepared.rows_rejected,
        "rejects": dict(prepared.rejects_by_reason),
        "rejects_path": str(prepared.rejects_path),
        "chunks": [str(ch.path) for ch in prepared.chunks],
        "unknown_columns": len(plan.unknown_columns),
    }


def run_archive(c: Case, path: Path, work: Path) -> dict[str, Any]:
    """safe_extract_zip, as the exporter calls it on a skipFilesMerge download."""
    dest = work / "parts"
    try:
        parts = safe_extract_zip(path, dest)
    except InputError as exc:
        return {"error": str(exc), "error_type": type(exc).__name__}
    return {"extracted": [p.relative_to(dest).as_posix() for p in parts]}


def run(c: Case, path: Path, work: Path) -> dict[str, Any]:
    """The outcome of one case."""
    work.mkdir(parents=True, exist_ok=True)
    return run_archive(c, path, work) if c.kind == "archive" else run_import(c, path, work)


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM), which exec does not inherit."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str]) -> int:
    name, path, work = argv
    result = run(find(name), Path(path), Path(work))
    result["peak_rss"] = peak_rss_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
