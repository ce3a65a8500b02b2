"""Run ``contacts-etl`` with a pause at one point of the export, so a test can kill it there.

``python -m tests.faults._probe MARKER export ...`` runs the real CLI, except that once the
Parquet files are written (just before they are renamed into place) it writes MARKER and
sleeps. The test waits for MARKER and kills the process: a crash between download and rename,
at a known point. This lives in the tests; the product has no such hook.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    marker = Path(sys.argv[1])
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
