"""The legacy v2 "User" operations on v3: upsert with v2 blacklist semantics, get, unlink-all.

May import: ``etl.brevo``, the shared ``etl`` modules, and the value normalising of
``etl.imports`` (one e-mail, phone and date rule for every path). Never ``etl.exports``,
``etl.cli``, ``flows`` or ``etl.sandbox``.
"""
