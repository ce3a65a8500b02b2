"""Click options derived from a flow's signature: one options model per command.

A flow's literal Python signature is the one definition of its parameters (``prefect deploy``
reads the deployment's parameter schema from it): each default lives there, each help text in
the flow docstring's Google-style ``Args:`` section. :class:`FlowCommand` turns that into click
options, so adding an option is a flow parameter plus its ``Args`` line.

Derivation: ``list_ids`` -> ``--list-id`` (``list[...]``: repeatable); ``bool`` defaulting to
False -> a flag, defaulting to True -> ``--no-...`` (its help: the ``Off:`` part of the ``Args``
line); ``Literal`` -> a choice; ``int``, ``float``,
``str``, ``datetime`` and ``date`` typed. A small per-command :class:`CommandSpec` says only what
the signature cannot: a flag spelled otherwise (:class:`Flag`), a click type that checks more
(an existing file), the parameters given as arguments, the ones hidden from the CLI, and the
CLI-only options.

The flow modules are imported on first use of a command's parameters (``--help`` or a run), so
``contacts-etl`` and its other commands start without loading Prefect.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import click

DATETIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z")

Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Flag:
    """How one flow parameter appears on the command line, where derivation is not enough.

    ``decls`` replaces the derived flag (``("--mapping",)``, ``("--utc/--no-utc",)``); ``type``
    replaces the derived click type (``click.Path(exists=True)``: keep the flow's value type);
    ``convert`` turns the parsed value into the flow's value; ``metavar`` names the value;
    ``multiple`` makes it repeatable where the annotation is no list (a ``dict`` of pairs).
    """

    decls: tuple[str, ...] = ()
    type: click.ParamType[Any] | None = None
    convert: Convert | None = None
    metavar: str | None = None
    multiple: bool | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What a command's flow signature cannot say about its command line.

    ``flow`` is ``"module:attribute"``; ``arguments`` are the parameters given positionally;
    ``flow_only`` are hidden from the CLI (their defaults apply); ``fixed`` are set by the
    command itself (``operation="upsert"``); ``cli_options`` are the CLI-only options, each
    placed after the named flow parameter (None: at the end).
    """

    flow: str
    flags: Mapping[str, Flag] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    flow_only: frozenset[str] = frozenset()
    fixed: Mapping[str, object] = field(default_factory=dict)
    cli_options: Sequence[tuple[str | None, click.Option]] = ()


@dataclass(frozen=True, slots=True)
class FlowParameter:
    """One parameter of a flow: name, annotation (resolved), default and help text."""

    name: str
    annotation: Any
    default: Any
    help: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def load_flow(spec: CommandSpec) -> Any:
    """The flow object named by ``spec.flow``."""
    module, _, attribute = spec.flow.partition(":")
    return getattr(importlib.import_module(module), attribute)


def flow_function(flow: Any) -> Callable[..., Any]:
    """The plain function behind a Prefect flow (or the function itself)."""
    fn: Callable[..., Any] = getattr(flow, "fn", flow)
    return fn


def flow_parameters(flow: Any) -> list[FlowParameter]:
    """The flow's parameters in signature order, with their ``Args:`` help texts."""
    fn = flow_function(flow)
    hints = typing.get_type_hints(fn)
    helps = parameter_help(inspect.getdoc(fn) or "")
    return [
        FlowParameter(name, hints.get(name, Any), p.default, helps.get(name, ""))
        for name, p in inspect.signature(fn).parameters.items()
    ]


def parameter_help(docstring: str) -> dict[str, str]:
    """Parameter name -> help text from a Google-style ``Args:`` section (whitespace folded)."""
    helps: dict[str, list[str]] = {}
    in_args = False
    indent: int | None = None
    current: str | None = None
    for line in docstring.splitlines():
        stripped = line.strip()
        if not in_args:
            in_args = stripped in ("Args:", "Arguments:", "Parameters:")
            continue
        if not stripped:
            continue
        width = len(line) - len(line.lstrip())
        if width == 0:
            break  # the next section
        if indent is None:
            indent = width
        if width == indent and ":" in stripped:
            name, _, text = stripped.partition(":")
            current = name.split("(")[0].strip()
            helps[current] = [text.strip()]
        elif current is not None:
            helps[current].append(stripped)
    return {name: " ".join(" ".join(parts).split()) for name, parts in helps.items()}


def off_help(text: str) -> str | None:
    """The help of a ``--no-...`` flag: what its ``Args`` line says after ``Off:``, if it does.

    A parameter defaulting to True is documented for the flow (what it does when on) and for
    its ``--no-...`` flag (``Off: ...``).
    """
    _, off, after = text.partition("Off: ")
    return (after if off else text) or None


def flag_name(name: str) -> str:
    """``list_ids`` -> ``--list-id``; ``wait_timeout_s`` -> ``--wait-timeout-s``."""
    base = name[:-1] if name.endswith("_ids") else name
    return "--" + base.replace("_", "-")


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None``), or the annotation alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, tuple, Sequence)


def _value_type(annotation: Any) -> tuple[Any, bool]:
    """The value's annotation, and whether the option repeats (a ``list[...]`` member)."""
    members = _members(annotation)
    for member in members:
        if _is_list(member):
            return typing.get_args(member)[0], True
    return members[0], False


