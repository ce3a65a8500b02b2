"""Prefect flows of contacts-etl."""

from __future__ import annotations
