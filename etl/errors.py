"""Errors of the data side of the pipeline (reading, mapping, normalising, chunking).

``InputError`` means the input cannot be used at all (a missing, empty or binary file, no
identifier column, a broken mapping file). Its message is one line meant for people; the CLI
prints it on stderr and exits with code 2, before anything is sent to Brevo. Bad *rows* are
never errors: they are rejected one by one with a reason code.
"""

from __future__ import annotations


class InputError(Exception):
    """Unusable input: the run stops before sending anything (exit code 2)."""


class ConfigError(InputError):
    """An unusable option or mapping (bad region, chunk budget, mapping file)."""
