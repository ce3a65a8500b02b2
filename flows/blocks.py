"""Prefect blocks of contacts-etl: typed Brevo credentials, as prefect-aws has AwsCredentials.

Register once per Prefect server or workspace, then create a block in the UI (or in code)::

    prefect block register -m flows.blocks

    from flows.blocks import BrevoCredentials
    BrevoCredentials(api_key="xkeysib-...", rate_limit_tier="general").save("brevo-prod")

Every command and flow takes the block's name (``--credentials-block`` / ``credentials_block``).
The key is stored encrypted by Prefect and never becomes a flow parameter.
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from etl.brevo.client import DEFAULT_BASE_URL
from etl.settings import BrevoSettings

RateLimitTier = Literal["general", "advanced"]
# Brevo's documented limits per tier: /contacts/* calls per second, other calls per hour.
TIER_LIMITS: dict[str, tuple[float, float]] = {"general": (10.0, 100.0), "advanced": (20.0, 200.0)}


class BrevoCredentials(Block):
    """The API key of a Brevo account, its API base URL and the account's rate-limit tier."""

    _block_type_name = "Brevo Credentials"
    _block_type_slug = "brevo-credentials"
    _description = (
        "Credentials for the Brevo (formerly Sendinblue) v3 API, used by the contacts-etl flows: "
        "the account's API key (stored encrypted), the API base URL and the rate-limit tier "
        "the client paces its calls by."
    )
    _code_example = (
        "from flows.blocks import BrevoCredentials\n"
        'credentials = BrevoCredentials.load("BLOCK_NAME")\n'
        "settings = credentials.settings()"
    )

    api_key: SecretStr = Field(
        default=..., description="The v3 API key (Brevo: SMTP & API > API keys)."
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The API base URL; https unless loopback (e.g. a local sandbox).",
    )
    rate_limit_tier: RateLimitTier = Field(
        default="general",
        description="general: 10 /contacts calls per second and 100 other calls per hour; "
        "advanced: 20 and 200.",
    )

    def settings(self, base: BrevoSettings | None = None) -> BrevoSettings:
        """Client settings from this block, over ``base`` (timeouts and polling stay as set)."""
        contacts, other = TIER_LIMITS[self.rate_limit_tier]
        return (base or BrevoSettings()).model_copy(
            update={
                "api_key": self.api_key,
                "base_url": self.base_url,
                "contacts_per_second": contacts,
                "other_per_hour": other,
            }
        )
