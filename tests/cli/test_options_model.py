"""One options model per command: the CLI, the flow signature and prefect.yaml agree.

Each flow's signature is the one definition (defaults there, help in its ``Args:``); the
commands derive their options from it (``etl.cli.flow_options``). These tests check the result
and would catch a default, a choice or a parameter changed in one place only.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any, Literal

import click
import pydantic
import pytest
import yaml
from click.testing import CliRunner

from etl.cli import cli
from etl.cli.contacts import UPSERT
from etl.cli.exports import EXPORT
from etl.cli.flow_options import CommandSpec, FlowCommand, flow_parameters, load_flow
from etl.cli.imports import IMPORT

REPO = Path(__file__).resolve().parents[2]

COMMANDS: dict[tuple[str, ...], CommandSpec] = {
    ("import",): IMPORT,
    ("export",): EXPORT,
    ("contact", "upsert"): UPSERT,
}


def _command(path: tuple[str, ...]) -> FlowCommand:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert isinstance(command, FlowCommand)
    return command


def _choices(annotation: Any) -> list[str] | None:
    """The choices a flow annotation allows (a Literal, maybe in a list or a union)."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is Literal:
            return [str(a) for a in typing.get_args(arg)]
        inner = _choices(arg) if typing.get_args(arg) and arg is not annotation else None
        if inner:
            return inner
    return None


def _cli_default(param: click.Parameter) -> Any:
    default = param.default
    return None if default in ((), []) else default


def disagreements(command: FlowCommand) -> list[str]:
    """Where the command line and its flow's signature disagree (empty: they agree)."""
    spec = command.spec
    problems: list[str] = []
    bindings = command.bindings()
    by_name = {p.name: p for p in flow_parameters(load_flow(spec))}
    for name, param in by_name.items():
        if name in spec.flow_only or name in spec.fixed:
            continue
        cli_param = bindings.get(name)
        if cli_param is None:
            problems.append(f"{name}: a flow parameter without a CLI option")
            continue
        flow_default = None if param.required else param.default
        if _cli_default(cli_param) != flow_default:
            problems.append(
                f"{name}: CLI default {_cli_default(cli_param)!r} != flow default {flow_default!r}"
            )
        cli_choices = getattr(cli_param.type, "choices", None)
        flow_choices = _choices(param.annotation)
        if (list(cli_choices) if cli_choices else None) != flow_choices:
            problems.append(f"{name}: CLI choices {cli_choices} != flow choices {flow_choices}")
        if isinstance(cli_param, click.Option) and not cli_param.help:
            problems.append(f"{name}: {cli_param.opts[0]} has no help (add its Args line)")
        if not param.help:
            problems.append(f"{name}: no Args line in the flow docstring")
    cli_only = {option.name for _, option in spec.cli_options}
    for cli_param in command.params:
        if cli_param.name in bindings or cli_param.name in cli_only:
            continue
        if isinstance(cli_param, click.Option) and cli_param.name == "help":
            continue
        problems.append(
            f"{cli_param.name}: a CLI option that is neither a flow parameter nor declared CLI-only"
        )
    for name in (*spec.flow_only, *spec.fixed, *spec.arguments, *spec.flags):
        if name not in by_name:
            problems.append(f"{name}: declared in the command's spec, not in the flow")
    return problems


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_cli_and_flow_signature_agree(path):
    command = _command(path)
    assert command.spec is COMMANDS[path]
    assert disagreements(command) == []


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_cli_only_options_have_help(path):
    for _, option in COMMANDS[path].cli_options:
        assert option.help, option.opts


def _spec_with(spec: CommandSpec, **changes: Any) -> FlowCommand:
    return FlowCommand("probe", dataclasses.replace(spec, **changes), callback=lambda **_: None)


def test_the_check_catches_a_default_changed_in_one_place():
    command = _command(("import",))
    keep = command.bindings()["keep"]
    original = keep.default
    try:
        keep.default = "first"
        assert disagreements(command) == ["keep: CLI default 'first' != flow default 'last'"]
    finally:
        keep.default = original
    assert disagreements(command) == []


def test_the_check_catches_a_missing_an_undeclared_or_a_misspelt_option():
    probe = _spec_with(IMPORT)
    probe.params.append(click.Option(["--surprise"], is_flag=True, help="Not a flow parameter."))
    assert disagreements(probe) == [
        "surprise: a CLI option that is neither a flow parameter nor declared CLI-only"
    ]
    probe = _spec_with(IMPORT)
    del probe._bindings[next(iter(probe.bindings()))]  # as if the option were never derived
    assert disagreements(probe)[0] == "files: a flow parameter without a CLI option"
    misspelt = _spec_with(IMPORT, flow_only=IMPORT.flow_only | {"batch_row"})
    assert disagreements(misspelt) == ["batch_row: declared in the command's spec, not in the flow"]


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_cli_help_is_what_prefect_shows_for_the_parameter(path):
    """The Args parser here and Prefect's (the deployment's parameter descriptions) agree."""
    from prefect.utilities.callables import parameter_docstrings

    fn = load_flow(COMMANDS[path]).fn
    prefect = {k: " ".join(v.split()) for k, v in parameter_docstrings(inspect.getdoc(fn)).items()}
    ours = {p.name: p.help for p in flow_parameters(fn)}
    assert ours == prefect
    assert set(ours) == set(inspect.signature(fn).parameters)


