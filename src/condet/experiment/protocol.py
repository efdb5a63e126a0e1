"""A protocol file and the runs it asks for: loading, checking, planning, substituting."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condet.commands import Command, get_command
from condet.errors import CondetError
from condet.options import option_flag, positional_fields, type_hints
from condet.yaml_files import read_yaml


@dataclass
class Run:
    """One command of a protocol, for one seed.

    ``values`` are the options its config is built from; ``argv`` is the same run as a
    ``condet`` command line, for the log and the run's record.
    """

    name: str
    command: str
    argv: list[str]
    folder: Path
    seed: int | None
    base_name: str
    # options and positional args with the experiment folder written as {out}, so that the
    # record of a run still matches after the folder moves
    options: dict[str, Any] = field(default_factory=dict)
    depends: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def load_protocol(path: Path) -> dict[str, Any]:
    """A protocol YAML, checked for the keys every run needs."""
    if not path.is_file():
        raise CondetError(f"no protocol file at {path}")
    protocol = read_yaml(path)
    if not isinstance(protocol, dict) or not isinstance(protocol.get("runs"), list):
        raise CondetError(f"{path}: a protocol needs a list of runs")
    names = set()
    for index, run in enumerate(protocol["runs"]):
        if not isinstance(run, dict) or not {"name", "command"} <= set(run):
            raise CondetError(f"{path}: run {index + 1} needs a name and a command")
        if run["name"] in names:
            raise CondetError(f"{path}: two runs are named {run['name']!r}")
        if "out" in (run.get("options") or {}):
            # {run:NAME} and the per-seed folders are the experiment folder's NAME[-sS]
            raise CondetError(
                f"{path}: run {run['name']!r} sets out; the experiment places every run in "
                "its folder (--out), so leave it out"
            )
        names.add(run["name"])
    for comparison in protocol.get("comparisons") or []:
        compared = comparison.get("runs") if isinstance(comparison, dict) else None
        if not (isinstance(compared, list) and len(compared) == 2 and comparison.get("metric")):
            raise CondetError(f"{path}: a comparison needs two runs and a metric: {comparison}")
        unknown = [name for name in compared if name not in names]
        if unknown:
            raise CondetError(f"{path}: comparison of {unknown[0]!r}, which is no run")
    return protocol


def protocol_command(name: str) -> Command:
    """The command a protocol run names; data commands make no run folder and are refused."""
    if name.split()[0] == "data":
        raise CondetError("data commands are not protocol runs")
    try:
        return get_command(name)
    except CondetError:
        raise CondetError(f"unknown command {name!r} in the protocol") from None


def plan_runs(
    protocol: dict[str, Any], out: Path, data: str | None = None, smoke: bool = False
) -> list[Run]:
    """The protocol's runs in order, each with the values of its config, checked (types and
    ranges) for every run before any runs.

    ``data`` may itself name the experiment folder as ``{out}`` (the synthetic set in
    ``{out}/data``).
    """
    data = data or expand_environment(str(protocol.get("data", "runs/demo/data")), "data")
    seeds = protocol.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(type(seed) is int for seed in seeds)):
        raise CondetError(f"the protocol's seeds must be a list of whole numbers, got {seeds!r}")
    if smoke:
        seeds = seeds[:1]
    per_seed = {run["name"] for run in protocol["runs"] if run.get("seeds")}
    # {run:NAME} is what NAME writes: a folder, or one file (rankings derive's .yaml)
    suffixes = {
        run["name"]: protocol_command(run["command"]).output_suffix for run in protocol["runs"]
    }
    runs = []
    for spec in protocol["runs"]:
        command = protocol_command(spec["command"])
        for seed in seeds if spec["name"] in per_seed else [None]:
            name = spec["name"] if seed is None else f"{spec['name']}-s{seed}"
            options = dict(spec.get("options") or {})
            if smoke:
                options |= (protocol.get("smoke") or {}).get(spec["command"], {})
            # a command without --seed (pipeline) still runs once a seed, on that seed's runs
            if seed is not None and "seed" in type_hints(command.config):
                options["seed"] = seed
            options["out"] = f"{{out}}/{name}{command.output_suffix}"
            context = {
                "name": name,
                "data": data,
                "seed": seed,
                "first": seeds[0],
                "out": out,
                "per_seed": per_seed,
                "suffixes": suffixes,
                "depends": [],
            }
            positional = [_substitute(value, context) for value in spec.get("args", [])]
            resolved = _substitute(options, context)
            try:
                values = positional_values(command, positional) | option_values(command, resolved)
                # every run's values are checked now, as the command will check them (types,
                # ranges, what the options need of each other, the kind of --out), so that a
                # typo in the last run, or in one --only leaves out, stops the experiment
                # before anything trains
                command.build_config(values)
            except CondetError as error:
                raise CondetError(f"run {name}: {error}") from None
            argv = [*command.name.split(), *map(str, positional), *command_flags(command, resolved)]
            recorded = {"args": spec.get("args", []), **options}
            recorded = _substitute(recorded, context | {"out": Path("{out}")})
            recorded = {str(key).replace("_", "-"): value for key, value in recorded.items()}
            run = Run(name, spec["command"], argv, Path(resolved["out"]), seed, spec["name"])
            run.options = json.loads(json.dumps(recorded))
            run.depends = list(dict.fromkeys(context["depends"]))
            run.values = values
            runs.append(run)
    names = {run.name for run in runs}
    for run in runs:
        for needed in run.depends:
            if needed not in names:
                raise CondetError(f"run {run.name} refers to {{run:{needed}}}: no such run")
    return runs


def positional_values(command: Command, arguments: list[Any]) -> dict[str, Any]:
    """The config values of a run's ``args``, in the order of the command's positionals (a
    list positional takes the rest)."""
    values: dict[str, Any] = {}
    remaining = list(arguments)
    hints = type_hints(command.config)
    for spec in positional_fields(command.config):
        if not remaining:
            break
        if typing.get_origin(hints[spec.name]) is list:
            values[spec.name], remaining = remaining, []
        else:
            values[spec.name] = remaining.pop(0)
    if remaining:
        raise CondetError(f"condet {command.name} takes no argument {remaining[0]!r}")
    return values


def option_values(command: Command, options: dict[str, Any]) -> dict[str, Any]:
    """The config values of a run's options (dashes or underscores); unset ones are left out."""
    names = {spec.name for spec in dataclasses.fields(command.config)}
    values = {}
    for key, value in options.items():
        name = str(key).replace("-", "_")
        if name not in names:
            raise CondetError(f"condet {command.name} has no option {option_flag(name)}")
        if value is not None:
            values[name] = value
    return values


