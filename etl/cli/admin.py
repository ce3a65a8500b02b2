"""``contacts-etl folders`` and ``attributes``: the account set-up an import needs, without curl."""

from __future__ import annotations

import click

from etl.cli.common import _emit, _errors, client_for, credentials_option

ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "id", "category", "multiple-choice")
ATTRIBUTE_CATEGORIES = ("normal", "category", "transactional")

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def folders() -> None:
    """List or create the account's folders (a new list needs one: --folder-id).

    \b
    Examples:
      contacts-etl folders list
      contacts-etl folders create "Imports"
    """


@folders.command("list")
@_JSON
@credentials_option
@click.pass_context
def folders_list(ctx: click.Context, /, as_json: bool, credentials_block: str | None) -> None:
    """Print every folder: id and name."""
    with _errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        rows = [{"id": f.id, "name": f.name} for page in client.iter_folders() for f in page]

        def human() -> None:
            for row in rows:
                click.echo(f"{row['id']}\t{row['name']}")
            if not rows:
                click.echo("no folders yet: contacts-etl folders create NAME")

        _emit({"folders": rows}, as_json, human)


@folders.command("create")
@click.argument("name")
@_JSON
@credentials_option
@click.pass_context
def folders_create(
    ctx: click.Context, /, name: str, as_json: bool, credentials_block: str | None
) -> None:
    """Create a folder and print its id (an existing folder of that name is reused)."""
    with _errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        existing = [f.id for page in client.iter_folders() for f in page if f.name == name]
        folder_id = existing[0] if existing else client.create_folder(name)
        _emit(
            {"id": folder_id, "name": name, "created": not existing},
            as_json,
            lambda: click.echo(
                f"folder {folder_id} ({name}){' already existed' if existing else ' created'}"
            ),
        )


@click.group()
def attributes() -> None:
    """List or create the account's contact attributes (columns an import can fill).

    \b
    Examples:
      contacts-etl attributes list
      contacts-etl attributes create BIRTHDAY --type date
      contacts-etl attributes create NEWSLETTER --type boolean
    """


@attributes.command("list")
@_JSON
@credentials_option
@click.pass_context
def attributes_list(ctx: click.Context, /, as_json: bool, credentials_block: str | None) -> None:
    """Print every attribute: name, category and type."""
    with _errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        rows = [
            {"name": a.name, "category": a.category, "type": a.type or ""}
            for a in client.get_attributes()
        ]

        def human() -> None:
            for row in rows:
                click.echo(f"{row['name']}\t{row['category']}\t{row['type']}")

        _emit({"attributes": rows}, as_json, human)


@attributes.command("create")
@click.argument("name")
@click.option(
    "--type",
    "kind",
    type=click.Choice(ATTRIBUTE_TYPES),
    default="text",
    show_default=True,
    help="The attribute's type.",
)
@click.option(
    "--category",
    type=click.Choice(ATTRIBUTE_CATEGORIES),
    default="normal",
    show_default=True,
    help="Brevo's attribute category.",
)
@_JSON
@credentials_option
@click.pass_context
def attributes_create(
    ctx: click.Context,
    /,
    name: str,
    kind: str,
    category: str,
    as_json: bool,
    credentials_block: str | None,
) -> None:
    """Create a contact attribute (Brevo upper-cases its name)."""
    with _errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        client.create_attribute(name, category=category, type=kind)
        _emit(
            {"name": name.upper(), "category": category, "type": kind},
            as_json,
            lambda: click.echo(f"attribute {name.upper()} ({kind}) created"),
        )
