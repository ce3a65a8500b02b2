"""``SandboxServer``: the sandbox on a real loopback port, in a thread or in the foreground.

```python
with SandboxServer(port=0) as sandbox:          # port 0: the OS picks a free port
    requests.get(f"{sandbox.url}/contacts", headers={"api-key": sandbox.api_key})
    sandbox.add_fault(path_prefix="/v3/contacts/import", kind="status", status=503)
```
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from etl.sandbox.app import SandboxApp
from etl.sandbox.errors import ApiError
from etl.sandbox.profiles import DEFAULT_PROFILE, PROFILES, check_account_email

API_KEY_ENV = "BREVO_SANDBOX_API_KEY"


class _QuietHandler(WSGIRequestHandler):
    """The sandbox records requests itself (``/_sandbox/requests``); no access log on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class SandboxServer:
    """A Brevo v3 sandbox served by werkzeug on ``host:port``.

    Args:
        host: interface to bind.
        port: port to bind; 0 lets the OS choose (read the bound one from ``port``).
        db_path: SQLite file for the account; None keeps it in memory.
        api_key: the key clients must send; else ``BREVO_SANDBOX_API_KEY``, else generated.
        profile: ``minimal`` (default) or ``spec-2026-02`` (see ``profiles.py``); the config
            returns to it on ``reset()``.
        account_email: the account's login email (``GET /account``); default derived from
            the key, ``sandbox-<8 hex of sha256(key)>@example.com``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str | Path | None = None,
        api_key: str | None = None,
        profile: str = DEFAULT_PROFILE,
        account_email: str | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        if account_email is not None:
            account_email = check_account_email(account_email)
        self.profile = profile
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or secrets.token_urlsafe(24)
        self.key_generated = not (api_key or os.environ.get(API_KEY_ENV))
        if db_path is not None:
            self._files_dir = Path(f"{db_path}.files")
            self._own_files = False
        else:
            self._files_dir = Path(tempfile.mkdtemp(prefix="brevo-sandbox-"))
            self._own_files = True
        self.app = SandboxApp(
            api_key=self.api_key,
            db_path=db_path,
            files_dir=self._files_dir,
            profile=profile,
            account_email=account_email,
        )
        self.account_email = str(self.app.config.current.account["email"])
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.host = host
        self.port = int(self._server.server_port)
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self.root_url = f"http://{url_host}:{self.port}"
        self.url = f"{self.root_url}/v3"
        self.app.root_url = self.root_url
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Serve in a daemon thread."""
        self.app.runner.start()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="brevo-sandbox", daemon=True
            )
            self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's foreground mode)."""
        self.app.runner.start()
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, stop the process worker, close the database."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        self.app.close()
        if self._own_files:
            shutil.rmtree(self._files_dir, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin handle

    def reset(self) -> None:
        """Empty the account (default attributes kept); clear faults, config, counters, log.

        The config returns to the profile (and account identity) the server was started with.
        """
        self.app.reset()

    def configure(self, **config: Any) -> None:
        """Change the config (keys of ``POST /_sandbox/config``). Raises ValueError.

        ``configure(profile="spec-2026-02")`` switches profile (until the next ``reset()``).
        """
        try:
            self.app.configure(config)
        except ApiError as exc:
            raise ValueError(exc.message) from None

    def add_fault(self, **fault: Any) -> None:
        """Add a scripted fault (keys of ``POST /_sandbox/faults``). Raises ValueError."""
        try:
            self.app.add_fault(fault)
        except ApiError as exc:
            raise ValueError(exc.message) from None

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.app.faults.clear()

    def requests_log(self) -> list[dict[str, Any]]:
        """The rows of ``GET /_sandbox/requests``."""
        return self.app.requests_log()

    def seed_events(self, **event: Any) -> None:
        """Record campaign events (body of ``POST /_sandbox/events``). Raises ValueError."""
        try:
            self.app.seed_events(event)
        except ApiError as exc:
            raise ValueError(exc.message) from None

    def create_segment(self, name: str, emails: list[str]) -> int:
        """Create a segment of the contacts with these emails; return its id."""
        try:
            return int(self.app.create_segment({"name": name, "emails": emails})["id"])
        except ApiError as exc:
            raise ValueError(exc.message) from None
