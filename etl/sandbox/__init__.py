"""A local Brevo v3 sandbox: HTTP server over an embedded SQLite account."""

from __future__ import annotations
