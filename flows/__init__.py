"""Prefect flows of contacts-etl: thin, one task per step, no business logic.

``import_contacts``, ``export_contacts`` and ``contact_ops``; each flow's literal signature is
the one definition of its options (defaults, and help in its docstring's ``Args:``), from which
the CLI builds its own. ``blocks`` holds the ``BrevoCredentials`` block, ``_common`` the
credentials resolution and task helpers.

May import ``etl.imports``, ``etl.exports``, ``etl.contacts`` (their package-level names),
``etl.brevo`` and the shared ``etl`` modules; never ``etl.cli`` (an import-linter contract).
"""

from __future__ import annotations
