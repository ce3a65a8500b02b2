"""`-v` shows the project's debug lines, not thousands of library ones."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from etl.cli import cli

NAMES = (
    "etl",
    "flows",
    "urllib3",
    "prefect",
    "great_expectations",
    "werkzeug",
    "httpx",
    "httpcore",
)


@pytest.fixture
def restore_levels():
    """The CLI sets logger levels process-wide: put them back for the tests that follow."""
    saved = {name: logging.getLogger(name).level for name in NAMES}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_verbose_raises_only_the_projects_loggers_to_debug(restore_levels):
    result = CliRunner().invoke(cli, ["-v", "mapping", "presets"])
    assert result.exit_code == 0, result.output
    assert logging.getLogger("etl.imports").getEffectiveLevel() == logging.DEBUG
    for noisy in ("urllib3", "prefect", "great_expectations", "werkzeug"):
        assert logging.getLogger(noisy).getEffectiveLevel() >= logging.WARNING, noisy
