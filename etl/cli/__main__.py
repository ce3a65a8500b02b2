"""``python -m etl.cli``: the contacts-etl command line."""

from __future__ import annotations

from etl.cli.main import main

main()
