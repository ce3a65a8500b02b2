"""Background processes: one worker runs them in order, like Brevo's queue.

Each process spends at least ``process_delay_s`` in ``queued`` and again in the running state
(``in_process``, or ``processing`` in the 2026 spelling) so pollers can observe both, then
ends ``completed`` or ``failed``. Config ``process_stall`` holds processes in ``queued`` while
it is on; ``process_fail`` makes a process that starts running end ``failed`` without doing
its work. When a process ends and it had a ``notifyUrl``, the sandbox POSTs to it once, in a
background thread, retrying up to 3 times on a connection error or a non-2xx answer: with an
empty body (config ``notify: empty``, as Brevo v3 was observed to do) or the v2 form fields
(``notify: v2form``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from etl.sandbox.config import ConfigStore
from etl.sandbox.errors import ApiError
from etl.sandbox.state import Aborted, Account
from etl.sandbox.values import utc_now_iso

logger = logging.getLogger(__name__)

NOTIFY_RETRIES = 3
RUNNING = "running"  # internal; shown as in_process (2025) or processing (2026)


class JobFailed(Exception):
    """A job ends its process ``failed`` with this message as ``error``."""


@dataclass(slots=True)
class JobResult:
    """What a finished job leaves on its process."""

    info: dict[str, Any] | None = None
    export_url: str | None = None
    notify_form: dict[str, str] = field(default_factory=dict)


Job = Callable[[int, int], JobResult]  # (process id, account generation) -> result


@dataclass(slots=True)
class _Item:
    process_id: int
    generation: int
    job: Job
    notify_url: str | None
    created: float


class ProcessRunner:
    """Runs submitted jobs one after the other in a daemon thread."""

    def __init__(self, account: Account, config: ConfigStore) -> None:
        self._account = account
        self._config = config
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._notify_lock = threading.Lock()
        self.notifications: list[dict[str, Any]] = []

    def start(self) -> None:
        """Start the worker thread."""
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._loop, name="sandbox-processes", daemon=True
            )
            self._worker.start()

    def stop(self) -> None:
        """Stop the worker (a running job stops at its next batch)."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=10)

    def clear_notifications(self) -> None:
        """Forget the notify log."""
        with self._notify_lock:
            self.notifications.clear()

    def submit(self, name: str, job: Job, *, notify_url: str | None = None) -> int:
        """Create a ``queued`` process and queue its job; return the process id."""
        generation = self._account.generation
        process_id = self._account.processes.create(name)
        self._queue.put(_Item(process_id, generation, job, notify_url, time.monotonic()))
        return process_id

    # ------------------------------------------------------------------ worker

    def _stale(self, item: _Item) -> bool:
        return self._stop.is_set() or item.generation != self._account.generation

    def _wait_until(self, item: _Item, deadline: float) -> bool:
        """Sleep until ``deadline``; False if the sandbox stopped or was reset meanwhile."""
        while True:
            if self._stale(item):
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.02))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._run(item)
            except Aborted:
                pass
            except Exception:
                logger.exception("sandbox process %s crashed", item.process_id)

    def _run(self, item: _Item) -> None:
        account = self._account
        if not self._wait_until(item, item.created + self._config.current.process_delay_s):
            return
        while self._config.current.process_stall:
            if not self._wait_until(item, time.monotonic() + 0.05):
                return
        account.processes.set(item.process_id, status=RUNNING, generation=item.generation)
        started = time.monotonic()
        result: JobResult | None = None
        error: str | None = None
        if self._config.current.process_fail:
            error = "Processing failed (sandbox config process_fail)"
        else:
            try:
                result = item.job(item.process_id, item.generation)
            except (JobFailed, ApiError) as exc:
                error = str(exc)
            except Aborted:
                return
            except Exception as exc:  # a sandbox bug: fail the process, keep serving
                if self._stale(item):
                    return  # reset or stopped under the job (its files may be gone)
                logger.exception("sandbox job %s failed", item.process_id)
                error = f"internal error: {type(exc).__name__}"
        if not self._wait_until(item, started + self._config.current.process_delay_s):
            return
        if result is not None:
            account.processes.set(
                item.process_id,
                status="completed",
                generation=item.generation,
                info=result.info,
                export_url=result.export_url,
            )
            form = result.notify_form
        else:
            account.processes.set(
                item.process_id, status="failed", generation=item.generation, error=error
            )
            form = {"proc_success": "0"}
        if item.notify_url:
            threading.Thread(
                target=self._notify,
                args=(item.notify_url, form),
                name="sandbox-notify",
                daemon=True,
            ).start()

    def _notify(self, url: str, form: dict[str, str]) -> None:
        config = self._config.current
        data: dict[str, str] | None = form if config.notify == "v2form" else None
        for attempt in range(1 + NOTIFY_RETRIES):
            entry: dict[str, Any] = {"time": utc_now_iso(), "url": url, "attempt": attempt + 1}
            try:
                resp = requests.post(url, data=data, timeout=config.notify_timeout_s)
                entry["status"] = resp.status_code
                ok = 200 <= resp.status_code < 300
            except requests.RequestException as exc:
                entry["error"] = type(exc).__name__
                ok = False
            with self._notify_lock:
                self.notifications.append(entry)
            if ok or self._stop.is_set():
                return
            time.sleep(0.2 * (attempt + 1))
