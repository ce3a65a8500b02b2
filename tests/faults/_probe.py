"""Run ``contacts-etl`` with a pause at one point, so a test can kill it there.

``python -m tests.faults._probe MARKER export ...`` runs the real CLI, except that once the
Parquet files are written (just before they are renamed into place) it writes MARKER and
sleeps: a crash between download and rename, at a known point. With ``import``, it pauses once
every chunk completed, just before the ``--changed-only`` snapshot is written. The test waits
for MARKER and kills the process. This lives in the tests; the product has no such hook.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    marker = Path(sys.argv[1])
    if sys.argv[2] == "import":
        import etl.imports.sync as sync

        commit = sync.commit_snapshot

        def before_commit(*args: object, **kw: object) -> object:
            marker.write_text("snapshot", encoding="utf-8")
            time.sleep(600)
            return commit(*args, **kw)  # type: ignore[arg-type]

        sync.commit_snapshot = before_commit  # type: ignore[assignment]
    import etl.exports.parquet as parquet

    swap = parquet._swap_in_local

    def paused(staging: str, partition: str) -> None:
        marker.write_text(staging, encoding="utf-8")
        time.sleep(600)
        swap(staging, partition)

    parquet._swap_in_local = paused
    from etl.cli import main as cli

    sys.argv = ["contacts-etl", *sys.argv[2:]]
    cli()


if __name__ == "__main__":
    main()
