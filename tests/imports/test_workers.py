"""Worker processes normalising batches (etl.imports.workers): same outputs as the reference
path in the run's own process, order kept, errors raised in the caller, workers stopped."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest

import etl.imports.prepare as prepare_module
from bench.generate import generate_contacts
from bench.worker import import_attributes
from etl.errors import InputError
from etl.imports import ImportOptions, finish_prepare, normalise_file, plan_import
from etl.imports import workers as workers_module
from etl.imports.workers import (
    WORKERS_ENV,
    default_workers,
    ordered_map,
    resolve_workers,
    worker_usage,
)

REAL_WORLD = Path(__file__).parents[1] / "fixtures" / "real_world"
KEY_SUFFIXES = (".hash", ".line", ".protect")


def _square_or_fail(fail_at: int, value: int) -> int:
    if value == fail_at:
        raise ValueError(f"no square for {value}")
    return value * value


def _exit_at(value: int) -> int:
    if value == 3:
        os._exit(7)
    return value


def _my_pid(value: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_results_come_back_in_order(workers):
    work = partial(_square_or_fail, -1)
    assert list(ordered_map(work, range(20), workers=workers)) == [i * i for i in range(20)]


def test_work_runs_in_other_processes_and_they_are_reused():
    first = set(ordered_map(_my_pid, range(8), workers=2))
    assert os.getpid() not in first
    assert len(first) == 2
    second = set(ordered_map(_my_pid, range(8), workers=2))
    assert second == first  # the idle workers served the next call
    usage = worker_usage()
    assert set(usage) >= first
    assert all(usage[pid].peak_rss_mb > 10 for pid in first)
    assert all(usage[pid].cpu_seconds > 0 for pid in first)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_error_is_raised_in_the_caller_after_the_results_before_it(workers):
    seen: list[int] = []
    results = ordered_map(partial(_square_or_fail, 5), range(10), workers=workers)
    with pytest.raises(ValueError, match="no square for 5"):
        seen.extend(results)
    assert seen == [0, 1, 4, 9, 16]
    # The workers that held unread answers were stopped; a new call starts afresh.
    assert list(ordered_map(partial(_square_or_fail, -1), range(4), workers=workers)) == [
        0,
        1,
        4,
        9,
    ]


def test_a_worker_that_dies_is_a_one_line_error_naming_the_way_out():
    with pytest.raises(RuntimeError, match=f"exit code 7.*{WORKERS_ENV}=0"):
        list(ordered_map(_exit_at, range(6), workers=2))
    assert list(ordered_map(_exit_at, range(3), workers=2)) == [0, 1, 2]


def test_a_caller_stopping_early_stops_the_busy_workers():
    results = ordered_map(_my_pid, range(10), workers=2)
    pid = next(results)
    results.close()
    with pytest.raises(OSError):  # the process is gone (or a zombie reaped by Popen.wait)
        os.kill(pid, 0)


def _slow_pid(value: int) -> int:
    time.sleep(0.02)
    return os.getpid()


def test_calls_from_threads_at_once_share_the_workers():
    from concurrent.futures import ThreadPoolExecutor

    def one_call(_: int) -> set[int]:
        return set(ordered_map(_slow_pid, range(60), workers=2))

    with ThreadPoolExecutor(max_workers=3) as pool:
        seen = list(pool.map(one_call, range(3)))
    # One call had the 2 workers; the two that found them busy worked in this process.
    assert sorted(len(pids) for pids in seen) == [1, 1, 2]
    assert [pids for pids in seen if len(pids) == 1] == [{os.getpid()}, {os.getpid()}]
    assert os.getpid() not in next(pids for pids in seen if len(pids) == 2)
    assert workers_module._busy == 0


def test_workers_ignore_ctrl_c(tmp_path):
    pids = set(ordered_map(_my_pid, range(4), workers=2))
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    assert set(ordered_map(_my_pid, range(4), workers=2)) == pids


def test_the_number_of_workers(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == resolve_workers(None) == 3
    assert resolve_workers(0) == 0
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(InputError, match=WORKERS_ENV):
        default_workers()
    monkeypatch.delenv(WORKERS_ENV)
    cpus = len(os.sched_getaffinity(0))
    assert default_workers() == max(1, min(workers_module.MAX_AUTO_WORKERS, cpus - 1))
    with pytest.raises(InputError, match="--workers"):
        resolve_workers(-1)
    with pytest.raises(InputError, match="--workers"):
        ImportOptions(paths=("a.csv",), list_ids=(1,), workers=-2).check()


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _prepare(paths, tmp: Path, workers: int, **options):
    opts = ImportOptions(
        paths=tuple(str(p) for p in paths),
        list_ids=(1,),
        state_dir=tmp / "state",
        default_region="FR",
        workers=workers,
        rejects_path=tmp / "out" / "rejects.csv",
        report_path=tmp / "out" / "report.json",
        **options,
    )
    work = tmp / "work"
    work.mkdir(parents=True)
    plan = plan_import(opts, import_attributes())
    stages = [normalise_file(plan, i, opts, work_dir=work) for i in range(len(plan.files))]
    # Pass 1's identifier keys (finish_prepare removes them once read).
    keys = {p.name: p.read_bytes() for p in sorted(work.iterdir()) if p.suffix in KEY_SUFFIXES}
    prepared = finish_prepare(plan, stages, opts, work_dir=work)
    return prepared, stages, keys


PRESET_FILES = {
    "hubspot": "hubspot-crm-exports-all-contacts-2024-03-14.csv",
    "mailchimp": "subscribed_members_export_15d17415eb.csv",
    "salesforce": "report1710430000000.csv",
    "excel-fr": "export_contacts_excel_fr.csv",
}


def _same_outputs(tmp_path, paths, **options):
    reference, ref_stages, ref_keys = _prepare(paths, tmp_path / "inline", 0, **options)
    sent = []
    real_send = workers_module._Worker.send

    def send(worker, work, batch):
        if work is not None:  # (None: the "give memory back" message to an idle worker)
            sent.append(len(batch.rows))
        real_send(worker, work, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workers_module._Worker, "send", send)
        pooled, stages, keys = _prepare(paths, tmp_path / "pooled", 2, **options)
    assert len(sent) >= 3  # every batch went through the workers
    assert sum(sent) <= pooled.rows_read  # (malformed records are not in batch.rows)
    assert reference.rows_read == pooled.rows_read
    assert reference.rejects_by_reason == pooled.rejects_by_reason
    assert [c.sha256 for c in reference.chunks] == [c.sha256 for c in pooled.chunks]
    assert _digest(tmp_path / "inline" / "out") == _digest(tmp_path / "pooled" / "out")
    # Pass 1's own files (identifier keys, protected hashes) are identical.
    for ref, got in zip(ref_stages, stages, strict=True):
        assert (ref.account, ref.reasons, ref.kept_rows) == (
            got.account,
            got.reasons,
            got.kept_rows,
        )
    assert keys == ref_keys
    assert len(keys) == len(stages) * (3 if options.get("changed_only") else 2)
    return reference


@pytest.mark.parametrize("track", [False, True])
def test_workers_write_the_same_bytes_as_the_reference_path(tmp_path, monkeypatch, track):
    """The mixed profile (encodings, separators, quoted newlines, malformed rows, duplicates,
    phones of many countries), in batches small enough that every file goes through several
    workers: every file pass 1 and pass 2 leave is identical."""
    generated = generate_contacts(tmp_path / "data", 3_000, profile="mixed", seed=11)
    monkeypatch.setattr(prepare_module, "WORKER_MIN_ROWS", 0)
    reference = _same_outputs(
        tmp_path, generated.paths, dayfirst=True, batch_rows=170, changed_only=track
    )
    assert reference.rows_read == 3_000
    assert len(reference.rejects_by_reason) >= 5


@pytest.mark.parametrize("preset", sorted(PRESET_FILES))
def test_workers_agree_on_the_real_world_exports(tmp_path, monkeypatch, preset):
    monkeypatch.setattr(prepare_module, "WORKER_MIN_ROWS", 0)
    reference = _same_outputs(
        tmp_path, [REAL_WORLD / PRESET_FILES[preset]], mapping_preset=preset, batch_rows=2
    )
    assert reference.rows_read >= 5  # three batches or more


class _NeedsTwo(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


def _raise_needs_two(value: int) -> int:
    raise _NeedsTwo("left", "right")


def test_an_exception_that_does_not_unpickle_arrives_as_its_type_and_message():
    with pytest.raises(RuntimeError, match="_NeedsTwo: left and right"):
        list(ordered_map(_raise_needs_two, range(3), workers=1))


def test_no_process_to_be_had_means_working_here(monkeypatch):
    def no_fork() -> None:
        raise OSError(11, "Resource temporarily unavailable")

    workers_module.stop_idle_workers()
    monkeypatch.setattr(workers_module, "_Worker", no_fork)
    assert set(ordered_map(_my_pid, range(5), workers=2)) == {os.getpid()}
    assert workers_module._busy == 0


def _print_to_fd1(value: int) -> int:
    os.write(1, b"noise on fd 1\n")
    print("noise on sys.stdout")
    return value * 2


def test_writes_to_stdout_in_a_worker_do_not_break_the_answers():
    assert list(ordered_map(_print_to_fd1, range(6), workers=2)) == [0, 2, 4, 6, 8, 10]