def command_flags(command: Command, options: dict[str, Any]) -> list[str]:
    """``options`` as the command's flags: ``--no-X`` for false, a repeating flag repeated."""
    repeated = {s.name for s in dataclasses.fields(command.config) if s.metadata.get("repeat")}
    argv: list[str] = []
    for name, value in option_values(command, options).items():
        flag = option_flag(name)
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
            continue
        values = [str(item) for item in value] if isinstance(value, list) else [str(value)]
        if name in repeated:
            for item in values:
                argv += [flag, item]
        else:
            argv += [flag, *values]
    return argv


def select_runs(runs: list[Run], only: typing.Sequence[str] | None) -> set[str]:
    """The names of the runs ``--only`` picks (all runs without it)."""
    if not only:
        return {run.name for run in runs}
    unknown = [name for name in only if not any(name in (r.name, r.base_name) for r in runs)]
    if unknown:
        names = ", ".join(dict.fromkeys(run.base_name for run in runs))
        raise CondetError(f"--only {unknown[0]}: the protocol has no such run (its runs: {names})")
    return {run.name for run in runs if run.name in only or run.base_name in only}


def _substitute(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, context) for item in value]
    if not isinstance(value, str):
        return value

    def run_folder(match: re.Match) -> str:
        base_name = name = match.group(1)
        if name in context["per_seed"]:
            name = f"{name}-s{context['seed'] if context['seed'] is not None else context['first']}"
        context["depends"].append(name)
        return str(context["out"] / name) + context["suffixes"].get(base_name, "")

    # variables first, so that a "$" in the experiment folder or --data is taken as it is
    value = expand_environment(value, f"run {context['name']}")
    value = re.sub(r"\{run:([^}]+)\}", run_folder, value)
    value = value.replace("{data}", str(context["data"])).replace("{out}", str(context["out"]))
    if context["seed"] is not None:
        value = value.replace("{seed}", str(context["seed"]))
    return value


# os.path.expandvars's own pattern (posixpath._varprog), so that both read the same names
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)


def expand_environment(value: str, where: str) -> str:
    """``value`` with its ``$VARIABLE`` / ``${VARIABLE}`` replaced from the environment.

    Unlike :func:`os.path.expandvars`, an unset variable is an error: left as it is, it would
    make every finished run's recorded data differ, and the runner would start them all again.
    """
    for match in _VARIABLE.finditer(value):
        variable = match.group(1).removeprefix("{").removesuffix("}")
        if not re.fullmatch(r"\w+", variable, re.ASCII):
            raise CondetError(
                f"the protocol's {where} has ${{{variable}}}: only $NAME and ${{NAME}} are "
                "read (no defaults)"
            )
        if variable not in os.environ:
            hint = " (or give --data)" if where == "data" else ""
            raise CondetError(
                f"the protocol's {where} names ${variable}, which is not set: "
                f"export {variable}=...{hint}"
            )
    return os.path.expandvars(value)
