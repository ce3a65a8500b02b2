"""`contacts-etl doctor` names its credentials source and the account it reached."""

from __future__ import annotations

from click.testing import CliRunner

from etl.cli import cli


def test_doctor_says_where_the_key_came_from_and_whose_account_it_is(sandbox, monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    sandbox.configure(account={"email": "ops@example.com"})
    result = CliRunner().invoke(cli, ["doctor", "--secret-block", "no-such-block-here"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "PASS  credentials: environment (BREVO_API_KEY)" in lines
    assert any(line.startswith("PASS  account: ops@example.com (plan: ") for line in lines)
    assert sandbox.api_key not in result.output


def test_doctor_fails_cleanly_on_a_missing_credentials_block(sandbox, monkeypatch, prefect_harness):
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    result = CliRunner().invoke(cli, ["doctor", "--credentials-block", "nope"])
    assert result.exit_code == 2, result.output
    assert "no BrevoCredentials block named 'nope'" in result.output
    assert "Traceback" not in result.output
