"""contacts-etl: bulk contacts between CSV files and the Brevo v3 API."""

from __future__ import annotations

__version__ = "0.1.0"
