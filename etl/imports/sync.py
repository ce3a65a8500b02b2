"""Nightly syncs: send only what changed, unlink who left, keep the snapshot honest.

The steps the import flow adds for ``--changed-only`` and ``--unlink-missing`` (see
:mod:`etl.imports.snapshot` for the snapshot itself):

1. :func:`check_previous`: is the last successful run's snapshot for this account and target
   usable (same mapping, attributes and value options; its process still known)?
2. pass 2 of the prepare step compares each row with it (``finish_prepare(previous=...)``);
3. :func:`plan_unlink`: who left, refused with exit 2 over ``--max-unlink``, before anything is
   sent;
4. after every chunk completed: :func:`etl.imports.unlink.unlink_contacts`, then
   :func:`commit` writes the new snapshot. Rows Brevo refused (or that ``--verify`` found not
   landed) stay out of it, so the next run sends them again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoNotFound
from etl.errors import InputError
from etl.imports.dedupe import hash_identifiers
from etl.imports.options import ImportOptions
from etl.imports.plan import ImportPlan
from etl.imports.prepare import PreparedImport
from etl.imports.runs import AccountScope
from etl.imports.snapshot import (
    Snapshot,
    SnapshotCheck,
    UnlinkPlan,
    check_snapshot,
    commit_snapshot,
    missing_contacts,
    snapshot_basis,
    snapshot_root,
)
from etl.imports.submit import ChunkOutcome, read_refused_identifiers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncBase:
    """The previous snapshot of this account and target, and what this run compares."""

    root: Path
    basis: dict[str, str]
    check: SnapshotCheck

    @property
    def previous(self) -> Snapshot | None:
        """The usable previous snapshot (None: every row is sent, nothing unlinked)."""
        return self.check.snapshot


def check_previous(
    client: BrevoClient,
    scope: AccountScope,
    list_ids: Sequence[int],
    plan: ImportPlan,
    options: ImportOptions,
) -> SyncBase:
    """Find the snapshot for this account and target lists and decide whether it is usable."""

    def known(process_id: int) -> bool:
        try:
            client.get_process(process_id)
        except BrevoNotFound:
            return False
        return True

    root = snapshot_root(scope.ledger_path, list_ids)
    basis = snapshot_basis(plan, options)
    return SyncBase(root=root, basis=basis, check=check_snapshot(root, basis, known))


def plan_unlink(base: SyncBase, prepared: PreparedImport, options: ImportOptions) -> UnlinkPlan:
    """Who ``--unlink-missing`` would unlink; over ``--max-unlink`` it refuses (exit 2)."""
    if not options.unlink_missing or prepared.snapshot is None:
        return UnlinkPlan((), 0)
    plan = missing_contacts(base.previous, prepared.snapshot)
    limit = options.unlink_limit(plan.previous_rows)
    if len(plan.identifiers) > limit:
        raise InputError(
            f"--unlink-missing would unlink {len(plan.identifiers):,} of "
            f"{plan.previous_rows:,} contacts ({plan.share:.1%}), over --max-unlink "
            f"{options.max_unlink}: nothing was sent; check the input, or raise --max-unlink"
        )
    return plan


def refused_identifiers(outcomes: Iterable[ChunkOutcome]) -> tuple[np.ndarray, bool]:
    """Hashes of the identifiers Brevo refused, and whether it refused rows it did not name."""
    names: list[str] = []
    unnamed = False
    for outcome in outcomes:
        info = outcome.info or {}
        refused = int(info.get("refused") or 0)
        part = info.get("refusals_part")
        found = read_refused_identifiers(Path(part)) if part and Path(part).exists() else []
        names += [n.strip().lower() for n in found]
        if refused > len(found):
            unnamed = True
    return siphash_list(names), unnamed


def commit(
    base: SyncBase,
    prepared: PreparedImport,
    *,
    run_id: str,
    outcomes: Sequence[ChunkOutcome],
    process_ids: Sequence[int],
    not_landed: Sequence[str] = (),
) -> Snapshot | None:
    """Write this run's snapshot (after every chunk completed): what Brevo now holds from us.

    ``not_landed``: identifiers ``--verify`` found missing or different: left out, so the next
    run sends them again.
    """
    if prepared.snapshot is None:
        return None
    refused, unnamed = refused_identifiers(outcomes)
    exclude = refused
    if not_landed:
        exclude = np.concatenate([exclude, siphash_list(not_landed)])
    if unnamed:
        logger.warning(
            "Brevo refused rows it did not name: the rows this run sent stay out of the "
            "snapshot and are sent again next time"
        )
    process_id = max(process_ids) if process_ids else None
    if process_id is None and base.previous is not None:
        process_id = base.previous.process_id
    return commit_snapshot(
        prepared.snapshot,
        base.root,
        run_id=run_id,
        basis=base.basis,
        process_id=process_id,
        exclude=exclude,
        exclude_sent=unnamed,
    )


def siphash_list(values: Sequence[str]) -> np.ndarray:
    """Identifier hashes of ``values`` as the snapshot keys them."""
    if not values:
        return np.empty(0, dtype=np.uint64)
    keys = [v.strip().lower() if "@" in v else v.strip() for v in values]
    return hash_identifiers(pd.Series(keys, dtype=object))
