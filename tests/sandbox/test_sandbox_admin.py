"""The sandbox's rate limits, scripted faults, request log, reset, config and server handle."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from etl.sandbox.profiles import default_account
from etl.sandbox.server import SandboxServer
from tests.sandbox._sandbox_helpers import FAST, SPEC, Api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(sandbox):
    # These tests pin the spec-2026-02 profile's behaviour; test_sandbox_profiles.py covers both.
    sandbox.configure(**SPEC, **FAST)
    return Api(sandbox)


# --------------------------------------------------------------------------- rate limits


def test_contacts_family_gets_429_after_its_per_second_limit(api, sandbox):
    sandbox.configure(contacts_rps=3)
    # Start at the beginning of a fresh one-second window.
    time.sleep(1.05)
    seen = []
    for _ in range(3):
        resp = api.get("/contacts")
        assert resp.status_code == 200
        seen.append(resp.headers["x-sib-ratelimit-remaining"])
    assert seen == ["2", "1", "0"]
    limited = api.get("/contacts/lists")  # same family: /v3/contacts/*
    assert limited.status_code == 429
    assert limited.json() == {
        "code": "out_of_range",
        "message": "Too many requests: rate limit exceeded",
    }
    assert limited.headers["x-sib-ratelimit-limit"] == "3"
    assert limited.headers["x-sib-ratelimit-remaining"] == "0"
    assert limited.headers["x-sib-ratelimit-reset"] in ("0", "1")
    assert "Retry-After" not in limited.headers
    assert api.get("/processes").status_code == 200  # the other family is unaffected
    time.sleep(1.05)
    assert api.get("/contacts").status_code == 200
    log = [(r["path"], r["status"], r["processed"]) for r in sandbox.requests_log()]
    assert ("/v3/contacts/lists", 429, False) in log


def test_other_endpoints_get_429_after_their_per_hour_limit(api, sandbox):
    sandbox.configure(other_rph=2)
    assert api.get("/processes").headers["x-sib-ratelimit-remaining"] == "1"
    assert api.get("/processes/1").status_code == 404
    limited = api.get("/processes")
    assert limited.status_code == 429
    assert limited.headers["x-sib-ratelimit-limit"] == "2"
    assert 3500 <= int(limited.headers["x-sib-ratelimit-reset"]) <= 3600
    assert api.get("/contacts").status_code == 200


def test_rate_limit_headers_on_every_v3_response_but_not_on_files_or_admin(api, sandbox):
    list_id = api.new_list()
    _, data = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    url = api.ok("GET", "/processes", 200)["processes"][0]["export_url"]
    for resp in (
        api.get("/contacts/lists/999"),
        api.post("/contacts", json={}),
        api.get("/nowhere"),
        requests.get(sandbox.url + "/contacts", timeout=10),
    ):
        assert "x-sib-ratelimit-limit" in resp.headers, resp.status_code
    sandbox.configure(contacts_rps=0, other_rph=0)
    assert api.get("/contacts").status_code == 429
    assert api.get("/processes").status_code == 429
    download = requests.get(url, timeout=10)
    assert download.status_code == 200
    assert download.content == data
    assert "x-sib-ratelimit-limit" not in download.headers
    assert api.get("/_sandbox/config").status_code == 200


# --------------------------------------------------------------------------- faults


def _folders(api: Api) -> list[str]:
    return [f["name"] for f in api.ok("GET", "/contacts/folders", 200)["folders"]]


def test_status_fault_before_and_after(api, sandbox):
    sandbox.add_fault(
        path_prefix="/v3/contacts/folders", method="POST", kind="status", status=503, count=1
    )
    before = api.post("/contacts/folders", json={"name": "lost"})
    assert before.status_code == 503
    assert before.json()["code"]
    assert _folders(api) == []
    sandbox.add_fault(
        path_prefix="/v3/contacts/folders",
        method="POST",
        kind="status",
        status=502,
        when="after",
        count=1,
    )
    after = api.post("/contacts/folders", json={"name": "kept"})
    assert after.status_code == 502
    assert _folders(api) == ["kept"]
    assert api.post("/contacts/folders", json={"name": "fine"}).status_code == 201
    rows = [
        (r["method"], r["status"], r["processed"])
        for r in sandbox.requests_log()
        if r["method"] == "POST"
    ]
    assert rows == [("POST", 503, False), ("POST", 502, True), ("POST", 201, True)]


def test_status_fault_with_custom_headers_and_body(api, sandbox):
    sandbox.add_fault(
        path_prefix="/v3/processes",
        kind="status",
        status=429,
        headers={"Retry-After": "0"},
        body={"code": "too_many_requests", "message": "slow down"},
    )
    resp = api.get("/processes")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "0"
    assert resp.json() == {"code": "too_many_requests", "message": "slow down"}


@pytest.mark.parametrize(("when", "kept"), [("before", []), ("after", ["reset"])])
def test_reset_fault_closes_the_connection_without_a_response(api, sandbox, when, kept):
    sandbox.add_fault(
        path_prefix="/v3/contacts/folders", method="POST", kind="reset", when=when, count=1
    )
    with pytest.raises(requests.ConnectionError):
        api.post("/contacts/folders", json={"name": "reset"})
    assert _folders(api) == kept
    row = next(r for r in sandbox.requests_log() if r["method"] == "POST")
    assert row["status"] is None
    assert row["processed"] is (when == "after")


def test_delay_fault(api, sandbox):
    sandbox.add_fault(path_prefix="/v3/processes", kind="delay", delay_s=0.3, count=1)
    started = time.monotonic()
    assert api.get("/processes").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert api.get("/processes").status_code == 200
    (fault,) = api.ok("GET", "/_sandbox/faults", 200)["faults"]
    assert (fault["count"], fault["fired"]) == (1, 1)  # count=1: the second request passed
    sandbox.add_fault(path_prefix="/v3/processes", kind="delay", delay_s=0.5, count=1)
    with pytest.raises(requests.Timeout):
        api.get("/processes", timeout=0.1)
    # The server still answers the abandoned request: wait for it, so it can't leak into the
    # next test's request log.
    deadline = time.monotonic() + 5
    while len(sandbox.requests_log()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sandbox.requests_log()) == 3


def test_truncate_fault_on_an_export_download(api, sandbox):
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\n" + "\n".join(f"u{i}@x.io" for i in range(200)), listIds=[list_id])
    proc, full = api.export(
        customContactFilter={"actionForContacts": "allContacts", "listId": list_id}
    )
    path = proc["export_url"][len(sandbox.root_url) :]
    sandbox.add_fault(path_prefix=path, kind="truncate", count=1)
    resp = requests.get(proc["export_url"], stream=True, timeout=10)
    assert resp.headers["Content-Length"] == str(len(full))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = resp.content
    assert requests.get(proc["export_url"], timeout=10).content == full
    assert [r["status"] for r in sandbox.requests_log() if r["path"] == path] == [200, 200, 200]


def test_fault_matching_every_count_method_and_probability(api, sandbox):
    sandbox.add_fault(path_prefix="/v3/processes", kind="status", status=500, every=3, count=2)
    statuses = [api.get("/processes").status_code for _ in range(9)]
    assert statuses == [200, 200, 500, 200, 200, 500, 200, 200, 200]
    sandbox.clear_faults()
    sandbox.add_fault(path_prefix="/v3/processes", method="POST", kind="status", status=500)
    assert api.get("/processes").status_code == 200

    def pattern() -> list[int]:
        sandbox.clear_faults()
        sandbox.configure(seed=42)
        sandbox.add_fault(path_prefix="/v3/processes", kind="status", status=503, probability=0.5)
        return [api.get("/processes").status_code for _ in range(30)]

    first = pattern()
    assert 0 < first.count(503) < 30
    assert pattern() == first  # the same seed replays the same faults
    sandbox.clear_faults()
    sandbox.add_fault(path_prefix="/v3/processes", kind="status", status=503, probability=0)
    assert {api.get("/processes").status_code for _ in range(10)} == {200}


def test_faults_over_http(api, sandbox):
    created = api.ok(
        "POST",
        "/_sandbox/faults",
        201,
        json={"path_prefix": "/v3/contacts", "kind": "status", "status": 500},
    )
    assert created["kind"] == "status"
    assert api.get("/contacts").status_code == 500
    listed = api.ok("GET", "/_sandbox/faults", 200)["faults"]
    assert listed[0]["fired"] == 1
    api.ok("DELETE", "/_sandbox/faults", 204)
    assert api.get("/contacts").status_code == 200
    for bad in (
        {"kind": "explode"},
        {"kind": "status", "status": 99},
        {"kind": "status", "when": "during"},
        {"kind": "status", "every": 0},
        {"kind": "status", "probability": 2},
        {"kind": "status", "path_prefix": "v3"},
        {"kind": "delay", "delay_s": -1},
        {"kind": "status", "colour": "red"},
    ):
        assert api.post("/_sandbox/faults", json=bad).status_code == 400, bad
    with pytest.raises(ValueError, match="kind"):
        sandbox.add_fault(kind="explode")


# ------------------------------------------------------------------ request log, reset, config


def test_request_log_records_what_was_sent(api, sandbox):
    body = json.dumps({"name": "F"}).encode()
    api.post("/contacts/folders", data=body, headers={"content-type": "application/json"})
    requests.get(sandbox.url + "/contacts", timeout=10)  # no key: 401, not processed
    api.get("/_sandbox/config")  # admin calls are not recorded
    rows = api.ok("GET", "/_sandbox/requests", 200)["requests"]
    assert [(r["method"], r["path"], r["status"], r["processed"]) for r in rows] == [
        ("POST", "/v3/contacts/folders", 201, True),
        ("GET", "/v3/contacts", 401, False),
    ]
    assert rows[0]["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert rows[0]["time"].endswith("Z")
    assert rows == sandbox.requests_log()
    api.ok("DELETE", "/_sandbox/requests", 204)
    assert sandbox.requests_log() == []


def test_reset_empties_everything_but_default_attributes(api, sandbox):
    api.attribute("normal", "EXTRA", type="text")
    list_id = api.new_list()
    api.import_(fileBody="EMAIL\na@x.io", listIds=[list_id])
    sandbox.configure(statuses="2025", contacts_rps=5)
    sandbox.add_fault(path_prefix="/v3/nowhere", kind="status", status=500)
    api.ok("POST", "/_sandbox/reset", 204)
    assert sandbox.requests_log() == []
    # Back to the profile the session sandbox was started with (minimal).
    config = api.ok("GET", "/_sandbox/config", 200)
    assert (config["profile"], config["statuses"], config["contacts_rps"]) == (
        "minimal",
        "2026",
        10,
    )
    assert api.ok("GET", "/_sandbox/faults", 200)["faults"] == []
    sandbox.configure(**FAST)
    assert api.ok("GET", "/contacts", 200)["count"] == 0
    assert api.ok("GET", "/contacts/lists", 200)["count"] == 0
    assert api.ok("GET", "/contacts/folders", 200)["count"] == 0
    assert api.ok("GET", "/processes", 200)["count"] == 0
    names = [a["name"] for a in api.ok("GET", "/contacts/attributes", 200)["attributes"]]
    assert "EXTRA" not in names
    assert "FIRSTNAME" in names
    assert api.new_list() == 1  # ids start again


def test_reset_during_a_running_import_leaves_nothing_behind(api, sandbox):
    list_id = api.new_list()
    sandbox.configure(process_delay_s=0.3)
    api.ok(
        "POST", "/contacts/import", 202, json={"fileBody": "EMAIL\na@x.io", "listIds": [list_id]}
    )
    sandbox.reset()
    sandbox.configure(**FAST)
    time.sleep(0.8)
    assert api.ok("GET", "/contacts", 200)["count"] == 0
    assert api.ok("GET", "/processes", 200)["count"] == 0


def test_config_defaults_and_validation(api, sandbox):
    sandbox.reset()
    assert api.ok("GET", "/_sandbox/config", 200) == {
        "contacts_rps": 10,
        "other_rph": 100,
        "statuses": "2026",
        "export_url": "plain",
        "notify": "empty",
        "process_delay_s": 0.5,
        "export_part_rows": 100000,
        "export_link_ttl_s": 604800.0,
        "process_stall": False,
        "process_fail": False,
        "seed": 0,
        "notify_timeout_s": 5.0,
        "batch_max_contacts": 100,
        "profile": "minimal",
        "process_times": False,
        "import_info": "links",
        "export_info": False,
        "expired_link_status": 403,
        "export_process_name": "SEARCH_EXPORT_USERS_API",
        "export_times": "day",
        "boolean_false_overwrites": False,
        "category_labels": False,
        "ascii_local_parts": True,
        "account": default_account(sandbox.api_key, profile="minimal"),
    }
    updated = api.ok(
        "POST", "/_sandbox/config", 200, json={"statuses": "2025", "process_delay_s": 0}
    )
    assert updated["statuses"] == "2025"
    for bad in (
        {"colour": 1},
        {"statuses": "2024"},
        {"contacts_rps": -1},
        {"contacts_rps": "10"},
        {"process_delay_s": "fast"},
        {"export_part_rows": 0},
        {"process_stall": 1},
    ):
        assert api.post("/_sandbox/config", json=bad).status_code == 400, bad
    assert api.ok("GET", "/_sandbox/config", 200)["statuses"] == "2025"  # nothing half-applied
    with pytest.raises(ValueError, match="statuses"):
        sandbox.configure(statuses="1999")


# --------------------------------------------------------------------------- the server itself


def test_api_key_from_argument_environment_or_generated(monkeypatch):
    monkeypatch.setenv("BREVO_SANDBOX_API_KEY", "from-env-key")
    with SandboxServer(port=0) as server:
        assert server.api_key == "from-env-key"
        assert server.url == f"http://127.0.0.1:{server.port}/v3"
        assert server.root_url == f"http://127.0.0.1:{server.port}"
        assert requests.get(
            server.url + "/contacts", headers={"api-key": "from-env-key"}, timeout=10
        ).ok
    monkeypatch.delenv("BREVO_SANDBOX_API_KEY")
    first, second = SandboxServer(port=0), SandboxServer(port=0)
    try:
        assert len(first.api_key) >= 20
        assert first.api_key != second.api_key
        assert first.port != second.port
    finally:
        first.stop()
        second.stop()


def test_file_database_survives_a_restart(tmp_path):
    db = tmp_path / "sandbox.db"
    with SandboxServer(port=0, db_path=db, api_key="k") as server:
        server.configure(**FAST)
        api = Api(server)
        list_id = api.new_list()
        api.import_(fileBody="EMAIL;FIRSTNAME\nkeep@x.io;Kept", listIds=[list_id])
        server.configure(process_stall=True)
        stuck = api.ok(
            "POST",
            "/contacts/import",
            202,
            json={"fileBody": "EMAIL\nz@x.io", "listIds": [list_id]},
        )
    with SandboxServer(port=0, db_path=db, api_key="k") as server:
        server.configure(**FAST)
        api = Api(server)
        assert api.contact("keep@x.io")["attributes"] == {"FIRSTNAME": "Kept"}
        assert api.contact("keep@x.io")["listIds"] == [list_id]
        assert api.ok("GET", f"/processes/{stuck['processId']}", 200)["status"] == "failed"


def test_python_m_entry_point_serves(tmp_path):
    env = {**os.environ, "BREVO_SANDBOX_API_KEY": "cli-key"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "etl.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            str(tmp_path / "s.db"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        second = proc.stdout.readline().strip()
        url = first.rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v3")
        assert "cli-key" not in second  # a key from the environment is not echoed
        resp = requests.get(
            url + "/contacts/attributes", headers={"api-key": "cli-key"}, timeout=10
        )
        assert resp.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_sandbox_imports_nothing_from_the_client():
    """A fake built from the client's own models would agree with it by construction."""
    import ast

    allowed_third_party = {"werkzeug", "requests"}
    paths = sorted((ROOT / "etl" / "sandbox").rglob("*.py"))
    assert len(paths) > 10, "the sandbox package moved: point this test at it"
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "etl":
                    assert name.startswith("etl.sandbox"), (path.name, name)
                else:
                    assert (
                        top in allowed_third_party
                        or top in sys.stdlib_module_names
                        or top
                        in (
                            "__future__",
                            "_typeshed",
                        )
                    ), (path.name, name)
