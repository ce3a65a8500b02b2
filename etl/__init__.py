"""contacts-etl: bulk contacts between CSV files and the Brevo v3 API.

Layers, top to bottom: ``etl.cli`` -> ``flows`` -> ``etl.contacts`` -> ``etl.imports`` |
``etl.exports`` -> ``etl.brevo``; ``etl.sandbox`` stands apart. Shared by all: ``settings``
(the only reader of the environment), ``errors``, ``progress``, ``fingerprints``.
"""

from __future__ import annotations

__version__ = "0.1.0"
