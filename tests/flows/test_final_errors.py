"""A wrong key is final: the flow fails at once, without Prefect's task retries."""

from __future__ import annotations

import pytest

from etl.brevo.errors import BrevoAuthError
from flows.import_contacts import import_contacts


def test_a_wrong_key_fails_the_flow_without_task_retries(brevo_env, monkeypatch, tmp_path):
    monkeypatch.setenv("BREVO_API_KEY", "not-the-sandbox-key")
    src = tmp_path / "a.csv"
    src.write_text("Email\na@example.com\n", encoding="utf-8")
    with pytest.raises(BrevoAuthError):
        import_contacts(
            files=[str(src)],
            list_ids=[1],
            state_dir=str(tmp_path / "s"),
            secret_block=None,
        )
    # The account task has retries=2 for transient failures: a 401 must not use them.
    account_calls = [r for r in brevo_env.requests_log() if r["path"] == "/v3/account"]
    assert len(account_calls) == 1


@pytest.mark.parametrize(
    ("kind", "retried"), [("connect", False), ("reset", True), ("timeout", True)]
)
def test_a_connect_failure_is_final_other_transport_errors_are_retried(kind, retried):
    from prefect.states import Failed

    from etl.brevo.errors import BrevoTransportError
    from flows._common import retry_if_transient

    error = BrevoTransportError(
        "cannot reach Brevo at http://127.0.0.1:9", method="GET", path="/account", kind=kind
    )
    assert retry_if_transient(None, None, Failed(data=error)) is retried
