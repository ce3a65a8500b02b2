"""Mapping presets: the column mappings of the tools contact files usually come from.

Each preset is a YAML file beside this module (``hubspot.yaml``, ``mailchimp.yaml``,
``salesforce.yaml``, ``excel-fr.yaml``), shipped with the package. A preset has the same
``columns:`` mapping as a ``--mapping`` file (``Source header: ATTRIBUTE``, an empty value drops
the column), plus ``name``, ``tool``, ``description`` and optional ``defaults`` for the run's
switches that the tool's files imply (``default_region``, ``dayfirst``); an explicit option wins
over a default. With ``--mapping`` as well, the file wins, column by column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import yaml

from etl.errors import ConfigError, InputError
from etl.imports.mapping import check_mapping

PresetName = Literal["hubspot", "mailchimp", "salesforce", "excel-fr"]
PRESET_NAMES: tuple[PresetName, ...] = ("hubspot", "mailchimp", "salesforce", "excel-fr")


@dataclass(frozen=True)
class MappingPreset:
    """One tool's column mapping, and the switches its files imply."""

    name: str
    tool: str
    description: str
    columns: dict[str, str] = field(default_factory=dict)
    """Source header -> ATTRIBUTE; ``""`` drops the column."""
    default_region: str | None = None
    dayfirst: bool | None = None


def list_presets() -> list[MappingPreset]:
    """Every shipped preset, in the documented order."""
    return [load_preset(name) for name in PRESET_NAMES]


def load_preset(name: str) -> MappingPreset:
    """The preset called ``name``.

    Raises:
        InputError: no such preset.
        ConfigError: the shipped file is broken (a packaging bug).
    """
    if name not in PRESET_NAMES:
        raise InputError(
            f"unknown mapping preset {name!r}: choose one of {', '.join(PRESET_NAMES)}"
        )
    where = f"mapping preset {name}"
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise ConfigError(f"{where}: expected name, tool, description and columns")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"default_region", "dayfirst"}:
        raise ConfigError(f"{where}: defaults may set default_region and dayfirst only")
    region = defaults.get("default_region")
    dayfirst = defaults.get("dayfirst")
    if not (region is None or isinstance(region, str)) or not (
        dayfirst is None or isinstance(dayfirst, bool)
    ):
        raise ConfigError(f"{where}: default_region is a region code, dayfirst true or false")
    return MappingPreset(
        name=str(data.get("name") or name),
        tool=str(data.get("tool") or ""),
        description=" ".join(str(data.get("description") or "").split()),
        columns=check_mapping(data["columns"], where),
        default_region=region,
        dayfirst=dayfirst,
    )


__all__ = ["PRESET_NAMES", "MappingPreset", "PresetName", "list_presets", "load_preset"]
