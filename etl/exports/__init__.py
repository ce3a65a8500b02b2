"""The export path: Brevo's export processes -> downloaded files -> typed, atomic Parquet.

Owns: the options of ``POST /contacts/export`` (``options``), the legacy v2 filters
(``legacy_filters``), starting, waiting for and downloading exports (``run``), safe unpacking
(``archive``), reading and merging export files (``merge``), the Parquet layout and atomic
partitions (``parquet``) and the Great Expectations check of the result (``validate``).

May import: ``etl.brevo`` (the client), the shared ``etl.errors``, ``etl.settings``,
``etl.progress``, ``etl.fingerprints``. Never ``etl.imports``, ``etl.cli``, ``flows`` or
``etl.sandbox``.
"""
