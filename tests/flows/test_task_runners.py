"""Issue 7: normalising on a local 2-worker Dask cluster gives the same output as the default
thread pool."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("prefect_dask")

from flows.import_contacts import import_contacts, make_task_runner


def _files(tmp_path):
    paths = []
    for n in range(3):
        rows = ["email,first name,mobile"]
        rows += [
            f"user{n}.{i}@Example.com,Nom {i},06 12 3{n} {i % 100:02d} {i // 100:02d}"
            for i in range(150)
        ]
        rows += ["bad email,x,", f"user{n}.3@example.com,dup,"]  # an invalid row and a duplicate
        path = tmp_path / f"part{n}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def _run(runner, files, tmp_path, name):
    flow = import_contacts.with_options(task_runner=runner)
    result = flow(
        files=files,
        list_ids=[1],
        default_region="FR",
        chunk_bytes=4000,
        state_dir=str(tmp_path / name),
        report_path=str(tmp_path / name / "report.json"),
        secret_block=None,
    )
    rejects = (tmp_path / name / "report.rejects.csv").read_text(encoding="utf-8-sig")
    return result, rejects


@pytest.mark.timeout(240)
def test_dask_runner_output_is_identical_to_threads(brevo_env, tmp_path):
    import requests

    h = {"api-key": brevo_env.api_key}
    folder = requests.post(
        f"{brevo_env.url}/contacts/folders", json={"name": "F"}, headers=h, timeout=5
    )
    requests.post(
        f"{brevo_env.url}/contacts/lists",
        json={"name": "L", "folderId": folder.json()["id"]},
        headers=h,
        timeout=5,
    ).raise_for_status()
    files = _files(tmp_path)
    threads, threads_rejects = _run(make_task_runner("threads"), files, tmp_path, "threads")
    dask, dask_rejects = _run(make_task_runner("dask", workers=2), files, tmp_path, "dask")
    pick = lambda r: (  # noqa: E731
        r["rows_read"],
        r["rows_sent"],
        r["rejects_by_reason"],
        [(c["rows"], c["bytes"], c["sha256"]) for c in r["chunks"]],
    )
    assert pick(threads) == pick(dask)
    assert threads["rows_sent"] == 3 * 150
    assert len(threads["chunks"]) > 3
    assert threads_rejects == dask_rejects
    assert json.dumps(threads["validation"], sort_keys=True) == json.dumps(
        dask["validation"], sort_keys=True
    )
