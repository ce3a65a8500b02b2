"""``contacts-etl mapping``: the column mappings shipped with the package."""

from __future__ import annotations

import json

import click


@click.group("mapping")
def mapping() -> None:
    """Column mappings: the presets for files exported by common tools."""


@mapping.command("presets")
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON.")
def presets(as_json: bool) -> None:
    """List the mapping presets (use one with `contacts-etl import --mapping-preset NAME`)."""
    from etl.imports import list_presets

    found = list_presets()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "tool": p.tool,
                        "description": p.description,
                        "columns": p.columns,
                        "default_region": p.default_region,
                        "dayfirst": p.dayfirst,
                    }
                    for p in found
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    width = max(len(p.name) for p in found)
    for p in found:
        click.echo(f"{p.name:<{width}}  {p.tool}: {p.description}")
