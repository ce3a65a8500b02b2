"""Fixtures for the client tests: a sandbox tuned for speed and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from etl.brevo import BrevoClient, RateLimits, RetryPolicy

# Retries without real waiting, but still a real retry loop (and waits capped at 2 s).
FAST_RETRY = RetryPolicy(max_attempts=6, base_s=0.01, cap_s=0.05, max_wait_s=2.0)
GENEROUS = RateLimits(contacts_per_second=500, other_per_hour=100_000)


@pytest.fixture
def fast_sandbox(sandbox):
    """The reset sandbox with generous limits and quick processes."""
    sandbox.configure(other_rph=100_000, contacts_rps=500, process_delay_s=0.05)
    return sandbox


@pytest.fixture
def make_client(fast_sandbox) -> Iterator[Callable[..., BrevoClient]]:
    """Build clients against the sandbox (closed at teardown); keyword args override."""
    made: list[BrevoClient] = []

    def make(**overrides: Any) -> BrevoClient:
        api_key = overrides.pop("api_key", fast_sandbox.api_key)
        options: dict[str, Any] = {
            "base_url": fast_sandbox.url,
            "retry": FAST_RETRY,
            "limits": GENEROUS,
            "timeout": 5.0,
        }
        options.update(overrides)
        client = BrevoClient(api_key, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client) -> BrevoClient:
    return make_client()
