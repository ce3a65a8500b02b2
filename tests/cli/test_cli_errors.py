"""Issue 17: what the CLI says when Brevo is unreachable or refuses the input inside a run."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from etl.cli import cli
from tests.faults._support import seed_account


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), obj={})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_brevo_is_named_by_its_base_url_never_the_key(monkeypatch, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v3"
    monkeypatch.setenv("BREVO_API_KEY", "key-that-must-not-show-0000")
    monkeypatch.setenv("BREVO_BASE_URL", url)
    src = tmp_path / "a.csv"
    src.write_text("email\na@example.com\n", encoding="utf-8")
    for args in (["import", str(src), "--list-id", "1"], ["contact", "get", "a@example.com"]):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert f"cannot reach Brevo at {url}: " in lines[0]
        assert "could not connect" in lines[0]
        assert "key-that-must-not-show" not in result.output


def test_a_400_inside_the_export_run_is_bad_input_exit_2(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    monkeypatch.setenv("BREVO_OTHER_PER_HOUR", "100000")
    sandbox.configure(other_rph=100_000)
    seed_account(sandbox)
    # The export checks no list before its run: Brevo's 400 comes from inside the flow.
    result = invoke(
        "export",
        "--list-id",
        "999",
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(tmp_path / "s"),
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "400" in lines[0]
    assert "999" in lines[0]
    exports = [r for r in sandbox.requests_log() if r["path"] == "/v3/contacts/export"]
    assert len(exports) == 1  # Brevo was asked, and said no (not a check before the run)
