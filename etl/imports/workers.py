"""Normalise the batches of a big file in worker processes, so an import uses more than one core.

Normalising is Arrow kernels and much Python (``phonenumbers``, ``email-validator``) that holds
the GIL, so a thread per file helps only where there are several files; processes help a single
big file too. :func:`ordered_map` keeps the file's order: batch *n* goes to worker *n mod
workers* and results are read back in the same turn, so every output (spill, keys, rejects) is
byte-identical to normalising in the calling process, which stays the reference path (used for
files of 100,000 rows or fewer, and with ``workers=0``; ``tests/imports/test_workers.py`` checks
they agree).

A worker is a ``python`` running :func:`serve`: a fresh interpreter that imports
:mod:`etl.imports.normalise` only (about 0.7 s, overlapped with reading the first batch), then
reads ``(work, batch)`` pickles on stdin and writes results on stdout. Not ``multiprocessing``:
its ``fork`` would copy the locks of Prefect's threads, and its ``spawn`` and ``forkserver``
re-import the caller's main module in every worker (the CLI, or Prefect's engine: seconds).
At most the run's number of workers are busy in a process at once: files normalised at the
same time (the flow's threads) share them, and a file that finds them all busy is normalised in
its own thread. Idle workers are kept for the next file and stopped when pass 2 starts
(:func:`stop_idle_workers`). They run in a session of their own, so the terminal's Ctrl-C
reaches the caller only (which stops them), and exit when the caller closes their stdin or dies.

Memory: each worker holds the batch it normalises and keeps what it freed until it is idle;
the caller holds one batch read ahead and the answers it writes.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from etl.errors import InputError

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

WORKERS_ENV = "CONTACTS_ETL_WORKERS"
"""Environment variable: worker processes when the run does not say (``0``: none)."""

MAX_AUTO_WORKERS = 4
"""The most worker processes chosen on a many-core machine (each holds a batch in memory)."""

B = TypeVar("B")
R = TypeVar("R")

_usage: dict[int, WorkerUsage] = {}
_idle: list[_Worker] = []
_busy = 0  # workers handed out and not given back
_lock = threading.Lock()


def default_workers() -> int:
    """Workers when the run does not say: ``$CONTACTS_ETL_WORKERS``, else one fewer than the
    CPUs this process may use (it reads and writes on the other), at least 1, at most
    :data:`MAX_AUTO_WORKERS`. On 2 CPUs, 1 worker imported a 900,000-row file 1.6x faster
    than none, and as fast as 2 with 220 MiB less memory."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise InputError(f"{WORKERS_ENV} must be a whole number of processes, 0 or more")
        return value
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_AUTO_WORKERS, (cpus or 1) - 1))


def resolve_workers(workers: int | None) -> int:
    """The number of worker processes for a run's ``workers`` option (None: the default)."""
    if workers is None:
        return default_workers()
    if workers < 0:
        raise InputError("--workers must be 0 or more")
    return workers


def ordered_map(work: Callable[[B], R], items: Iterable[B], *, workers: int) -> Iterator[R]:
    """``work(item)`` for every item, in order, run by ``workers`` processes (none: here).

    Calls from several threads at once (the flow normalises files in parallel) share
    ``workers`` processes: a call that finds them all busy works here, in its thread.
    ``work`` must be picklable (a module-level function or a ``functools.partial`` of one);
    its exceptions are raised here, as they would be inline. The caller holds no item once it
    is sent: at most ``workers`` items are with the workers and one more is read ahead.
    """
    if workers <= 0:
        for item in items:
            yield work(item)
        return
    team = _take(workers)
    clean = False
    try:
        if not team:  # another file of this process has the workers: this one goes here
            for item in items:
                yield work(item)
            clean = True
            return
        free = deque(team)
        busy: deque[_Worker] = deque()
        for item in items:
            if free:
                worker = free.popleft()
                worker.send(work, item)
                busy.append(worker)
                continue
            # Every worker is busy: this item was read while they worked. The oldest answer
            # comes back, its worker gets this item, then the caller uses that answer while
            # the workers go on.
            worker = busy.popleft()
            result = worker.receive()
            worker.send(work, item)
            busy.append(worker)
            del item
            yield result
            del result
        while busy:
            yield busy.popleft().receive()
        clean = True
    finally:
        # Workers with an answer still unread (an error, Ctrl-C, the caller stopped early)
        # cannot serve another file: stop them.
        _give_back(team, clean=clean)


@dataclass(frozen=True)
class WorkerUsage:
    """What one worker process used, as of its last answer."""

    peak_rss_mb: float
    """Its peak resident memory (MiB)."""
    cpu_seconds: float
    """Its CPU time since it started."""


def worker_usage() -> dict[int, WorkerUsage]:
    """Every worker process this process used, by pid (the benchmarks add their memory and
    CPU to the caller's own)."""
    return dict(_usage)


