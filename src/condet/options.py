"""Typed command options: dataclass defaults, overridden by a YAML file, overridden by flags.

Every command has one dataclass config. Its fields become command-line flags
(``batch_size`` -> ``--batch-size``, help from the field's ``metadata["help"]``), a
``--config FILE`` YAML can set any of them, and the resolved config is written into the run
folder, so a run can always be repeated. Field metadata shapes the flag further:
``positional`` (an argument without ``--``; a list takes one or more), ``repeat`` (a list
flag given once per value, ``--model a --model b``) and ``metavar``; ``changes_results: False``
marks an option that changes how a run goes but not what it computes (progress bars, worker
processes, checkpoint frequency), which an experiment may change without running it again.
``minimum`` / ``maximum`` (inclusive) and ``above`` / ``below`` (exclusive) bound a number (each
item of a list), ``special`` lists values allowed outside the bounds (``-1``: no limit), and
:func:`build_config` refuses a value out of range, so the command line, a ``--config`` file and
a protocol run are checked alike. A field without a default is a required flag (or a positional
argument)::

    @dataclass
    class PretrainConfig:
        epochs: int = field(default=10, metadata={"help": "passes over the data", "minimum": 1})

    add_config_arguments(parser, PretrainConfig)
    config = resolve_config(PretrainConfig, parser.parse_args())
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from condet.errors import CondetError
from condet.yaml_files import YamlFileError, read_yaml

Config = TypeVar("Config")


class ConfigError(CondetError):
    """A config file or value that does not fit the command's config."""


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add ``--config`` and one flag (or positional argument) per field of ``config_class``."""
    parser.add_argument(
        "--config",
        dest="config_file",
        type=Path,
        metavar="CONFIG",
        help="YAML file with any of the options below",
    )
    hints = type_hints(config_class)
    for field in dataclasses.fields(config_class):
        name, options = _argument(field, hints[field.name])
        parser.add_argument(name, **options)


def _argument(field: dataclasses.Field, kind: Any) -> tuple[str, dict[str, Any]]:
    """The name and ``add_argument`` options of the argument ``field`` becomes."""
    help_text = field.metadata.get("help", "")
    default = _default(field)
    shown = f" (default: {_show(default)})" if default not in (None, []) else ""
    options: dict[str, Any] = {"help": help_text + shown}
    base, is_list = _base_type(kind)
    if base is bool:
        options["action"] = argparse.BooleanOptionalAction
    else:
        if typing.get_origin(base) is Literal:
            options["choices"] = list(typing.get_args(base))
            base = type(options["choices"][0])
        options["type"] = base
        if field.metadata.get("repeat"):
            options["action"] = "append"
        elif is_list:
            options["nargs"] = "+"
    if field.metadata.get("positional"):
        return field.name, options
    if base is not bool:
        options["metavar"] = field.metadata.get("metavar", field.name.split("_")[-1].upper())
    options |= {"dest": field.name, "default": None}
    if is_required(field):
        options["required"] = True
    return option_flag(field.name), options


def option_flag(name: str) -> str:
    """The command-line flag of option ``name`` (``batch_size`` -> ``--batch-size``)."""
    return "--" + name.replace("_", "-")


def is_required(field: dataclasses.Field) -> bool:
    """Whether ``field`` has no default, so that every use of the command must set it."""
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def positional_fields(config_class: type) -> list[dataclasses.Field]:
    """The fields of ``config_class`` given as positional arguments, in order."""
    return [field for field in dataclasses.fields(config_class) if field.metadata.get("positional")]


def resolve_config(
    config_class: type[Config], args: argparse.Namespace, base: dict[str, Any] | None = None
) -> Config:
    """Defaults, then ``base`` (a resumed run's config), then ``args.config_file`` (YAML), then
    every flag given on the command line."""
    return build_config(config_class, given_values(config_class, args, base))


def given_values(
    config_class: type, args: argparse.Namespace, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The values ``base``, the ``--config`` file and the flags in ``args`` set, in that order."""
    values: dict[str, Any] = dict(base or {})
    if getattr(args, "config_file", None) is not None:
        values.update(load_config_file(config_class, args.config_file))
    for field in dataclasses.fields(config_class):
        given = getattr(args, field.name, None)
        if given is not None:
            values[field.name] = given
    return values


def load_config_file(config_class: type, path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file, checked against the fields of ``config_class``."""
    try:
        document = read_yaml(path, "config file")
    except YamlFileError as error:
        raise ConfigError(str(error)) from None
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


@functools.cache
def type_hints(config_class: type) -> dict[str, Any]:
    """The field types of ``config_class``, resolved once: a protocol's plan builds a config
    per run, and resolving the string annotations is most of that."""
    return typing.get_type_hints(config_class)


def build_config(config_class: type[Config], values: dict[str, Any]) -> Config:
    """``config_class(**values)`` with every value converted to and checked against its type."""
    hints = type_hints(config_class)
    converted = {}
    for name, value in values.items():
        if name not in hints:
            raise ConfigError(f"unknown option {name!r}")
        converted[name] = _convert(name, value, hints[name])
    for field in dataclasses.fields(config_class):
        if is_required(field) and field.name not in converted:
            raise ConfigError(f"option {field.name} must be set")
    config = config_class(**converted)
    for field in dataclasses.fields(config_class):
        _check_range(field, getattr(config, field.name))
    return config


SEED_RANGE = {"minimum": 0, "maximum": 2**32 - 1}
"""The metadata of a seed: what numpy and Lightning's ``seed_everything`` accept (Lightning
replaces a seed outside it by 0, so two runs asking for different seeds would be the same)."""

RANGE_KEYS = ("minimum", "above", "maximum", "below")
"""The field metadata that bounds a number, lower bounds first: inclusive ``minimum`` /
``maximum``, exclusive ``above`` / ``below``."""


def value_range(field: dataclasses.Field) -> str | None:
    """What ``field``'s metadata allows, in words (``at least 1``, ``between 0 and 1``), or None
    when it sets no bounds."""
    bounds = {key: field.metadata[key] for key in RANGE_KEYS if key in field.metadata}
    if not bounds:
        return None
    if bounds.keys() == {"minimum", "maximum"}:
        allowed = f"between {_number(bounds['minimum'])} and {_number(bounds['maximum'])}"
    else:
        words = {"minimum": "at least", "maximum": "at most", "above": "above", "below": "below"}
        allowed = " and ".join(f"{words[key]} {_number(value)}" for key, value in bounds.items())
    special = field.metadata.get("special", ())
    return allowed + "".join(f" or {_number(value)}" for value in special)


def _check_range(field: dataclasses.Field, value: Any) -> None:
    """Raise when ``value`` (or an item of it) is outside the bounds of ``field``'s metadata."""
    allowed = value_range(field)
    if allowed is None or value is None:
        return
    metadata = field.metadata
    for item in value if isinstance(value, list | tuple) else [value]:
        if item in metadata.get("special", ()):
            continue
        # a NaN compares false to every bound; an infinite number is no setting either
        inside = (
            math.isfinite(item)
            and item >= metadata.get("minimum", item)
            and item <= metadata.get("maximum", item)
            and ("above" not in metadata or item > metadata["above"])
            and ("below" not in metadata or item < metadata["below"])
        )
        if not inside:
            name = field.name if field.metadata.get("positional") else option_flag(field.name)
            raise ConfigError(f"{name} must be {allowed}, got {_number(item)}")


def _number(value: float) -> str:
    """A number as the user would write it: ``-1`` for ``-1.0``, ``0.001`` as is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain YAML-able values (paths as strings), as ``config.yaml`` holds them."""
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
