"""64-bit hashes of text keys (identifiers), for duplicate checks over millions of rows.

Two kinds, for two needs:

* :func:`siphash64` is collision-resistant (pandas' SipHash-2-4, the same values as
  ``pandas.util.hash_pandas_object``): two distinct keys share a value with probability about
  n**2 / 2**65 whatever the keys look like. Use it where a shared hash *decides* something.
* :func:`quick_fingerprints` is DuckDB's ``hash()``: ~10x faster, vectorised with the GIL
  released, but **not** collision-resistant. It mixes 8-byte words with xor-multiply, so
  structured keys collide far more often than chance (``inès.b800000.3271@mail.example.net``
  and ``inès.b600000.3871@mail.example.net`` share one). Distinct fingerprints still prove
  distinct keys, so it is a fast filter whose equal values must be confirmed on the keys.

Hashes only live within one run; they are never stored across versions.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pandas.util import hash_array

_local = threading.local()
_lock = threading.Lock()
_database: Any = None


def _cursor() -> Any:
    """This thread's cursor on one shared in-memory DuckDB (threads=1: callers parallelise)."""
    global _database
    cursor = getattr(_local, "cursor", None)
    if cursor is None:
        with _lock:
            if _database is None:
                _database = duckdb.connect(config={"threads": 1})
            cursor = _database.cursor()
        _local.cursor = cursor
    return cursor


def _filled(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.fill_null(keys, "") if keys.null_count else keys


def quick_fingerprints(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One uint64 per key (a missing key counts as ``""``); equal values need confirming."""
    if len(keys) == 0:
        return np.empty(0, dtype=np.uint64)
    batch = pa.table({"k": _filled(keys)})  # noqa: F841 - DuckDB reads it by name
    hashed = _cursor().execute("SELECT hash(k) AS h FROM batch").fetchnumpy()["h"]
    return np.asarray(hashed, dtype=np.uint64)


def siphash64(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One collision-resistant uint64 per key (a missing key counts as ``""``).

    ``categorize=False``: keys are nearly all distinct, so factorising them first (pandas'
    default) only hashes every key twice.
    """
    if len(keys) == 0:
        return np.empty(0, dtype=np.uint64)
    values = _filled(keys).to_numpy(zero_copy_only=False)
    return np.asarray(hash_array(values.astype(object, copy=False), categorize=False))
