"""Arrow's memory pool for the pipeline: jemalloc, where the pyarrow build has it.

pyarrow's default pool on Linux is mimalloc. On the benchmark machine (a 2-CPU VM) mimalloc's way
of returning memory to the system made the kernel time of a run swing: the 3-export merge spent
1.2 to 4.1 s in the kernel for 2.0 s of its own CPU, and took 2.2 to 4.3 s; with jemalloc, 0.5 to
0.7 s in the kernel and 1.2 to 1.4 s in all (the 1M-row import: the same time, 100 MiB less
peak memory). ``ARROW_DEFAULT_MEMORY_POOL`` set by the user wins: then nothing is changed.

Importing this module does it (``etl.imports`` and ``etl.exports`` import it first).
"""

from __future__ import annotations

import os

import pyarrow as pa

ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_pipeline_pool() -> str:
    """Make jemalloc the default Arrow pool unless the user chose one; the pool's name."""
    if not os.environ.get(ENV):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
            pass
    return str(pa.default_memory_pool().backend_name)


use_pipeline_pool()
