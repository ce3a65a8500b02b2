"""CLI contract: exit codes, one-line errors, --help with examples, doctor."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from etl.cli import cli
from tests.faults._support import seed_account


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), obj={})


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["sandbox"],
        ["import"],
        ["export"],
        ["contact"],
        ["contact", "upsert"],
        ["contact", "get"],
        ["contact", "unlink-all"],
        ["demo"],
        ["doctor"],
        ["folders"],
        ["attributes"],
    ],
)
def test_every_command_has_help_with_examples(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    if command:
        assert "Example" in result.output


def test_401_is_one_line_exit_1_no_traceback(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("BREVO_API_KEY", "wrong-key-0000")
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    src = tmp_path / "a.csv"
    src.write_text("email\na@example.com\n", encoding="utf-8")
    for args in (["import", str(src), "--list-id", "1"], ["contact", "get", "a@example.com"]):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert "401" in lines[0]
        assert "unauthorized" in lines[0]
        assert "Traceback" not in result.output
        assert "wrong-key-0000" not in result.output


def test_missing_key_is_a_usage_error(monkeypatch, tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("email\na@example.com\n", encoding="utf-8")
    result = invoke("import", str(src), "--list-id", "1")
    assert result.exit_code == 2
    assert "BREVO_API_KEY" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["import", "missing.csv", "--list-id", "1"], "no such file"),
        (["import", "x.csv"], "--list-id"),
        (["import", "x.csv", "--new-list", "L"], "--folder-id"),
        (["import", "x.csv", "--list-id", "1", "--chunk-bytes", "20000000"], "10 MB"),
        (["export", "--email-campaign-action", "openers"], "campaign"),
        (["export", "--legacy-filter", '{"foo": 1}'], "supported"),
        (["export", "--no-mandatory-attributes", "--list-id", "1"], "attributes"),
    ],
)
def test_bad_input_exits_2_with_one_line_before_any_call(
    sandbox, monkeypatch, tmp_path, args, needle
):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("email\na@example.com\n", encoding="utf-8")
    before = len(sandbox.requests_log())
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert needle in lines[0]
    writes = [r for r in sandbox.requests_log()[before:] if r["method"] != "GET"]
    assert writes == []


def test_unusable_file_exits_2(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    seed_account(sandbox)  # list 1 exists: the file is what is wrong
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (tmp_path / "noid.csv").write_text("first name,last name\nAnn,Lee\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    for name in ("bin.csv", "noid.csv", "empty.csv"):
        result = invoke(
            "import", str(tmp_path / name), "--list-id", "1", "--state-dir", str(tmp_path / "s")
        )
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert name in result.output


def test_doctor_passes_against_the_sandbox_and_fails_on_a_bad_key(sandbox, monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert all(line.startswith("PASS") for line in lines), result.output
    assert any("rate-limit headers" in line for line in lines)
    assert sandbox.api_key not in result.output
    monkeypatch.setenv("BREVO_API_KEY", "nope")
    bad = invoke("doctor")
    assert bad.exit_code == 1
    assert any(line.startswith("FAIL  key accepted") for line in bad.output.splitlines())


def test_doctor_refuses_plain_http_to_a_remote_host(monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", "k")
    monkeypatch.setenv("BREVO_BASE_URL", "http://api.example.com/v3")
    result = invoke("doctor")
    assert result.exit_code == 1
    assert "FAIL  base url" in result.output
