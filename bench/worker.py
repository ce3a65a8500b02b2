"""One measured pipeline per process: ``python -m bench.worker TASK PARAMS_JSON``.

The orchestrator (``python -m bench``) starts a fresh interpreter for every run, so the peak RSS
read at the end (``VmHWM``, see :func:`peak_rss_mb`) belongs to that one pipeline. Module
imports happen before the clock starts, on both sides of every comparison; everything after
them (file reading, parsing, any lazy set-up a library does on first use, writing) is timed.

The last line on stdout is one JSON object: ``seconds``, ``rows``, ``peak_rss_mb``,
``import_seconds`` (the untimed imports: great_expectations alone takes seconds),
``rss_after_imports_mb`` and task-specific counts. The sandbox API key, when a task needs one,
comes from the ``BENCH_SANDBOX_KEY`` environment variable and is never printed.

Profile a task with py-spy (not a project dependency)::

    py-spy record -o import.svg -- python -m bench.worker import_prep '{"path": "c.csv"}'
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

KEY_ENV = "BENCH_SANDBOX_KEY"
ROOT = Path(__file__).resolve().parents[1]

Task = Callable[[dict[str, Any], Path], dict[str, Any]]


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size of a process in MiB (``VmHWM``, the peak of its own memory).

    Not ``getrusage().ru_maxrss``: Linux carries that figure across ``exec``, so a child that
    a large process (the orchestrator holding a loaded sandbox) spawned would report its
    parent's peak. ``ru_maxrss`` is the fallback where ``/proc`` is missing.
    """
    peak = _status_mb(pid, "VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(pid: int | str, field: str) -> float | None:
    """A memory figure of ``/proc/PID/status`` in MiB (None where there is none)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


class TreeMemory:
    """The peak resident memory of this process and its children together, sampled.

    The import's worker processes (``etl.imports.workers``) peak while files are normalised,
    this process mostly later: the sum of each one's own peak would count memory never held
    at once. A thread adds up ``VmRSS`` of this process and its children every
    :attr:`interval` seconds; a peak shorter than that can be missed, so the result is never
    below this process's own ``VmHWM``.
    """

    interval = 0.05

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, peak_rss_mb())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(
                self.peak_mb, sum(_status_mb(pid, "VmRSS") or 0.0 for pid in _tree(os.getpid()))
            )


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc/PID/task/TID/children``)."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                found.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


# ---------------------------------------------------------------------------- attribute lists


def import_attributes() -> list[Any]:
    """The account's attributes for the import benchmark (as ``GET /contacts/attributes``)."""
    from etl.brevo.models import Attribute, EnumValue

    return [
        Attribute("EMAIL", "normal", "text"),
        Attribute("FIRSTNAME", "normal", "text"),
        Attribute("LASTNAME", "normal", "text"),
        Attribute("SMS", "normal", "text"),
        Attribute("BIRTHDAY", "normal", "date"),
        Attribute("GENDER", "category", None, (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
        Attribute("NEWSLETTER", "normal", "boolean"),
        Attribute("SCORE", "normal", "float"),
        Attribute("ADDRESS", "normal", "text"),
    ]


def export_attributes() -> list[Any]:
    """Attributes typing the columns of ``bench.generate.write_export_parts``."""
    from etl.brevo.models import Attribute, EnumValue

    return [
        Attribute("FIRSTNAME", "normal", "text"),
        Attribute("BIRTHDAY", "normal", "date"),
        Attribute("GENDER", "category", None, (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
        Attribute("NEWSLETTER", "normal", "boolean"),
        Attribute("SCORE", "normal", "float"),
    ]


# ---------------------------------------------------------------------------- import


def _import_modules() -> None:
    # etl.imports.validate imports great_expectations lazily (several seconds): import it here too.
    _load("great_expectations", "etl.imports", "etl.imports.validate")


def _import_paths(params: dict[str, Any]) -> list[str]:
    if "files" in params:
        return [str(f["path"]) for f in params["files"]]
    return [str(params["path"])]


def _input_files(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The input files with how they are written (a bare ``path`` is UTF-8 with ``,``)."""
    if "files" in params:
        return list(params["files"])
    return [{"path": params["path"], "encoding": "utf-8", "sep": ",", "skip_lines": 0}]


def import_steps() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The etl functions the import flow's tasks call, in order: plan, per file, pass 2.

    ``flows.import_contacts`` calls ``imports.plan_import``, ``imports.normalise_file`` (one
    task per file) and ``imports.finish_prepare``; ``tests/bench`` checks these are the same
    objects.
    """
    from etl import imports

    return imports.plan_import, imports.normalise_file, imports.finish_prepare


def flow_threads() -> int:
    """Threads of the import flow's default task runner (``flows.import_contacts``:
    ``ThreadPoolTaskRunner(max_workers=max(2, os.cpu_count()))``; ``tests/bench`` checks it)."""
    return max(2, os.cpu_count() or 2)


def normalise_files(
    normalise_file: Callable[..., Any], plan: Any, options: Any, work_dir: Path
) -> list[Any]:
    """Pass 1 of every file, as the import flow runs it: ``normalise_file.map`` over the files
    on the default task runner's threads (they share the run's worker processes)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=flow_threads()) as pool:
        futures = [
            pool.submit(normalise_file, plan, i, options, work_dir=work_dir)
            for i in range(len(plan.files))
        ]
        return [f.result() for f in futures]


def run_import_prep(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Ours: what the import flow calls before sending (read, normalise, validate, dedupe, chunk).

    The files are normalised as the flow's default task runner does (:func:`normalise_files`).
    """
    from etl.imports import ImportOptions

    plan_import, normalise_file, finish_prepare = import_steps()
    options = ImportOptions(
        paths=tuple(_import_paths(params)),
        list_ids=(1,),
        state_dir=tmp / "state",
        default_region="FR",
        # The generated files write dates day-first: say so, as a user importing them would.
        dayfirst=params.get("dayfirst", True),
        **({"batch_rows": int(params["batch_rows"])} if "batch_rows" in params else {}),
    )
    work_dir = tmp / "work"
    work_dir.mkdir(parents=True)
    started = time.perf_counter()
    plan = plan_import(options, import_attributes())
    stages = normalise_files(normalise_file, plan, options, work_dir)
    prepared = finish_prepare(plan, stages, options, work_dir=work_dir)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": prepared.rows_read,
        "rows_sent": sum(f.rows_to_send for f in prepared.files),
        "rows_rejected": prepared.rows_rejected,
        "rejects_by_reason": dict(prepared.rejects_by_reason),
        "chunks": len(prepared.chunks),
        "chunk_mb": round(sum(c.bytes for c in prepared.chunks) / 2**20, 1),
    }


class _NoBrevo:
    """Stands in for the client in ``check_previous``: the process of the last run is known.

    ``sync_diff`` measures the local diff; the one ``GET /processes/{id}`` the flow makes
    there is left out (no Brevo calls).
    """

    def get_process(self, process_id: int) -> None:
        return None


def _sync_scope(state_dir: Path) -> Any:
    from etl.imports import AccountScope

    return AccountScope(
        key="bench",
        email="bench@example.com",
        base_url="http://bench.invalid/v3",
        ledger_path=state_dir / "accounts" / "bench" / "ledger.sqlite",
    )


def _sync_options(params: dict[str, Any], state_dir: Path, *, files_key: str) -> Any:
    from etl.imports import ImportOptions

    return ImportOptions(
        paths=tuple(str(f["path"]) for f in params[files_key]),
        list_ids=(1,),
        state_dir=state_dir,
        default_region="FR",
        dayfirst=params.get("dayfirst", True),
        changed_only=True,
    )


def _sync_prepare(
    params: dict[str, Any], state_dir: Path, work_dir: Path, *, files_key: str
) -> tuple[Any, Any, Any]:
    """What the import flow runs with ``--changed-only`` up to the chunks: plan, check the
    previous snapshot, normalise every file, pass 2 against it. Returns (base, prepared, plan)."""
    from etl import imports

    plan_import, normalise_file, finish_prepare = import_steps()
    options = _sync_options(params, state_dir, files_key=files_key)
    work_dir.mkdir(parents=True)
    plan = plan_import(options, import_attributes())
    base = imports.check_previous(
        _NoBrevo(),  # type: ignore[arg-type]
        _sync_scope(state_dir),
        options.list_ids,
        plan,
        options,
    )
    stages = normalise_files(normalise_file, plan, options, work_dir)
    prepared = finish_prepare(plan, stages, options, work_dir=work_dir, previous=base.previous)
    return base, prepared, plan


def _sync_counts(prepared: Any) -> dict[str, Any]:
    sent = sum(c.rows for c in prepared.chunks)
    kept = prepared.rows_read - prepared.rows_rejected
    return {
        "rows": prepared.rows_read,
        "rows_rejected": prepared.rows_rejected,
        "rows_kept": kept,
        "rows_unchanged": prepared.rows_unchanged,
        "rows_sent": sent,
        "chunks": len(prepared.chunks),
        # Exactly the changed rows are sent: every kept row is either unchanged or in a chunk.
        "accounted": prepared.rows_unchanged + sent == kept,
    }


def run_sync_base(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Setup of ``sync_diff``: a first ``--changed-only`` run over the unchanged files, its
    snapshot committed into ``params["state_dir"]`` as the flow commits it once every chunk
    completed (no Brevo: process id 1 stands for the run's import)."""
    from etl import imports

    state_dir = Path(params["state_dir"])
    started = time.perf_counter()
    base, prepared, _ = _sync_prepare(params, state_dir, tmp / "work", files_key="base_files")
    prepare_s = time.perf_counter() - started
    snapshot = imports.commit(base, prepared, run_id="bench-base", outcomes=[], process_ids=[1])
    seconds = time.perf_counter() - started
    assert snapshot is not None
    return {
        "seconds": seconds,
        "prepare_seconds": prepare_s,
        "commit_seconds": seconds - prepare_s,
        "snapshot_rows": snapshot.rows,
        "previous_used": base.previous is not None,
        **_sync_counts(prepared),
    }


def run_sync_diff(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Ours for ``sync_diff``: the next night's files with ``--changed-only`` against the
    snapshot ``sync_base`` left (copied first, untimed, so every round compares with it).

    Timed (``seconds``): plan, ``check_previous``, ``normalise_file`` per file and
    ``finish_prepare(previous=...)``, what the flow runs before sending. The commit of the new
    snapshot (after the chunks completed, in the flow) is timed apart: ``commit_seconds``.
    """
    from etl import imports

    state_dir = tmp / "state"
    shutil.copytree(params["state_dir"], state_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    base, prepared, _ = _sync_prepare(params, state_dir, tmp / "work", files_key="files")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if base.previous is None:
        raise SystemExit(f"sync_diff: the snapshot was not used: {base.check.message}")
    committed = time.perf_counter()
    imports.commit(base, prepared, run_id="bench-next", outcomes=[], process_ids=[2])
    commit_s = time.perf_counter() - committed
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "commit_seconds": commit_s,
        "snapshot_rows": base.previous.rows,
        "chunk_mb": round(sum(c.bytes for c in prepared.chunks) / 2**20, 2),
        **_sync_counts(prepared),
    }


def run_pandas_csv(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Baseline: pandas.read_csv(dtype=str) + to_csv(sep=";") of the same files.

    Told each file's encoding, separator and ``sep=`` line (ours has to find them); rows with
    too many fields are skipped (``on_bad_lines="skip"``: pandas raises on them otherwise).
    """
    import pandas as pd

    rows = 0
    started = time.perf_counter()
    for i, spec in enumerate(_input_files(params)):
        frame = pd.read_csv(
            spec["path"],
            dtype=str,
            keep_default_na=False,
            sep=spec["sep"],
            encoding=spec["encoding"],
            skiprows=int(spec.get("skip_lines", 0)),
            on_bad_lines="skip",
        )
        frame.to_csv(tmp / f"out-{i}.csv", sep=";", index=False)
        rows += len(frame)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows}


def run_arrow_csv(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The Arrow floor: pyarrow.csv.read_csv (every column as text) + write_csv(";")."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pcsv

    rows = 0
    started = time.perf_counter()
    for i, spec in enumerate(_input_files(params)):
        skip = int(spec.get("skip_lines", 0))
        with Path(spec["path"]).open(encoding=spec["encoding"], newline="") as fh:
            for _ in range(skip):
                fh.readline()
            header = next(csv.reader(fh, delimiter=spec["sep"]))
        encoding = "utf-8" if spec["encoding"] == "utf-8-sig" else spec["encoding"]
        table = pcsv.read_csv(
            spec["path"],
            read_options=pcsv.ReadOptions(encoding=encoding, skip_rows=skip),
            parse_options=pcsv.ParseOptions(
                delimiter=spec["sep"],
                newlines_in_values=True,
                invalid_row_handler=lambda row: "skip",
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
            ),
        )
        pcsv.write_csv(table, tmp / f"out-{i}.csv", pcsv.WriteOptions(delimiter=";"))
        rows += table.num_rows
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows}


# ---------------------------------------------------------------------------- export merge


def export_step() -> Callable[..., Any]:
    """The etl function the export flow's merge task calls (``tests/bench`` checks it)."""
    from etl.exports import publish_export

    return publish_export


def _export_files(params: dict[str, Any]) -> list[Any]:
    from etl.exports import ExportFile

    # One export split into parts (as Brevo and the sandbox do past export_part_rows), or
    # several exports (``sources``: one label per file) that the DuckDB merge folds.
    sources = params.get("sources") or ["list:2"] * len(params["paths"])
    labels = list(dict.fromkeys(sources))
    return [
        ExportFile(path=Path(p), source=src, process_id=labels.index(src) + 1)
        for p, src in zip(params["paths"], sources, strict=True)
    ]


def run_export_merge(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Ours: the export flow's merge task: merge, Parquet, validation and clean-up.

    ``validation``: ``arrow`` (what the flow runs) or ``gx`` (the Great Expectations reference).
    ``memory_merge_bytes``: where the grouping merge of several exports leaves memory for
    DuckDB (0: DuckDB whatever the size; default: the product's).
    """
    from etl.exports.merge_duckdb import MEMORY_MERGE_BYTES, grouped_in_memory

    files = _export_files(params)
    engine = params.get("validation", "arrow")
    memory_merge_bytes = int(params.get("memory_merge_bytes", MEMORY_MERGE_BYTES))
    started = time.perf_counter()
    published = export_step()(
        files,
        export_attributes(),
        out=str(tmp / "out"),
        export_date=date(2026, 1, 1),
        metadata={"process_ids": "[1]"},
        work_dir=tmp / "work",
        run_id="bench",
        validation=engine,
        memory_merge_bytes=memory_merge_bytes,
    )
    seconds = time.perf_counter() - started
    written = published.written
    grouping = None
    if published.strategy == "duckdb":
        grouping = "in-memory" if grouped_in_memory(files, memory_merge_bytes) else "duckdb"
    return {
        "grouping": grouping,
        "seconds": seconds,
        "rows": written.rows,
        "files": len(written.files),
        "strategy": published.strategy,
        "validation": engine,
        "validation_passed": published.validation.passed,
        "validation_failures": list(published.validation.failures),
        "work_dir_left": (tmp / "work").exists() and any((tmp / "work").iterdir()),
        "parquet_mb": round(sum(Path(f).stat().st_size for f in written.files) / 2**20, 1),
    }


def run_pyarrow_csv(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Baseline: pyarrow.csv.read_csv + pyarrow.parquet.write_table, file by file (untyped)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rows = 0
    started = time.perf_counter()
    for i, path in enumerate(params["paths"]):
        table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=";"))
        pq.write_table(table, tmp / f"part-{i}.parquet")
        rows += table.num_rows
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows}


def _dlt_env(tmp: Path) -> None:
    # No telemetry, and nothing written outside the run's temporary directory.
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(tmp / "dlt-data")
    os.environ["DLT_PROJECT_DIR"] = str(tmp)


def run_dlt(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Peer: a dlt pipeline, filesystem source -> Parquet on a filesystem destination."""
    _dlt_env(tmp)
    import dlt
    import pyarrow.parquet as pq
    from dlt.sources.filesystem import filesystem, read_csv, read_csv_duckdb

    reader = params.get("reader", "duckdb")
    started = time.perf_counter()
    files = filesystem(bucket_url=Path(params["dir"]).as_uri(), file_glob="part-*.csv")
    if reader == "duckdb":  # dlt's typed, Arrow-native CSV reader: its fastest built-in path
        source = files | read_csv_duckdb(use_pyarrow=True, chunk_size=100_000, sep=";")
    elif reader == "pandas":  # dlt's default read_csv: pandas chunks as Python dicts
        source = files | read_csv(sep=";")
    else:
        raise SystemExit(f"unknown dlt reader {reader!r}")
    pipeline = dlt.pipeline(
        pipeline_name="bench_export",
        destination=dlt.destinations.filesystem(bucket_url=(tmp / "out").as_uri()),
        dataset_name="contacts",
        pipelines_dir=str(tmp / "pipelines"),
    )
    pipeline.run(source.with_name("contacts"), loader_file_format="parquet")
    seconds = time.perf_counter() - started
    written = sorted((tmp / "out" / "contacts" / "contacts").glob("*.parquet"))
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in written)
    return {"seconds": seconds, "rows": rows, "reader": reader, "files": len(written)}


# ---------------------------------------------------------------------------- export vs paging


def _client(params: dict[str, Any]) -> Any:
    from etl.brevo.client import BrevoClient
    from etl.brevo.ratelimit import RateLimits

    # Generous budgets on the client too: the comparison is about work, not rate limits.
    limits = RateLimits(contacts_per_second=100_000, other_per_hour=100_000_000)
    return BrevoClient(os.environ[KEY_ENV], base_url=params["url"], limits=limits)


def run_export_flow(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Ours: what the export flow's tasks call, without Prefect (account, export, publish)."""
    from etl import exports as exporter
    from etl.exports import ExportOptions, build_export_requests

    started = time.perf_counter()
    with _client(params) as client:
        attributes = client.get_attributes()
        all_list_ids = [lst.id for page in client.iter_lists() for lst in page]
        options = ExportOptions(
            list_ids=(int(params["list_id"]),), utc=True, disable_notification=True
        )
        requests = build_export_requests(options, all_list_ids=all_list_ids)
        runs = exporter.run_exports(client, requests, work_dir=tmp / "download")
        files = [f for run in runs for f in run.files]
        written = export_step()(
            files,
            attributes,
            out=str(tmp / "out"),
            export_date=date(2026, 1, 1),
            metadata={"process_ids": json.dumps([r.process_id for r in runs])},
            work_dir=tmp / "work",
            run_id="bench",
        ).written
        client_requests = client.request_count
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": written.rows, "client_requests": client_requests}


def run_paginate(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Baseline: page GET /contacts?limit=1000 with the client's pager, then write Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    with _client(params) as client:
        for page in client.iter_contacts(page_size=1000):
            for contact in page:
                records.append(
                    {
                        "id": contact.id,
                        "email": contact.email,
                        "email_blacklisted": contact.email_blacklisted,
                        "sms_blacklisted": contact.sms_blacklisted,
                        "created_at": contact.created_at,
                        "modified_at": contact.modified_at,
                        "list_ids": list(contact.list_ids),
                        **{k.lower(): v for k, v in contact.attributes.items()},
                    }
                )
        client_requests = client.request_count
    table = pa.Table.from_pylist(records)
    pq.write_table(table, tmp / "contacts.parquet", compression="zstd")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": table.num_rows, "client_requests": client_requests}


# ---------------------------------------------------------------------------- latency


def latency_command(params: dict[str, Any], tmp: Path) -> list[str]:
    """The command a latency side runs: ``contacts-etl`` (``cli``) or ``bench.minimal``."""
    kind, side = params["kind"], params["side"]
    list_id = str(params["list_id"])
    if side == "script":
        if kind == "import":
            return [sys.executable, "-m", "bench.minimal", "import", params["csv"], list_id]
        return [sys.executable, "-m", "bench.minimal", "export", list_id, str(tmp / "out.parquet")]
    cli = [sys.executable, "-m", "etl.cli", kind]
    state = ["--state-dir", str(tmp / "state")]
    if kind == "import":
        return [*cli, params["csv"], "--list-id", list_id, *state]
    return [*cli, "--list-id", list_id, "--out", str(tmp / "out"), *state]


def run_latency(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One command end to end, interpreter start to exit, against the sandbox at ``url``.

    Run from ``tmp`` (no ``.env`` of the checkout is read) with the user's environment plus the
    sandbox's key and URL; nothing else is tuned (the client keeps its default rate budget).
    ``peak_rss_mb`` is the command's own peak.
    """
    command = latency_command(params, tmp)
    env = {
        **os.environ,
        "BREVO_API_KEY": os.environ[KEY_ENV],
        "BREVO_BASE_URL": params["url"],
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"{params['side']} {params['kind']} exited {done.returncode}: {tail}")
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # The work is the child's: this process's CPU time says nothing about it.
    return {
        "seconds": seconds,
        "rows": int(params["rows"]),
        "peak_rss_mb": child_peak,
        "cpu_seconds": None,
    }


# ---------------------------------------------------------------------------- sandbox import


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_sandbox_import(params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The sandbox (its own process) importing N contacts sent as ~8 MB fileBody chunks.

    Timed from the first ``POST /contacts/import`` until every process is completed; the
    bodies are built before. ``peak_rss_mb`` is the sandbox process's own peak.
    """
    import secrets

    import requests

    from bench.sandbox_speed import import_chunks, make_chunks

    key = secrets.token_urlsafe(16)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "etl.sandbox", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "BREVO_SANDBOX_API_KEY": key},
        stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    url = f"{root}/v3"
    session = requests.Session()
    session.headers["api-key"] = key
    try:
        _wait_until_up(session, root, server)
        session.post(
            f"{root}/_sandbox/config",
            json={"process_delay_s": 0, "contacts_rps": 100_000, "other_rph": 100_000_000},
            timeout=10,
        ).raise_for_status()
        for name, type_ in (("BIRTHDAY", "date"), ("SCORE", "float"), ("VIP", "boolean")):
            session.post(
                f"{url}/contacts/attributes/normal/{name}", json={"type": type_}, timeout=10
            ).raise_for_status()
        session.post(
            f"{url}/contacts/attributes/normal/CITY", json={"type": "text"}, timeout=10
        ).raise_for_status()
        folder = session.post(f"{url}/contacts/folders", json={"name": "bench"}, timeout=10)
        folder.raise_for_status()
        created = session.post(
            f"{url}/contacts/lists",
            json={"name": "bench", "folderId": folder.json()["id"]},
            timeout=10,
        )
        created.raise_for_status()
        list_id = created.json()["id"]
        chunks = make_chunks(int(params["contacts"]), int(float(params["chunk_mb"]) * 2**20))
        body_mb = sum(len(c.encode()) for c in chunks) / 2**20

        started = time.perf_counter()
        import_chunks(session, url, chunks, list_id, poll_s=0.05)
        seconds = time.perf_counter() - started

        count = session.get(f"{url}/contacts", params={"limit": 1}, timeout=60).json()["count"]
        sandbox_peak = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {
        "seconds": seconds,
        "rows": int(count),
        "chunks": len(chunks),
        "body_mb": round(body_mb, 1),
        "peak_rss_mb": sandbox_peak,
        "client_peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": None,  # the sandbox's work happens in its own process
    }


def _wait_until_up(session: Any, root: str, server: subprocess.Popen[bytes]) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the sandbox exited with status {server.returncode}")
        try:
            session.get(f"{root}/_sandbox/config", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("the sandbox did not answer within 60 s")


# ---------------------------------------------------------------------------- entry point


def _load(*modules: str) -> None:
    for name in modules:
        importlib.import_module(name)


def _import_for_dlt() -> None:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    _load("dlt", "dlt.sources.filesystem")


def _import_export() -> None:
    # The export no longer needs great_expectations (the Arrow engine); the GX reference does.
    _load("etl.exports", "etl.exports.publish", "etl.exports.merge_duckdb")


def _import_export_gx() -> None:
    # The GX engine imports great_expectations lazily (seconds): import it here, untimed.
    _load("great_expectations", "etl.exports", "etl.exports.publish", "etl.exports.merge_duckdb")


def _import_export_flow() -> None:
    _load("etl.exports.run", "etl.exports.options", "etl.exports.publish")


def _import_pandas() -> None:
    _load("pandas")


def _import_pyarrow() -> None:
    _load("pyarrow.csv", "pyarrow.parquet", "csv")


def _import_client() -> None:
    _load("pyarrow.parquet", "etl.brevo.client")


def _import_nothing() -> None:
    # A latency side is timed from its command's start: its imports are part of the figure.
    pass


def _import_requests() -> None:
    _load("requests")


TASKS: dict[str, tuple[Callable[[], None], Task]] = {
    "import_prep": (_import_modules, run_import_prep),
    "sync_base": (_import_modules, run_sync_base),
    "sync_diff": (_import_modules, run_sync_diff),
    "pandas_csv": (_import_pandas, run_pandas_csv),
    "arrow_csv": (_import_pyarrow, run_arrow_csv),
    "export_merge": (_import_export, run_export_merge),
    "export_merge_gx": (_import_export_gx, run_export_merge),
    "pyarrow_csv": (_import_pyarrow, run_pyarrow_csv),
    "dlt": (_import_for_dlt, run_dlt),
    "export_flow": (_import_export_flow, run_export_flow),
    "paginate": (_import_client, run_paginate),
    "sandbox_import": (_import_requests, run_sandbox_import),
    "latency": (_import_nothing, run_latency),
}


def _worker_usage() -> list[Any]:
    """The import's worker processes this run used (``etl.imports.workers``), if loaded."""
    module = sys.modules.get("etl.imports.workers")
    return list(module.worker_usage().values()) if module is not None else []


def main(argv: list[str] | None = None) -> int:
    """Run one task and print its JSON result as the last line of stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in TASKS:
        print(f"usage: python -m bench.worker {{{','.join(TASKS)}}} PARAMS_JSON", file=sys.stderr)
        return 2
    prepare, task = TASKS[args[0]]
    params = json.loads(args[1])
    started = time.perf_counter()
    prepare()
    import_seconds = time.perf_counter() - started
    after_imports = peak_rss_mb()
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{args[0]}-", dir=params.get("tmp_dir")))
    cpu_started = time.process_time()
    try:
        with TreeMemory() as memory:
            result = task(params, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # CPU time of this process, every thread, and of the import's worker processes, over the
    # whole task: less sensitive than wall time to other work on a shared machine; no target
    # uses it. Peak memory: of this process and its workers together (see TreeMemory; library
    # pages the processes share are counted once per process, an upper bound).
    workers = _worker_usage()
    result.setdefault(
        "cpu_seconds",
        time.process_time() - cpu_started + sum(w.cpu_seconds for w in workers),
    )
    result.setdefault("peak_rss_mb", memory.peak_mb)
    if workers:
        result["worker_processes"] = len(workers)
        result["own_peak_rss_mb"] = peak_rss_mb()
    result["rss_after_imports_mb"] = after_imports
    result["import_seconds"] = import_seconds
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
