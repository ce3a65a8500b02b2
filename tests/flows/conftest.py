"""Flow tests run under Prefect's own test harness (a temporary API and database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def brevo_env(sandbox, monkeypatch, prefect_harness):
    """The flows read settings at their boundary: point them at the sandbox."""
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    monkeypatch.setenv("BREVO_OTHER_PER_HOUR", "100000")
    monkeypatch.setenv("BREVO_POLL_INTERVAL_S", "0.1")
    sandbox.configure(other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    return sandbox
