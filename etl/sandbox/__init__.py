"""A local Brevo v3 sandbox: HTTP server over an embedded SQLite account.

Owns the emulator: ``server`` (a threaded werkzeug server, ``python -m etl.sandbox``),
``app`` (the WSGI app: URL map, dispatch, faults, auth, rate limits, the request log),
``routes/`` (handlers by resource), ``state/`` (the account in SQLite, by resource, behind the
``Account`` facade), ``importer``/``exporter``/``batch`` (the long operations), ``processes``
(the background runner), ``config``/``profiles``/``faults``/``ratelimit`` and ``values``.

May import the standard library, werkzeug and requests; nothing from the rest of ``etl`` (not
the client, whose models it must not agree with by construction) and nothing from ``flows``.
Inside, dependencies point one way: ``server`` -> ``app`` -> ``routes`` -> ``state``.
"""

from __future__ import annotations
