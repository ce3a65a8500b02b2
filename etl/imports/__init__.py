"""The import path, in run order: CSV files -> checked, normalised chunks -> Brevo, exactly once.

Owns: options and planning (``importer``), the CSV sniffer and reader (``csv_io``), header
mapping (``mapping``), value normalising (``normalise``), Great Expectations checks
(``validate``), the ``;`` body (``body``), the rejects file (``rejects``), the per-account
ledger of runs and chunks (``ledger``), chunk publishing for ``fileUrl`` (``publish``), and
what Brevo did with each chunk (``outcomes``).

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``. Never ``etl.exports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""
