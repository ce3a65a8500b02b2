"""Run an iterator ahead in a thread of its own: a two-stage pipeline on one stream of batches.

A single export file is one stream: reading the CSV, typing its columns and writing Parquet
would otherwise take turns on one core. Arrow's kernels, its CSV reader and its Parquet writer
release the GIL, so running the producer one step ahead of the consumer overlaps them on two
cores. The order of the items, and the exceptions, are the producer's: an exception raised by
the producer is raised again by the consumer, at the place in the stream where it happened.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(
    make: Callable[[], Iterator[T]], *, depth: int = 2, name: str = "prefetch"
) -> Iterator[T]:
    """The items of ``make()``, produced in a daemon thread at most ``depth`` items ahead.

    ``make`` is called in that thread. Memory is bounded by ``depth`` items. When the consumer
    stops early (an exception, or closing this generator), the producer stops at its next item
    and its iterator is closed in its own thread; this generator waits for that before it
    returns, so nothing of the stream runs on behind the caller's back.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = make()
            for item in iterator:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as exc:  # handed over to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                # The consumer already has the outcome (its items, or the first error).
                with contextlib.suppress(Exception):
                    close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
