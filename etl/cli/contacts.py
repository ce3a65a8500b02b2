"""``contacts-etl contact``: the legacy v2 "User" operations (upsert, get, unlink-all)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from etl.cli.common import (
    EXIT_FAILED,
    _emit,
    _errors,
    _fail,
    _settings,
    client_for,
    credentials_option,
)
from etl.cli.flow_options import CommandSpec, Flag, FlowCommand

if TYPE_CHECKING:
    from etl.contacts import ContactDetails


@click.group()
def contact() -> None:
    """Single-contact operations of the legacy v2 "User" API, on v3.

    \b
    Examples:
      contacts-etl contact upsert ann@example.com --attr FIRSTNAME=Ann --attr SMS=0612345678 \\
          --default-region FR --list-id 3 --blacklisted ""
      contacts-etl contact get ann@example.com --json
      contacts-etl contact unlink-all ann@example.com
    """


@contextmanager
def _contact_errors(verbose: bool) -> Iterator[None]:
    """``_errors``, plus a refused contact operation as a failed run (exit 1)."""
    from etl.contacts import ContactOpError

    with _errors(verbose):
        try:
            yield
        except ContactOpError as exc:
            if verbose:
                raise
            _fail(str(exc), EXIT_FAILED)


def _attr_pairs(pairs: list[str]) -> dict[str, str]:
    from etl.contacts import parse_attr_pairs

    return parse_attr_pairs(pairs)


UPSERT = CommandSpec(
    flow="flows.contact_ops:contact_ops",
    arguments=("email",),
    fixed={"operation": "upsert"},
    flags={
        "attributes": Flag(
            decls=("--attr",),
            type=click.STRING,
            multiple=True,
            convert=_attr_pairs,
            metavar="NAME=VALUE",
        ),
        "dayfirst": Flag(decls=("--dayfirst/--monthfirst",)),
    },
    # The command calls etl.contacts directly (no Prefect run), with the key found as the flow
    # finds it: --credentials-block, else BREVO_API_KEY, else the Secret block.
    flow_only=frozenset({"base_url"}),
    cli_options=((None, click.Option(["--json", "as_json"], is_flag=True, help="Print JSON.")),),
)
"""``contacts-etl contact upsert``: the contact flow's upsert parameters."""


@contact.command("upsert", cls=FlowCommand, spec=UPSERT)
@click.pass_context
def contact_upsert(ctx: click.Context, /, params: dict[str, Any], *, as_json: bool) -> None:
    """Create the contact if EMAIL is new (prints its id), else update it (prints "updated").

    \b
    Examples:
      contacts-etl contact upsert ann@example.com --attr GENDER=Ms --attr BIRTHDAY=12/03/1990 --dayfirst
      contacts-etl contact upsert ann@example.com --list-id 4 --unlink-list-id 3 --blacklisted 1
    """
    from etl.contacts import upsert_contact

    blocks = {k: params.pop(k, None) for k in ("credentials_block", "secret_block")}
    params = {k: v for k, v in params.items() if k != "operation" and v is not None}
    with _contact_errors(ctx.obj["verbose"]), _settings(**blocks).client() as client:
        result = upsert_contact(client, **params)
        _emit(
            {"created": result.created, "id": result.contact_id, "email": result.email},
            as_json,
            lambda: click.echo(result.line()),
        )


@contact.command("get")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the raw statistics).")
@credentials_option
@click.pass_context
def contact_get(
    ctx: click.Context, /, email: str, as_json: bool, credentials_block: str | None
) -> None:
    """Show a contact: attributes, lists, blacklist status and statistics.

    \b
    Examples:
      contacts-etl contact get ann@example.com
      contacts-etl contact get ann@example.com --json | jq .statistics
    """
    from dataclasses import asdict

    from etl.contacts import get_contact_details

    with _contact_errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        details = get_contact_details(client, email)
        _emit(asdict(details), as_json, lambda: _print_contact(details))


def _print_contact(details: ContactDetails) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{details.email}[/bold] (id {details.id})")
    console.print(
        f"email blacklisted: {'yes' if details.email_blacklisted else 'no'}; "
        f"SMS blacklisted: {'yes' if details.sms_blacklisted else 'no'}"
    )
    lists = ", ".join(f"{lst['id']} ({lst['name']})" for lst in details.lists) or "none"
    console.print(f"lists: {lists}")
    attrs = Table("attribute", "value", title="Attributes")
    for name, value in sorted(details.attributes.items()):
        attrs.add_row(name, str(value))
    console.print(attrs)
    stats = Table("statistic", "count", title="Statistics")
    for name, count in details.statistics.items():
        stats.add_row(name, str(count))
    console.print(stats)


@contact.command("unlink-all")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@credentials_option
@click.pass_context
def contact_unlink_all(
    ctx: click.Context, /, email: str, as_json: bool, credentials_block: str | None
) -> None:
    """Remove the contact from every list it belongs to, and print which lists.

    \b
    Example:
      contacts-etl contact unlink-all ann@example.com
    """
    from etl.contacts import unlink_from_all_lists

    with _contact_errors(ctx.obj["verbose"]), client_for(credentials_block) as client:
        unlinked = unlink_from_all_lists(client, email)
        _emit(
            {"email": email, "unlinked_list_ids": unlinked},
            as_json,
            lambda: click.echo(
                f"unlinked from lists {', '.join(map(str, unlinked))}"
                if unlinked
                else "in no list; nothing to unlink"
            ),
        )