class _Worker:
    """One worker process (:func:`serve`) and its pipes."""

    def __init__(self) -> None:
        # The caller's import path, so that the work's module imports there as here.
        root = str(Path(__file__).resolve().parents[2])  # where the etl package lives
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([root, *(p for p in sys.path if p)]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from etl.imports.workers import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # Out of the terminal's process group: Ctrl-C reaches the caller only (even while
            # the worker is still starting), which stops its workers.
            start_new_session=True,
        )
        self._in = cast(IO[bytes], self.process.stdin)
        self._out = cast(IO[bytes], self.process.stdout)
        for pipe in (self._in, self._out):
            _widen(pipe)

    def send(self, work: Callable[[Any], Any] | None, batch: Any) -> None:
        """Hand over a batch (``None, None``: no batch, give memory back; no answer comes)."""
        try:
            pickle.dump((work, batch), self._in, protocol=pickle.HIGHEST_PROTOCOL)
            self._in.flush()
        except BrokenPipeError:
            raise self._died() from None

    def receive(self) -> Any:
        try:
            # Our own child's answer, over its private pipe: nothing untrusted is unpickled.
            ok, value, pid, usage = pickle.load(self._out)  # noqa: S301
        except (EOFError, pickle.UnpicklingError):
            raise self._died() from None
        _usage[pid] = usage
        if not ok:
            raise value
        return value

    def _died(self) -> RuntimeError:
        if self.process.poll() is None:  # alive but its answer is unreadable: stop it
            self.process.kill()
        code = self.process.wait()
        return RuntimeError(
            f"a worker process normalising batches stopped (exit code {code}); "
            f"set {WORKERS_ENV}=0 to normalise in the run's own process"
        )

    def stop(self) -> None:
        # Killed before its pipes close: a busy worker would otherwise finish its batch and
        # write to a closed pipe.
        if self.process.poll() is None:
            self.process.kill()
        for pipe in (self._in, self._out):
            try:
                pipe.close()
            except OSError:
                pass
        self.process.wait()

    def alive(self) -> bool:
        return self.process.poll() is None


PIPE_BYTES = 1 << 20
"""Pipe buffer asked for (Linux; 64 KiB by default): a batch crosses in fewer turns."""


def _widen(pipe: IO[bytes]) -> None:
    """Ask for a :data:`PIPE_BYTES` pipe buffer, where the system has ``F_SETPIPE_SZ``."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setpipe is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), setpipe, PIPE_BYTES)
    except OSError:  # above /proc/sys/fs/pipe-max-size: the default buffer does
        pass


def _take(workers: int) -> list[_Worker]:
    """Up to ``workers`` workers, fewer when files normalised at the same time (the flow's
    threads) already use some: at most ``workers`` are busy in the process at once. None when
    a new worker cannot be started (the caller then works in its own process)."""
    global _busy
    with _lock:
        count = max(0, min(workers, workers - _busy))
        _busy += count
        team = [w for w in _idle[:count] if w.alive()]
        del _idle[:count]
    try:
        while len(team) < count:
            team.append(_Worker())
    except BaseException as exc:
        _give_back(team, clean=False, count=count)
        if isinstance(exc, OSError):  # no process to be had: normalise here instead
            return []
        raise
    return team


def _give_back(team: list[_Worker], *, clean: bool, count: int | None = None) -> None:
    """Return a call's workers: idle for the next file, or stopped (``clean=False``: one may
    hold an unread answer); ``count`` workers were counted busy (default: the team)."""
    global _busy
    try:
        if clean:
            for worker in team:
                # Memory a batch freed is kept while the file lasts (giving it back after each
                # batch cost ~10% more CPU in page faults); an idle worker gives it back.
                try:
                    worker.send(None, None)
                except RuntimeError:
                    worker.stop()
        else:
            for worker in team:
                worker.stop()
    finally:
        with _lock:
            if clean:
                _idle[:0] = [w for w in team if w.alive()]  # the last used first
            _busy -= len(team) if count is None else count
            # Kept for the next file, up to the default's number; the rest stop.
            surplus = _idle[MAX_AUTO_WORKERS:]
            del _idle[MAX_AUTO_WORKERS:]
        for worker in surplus:
            worker.stop()


@atexit.register
def stop_idle_workers() -> None:
    """Stop the idle workers (pass 2 calls it: pass 1 is over, their memory is better free)."""
    with _lock:
        team = list(_idle)
        _idle.clear()
    for worker in team:
        worker.stop()


def _used() -> WorkerUsage:
    return WorkerUsage(_peak_rss_mb(), time.process_time())


def _peak_rss_mb() -> float:
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows: not measured
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS


def serve() -> None:
    """A worker's loop: ``(work, batch)`` on stdin, ``(ok, result or exception, pid,
    WorkerUsage)`` on stdout, until stdin closes."""
    import etl.imports.normalise  # noqa: F401  (the work's module, imported once)
    from etl.imports.prepare import release_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answers get a private copy of the pipe; fd 1 and sys.stdout go to stderr, so that
    # a stray print, or a library writing to fd 1, cannot break the protocol.
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        try:
            work, batch = pickle.load(source)  # noqa: S301  (from the parent, see above)
        except EOFError:
            return
        except (OSError, pickle.UnpicklingError):  # the caller went away mid-batch
            os._exit(0)
        if work is None:  # idle now (see _give_back): return the memory of the last batches
            release_memory()
            continue
        failure: bytes | None = None
        result: Any = None
        try:
            result = work(batch)
        except Exception as exc:  # raised in the caller, as inline
            failure = _failure(exc)
        del batch
        try:
            if failure is not None:
                sink.write(failure)
            else:
                # Streamed: a copy of the answer as one bytes object would double the peak.
                pickle.dump((True, result, os.getpid(), _used()), sink, pickle.HIGHEST_PROTOCOL)
            sink.flush()
        except OSError:  # the caller stopped listening: nothing to say, no flush at exit
            os._exit(0)
        del result


def _failure(exc: Exception) -> bytes:
    data = b""
    try:
        data = pickle.dumps((False, exc, os.getpid(), _used()))
        pickle.loads(data)  # noqa: S301  (ours; some exceptions pickle but do not unpickle)
    except Exception:  # an exception that does not travel: its type and message do
        error = RuntimeError(f"{type(exc).__name__}: {exc}")
        data = pickle.dumps((False, error, os.getpid(), _used()))
    return data


if __name__ == "__main__":
    serve()
