"""Which account a key is, its ledger, and which run an invocation is (new, resumed, done)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoError, BrevoNotFound
from etl.imports.ledger import Ledger, account_key, ledger_path
from etl.imports.options import ImportOptions
from etl.imports.prepare import ChunkFile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountScope:
    """The account a key belongs to, at one base URL: what a ledger is scoped by."""

    key: str
    email: str
    base_url: str
    ledger_path: Path


def account_scope(client: BrevoClient, state_dir: Path) -> AccountScope:
    """Ask Brevo whose key this is (``GET /account``) and where that account's ledger lives."""
    account = client.get_account()
    if not account.email:
        raise BrevoError("GET /account gave no email: cannot tell which account this key is for")
    key = account_key(
        base_url=client.base_url,
        email=account.email,
        organization_id=account.organization_id,
        user_id=account.user_id,
    )
    return AccountScope(
        key=key,
        email=account.email,
        base_url=client.base_url,
        ledger_path=ledger_path(state_dir, key),
    )


def open_ledger(scope: AccountScope) -> Ledger:
    """Open the account's ledger and record whose it is (email and base URL, never the key)."""
    ledger = Ledger(scope.ledger_path)
    ledger.set_meta({"email": scope.email, "base_url": scope.base_url})
    return ledger


def run_fingerprint(
    options: ImportOptions, chunks: Sequence[ChunkFile], *, unlink: Sequence[str] = ()
) -> str:
    """What the command asks of Brevo: the target, how to import, every chunk's body, and the
    contacts ``--unlink-missing`` takes off the lists."""
    spec = {
        "list_ids": sorted(options.list_ids),
        "new_list": options.new_list,
        "folder_id": options.folder_id,
        "update_existing": options.update_existing,
        "empty_attributes": options.empty_attributes,
        "email_blacklist": options.email_blacklist,
        "sms_blacklist": options.sms_blacklist,
        "chunks": [c.sha256 for c in chunks],
    }
    if unlink:
        spec["unlink"] = hashlib.sha256("\n".join(sorted(unlink)).encode()).hexdigest()
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


RunAction = Literal["new", "resumed", "already_completed"]


@dataclass(frozen=True)
class RunDecision:
    """Which run this invocation is, and what became of the previous one."""

    run_id: str
    action: RunAction
    previous: dict[str, Any] | None = None


def begin_run(
    client: BrevoClient, ledger: Ledger, fingerprint: str, *, again: bool = False
) -> RunDecision:
    """Resume an unfinished run of this command, report a completed one, or start a new one.

    A completed run is trusted only while the account still knows its last process: a
    sandbox (or account) that was emptied since then gets everything sent again.
    """
    latest = ledger.latest_run(fingerprint)
    if latest is not None and not again:
        if latest.status != "completed":
            ledger.use_run(latest.run_id)
            return RunDecision(latest.run_id, "resumed", latest.describe())
        if _run_still_known(client, ledger, latest.run_id):
            ledger.run_id = latest.run_id
            return RunDecision(latest.run_id, "already_completed", latest.describe())
        logger.warning(
            "run %s completed this import, but the account no longer knows its processes; "
            "sending everything again",
            latest.run_id,
        )
    run = ledger.start_run(fingerprint)
    return RunDecision(run.run_id, "new", latest.describe() if latest else None)


def _run_still_known(client: BrevoClient, ledger: Ledger, run_id: str) -> bool:
    process_ids = ledger.run_process_ids(run_id)
    if not process_ids:
        return True
    try:
        client.get_process(process_ids[-1])
    except BrevoNotFound:
        return False
    return True


def newest_process_id(client: BrevoClient) -> int:
    """The id of the newest process of the account (0 if none): a floor for what we create."""
    return client.newest_process_id()
