"""The benchmarks measure the code users run: the bench calls the flows' own etl functions."""

from __future__ import annotations

from pathlib import Path

import bench.worker as worker
import flows.export_contacts as export_flow
import flows.import_contacts as import_flow
from etl import exports, imports


def _called_names(task) -> set[str]:
    """The global and attribute names a task's function body refers to."""
    return set(task.fn.__code__.co_names)


def test_the_export_bench_calls_the_function_the_export_flow_calls():
    step = worker.export_step()
    assert step is exports.publish_export
    assert export_flow.publish_export is step  # the very object the flow's task calls
    names = _called_names(export_flow.merge_and_write)
    assert "publish_export" in names
    # The task chains nothing itself: no merge, write or validation of its own beside it.
    assert not names & {"merge_exports", "write_partition", "validate_merged"}


def test_the_import_bench_calls_the_functions_the_import_flow_calls():
    plan, normalise, finish = worker.import_steps()
    assert plan is imports.plan_import
    assert normalise is imports.normalise_file
    assert finish is imports.finish_prepare
    assert import_flow.imports is imports
    assert "plan_import" in _called_names(import_flow.plan)
    assert "normalise_file" in _called_names(import_flow.normalise_file)
    assert "finish_prepare" in _called_names(import_flow.finish_prepare)
    assert "prepare_import" not in _called_names(import_flow.import_contacts)
    # Files are normalised on as many threads as the flow's default task runner has.
    assert import_flow.make_task_runner("threads")._max_workers == worker.flow_threads()


def test_latency_sides_run_the_cli_and_the_minimal_script(tmp_path: Path):
    common = {"list_id": 3, "csv": "c.csv", "url": "http://127.0.0.1:1/v3", "rows": 5}
    cli_import = worker.latency_command({"kind": "import", "side": "cli", **common}, tmp_path)
    assert cli_import[1:5] == ["-m", "etl.cli", "import", "c.csv"]
    assert "--list-id" in cli_import
    cli_export = worker.latency_command({"kind": "export", "side": "cli", **common}, tmp_path)
    assert cli_export[1:4] == ["-m", "etl.cli", "export"]
    script = worker.latency_command({"kind": "export", "side": "script", **common}, tmp_path)
    assert script[1:4] == ["-m", "bench.minimal", "export"]


def test_the_sync_bench_calls_what_the_changed_only_flow_calls():
    # The flow: check_previous, then finish_prepare(previous=...), then commit once all completed.
    assert "check_previous" in _called_names(import_flow.check_previous)
    assert "finish_prepare" in _called_names(import_flow.finish_prepare)
    assert "previous" in import_flow.finish_prepare.fn.__code__.co_varnames
    assert "commit" in _called_names(import_flow.commit_snapshot)
    # The bench: the same imports functions, through the same import_steps() as import_prep.
    prepare_names = set(worker._sync_prepare.__code__.co_names)
    assert {"check_previous", "import_steps"} <= prepare_names
    assert "commit" in worker.run_sync_diff.__code__.co_names
    assert "commit" in worker.run_sync_base.__code__.co_names