# --------------------------------------------------------------------------- prefect.yaml


def _deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]


def _flow_of(entrypoint: str) -> Any:
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def deployment_problems(deployment: dict[str, Any]) -> list[str]:
    """Parameters of a prefect.yaml deployment the flow's signature does not take."""
    fn = _flow_of(deployment["entrypoint"]).fn
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    problems = []
    for name, value in (deployment.get("parameters") or {}).items():
        if name not in signature.parameters:
            problems.append(f"{deployment['name']}: {name} is not a flow parameter")
            continue
        if value == signature.parameters[name].default:
            problems.append(f"{deployment['name']}: {name}={value!r} restates the flow's default")
        try:
            pydantic.TypeAdapter(hints[name]).validate_python(value)
        except pydantic.ValidationError as exc:
            problems.append(f"{deployment['name']}: {name}={value!r}: {exc.errors()[0]['msg']}")
    required = [n for n, p in signature.parameters.items() if p.default is p.empty]
    for name in required:
        if name not in (deployment.get("parameters") or {}):
            problems.append(f"{deployment['name']}: required {name} not given")
    return problems


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["name"])
def test_prefect_yaml_parameters_exist_in_the_flow_with_compatible_values(deployment):
    assert deployment_problems(deployment) == []


def test_the_prefect_yaml_check_catches_a_wrong_name_or_value():
    deployment = next(d for d in _deployments() if d["name"] == "import-contacts")
    broken = {**deployment, "parameters": {**deployment["parameters"], "via": "pigeon"}}
    assert [p.split(":")[1].strip() for p in deployment_problems(broken)] == ["via='pigeon'"]
    renamed = {**deployment, "parameters": {**deployment["parameters"], "chunk_byte": 5}}
    assert deployment_problems(renamed) == ["import-contacts: chunk_byte is not a flow parameter"]
    restated = {**deployment, "parameters": {**deployment["parameters"], "keep": "last"}}
    assert deployment_problems(restated) == [
        "import-contacts: keep='last' restates the flow's default"
    ]


# ------------------------------------------------------------------ values pass straight through


def _parsed(path: tuple[str, ...], *args: str) -> dict[str, Any]:
    """The flow parameters the command line gives (the command's own body is not run)."""
    captured: dict[str, Any] = {}
    spec = COMMANDS[path]
    probe = FlowCommand(path[-1], spec, callback=lambda params, **_: captured.update(params))
    result = CliRunner().invoke(probe, list(args))
    assert result.exit_code == 0, result.output
    return captured


def test_import_values_reach_the_flow_as_it_takes_them(tmp_path):
    from flows.import_contacts import import_contacts, import_options

    mapping = tmp_path / "m.yaml"
    mapping.write_text("{}", encoding="utf-8")
    params = _parsed(
        ("import",),
        "a.csv",
        "b.csv",
        "--list-id",
        "3",
        "--list-id",
        "4",
        "--no-update-existing",
        "--mapping",
        str(mapping),
        "--wait-timeout",
        "5",
    )
    assert params["files"] == ["a.csv", "b.csv"]
    assert params["list_ids"] == [3, 4]
    assert params["update_existing"] is False
    assert params["mapping_file"] == str(mapping)
    assert params["wait_timeout_s"] == 5.0
    validated = import_contacts.validate_parameters(params)
    assert {k: validated[k] for k in params} == params
    options = import_options(params)
    assert options.update_existing is False
    assert options.list_ids == (3, 4)
    assert (
        options.batch_rows == inspect.signature(import_contacts.fn).parameters["batch_rows"].default
    )
    defaults = _parsed(("import",), "a.csv")
    assert defaults["update_existing"] is True
    assert defaults["list_ids"] is None


def test_export_values_reach_the_flow_as_it_takes_them():
    from flows.export_contacts import export_contacts, export_options

    params = _parsed(
        ("export",),
        "--list-id",
        "3",
        "--metadata",
        "_listIds,ADDED_TIME AS _A",
        "--no-utc",
        "--notification",
        "--modified-since",
        "2024-05-01",
        "--subscription-status",
        "sms_marketing",
    )
    assert params["metadata"] == ["_listIds", "ADDED_TIME AS _A"]
    assert params["utc"] is False
    assert params["disable_notification"] is False
    assert params["modified_since"].isoformat() == "2024-05-01T00:00:00+00:00"
    assert params["subscription_status"] == ["sms_marketing"]
    export_contacts.validate_parameters(params)
    options = export_options(params)
    assert options.metadata == ("_listIds", "ADDED_TIME AS _A")
    assert options.utc is False


def test_contact_upsert_values_reach_the_operation():
    params = _parsed(
        ("contact", "upsert"), "ann@example.com", "--attr", "firstname=Ann", "--blacklisted", ""
    )
    assert params["operation"] == "upsert"
    assert params["email"] == "ann@example.com"
    assert params["attributes"] == {"FIRSTNAME": "Ann"}
    assert params["blacklisted"] == ""
