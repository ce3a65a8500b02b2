"""Seeding a sandbox account over its HTTP API, shared by the tests that need one."""

from __future__ import annotations

from typing import Any

import requests

DEMO_ATTRIBUTES = (("BIRTHDAY", "date"), ("NEWSLETTER", "boolean"), ("SCORE", "float"))


def post(sandbox: Any, path: str, body: dict[str, Any]) -> requests.Response:
    """POST to the sandbox's v3 API with its key; raises on an error status."""
    resp = requests.post(
        f"{sandbox.url}{path}", json=body, headers={"api-key": sandbox.api_key}, timeout=5
    )
    resp.raise_for_status()
    return resp


def create_attributes(sandbox: Any) -> None:
    """GENDER (category Mr=1, Ms=2), BIRTHDAY (date), NEWSLETTER (boolean), SCORE (float)."""
    post(
        sandbox,
        "/contacts/attributes/category/GENDER",
        {
            "type": "category",
            "enumeration": [{"value": 1, "label": "Mr"}, {"value": 2, "label": "Ms"}],
        },
    )
    for name, kind in DEMO_ATTRIBUTES:
        post(sandbox, f"/contacts/attributes/normal/{name}", {"type": kind})


def create_lists(sandbox: Any, count: int) -> list[int]:
    """A folder ``F`` holding lists ``L0``..``L<count-1>``; returns their ids."""
    folder = post(sandbox, "/contacts/folders", {"name": "F"}).json()["id"]
    return [
        post(sandbox, "/contacts/lists", {"name": f"L{i}", "folderId": folder}).json()["id"]
        for i in range(count)
    ]
