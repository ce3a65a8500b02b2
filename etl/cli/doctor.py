"""``contacts-etl doctor``: pass/fail checks of the configuration against the live API."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from etl.brevo.errors import BrevoConfigError, BrevoError
from etl.cli.common import _settings
from etl.settings import BrevoSettings

RATE_HEADERS = ("x-sib-ratelimit-limit", "x-sib-ratelimit-remaining", "x-sib-ratelimit-reset")
DEFAULT_ATTRIBUTES = ("EMAIL", "FIRSTNAME", "LASTNAME", "SMS")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's output."""

    name: str
    ok: bool
    detail: str


def run_checks(settings: BrevoSettings | None = None, *, source: str | None = None) -> list[Check]:
    """Run every check; later checks are skipped (failed) when an earlier one makes them moot.

    Args:
        settings: what to check (default: the environment).
        source: where the key came from (environment, Secret block, credentials block).
    """
    settings = settings or _settings()
    checks: list[Check] = []
    key = settings.api_key.get_secret_value()
    checks.append(Check("credentials", bool(key), source or "environment (BREVO_API_KEY)"))
    checks.append(
        Check("api key", bool(key), "set (not shown)" if key else "BREVO_API_KEY is empty")
    )
    try:
        client = settings.client()
    except BrevoConfigError as exc:
        checks.append(Check("base url", False, str(exc)))
        return checks
    checks.append(Check("base url", True, settings.base_url))
    with client:
        try:
            resp = requests.get(
                settings.base_url.rstrip("/") + "/contacts/attributes",
                headers={"api-key": key, "accept": "application/json"},
                timeout=settings.timeout_s,
            )
        except requests.RequestException as exc:
            checks.append(Check("reachable", False, f"{type(exc).__name__} contacting the API"))
            return checks
        checks.append(Check("reachable", True, f"HTTP {resp.status_code}"))
        checks.append(
            Check(
                "key accepted",
                resp.status_code == 200,
                "authenticated" if resp.status_code == 200 else f"HTTP {resp.status_code}",
            )
        )
        present = [h for h in RATE_HEADERS if h in resp.headers]
        checks.append(
            Check(
                "rate-limit headers",
                len(present) == len(RATE_HEADERS),
                ", ".join(f"{h}={resp.headers[h]}" for h in present) or "none in the response",
            )
        )
        try:
            account = client.get_account()
        except BrevoError as exc:
            checks.append(Check("account", False, str(exc)))
            return checks
        plans = ", ".join(account.plan) or "not given"
        checks.append(Check("account", bool(account.email), f"{account.email} (plan: {plans})"))
        try:
            names = {a.name for a in client.get_attributes()}
        except BrevoError as exc:
            checks.append(Check("account attributes", False, str(exc)))
            return checks
        missing = [a for a in DEFAULT_ATTRIBUTES if a not in names]
        checks.append(
            Check(
                "account attributes",
                not missing,
                f"{len(names)} attributes" + (f"; missing {', '.join(missing)}" if missing else ""),
            )
        )
    return checks
