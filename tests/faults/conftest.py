"""The fault matrix runs the real flows under Prefect's test harness against the sandbox."""

from __future__ import annotations

import pytest

from tests.flows.conftest import brevo_env, prefect_harness  # noqa: F401

from ._support import seed_account


@pytest.fixture
def account(brevo_env):  # noqa: F811 - the imported fixture
    """The sandbox with a folder, a list and two typed attributes; returns ids and the sandbox."""
    return seed_account(brevo_env)
