"""The fault matrix runs the real flows under Prefect's test harness against the sandbox."""

from __future__ import annotations

import threading
import time

import pytest

from ._support import seed_account


@pytest.fixture
def account(brevo_env):
    """The sandbox with a folder, a list and two typed attributes; returns ids and the sandbox."""
    yield seed_account(brevo_env)
    # A request held by a delay fault may outlive its test (the client gave up on it): let it
    # finish here, or it would land in the next test's request log and account.
    brevo_env.clear_faults()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        "process_request_thread" in t.name for t in threading.enumerate()
    ):
        time.sleep(0.05)
