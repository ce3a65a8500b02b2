"""Where the key comes from: a BrevoCredentials block, a Secret block, or the environment."""

from __future__ import annotations

import pytest
from prefect.blocks.system import Secret

from etl.brevo.errors import BrevoConfigError
from flows._common import resolve_settings
from flows.blocks import BrevoCredentials

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_precedence_credentials_block_then_environment_then_secret_block(monkeypatch):
    Secret(value="secret-key").save("test-brevo-secret", overwrite=True)
    # No key in the environment (a worker): the Secret block.
    settings, source = resolve_settings(secret_block="test-brevo-secret")
    assert settings.api_key.get_secret_value() == "secret-key"
    assert source == "Secret block 'test-brevo-secret'"
    settings, source = resolve_settings(secret_block="no-such-secret-block")
    assert settings.api_key.get_secret_value() == ""

    monkeypatch.setenv("BREVO_API_KEY", "env-key")
    settings, source = resolve_settings(secret_block="test-brevo-secret")
    assert (settings.api_key.get_secret_value(), source) == (
        "env-key",
        "environment (BREVO_API_KEY)",
    )

    BrevoCredentials(
        api_key="block-key", base_url="http://127.0.0.1:9/v3", rate_limit_tier="advanced"
    ).save("test-brevo-creds", overwrite=True)
    settings, source = resolve_settings(
        credentials_block="test-brevo-creds", secret_block="test-brevo-secret"
    )
    assert settings.api_key.get_secret_value() == "block-key"
    assert settings.base_url == "http://127.0.0.1:9/v3"
    assert (settings.contacts_per_second, settings.other_per_hour) == (20.0, 200.0)
    assert source == "credentials block 'test-brevo-creds'"
    # An explicit base URL wins over the block's.
    settings, _ = resolve_settings(
        credentials_block="test-brevo-creds", base_url="http://127.0.0.1:8/v3"
    )
    assert settings.base_url == "http://127.0.0.1:8/v3"


def test_a_missing_credentials_block_is_one_clear_error():
    with pytest.raises(BrevoConfigError, match="no BrevoCredentials block named 'nope'"):
        resolve_settings(credentials_block="nope")


def test_the_block_type_is_described_for_the_ui():
    # What `prefect block register -m flows.blocks` does for each block class of the module.
    BrevoCredentials.register_type_and_schema()
    assert BrevoCredentials.get_block_type_slug() == "brevo-credentials"
    assert "API key" in (BrevoCredentials.get_description() or "")
    schema = BrevoCredentials.model_json_schema()
    assert schema["properties"]["api_key"]["format"] == "password"  # shown masked
