"""Settings read at the CLI/flow boundary: the only place that looks at the environment.

Everything below the boundary takes explicit arguments, so tests pass settings in and nothing
reads ``BREVO_API_KEY`` behind a caller's back.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from etl.brevo.client import DEFAULT_BASE_URL, BrevoClient
from etl.brevo.errors import BrevoConfigError
from etl.brevo.ratelimit import RateLimits

DEFAULT_SECRET_BLOCK = "brevo-api-key"  # noqa: S105 - a block name, not a secret


class BrevoSettings(BaseSettings):
    """Connection settings, from ``BREVO_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_prefix="BREVO_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    api_key: SecretStr = SecretStr("")
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = Field(default=30.0, gt=0)
    contacts_per_second: float = Field(default=10.0, gt=0)
    other_per_hour: float = Field(default=100.0, gt=0)
    poll_interval_s: float | None = Field(default=None, gt=0)

    def with_key(self, api_key: str) -> BrevoSettings:
        """Return a copy using ``api_key`` (e.g. one read from a Prefect Secret block)."""
        return self.model_copy(update={"api_key": SecretStr(api_key)})

    def client(self) -> BrevoClient:
        """Build a client; raises BrevoConfigError with a one-line hint when the key is missing."""
        key = self.api_key.get_secret_value()
        if not key:
            raise BrevoConfigError(
                "no Brevo API key: set BREVO_API_KEY (see .env.example) "
                f"or create a Prefect Secret block named {DEFAULT_SECRET_BLOCK!r}"
            )
        return BrevoClient(
            key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            limits=RateLimits(
                contacts_per_second=self.contacts_per_second,
                other_per_hour=self.other_per_hour,
            ),
            poll_interval_s=self.poll_interval_s,
        )
