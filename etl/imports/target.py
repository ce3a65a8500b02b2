"""Where a run's chunks go: the target list(s) and import switches, part of each chunk's key."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoNotFound
from etl.imports.ledger import Ledger
from etl.imports.options import ImportOptions
from etl.imports.prepare import ChunkFile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where chunks go and how Brevo should treat them (part of every chunk's key)."""

    list_ids: tuple[int, ...]
    update_existing: bool
    empty_attributes: bool
    email_blacklist: bool
    sms_blacklist: bool

    def key(self) -> str:
        """A stable text form of the target."""
        return json.dumps(asdict(self), sort_keys=True)


def chunk_key(chunk: ChunkFile, target: Target) -> str:
    """The ledger key of a chunk: its body and where/how it is imported."""
    return hashlib.sha256(f"{chunk.sha256}|{target.key()}".encode()).hexdigest()


def resolve_target(client: BrevoClient, ledger: Ledger, options: ImportOptions) -> Target:
    """Find or create the target list(s); a new list is created once per account."""
    list_ids = tuple(options.list_ids)
    if options.new_list:
        assert options.folder_id is not None
        list_id = ledger.new_list_id(options.new_list, options.folder_id)
        if list_id is not None and not _list_exists(client, list_id, options.new_list):
            # The ledger remembers a list the account no longer has (deleted, or an emptied
            # sandbox): never import into whatever list now holds that id.
            ledger.forget_new_list(options.new_list, options.folder_id)
            list_id = None
        if list_id is None:
            list_id = _find_list(client, options.new_list, options.folder_id)
        if list_id is None:
            list_id = client.create_list(options.new_list, folder_id=options.folder_id)
            logger.info("created list %s (id %s)", options.new_list, list_id)
        ledger.record_new_list(options.new_list, options.folder_id, list_id)
        list_ids = (list_id,)
    return Target(
        list_ids=list_ids,
        update_existing=options.update_existing,
        empty_attributes=options.empty_attributes,
        email_blacklist=options.email_blacklist,
        sms_blacklist=options.sms_blacklist,
    )


def remembered_target(ledger: Ledger, options: ImportOptions) -> Target:
    """The target of a run that already completed, without asking or creating anything."""
    list_ids = tuple(options.list_ids)
    if options.new_list and options.folder_id is not None:
        remembered = ledger.new_list_id(options.new_list, options.folder_id)
        list_ids = (remembered,) if remembered is not None else ()
    return Target(
        list_ids=list_ids,
        update_existing=options.update_existing,
        empty_attributes=options.empty_attributes,
        email_blacklist=options.email_blacklist,
        sms_blacklist=options.sms_blacklist,
    )


def _list_exists(client: BrevoClient, list_id: int, name: str) -> bool:
    try:
        return client.get_list(list_id).name == name
    except BrevoNotFound:
        return False


def _find_list(client: BrevoClient, name: str, folder_id: int) -> int | None:
    for page in client.iter_lists():
        for lst in page:
            if lst.name == name and lst.folder_id == folder_id:
                return lst.id
    return None
