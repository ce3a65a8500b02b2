"""etl.arrow_memory: the pipeline's Arrow pool is jemalloc unless the user chose one."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

CHECK = "import pyarrow as pa, {package}; print(pa.default_memory_pool().backend_name)"


def _pool_after_importing(package: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc")
@pytest.mark.parametrize("package", ["etl.imports", "etl.exports"])
def test_importing_the_pipeline_makes_jemalloc_the_pool(package):
    assert _pool_after_importing("pyarrow") != "jemalloc"  # pyarrow's own default differs
    assert _pool_after_importing(package) == "jemalloc"


def test_the_users_choice_wins():
    assert _pool_after_importing("etl.exports", ARROW_DEFAULT_MEMORY_POOL="system") == "system"
