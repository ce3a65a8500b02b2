"""What each attribute's values must be: specs from the account's attributes, and the switches
of the import command that change values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import phonenumbers

from etl.errors import ConfigError
from etl.imports.mapping import EMAIL, PHONE_ATTRIBUTES
from etl.imports.normalise.dates import DayOrder

if TYPE_CHECKING:
    from etl.brevo.models import Attribute

Kind = Literal[
    "text", "date", "float", "boolean", "category", "multiple-choice", "id", "email", "phone"
]


@dataclass(frozen=True)
class AttributeSpec:
    """How the values of one attribute are normalised."""

    name: str
    kind: Kind
    enumeration: Mapping[str, int] = field(default_factory=dict)
    """Category: lower-cased label -> value, and str(value) -> value."""
    options: tuple[str, ...] = ()
    """Multiple-choice: the account's option names."""


_TYPE_KINDS: dict[str, Kind] = {
    "text": "text",
    "date": "date",
    "float": "float",
    "boolean": "boolean",
    "id": "id",
    "multiple-choice": "multiple-choice",
    "category": "category",
}


def build_specs(attributes: Sequence[Attribute]) -> dict[str, AttributeSpec]:
    """Specs from ``GET /contacts/attributes``; EMAIL and the phone attributes by name."""
    specs: dict[str, AttributeSpec] = {}
    for attribute in attributes:
        name = attribute.name.upper()
        if name == EMAIL:
            specs[name] = AttributeSpec(name, "email")
            continue
        if name in PHONE_ATTRIBUTES:
            specs[name] = AttributeSpec(name, "phone")
            continue
        kind = _TYPE_KINDS.get(attribute.kind, "text")
        enumeration: dict[str, int] = {}
        if kind == "category":
            # Labels first, then values, so that a value always means itself (idempotence).
            for item in attribute.enumeration:
                enumeration[item.label.strip().lower()] = item.value
            for item in attribute.enumeration:
                enumeration[str(item.value)] = item.value
        specs[name] = AttributeSpec(
            name=name,
            kind=kind,
            enumeration=enumeration,
            options=tuple(attribute.multi_category_options),
        )
    return specs


def spec_for(attribute: str, specs: Mapping[str, AttributeSpec]) -> AttributeSpec:
    """The spec of an attribute; EMAIL and phones are recognised even when the account's list
    omits them, and unknown attributes are text."""
    if attribute == EMAIL:
        return AttributeSpec(EMAIL, "email")
    if attribute in PHONE_ATTRIBUTES:
        return AttributeSpec(attribute, "phone")
    return specs.get(attribute) or AttributeSpec(attribute, "text")


@dataclass(frozen=True)
class NormaliseOptions:
    """Switches of the import command that change values."""

    default_region: str | None = None
    """ISO country (``FR``) for phone numbers written without their country code."""
    dayfirst: bool | None = False
    """``01/02/1990`` is 1 February (True) or January 2 (False) in a column whose own values do
    not settle the order; None: such values are rejected as ambiguous. ``.`` and ``-`` forms
    are day-first."""
    drop_invalid_values: bool = False
    """Send the contact without an invalid non-identifier value instead of rejecting the row."""
    date_orders: tuple[tuple[str, DayOrder], ...] = ()
    """The settled day/month order of date attributes (the run's pre-scan decides them)."""

    def order_of(self, attribute: str) -> DayOrder | None:
        """The settled day/month order of a date attribute, if its values settled one."""
        for name, order in self.date_orders:
            if name == attribute:
                return order
        return None

    def __post_init__(self) -> None:
        if self.default_region is not None:
            region = self.default_region.strip().upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigError(
                    f"unknown default region {self.default_region!r}: use an ISO country code "
                    "such as FR, GB or US"
                )
            object.__setattr__(self, "default_region", region)
