"""Flow tests use `prefect_harness` and `brevo_env` from tests/conftest.py (one harness per session)."""
