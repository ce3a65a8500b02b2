"""Shared fixtures: a real Brevo sandbox on loopback, a scrubbed environment, Prefect home."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

# Prefect reads PREFECT_HOME at import time: point it at a throwaway folder before any test
# imports prefect, so tests never touch ~/.prefect.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="contacts-etl-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# CLI subprocesses start Prefect's ephemeral server; on a loaded 2-core machine with 4 test
# workers it can take longer than Prefect's default 20 s to answer.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

if TYPE_CHECKING:
    from etl.sandbox.server import SandboxServer

SANDBOX_TEST_KEY = "sandbox-test-key-0123456789"
# Every flow, fault and kill test runs under each Brevo profile of the sandbox: the pipeline
# must be right whichever of the observed behaviours real Brevo shows (docs/sandbox.md).
SANDBOX_PROFILES = ("minimal", "spec-2026-02")


# Modules that start the CLI or a Prefect server in a subprocess (on top of those using the
# Prefect harness): `make test-quick` leaves them out.
_SUBPROCESS_MODULES = (
    "tests/corpus/test_corpus_cli.py",
    "tests/faults/test_kills.py",
    "tests/flows/",
    "tests/test_bench_smoke.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs Prefect or a subprocess as ``integration`` (the quick loop skips it)."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if "prefect_harness" in getattr(item, "fixturenames", ()) or path.startswith(
            _SUBPROCESS_MODULES
        ):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _scrub_brevo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing below the CLI/flow boundary may read these; tests pass settings explicitly."""
    for name in ("BREVO_API_KEY", "BREVO_BASE_URL", "BREVO_SANDBOX_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One sandbox for the session, on an ephemeral loopback port."""
    from etl.sandbox.server import SandboxServer

    with SandboxServer(host="127.0.0.1", port=0, api_key=SANDBOX_TEST_KEY) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session sandbox, emptied, with default config and no faults."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's own test harness (a temporary API and database), once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(params=SANDBOX_PROFILES)
def brevo_profile(request) -> str:
    """The sandbox profile a flow test runs under (each test runs under every profile)."""
    return request.param


@pytest.fixture
def brevo_env(sandbox, monkeypatch, prefect_harness, brevo_profile):
    """The flows read settings at their boundary: point them at the sandbox, in one profile."""
    monkeypatch.setenv("BREVO_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BREVO_BASE_URL", sandbox.url)
    monkeypatch.setenv("BREVO_OTHER_PER_HOUR", "100000")
    monkeypatch.setenv("BREVO_POLL_INTERVAL_S", "0.1")
    sandbox.configure(profile=brevo_profile)
    sandbox.configure(other_rph=100000, contacts_rps=1000, process_delay_s=0.05)
    return sandbox
