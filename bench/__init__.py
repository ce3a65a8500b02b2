"""Benchmarks of contacts-etl, each side by side with a baseline measured in the same run."""

from __future__ import annotations
