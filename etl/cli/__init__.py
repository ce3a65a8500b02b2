"""The ``contacts-etl`` command line: click commands, the demo and the doctor.

The top layer: it may import ``flows`` and everything below it (``etl.imports``,
``etl.exports``, ``etl.contacts``, ``etl.brevo``), and ``etl.sandbox`` for the ``sandbox`` and
``demo`` commands. Nothing imports it.
"""

from __future__ import annotations

from etl.cli.main import cli, main

__all__ = ["cli", "main"]
