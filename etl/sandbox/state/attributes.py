"""Contact attributes: the defaults, ``POST``/``DELETE /contacts/attributes/{category}/{name}``
and the cached definitions every value coercion reads."""

from __future__ import annotations

import json
from typing import Any

from etl.sandbox.errors import invalid, missing, not_found
from etl.sandbox.state.db import Database
from etl.sandbox.values import DEFAULT_ATTRIBUTES, AttrDef

ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "id", "category", "multiple-choice", "user")


class Attributes:
    """The ``attributes`` table, with its definitions cached until one changes."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._defs: dict[str, AttrDef] | None = None

    def seed_defaults(self) -> None:
        """Insert the default attributes that are missing (the caller holds the lock)."""
        self._defs = None
        for seq, (name, category, type_) in enumerate(DEFAULT_ATTRIBUTES):
            self._database.conn.execute(
                "INSERT OR IGNORE INTO attributes(name, category, type, seq) VALUES (?,?,?,?)",
                (name, category, type_, seq),
            )

    def defs(self) -> dict[str, AttrDef]:
        """Every attribute by upper-case name (cached until one is created or reset)."""
        with self._database.lock:
            if self._defs is None:
                rows = self._database.conn.execute(
                    "SELECT name, category, type, enumeration, options, value FROM attributes "
                    "ORDER BY seq"
                ).fetchall()
                self._defs = {
                    row[0]: AttrDef(
                        name=row[0],
                        category=row[1],
                        type=row[2],
                        enumeration=[(int(v), str(lab)) for v, lab in json.loads(row[3])],
                        options=list(json.loads(row[4])),
                        value=row[5],
                    )
                    for row in rows
                }
            return self._defs

    def create(self, category: str, name: str, body: dict[str, Any]) -> None:
        """``POST /contacts/attributes/{category}/{name}``."""
        if category not in ATTRIBUTE_CATEGORIES:
            raise invalid(f"Invalid attribute category: {category}")
        name = name.strip().upper()
        if not name or not all(ch.isalnum() or ch == "_" for ch in name):
            raise invalid("Attribute name must contain only letters, digits and underscores")
        type_ = body.get("type")
        if type_ is not None and type_ not in ATTRIBUTE_TYPES:
            raise invalid(f"Invalid attribute type: {type_}")
        enumeration: list[tuple[int, str]] = []
        options: list[str] = []
        value = body.get("value")
        if value is not None and not isinstance(value, str):
            raise invalid("value must be a string")
        if category == "category":
            raw = body.get("enumeration")
            if not isinstance(raw, list) or not raw:
                raise missing("enumeration is mandatory for category attributes")
            for item in raw:
                if (
                    not isinstance(item, dict)
                    or isinstance(item.get("value"), bool)
                    or not isinstance(item.get("value"), int)
                    or not isinstance(item.get("label"), str)
                ):
                    raise invalid("enumeration items need an integer value and a string label")
                if len(item["label"]) > 200:
                    raise invalid("None of the category options can exceed max 200 characters")
                enumeration.append((item["value"], item["label"]))
            if len({v for v, _ in enumeration}) != len(enumeration):
                raise invalid("enumeration values must be unique")
            type_ = "category"
        elif body.get("enumeration") is not None:
            raise invalid("enumeration is only allowed for category attributes")
        if type_ == "multiple-choice":
            raw_opts = body.get("multiCategoryOptions")
            if (
                not isinstance(raw_opts, list)
                or not raw_opts
                or not all(isinstance(o, str) and o.strip() for o in raw_opts)
            ):
                raise missing("multiCategoryOptions is mandatory for multiple-choice attributes")
            if any(len(o) > 200 for o in raw_opts):
                raise invalid("None of the category options can exceed max 200 characters")
            options = [str(o) for o in raw_opts]
        if category in ("calculated", "global") and not value:
            raise missing("value is mandatory for calculated and global attributes")
        if type_ == "category" and category != "category":
            raise invalid("type category needs the category attribute category")
        type_ = type_ or "text"
        with self._database.tx() as db:
            if db.execute("SELECT 1 FROM attributes WHERE name=?", (name,)).fetchone():
                raise invalid("Attribute name must be unique")
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM attributes").fetchone()[0]
            db.execute(
                "INSERT INTO attributes(name, category, type, enumeration, options, value, seq) "
                "VALUES (?,?,?,?,?,?,?)",
                (name, category, type_, json.dumps(enumeration), json.dumps(options), value, seq),
            )
            self._defs = None

    def delete(self, category: str, name: str) -> None:
        """``DELETE /contacts/attributes/{category}/{name}`` (default attributes stay)."""
        name = name.strip().upper()
        defs = self.defs()
        attr = defs.get(name)
        if attr is None or attr.category != category:
            raise not_found("Attribute not found")
        if name in {n for n, _, _ in DEFAULT_ATTRIBUTES}:
            raise invalid("Default attributes cannot be deleted")
        with self._database.tx() as db:
            db.execute("DELETE FROM attributes WHERE name=?", (name,))
            db.execute("UPDATE contacts SET attrs=json_remove(attrs, ?)", (f'$."{name}"',))
            self._defs = None
