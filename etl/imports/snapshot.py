"""What the last successful run sent to one account and target: the base of ``--changed-only``.

A snapshot maps each contact's identifier to a 64-bit hash of its normalised values. It lives
under the account's state (``accounts/<key>/snapshots/lists-<ids>/``), so a state dir used with
another account never skips anything, and is written in versions: a folder per run holding

* ``ids.u64`` and ``values.u64``: identifier hashes, sorted, and the value hash of each; the
  diff memory-maps them and looks each batch up with a binary search (bounded memory);
* ``identifiers.arrow``: the identifiers themselves with their hashes, in input order, read in
  batches only to name the contacts ``--unlink-missing`` unlinks;

and ``current.json`` names the version in force. It is replaced atomically only after the run's
chunks all completed, so a run that fails or is killed leaves the previous snapshot in place
and the next run sends the same rows again (resuming its unfinished run: nothing twice).

A snapshot is used only if what its hashes depend on is unchanged: the column mapping, the
attributes (names, types, enumerations), the options that change values, and the hash function
itself (a probe value is stored); and only while the account still knows the process that last
sent rows (an emptied account gets everything again). Otherwise the run sends every row and says
why in one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from etl.fingerprints import siphash64
from etl.imports.csv import arrow_strings
from etl.imports.options import ImportOptions
from etl.imports.plan import ImportPlan

logger = logging.getLogger(__name__)

FORMAT = 1
HASH = np.dtype("<u8")
_PROBE_TEXT = "contacts-etl snapshot probe: jeanne.dupont@example.fr"
_IDENT_SCHEMA = pa.schema([("identifier", pa.large_string()), ("id_hash", pa.uint64())])


def _probe() -> str:
    """The hash of a fixed text: a snapshot written with another hash function is not used."""
    return format(int(siphash64(pa.array([_PROBE_TEXT]))[0]), "016x")


def snapshot_root(ledger_path: Path, list_ids: Sequence[int]) -> Path:
    """The folder of the snapshots of one account (its ledger's folder) and target lists."""
    name = "lists-" + "-".join(str(i) for i in sorted(set(list_ids)))
    return ledger_path.parent / "snapshots" / name


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_basis(plan: ImportPlan, options: ImportOptions) -> dict[str, str]:
    """What the value hashes depend on, by part: a snapshot with another basis is not used."""
    mapping = sorted({(h, a) for f in plan.files for h, a in f.mapping.columns.items()})
    used = sorted({a for _, a in mapping})
    attributes = {
        name: {
            "kind": spec.kind,
            "enumeration": sorted(spec.enumeration.items()),
            "options": list(spec.options),
        }
        for name, spec in plan.specs.items()
        if name in used
    }
    norm = plan.normalise
    values = {
        "default_region": norm.default_region,
        "dayfirst": norm.dayfirst,
        "drop_invalid_values": norm.drop_invalid_values,
        "keep": options.keep,
        "update_existing": options.update_existing,
        "empty_attributes": options.empty_attributes,
        "email_blacklist": options.email_blacklist,
        "sms_blacklist": options.sms_blacklist,
    }
    return {
        "mapping": _digest(mapping),
        "attributes": _digest(attributes),
        "options": _digest(values),
        "hash": _digest([FORMAT, _probe()]),
    }


_BASIS_WORDS = {
    "mapping": "the column mapping",
    "attributes": "the attributes (names, types or categories)",
    "options": "the options that change values",
    "hash": "the snapshot format",
}


def value_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per row of the normalised values of ``columns`` (names included)."""
    n = len(frame)
    acc = np.full(n, int(siphash64(pa.array(["\x1f".join(columns)]))[0]), dtype=HASH)
    mult = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for col in columns:
            acc = (acc * mult) ^ siphash64(arrow_strings(frame[col])).astype(HASH)
    return acc


@dataclass(frozen=True)
class Snapshot:
    """One version of a snapshot on disk."""

    folder: Path
    run_id: str
    created_at: str
    rows: int
    basis: dict[str, str]
    process_id: int | None
    """The newest process that sent rows of this snapshot (None: none known)."""

    def ids(self) -> np.ndarray:
        """Identifier hashes, sorted (memory-mapped)."""
        return _mapped(self.folder / "ids.u64", self.rows)

    def values(self) -> np.ndarray:
        """The value hash of each identifier in :meth:`ids` (memory-mapped)."""
        return _mapped(self.folder / "values.u64", self.rows)

    def iter_identifiers(self) -> Iterator[pa.RecordBatch]:
        """``identifier`` and ``id_hash`` of every contact, in batches."""
        with pa.OSFile(str(self.folder / "identifiers.arrow")) as source:
            reader = ipc.open_stream(source)
            yield from reader


def _mapped(path: Path, rows: int) -> np.ndarray:
    if rows == 0:
        return np.empty(0, dtype=HASH)
    return np.memmap(path, dtype=HASH, mode="r", shape=(rows,))


def load_snapshot(root: Path) -> Snapshot | None:
    """The snapshot in force under ``root``, or None."""
    pointer = root / "current.json"
    try:
        meta = json.loads(pointer.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.warning("unreadable snapshot pointer %s: ignoring the snapshot", pointer)
        return None
    folder = root / str(meta.get("version", ""))
    if not (folder / "ids.u64").exists():
        logger.warning("snapshot %s is missing its files: ignoring it", folder)
        return None
    return Snapshot(
        folder=folder,
        run_id=str(meta.get("run_id", "")),
        created_at=str(meta.get("created_at", "")),
        rows=int(meta.get("rows", 0)),
        basis=dict(meta.get("basis") or {}),
        process_id=meta.get("process_id"),
    )


@dataclass(frozen=True)
class SnapshotCheck:
    """Whether the previous snapshot can decide what is unchanged, and why not."""

    snapshot: Snapshot | None
    """The usable previous snapshot (None: every row is sent)."""
    previous: Snapshot | None
    """The previous snapshot, usable or not (``--unlink-missing`` needs a usable one)."""
    message: str
    """One line for the log and the report."""


def check_snapshot(
    root: Path, basis: dict[str, str], process_known: Callable[[int], bool]
) -> SnapshotCheck:
    """Load the snapshot under ``root`` and decide whether this run may use it."""
    previous = load_snapshot(root)
    if previous is None:
        return SnapshotCheck(
            None, None, "no earlier successful run for this account and target: sending every row"
        )
    changed = [_BASIS_WORDS.get(k, k) for k in sorted(basis) if previous.basis.get(k) != basis[k]]
    if changed:
        return SnapshotCheck(
            None,
            previous,
            f"{' and '.join(changed)} changed since run {previous.run_id}: "
            "the snapshot is not used, sending every row",
        )
    if previous.process_id is not None and not process_known(previous.process_id):
        return SnapshotCheck(
            None,
            previous,
            f"the account no longer knows process {previous.process_id} of run "
            f"{previous.run_id}: the snapshot is not used, sending every row",
        )
    return SnapshotCheck(
        previous,
        previous,
        f"comparing with run {previous.run_id} ({previous.rows:,} contacts, {previous.created_at})",
    )


def unchanged_mask(snapshot: Snapshot | None, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which rows the snapshot holds with the same values (a binary search per row)."""
    if snapshot is None or snapshot.rows == 0 or not len(ids):
        return np.zeros(len(ids), dtype=bool)
    old_ids = snapshot.ids()
    pos = np.searchsorted(old_ids, ids)
    inside = pos < len(old_ids)
    pos = np.where(inside, pos, 0)
    same: np.ndarray = inside & (old_ids[pos] == ids) & (snapshot.values()[pos] == values)
    return same


class SnapshotBuilder:
    """The snapshot this run would leave, written as rows go into chunks (in ``work_dir``).

    Each row is recorded with whether this run sends it (changed or new) or not (unchanged).
    ``protect`` records identifiers of rows rejected this run: their contacts are still in the
    input, so ``--unlink-missing`` must not unlink them, though they stay out of the snapshot.
    """

    def __init__(self, work_dir: Path) -> None:
        self.folder = work_dir / "snapshot-pending"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._ids = (self.folder / "ids.u64").open("wb")
        self._values = (self.folder / "values.u64").open("wb")
        self._sent = (self.folder / "sent.u8").open("wb")
        self._protect = (self.folder / "protect.u64").open("wb")
        self._sink = pa.OSFile(str(self.folder / "identifiers.arrow"), "wb")
        self._writer = ipc.new_stream(self._sink, _IDENT_SCHEMA)
        self.rows = 0

    def add(
        self, identifiers: pd.Series, ids: np.ndarray, values: np.ndarray, sent: np.ndarray
    ) -> None:
        """Record rows of the input's final state (deduplicated, checked)."""
        if not len(ids):
            return
        self._ids.write(ids.astype(HASH).tobytes())
        self._values.write(values.astype(HASH).tobytes())
        self._sent.write(sent.astype(np.uint8).tobytes())
        batch = pa.record_batch(
            [arrow_strings(identifiers).cast(pa.large_string()), pa.array(ids, type=pa.uint64())],
            schema=_IDENT_SCHEMA,
        )
        self._writer.write_batch(batch)
        self.rows += len(ids)

    def protect(self, ids: np.ndarray) -> None:
        """Identifiers present in the input but rejected: never unlinked."""
        self._protect.write(ids.astype(HASH).tobytes())

    def close(self) -> PendingSnapshot:
        """Finish the files; the result can be committed after the run's chunks complete."""
        for f in (self._ids, self._values, self._sent, self._protect):
            f.close()
        self._writer.close()
        self._sink.close()
        return PendingSnapshot(folder=self.folder, rows=self.rows)


@dataclass(frozen=True)
class PendingSnapshot:
    """The snapshot a run leaves if it succeeds (in the run's work dir)."""

    folder: Path
    rows: int

    def _array(self, name: str, dtype: np.dtype[Any]) -> np.ndarray:
        return np.fromfile(self.folder / name, dtype=dtype)

    def input_ids(self) -> np.ndarray:
        """Sorted identifier hashes of every contact in this run's input (rejected included)."""
        ids = np.concatenate([self._array("ids.u64", HASH), self._array("protect.u64", HASH)])
        ids.sort()
        return ids

    def sent_count(self) -> int:
        """Rows this run sends (not unchanged)."""
        return int(self._array("sent.u8", np.dtype(np.uint8)).sum())


@dataclass(frozen=True)
class UnlinkPlan:
    """Contacts of the previous snapshot missing from this run's input."""

    identifiers: tuple[str, ...]
    previous_rows: int

    @property
    def share(self) -> float:
        """The fraction of the previous snapshot's contacts that would go."""
        return len(self.identifiers) / self.previous_rows if self.previous_rows else 0.0


def missing_contacts(previous: Snapshot | None, pending: PendingSnapshot) -> UnlinkPlan:
    """Who was in the previous snapshot and is not in this run's input (rejected rows count as
    present: a row with a bad phone does not take its contact off the list)."""
    if previous is None or previous.rows == 0:
        return UnlinkPlan((), previous.rows if previous else 0)
    present = pending.input_ids()
    old = previous.ids()
    pos = np.searchsorted(present, old)
    pos_ok = np.where(pos < len(present), pos, 0)
    found = (
        (pos < len(present)) & (present[pos_ok] == old)
        if len(present)
        else np.zeros(len(old), dtype=bool)
    )
    gone = np.asarray(old[~found])
    if not len(gone):
        return UnlinkPlan((), previous.rows)
    out: list[str] = []
    for batch in previous.iter_identifiers():
        hashes = batch.column(1).to_numpy()
        hit = np.isin(hashes, gone)
        if hit.any():
            out.extend(batch.column(0).filter(pa.array(hit)).to_pylist())
    return UnlinkPlan(tuple(sorted(out)), previous.rows)


def commit_snapshot(
    pending: PendingSnapshot,
    root: Path,
    *,
    run_id: str,
    basis: dict[str, str],
    process_id: int | None,
    exclude: np.ndarray | None = None,
    exclude_sent: bool = False,
) -> Snapshot:
    """Make ``pending`` the snapshot in force, atomically (a new folder, then the pointer).

    ``exclude``: identifier hashes to leave out (rows Brevo refused, or that ``--verify`` found
    not landed): the next run sends them again. ``exclude_sent``: leave out every row this run
    sent (Brevo refused rows it did not name).
    """
    ids = pending._array("ids.u64", HASH)
    values = pending._array("values.u64", HASH)
    keep = np.ones(len(ids), dtype=bool)
    if exclude_sent:
        keep &= pending._array("sent.u8", np.dtype(np.uint8)) == 0
    if exclude is not None and len(exclude):
        keep &= ~np.isin(ids, exclude)
    version = f"{run_id}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    folder = root / version
    folder.mkdir(parents=True, exist_ok=False)
    kept_ids = ids[keep]
    order = np.argsort(kept_ids, kind="stable")
    _write_synced(folder / "ids.u64", kept_ids[order].tobytes())
    _write_synced(folder / "values.u64", values[keep][order].tobytes())
    del ids, values, kept_ids, order
    with (
        pa.OSFile(str(pending.folder / "identifiers.arrow")) as source,
        pa.OSFile(str(folder / "identifiers.arrow"), "wb") as sink,
        ipc.new_stream(sink, _IDENT_SCHEMA) as writer,
    ):
        pos = 0
        for batch in ipc.open_stream(source):
            part = keep[pos : pos + batch.num_rows]
            pos += batch.num_rows
            writer.write_batch(batch.filter(pa.array(part)))
    _fsync(folder / "identifiers.arrow")
    snapshot = Snapshot(
        folder=folder,
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=int(keep.sum()),
        basis=basis,
        process_id=process_id,
    )
    meta = {k: v for k, v in asdict(snapshot).items() if k != "folder"}
    pointer = root / "current.json"
    tmp = root / "current.json.tmp"
    _write_synced(tmp, json.dumps({"version": version, **meta}, indent=2).encode())
    tmp.replace(pointer)
    for other in root.iterdir():
        if other.is_dir() and other.name != version:
            shutil.rmtree(other, ignore_errors=True)
    return snapshot


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())
