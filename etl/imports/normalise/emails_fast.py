"""The e-mail fast path: a regular expression for the plainest addresses, beside its reference
:func:`etl.imports.normalise.emails.check_email` (email-validator).

The property tests check that it never accepts more than the reference does.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.normalise.kernels import bool_np

# A strict subset of what email-validator accepts unchanged: ASCII atext, dot-atom local part,
# plain ASCII domain. The property tests check that it never accepts more than email-validator.
# Brevo refuses addresses with non-ASCII characters before the @ (docs/brevo/FACTS.md section 12), so the
# local part is ASCII only, here and in check_email.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_FAST_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_FAST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_FAST_TLD = r"[A-Za-z](?:[A-Za-z0-9\-]{0,61}[A-Za-z])?"
FAST_EMAIL = rf"^{_FAST_LOCAL}@(?:{_FAST_LABEL}\.)+{_FAST_TLD}$"
_SPECIAL_DOMAIN = r"[@.](?:arpa|invalid|local|localhost|onion|test)$"


def fast_emails(uniques: pa.Array) -> np.ndarray:
    """Which values the reference would accept unchanged but for lower-casing."""
    fast: np.ndarray = (
        bool_np(pc.match_substring_regex(uniques, FAST_EMAIL))
        & ~bool_np(pc.match_substring_regex(uniques, "--"))
        & ~bool_np(pc.match_substring_regex(uniques, _SPECIAL_DOMAIN, ignore_case=True))
        & (pc.binary_length(uniques).to_numpy(zero_copy_only=False) <= 254)
        & bool_np(pc.match_substring_regex(uniques, r"^[^@]{1,32}@"))
    )
    return fast
