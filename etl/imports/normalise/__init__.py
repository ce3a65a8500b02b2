"""Normalise a batch of raw rows into values Brevo accepts, and reject the rows that cannot be.

Pure and vectorised: every column goes through Arrow compute kernels, and the values that need
a library (email-validator, phonenumbers) or a Python fallback are handled once per *distinct*
value. The common shapes never reach those libraries: an email made only of the plainest
characters is accepted by a regular expression that is a strict subset of what email-validator
accepts (:mod:`.emails_fast`, beside :mod:`.emails`), and a phone number already in E.164 form
(or in the default region's national form) is checked against phonenumbers' own metadata
patterns with vectorised regular expressions that reproduce ``phonenumbers.is_valid_number``
(:mod:`.phones_fast`, beside :mod:`.phones`; tests compare both on thousands of numbers).

Output values (``NormalisedBatch.contacts``): EMAIL lower-cased (IDN domains in ASCII form),
phones in E.164 (``+33612345678``), dates ``YYYY-MM-DD`` (:mod:`.dates`), booleans
``true``/``false``, floats as plain decimals (``12.5``, never ``1e+16``), categories as their
enumeration value (``"1"``), multiple-choice values as the account's option names joined by
commas (:mod:`.values`), text trimmed with its control characters removed. Normalising that
output again gives it back unchanged.

Modules: :mod:`.specs` (what each attribute's values must be), :mod:`.frame` (the batch: one
column per value family, one reject reason per row), one module per value family, and
:mod:`.kernels` (the Arrow helpers they share).
"""

from __future__ import annotations

from etl.imports.normalise.emails import NON_ASCII_LOCAL_PART, check_email
from etl.imports.normalise.emails_fast import FAST_EMAIL
from etl.imports.normalise.frame import (
    ATTRIBUTE,
    DROPPED_COLUMNS,
    IDENTIFIER,
    INVALID_EMAIL,
    INVALID_PHONE,
    INVALID_VALUE_PREFIX,
    LINE,
    MESSAGE,
    MISSING_IDENTIFIER,
    RAW,
    REASON,
    REASONS_FIXED,
    REJECT_META,
    VALUE,
    NormalisedBatch,
    dedupe_key,
    invalid_value,
    normalise_batch,
    original_columns,
)
from etl.imports.normalise.phones import parse_phone
from etl.imports.normalise.phones_fast import valid_national_numbers
from etl.imports.normalise.specs import (
    AttributeSpec,
    Kind,
    NormaliseOptions,
    build_specs,
    spec_for,
)
from etl.imports.normalise.values import parse_float, plain_decimal

__all__ = [
    "ATTRIBUTE",
    "DROPPED_COLUMNS",
    "FAST_EMAIL",
    "IDENTIFIER",
    "INVALID_EMAIL",
    "INVALID_PHONE",
    "INVALID_VALUE_PREFIX",
    "LINE",
    "MESSAGE",
    "MISSING_IDENTIFIER",
    "NON_ASCII_LOCAL_PART",
    "RAW",
    "REASON",
    "REASONS_FIXED",
    "REJECT_META",
    "VALUE",
    "AttributeSpec",
    "Kind",
    "NormaliseOptions",
    "NormalisedBatch",
    "build_specs",
    "check_email",
    "dedupe_key",
    "invalid_value",
    "normalise_batch",
    "original_columns",
    "parse_float",
    "parse_phone",
    "plain_decimal",
    "spec_for",
    "valid_national_numbers",
]