def _to_utc(value: datetime | None) -> datetime | None:
    """A naive datetime from the command line is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def click_type(annotation: Any) -> tuple[click.ParamType[Any] | None, Convert | None]:
    """The click type of one value, and how its parsed value becomes the flow's."""
    if typing.get_origin(annotation) is Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)]), None
    if annotation is datetime:
        return click.DateTime(formats=list(DATETIME_FORMATS)), _to_utc
    if annotation is date:
        return click.DateTime(formats=["%Y-%m-%d"]), lambda v: v.date() if v else v
    if annotation in (int, float):
        return click.types.convert_type(annotation), None
    if annotation is Path:
        return click.Path(path_type=Path), None
    return None, None


@dataclass(frozen=True, slots=True)
class _Binding:
    """A click parameter bound to the flow parameter it fills."""

    parameter: click.Parameter
    convert: Convert | None


def _option(param: FlowParameter, flag: Flag | None) -> _Binding:
    flag = flag or Flag()
    value_type, multiple = _value_type(param.annotation)
    derived_type, convert = click_type(value_type)
    kwargs: dict[str, Any] = {"help": param.help or None, "type": flag.type or derived_type}
    if flag.metavar:
        kwargs["metavar"] = flag.metavar
    default = None if param.required else param.default
    if value_type is bool and not multiple:
        kwargs.pop("type")
        if flag.decls and "/" in flag.decls[0]:
            decls = [flag.decls[0], param.name]
            kwargs.update(default=default, show_default=True)
        elif default is True:
            decls = [*(flag.decls or ("--no-" + flag_name(param.name)[2:],)), param.name]
            kwargs.update(is_flag=True, flag_value=False, default=True, help=off_help(param.help))
        else:
            decls = [*(flag.decls or (flag_name(param.name),)), param.name]
            kwargs.update(is_flag=True, default=bool(default))
    else:
        decls = [*(flag.decls or (flag_name(param.name),)), param.name]
        multiple = multiple if flag.multiple is None else flag.multiple
        kwargs.update(multiple=multiple, required=param.required, default=default)
        if multiple and default is not None:
            kwargs["default"] = tuple(default)
        if default not in (None, (), []):
            kwargs["show_default"] = True
    return _Binding(click.Option(decls, **kwargs), flag.convert or convert)


def _argument(param: FlowParameter) -> _Binding:
    value_type, multiple = _value_type(param.annotation)
    derived_type, convert = click_type(value_type)
    argument = click.Argument(
        [param.name],
        type=derived_type,
        nargs=-1 if multiple else 1,
        required=param.required,
        default=None if param.required else param.default,
    )
    return _Binding(argument, convert)


def to_flow_value(value: Any) -> Any:
    """A parsed click value as the flow takes it: a repeated option as a list (or None)."""
    if isinstance(value, tuple):
        return list(value) or None
    return value


class FlowCommand(click.Command):
    """A click command whose options are derived from a flow's signature (see the module doc).

    The callback receives ``params``, the flow's parameters from the command line (and the
    spec's fixed ones), ready to pass to the flow as keyword arguments, plus the CLI-only
    options by name.
    """

    def __init__(
        self, name: str, spec: CommandSpec, callback: Callable[..., Any], **kwargs: Any
    ) -> None:
        self.spec = spec
        self._built: list[click.Parameter] | None = None
        self._bindings: dict[str, _Binding] = {}
        self._user_callback = callback
        super().__init__(name, callback=self._invoke_flow, **kwargs)

    @property
    def params(self) -> list[click.Parameter]:
        """The click parameters: derived from the flow on first use."""
        if self._built is None:
            self._built = self._build()
        return self._built

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._explicit = list(value)
        self._built = None

    def _build(self) -> list[click.Parameter]:
        spec = self.spec
        after: dict[str | None, list[click.Option]] = {}
        for anchor, option in spec.cli_options:
            after.setdefault(anchor, []).append(option)
        built: list[click.Parameter] = list(self._explicit)
        for param in flow_parameters(load_flow(spec)):
            if param.name in spec.flow_only or param.name in spec.fixed:
                pass
            elif param.name in spec.arguments:
                self._bindings[param.name] = _argument(param)
                built.append(self._bindings[param.name].parameter)
            else:
                self._bindings[param.name] = _option(param, spec.flags.get(param.name))
                built.append(self._bindings[param.name].parameter)
            built.extend(after.pop(param.name, []))
        built.extend(after.pop(None, []))
        if after:
            raise TypeError(
                f"{spec.flow}: CLI options placed after unknown {sorted(map(str, after))}"
            )
        return built

    def bindings(self) -> dict[str, click.Parameter]:
        """Flow parameter name -> the click parameter that fills it."""
        self.params  # noqa: B018 - builds the bindings
        return {name: b.parameter for name, b in self._bindings.items()}

    def _invoke_flow(self, *args: Any, **kwargs: Any) -> Any:
        params: dict[str, Any] = dict(self.spec.fixed)
        for name, binding in self._bindings.items():
            value = to_flow_value(kwargs.pop(name))
            params[name] = (
                binding.convert(value) if binding.convert and value is not None else value
            )
        return self._user_callback(*args, params=params, **kwargs)


def flow_command(
    name: str, spec: CommandSpec, **kwargs: Any
) -> Callable[[Callable[..., Any]], FlowCommand]:
    """Decorator: a :class:`FlowCommand` running the decorated function (help from its doc)."""

    def decorator(fn: Callable[..., Any]) -> FlowCommand:
        return FlowCommand(name, spec, fn, help=inspect.getdoc(fn), **kwargs)

    return decorator
