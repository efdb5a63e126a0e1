"""Typed command configs: dataclass defaults, overridden by a YAML file, overridden by flags.

Every training or evaluation command has one dataclass config. Its fields become command-line
flags (``batch_size`` -> ``--batch-size``, help from the field's ``metadata["help"]``), a
``--config FILE`` YAML can set any of them, and the resolved config is written into the run
folder, so a run can always be repeated::

    @dataclass
    class PretrainConfig:
        epochs: int = field(default=10, metadata={"help": "passes over the data"})

    add_config_arguments(parser, PretrainConfig)
    config = resolve_config(PretrainConfig, parser.parse_args())
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from condet.errors import CondetError

Config = TypeVar("Config")


class ConfigError(CondetError):
    """A config file or value that does not fit the command's config."""


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add ``--config`` and one flag per field of ``config_class``."""
    parser.add_argument("--config", type=Path, help="YAML file with any of the options below")
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        help_text = field.metadata.get("help", "")
        default = _default(field)
        shown = f" (default: {_show(default)})" if default is not None else ""
        options: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text + shown}
        base, is_list = _base_type(kind)
        if base is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            if typing.get_origin(base) is Literal:
                options["choices"] = list(typing.get_args(base))
                base = type(options["choices"][0])
            options["type"] = base
            if is_list:
                options["nargs"] = "+"
            options["metavar"] = field.name.split("_")[-1].upper()
        parser.add_argument(flag, **options)


def resolve_config(
    config_class: type[Config], args: argparse.Namespace, base: dict[str, Any] | None = None
) -> Config:
    """Defaults, then ``base`` (a resumed run's config), then ``args.config`` (YAML), then
    every flag given on the command line."""
    values: dict[str, Any] = dict(base or {})
    if getattr(args, "config", None) is not None:
        values.update(load_config_file(config_class, args.config))
    for field in dataclasses.fields(config_class):
        given = getattr(args, field.name, None)
        if given is not None:
            values[field.name] = given
    return build_config(config_class, values)


def load_config_file(config_class: type, path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file, checked against the fields of ``config_class``."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {yaml_problem(error)}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    known = {field.name for field in dataclasses.fields(config_class)}
    values = {str(key).replace("-", "_"): value for key, value in document.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown options {', '.join(unknown)}")
    return values


def yaml_problem(error: yaml.YAMLError | UnicodeDecodeError) -> str:
    """What is wrong with an unreadable YAML file, in one line, e.g. ``malformed YAML at line 2,
    column 1: expected the node content, but found '<stream end>' (while parsing a flow node)``.

    PyYAML's own message spans several lines (each position with a quoted excerpt and a caret),
    and every CLI error must be one line: keep the problem, its line and column, and what the
    parser was reading there.
    """
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (at byte {error.start})"
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "unreadable"
        context = f" ({error.context})" if error.problem and error.context else ""
        text = f"malformed YAML{where}: {problem}{context}"
    else:
        # A ReaderError (a character YAML does not allow): its first line says which.
        text = "malformed YAML: " + str(error).splitlines()[0]
    return " ".join(text.split())


def build_config(config_class: type[Config], values: dict[str, Any]) -> Config:
    """``config_class(**values)`` with every value converted to and checked against its type."""
    hints = typing.get_type_hints(config_class)
    converted = {}
    for name, value in values.items():
        if name not in hints:
            raise ConfigError(f"unknown option {name!r}")
        converted[name] = _convert(name, value, hints[name])
    return config_class(**converted)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain YAML-able values (paths as strings)."""
    return {field.name: _plain(getattr(config, field.name)) for field in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return str(value)


def _base_type(kind: Any) -> tuple[Any, bool]:
    """The scalar type of a field and whether it is a list; ``X | None`` counts as ``X``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(kind) if a is not type(None)]
        return _base_type(arguments[0])
    if origin in (list, tuple):
        return typing.get_args(kind)[0], True
    return kind, False


def _convert(name: str, value: Any, kind: Any) -> Any:
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(kind)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"option {name} must be set")
    base, is_list = _base_type(kind)
    if is_list:
        items = value if isinstance(value, list | tuple) else [value]
        return [_convert_scalar(name, item, base) for item in items]
    return _convert_scalar(name, value, base)


def _convert_scalar(name: str, value: Any, base: Any) -> Any:
    if typing.get_origin(base) is Literal:
        choices = typing.get_args(base)
        if value not in choices:
            raise ConfigError(f"option {name} must be one of {', '.join(map(str, choices))}")
        return value
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"option {name} must be true or false, got {value!r}")
        return value
    if base is Path:
        return Path(value)
    try:
        if base is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return base(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be {base.__name__}, got {value!r}") from None
