"""Issue 14 item 5 / issue 17: without a Prefect API the CLI runs the flows untracked (no
temporary server), with the same results; with one, runs are tracked there as before."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner
from prefect import flow

from etl.errors import InputError
from flows._common import retry_if_transient, run_untracked, task, untracked_blockers
from tests.faults._support import (
    api,
    assert_accounting,
    expected_emails,
    run_cli,
    sandbox_emails,
    sandbox_env,
    seed_account,
    write_people,
)

calls: list[str] = []


@task(retries=2, retry_delay_seconds=[0, 0])
def flaky(fail_times: int) -> str:
    calls.append("flaky")
    if calls.count("flaky") <= fail_times:
        raise ConnectionError("blip")
    return "ok"


@task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_transient)
def refuses() -> None:
    calls.append("refuses")
    raise InputError("bad input is final")


@task()
def square(x: int, offset: int) -> int:
    return x * x + offset


@flow
def steps(fail_times: int, numbers: list[int]) -> dict[str, object]:
    return {
        "flaky": flaky(fail_times),
        "squares": square.map(numbers, offset=1).result(),
    }


@flow
def refusing() -> None:
    refuses()


def test_untracked_steps_keep_their_retries_and_map_in_order():
    calls.clear()
    assert run_untracked(steps, {"fail_times": 2, "numbers": ["3", 1, 2]}) == {
        "flaky": "ok",
        "squares": [10, 2, 5],  # "3" coerced to int as Prefect validates flow parameters
    }
    assert calls == ["flaky"] * 3
    calls.clear()
    with pytest.raises(ConnectionError):
        run_untracked(steps, {"fail_times": 3, "numbers": [1]})
    assert calls == ["flaky"] * 3  # the first call and two retries


def test_untracked_steps_honour_the_retry_condition():
    calls.clear()
    with pytest.raises(InputError):
        run_untracked(refusing, {})
    assert calls == ["refuses"]  # bad input is not retried


def test_a_flow_module_still_using_prefect_helpers_is_not_run_untracked():
    module = types.ModuleType("tests_flows_untracked_legacy")
    sys.modules[module.__name__] = module
    try:
        exec(  # a module written as the flows were before this change
            "from prefect import flow, get_run_logger, task\n"
            "@task\n"
            "def step() -> int:\n"
            "    return 1\n"
            "@flow\n"
            "def legacy() -> int:\n"
            "    get_run_logger().info('x')\n"
            "    return step()\n",
            module.__dict__,
        )
        blockers = untracked_blockers(module.legacy)
        assert "step is a plain Prefect task" in blockers
        assert "get_run_logger is prefect.get_run_logger" in blockers
        with pytest.raises(RuntimeError, match="cannot run untracked"):
            run_untracked(module.legacy, {})
    finally:
        del sys.modules[module.__name__]


def test_the_shipped_flows_can_run_untracked():
    from flows.contact_ops import contact_ops
    from flows.export_contacts import export_contacts
    from flows.import_contacts import import_contacts

    for each in (import_contacts, export_contacts, contact_ops):
        assert untracked_blockers(each) == [], each.name


VOLATILE = {"run_id", "started_at", "finished_at", "rejects_path", "refusals_path", "report_path"}


def comparable(report: dict) -> dict:
    kept = {k: v for k, v in report.items() if k not in VOLATILE}
    kept["chunks"] = [{k: v for k, v in c.items() if k != "process_id"} for c in report["chunks"]]
    return kept


def test_the_import_gives_the_same_result_tracked_and_untracked(brevo_env, tmp_path):
    from flows.import_contacts import import_contacts

    src = write_people(tmp_path / "people.csv", 30)
    results, accounts = [], []
    for mode in ("tracked", "untracked"):
        brevo_env.reset()
        list_id = seed_account(brevo_env)["list_id"]
        params = {
            "files": [str(src)],
            "list_ids": [list_id],
            "chunk_bytes": 600,
            "state_dir": str(tmp_path / mode),
            "secret_block": None,
        }
        if mode == "tracked":
            result = import_contacts(**params)
        else:
            result = run_untracked(import_contacts, params)
        assert_accounting(result)
        results.append(comparable(result))
        contacts = api(brevo_env, "GET", "/contacts", params={"limit": 1000}).json()["contacts"]
        accounts.append(sorted((c["email"], json.dumps(c["attributes"])) for c in contacts))
    assert results[0] == results[1]
    assert accounts[0] == accounts[1]
    assert sandbox_emails(brevo_env) == expected_emails(30)


def cli(sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = sandbox_env(sandbox, **env)
    environ.pop("PREFECT_API_URL", None)
    return run_cli(args, environ)


def test_without_a_prefect_api_the_cli_never_needs_one(sandbox, tmp_path):
    """With Prefect's temporary server forbidden, any use of a Prefect API would fail the run."""
    sandbox.configure(other_rph=100_000, contacts_rps=1000, process_delay_s=0.05)
    list_id = seed_account(sandbox)["list_id"]
    src = write_people(tmp_path / "people.csv", 5, bad=False)
    no_server = {"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false"}
    done = cli(
        sandbox,
        *("import", str(src), "--list-id", str(list_id), "--json"),
        *("--state-dir", str(tmp_path / "s")),
        **no_server,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_sent"] == 5
    assert "Starting temporary server" not in done.stderr
    exported = cli(
        sandbox,
        *("export", "--list-id", str(list_id), "--out", str(tmp_path / "out"), "--json"),
        *("--state-dir", str(tmp_path / "s")),
        **no_server,
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["merged_rows"] == 5


def test_with_a_prefect_api_the_cli_run_is_tracked_there(brevo_env, tmp_path):
    from prefect.client.orchestration import get_client

    from etl.cli import cli as contacts_etl

    list_id = seed_account(brevo_env)["list_id"]
    src = write_people(tmp_path / "people.csv", 5, bad=False)
    with get_client(sync_client=True) as client:
        before = {r.id for r in client.read_flow_runs()}
    result = CliRunner().invoke(
        contacts_etl,
        ["import", str(src), "--list-id", str(list_id), "--state-dir", str(tmp_path / "s")],
        obj={},
    )
    assert result.exit_code == 0, result.output
    with get_client(sync_client=True) as client:
        new = [r for r in client.read_flow_runs() if r.id not in before]
        names = [client.read_flow(r.flow_id).name for r in new]
    assert names == ["import-contacts"]
    assert [r.state_type.value for r in new] == ["COMPLETED"]
