"""Experiment protocols: one YAML file runs a whole comparison (``condet experiment``).

A protocol is a list of condet commands, each written as its options, run in order into one
folder, then summarised in one table (Markdown, CSV, JSON) and one self-contained
``report.html``. Every run is exactly what a user could type: the options become the
command's flags, and the run folder holds the run's resolved config, seed, versions, commit,
device and timings. ::

    name: ranked_contrastive
    data: runs/demo/data            # {data} below; condet experiment --data replaces it
    synthetic: {images: 300}        # or: generate the embedded synthetic set as {data}
    seeds: [0, 1, 2]                # runs with `seeds: true` repeat once per seed
    runs:
      - name: supcon
        command: ood
        seeds: true
        options: {data: "{data}", loss: supcon, withhold: [ring, pentagon]}
      - name: gradcam
        command: explain
        args: ["{data}"]
        options: {kind: encoder, model: ["supcon={run:supcon}"]}
    comparisons:                    # one sentence each in results.md and report.html
      - {runs: [supcon, ranked], metric: NCM top-1}
    smoke:                          # merged into a command's options under --smoke
      ood: {epochs: 1, max-steps: 2}
      synthetic: {images: 40}       # and into the synthetic set's settings

In option values, ``{data}`` is the data set, ``{seed}`` the run's seed, ``{run:NAME}`` the
folder of run NAME (of the same seed when NAME repeats per seed, else of the first seed),
``{out}`` the experiment
folder, and ``$VARIABLE`` an environment variable (e.g. ``$CONDET_SHARED_DATA``). Options
name the command's flags without ``--``; lists give several values (or repeat a flag that
repeats), ``true`` / ``false`` switch a flag on or off.

Started again, an experiment keeps what it can trust and redoes the rest. Each run leaves a
record (``RUN/.protocol-run.json``; ``.NAME.png.protocol-run.json`` beside an explain run's
picture) of its command, options, data, condet version and the runs it used. A finished run is
kept while that record is what the protocol asks for now; otherwise it is run again from the
start, and the log says why. A run interrupted half-way continues from its last checkpoint
(``--resume``) when it has one, so one killed experiment, started again, ends with the same
tables as one that never stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import condet
from condet.errors import CondetError
from condet.io import write_text_atomic
from condet.report import write_report
from condet.result_cells import command_table, format_value

logger = logging.getLogger("condet")

# The headline numbers of each command's run folder: (file, path in its JSON, column label).
METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "detect-train": (
        ("metrics.json", "AP50_voc07", "VOC07 AP50"),
        ("metrics.json", "AP", "AP"),
        ("metrics.json", "AP50", "AP50"),
        ("metrics.json", "AP75", "AP75"),
        ("metrics.json", "mean_iou", "mean IoU"),
        ("metrics.json", "loc_acc@0.5", "loc. acc@0.5"),
        ("metrics.json", "loc_acc@0.7", "loc. acc@0.7"),
        ("metrics.json", "det_loc_acc@0.5", "det. loc. acc@0.5"),
        ("metrics.json", "det_loc_acc@0.7", "det. loc. acc@0.7"),
        ("metrics.json", "corloc@0.5", "CorLoc"),
    ),
    "classify-train": (
        ("results.json", "ncm/top1", "NCM top-1"),
        ("results.json", "ncm/top3", "NCM top-3"),
        ("results.json", "knn/top1", "k-NN top-1"),
        ("results.json", "linear/top1", "linear top-1"),
        ("results.json", "ood/prototype cosine/auroc", "AUROC prototype"),
        ("results.json", "ood/k-NN distance/auroc", "AUROC k-NN"),
        ("results.json", "ood/Mahalanobis/auroc", "AUROC Mahalanobis"),
        ("results.json", "ood/max softmax/auroc", "AUROC max softmax"),
    ),
    "evaluate-features": (
        ("features.json", "results/knn/top1", "k-NN top-1"),
        ("features.json", "results/knn/top3", "k-NN top-3"),
        ("features.json", "results/ncm/top1", "NCM top-1"),
        ("features.json", "results/linear/top1", "linear top-1"),
        ("features.json", "results/linear/top3", "linear top-3"),
    ),
    "pipeline": (
        ("metrics.json", "AP50_voc07", "VOC07 AP50 (known)"),
        ("metrics.json", "AP", "AP (known)"),
        ("metrics.json", "rejection_rate", "unknown rejected"),
        ("metrics.json", "false_rejection_rate", "known rejected"),
    ),
}
METRICS["ood"] = METRICS["classify-train"]

# The record a run leaves of what made it (see the module docstring).
RECORD = ".protocol-run.json"


@dataclass
class Run:
    """One command of a protocol, for one seed."""

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


def load_protocol(path: Path) -> dict[str, Any]:
    """A protocol YAML, checked for the keys every run needs."""
    if not path.is_file():
        raise CondetError(f"no protocol file at {path}")
    try:
        protocol = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise CondetError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(protocol, dict) or not isinstance(protocol.get("runs"), list):
        raise CondetError(f"{path}: a protocol needs a list of runs")
    names = set()
    for index, run in enumerate(protocol["runs"]):
        if not isinstance(run, dict) or not {"name", "command"} <= set(run):
            raise CondetError(f"{path}: run {index + 1} needs a name and a command")
        if run["name"] in names:
            raise CondetError(f"{path}: two runs are named {run['name']!r}")
        names.add(run["name"])
    for comparison in protocol.get("comparisons") or []:
        compared = comparison.get("runs") if isinstance(comparison, dict) else None
        if not (isinstance(compared, list) and len(compared) == 2 and comparison.get("metric")):
            raise CondetError(f"{path}: a comparison needs two runs and a metric: {comparison}")
        unknown = [name for name in compared if name not in names]
        if unknown:
            raise CondetError(f"{path}: comparison of {unknown[0]!r}, which is no run")
    return protocol


def plan_runs(
    protocol: dict[str, Any], out: Path, data: str | None = None, smoke: bool = False
) -> list[Run]:
    """The protocol's runs in order, each with its full ``condet`` argument list.

    ``data`` may itself name the experiment folder as ``{out}`` (the synthetic set in
    ``{out}/data``).
    """
    data = data or os.path.expandvars(str(protocol.get("data", "runs/demo/data")))
    seeds = [int(seed) for seed in protocol.get("seeds", [0])]
    if smoke:
        seeds = seeds[:1]
    per_seed = {run["name"] for run in protocol["runs"] if run.get("seeds")}
    runs = []
    for spec in protocol["runs"]:
        for seed in seeds if spec["name"] in per_seed else [None]:
            name = spec["name"] if seed is None else f"{spec['name']}-s{seed}"
            options = dict(spec.get("options") or {})
            if smoke:
                options |= (protocol.get("smoke") or {}).get(spec["command"], {})
            if seed is not None:
                options["seed"] = seed
            suffix = ".png" if spec["command"] == "explain" else ""
            options.setdefault("out", f"{{out}}/{name}{suffix}")
            context = {
                "data": data,
                "seed": seed,
                "first": seeds[0],
                "out": out,
                "per_seed": per_seed,
                "depends": [],
            }
            positional = [_substitute(value, context) for value in spec.get("args", [])]
            resolved = _substitute(options, context)
            argv = [spec["command"], *positional, *_flags(spec["command"], resolved)]
            recorded = {"args": spec.get("args", []), **options}
            recorded = _substitute(recorded, context | {"out": Path("{out}")})
            recorded = {str(key).replace("_", "-"): value for key, value in recorded.items()}
            run = Run(name, spec["command"], argv, Path(resolved["out"]), seed, spec["name"])
            run.options = json.loads(json.dumps(recorded))
            run.depends = list(dict.fromkeys(context["depends"]))
            runs.append(run)
    names = {run.name for run in runs}
    for run in runs:
        for needed in run.depends:
            if needed not in names:
                raise CondetError(f"run {run.name} refers to {{run:{needed}}}: no such run")
    return runs


def _substitute(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, context) for item in value]
    if not isinstance(value, str):
        return value

    def run_folder(match: re.Match) -> str:
        name = match.group(1)
        if name in context["per_seed"]:
            name = f"{name}-s{context['seed'] if context['seed'] is not None else context['first']}"
        context["depends"].append(name)
        return str(context["out"] / name)

    value = re.sub(r"\{run:([^}]+)\}", run_folder, value)
    value = value.replace("{data}", str(context["data"])).replace("{out}", str(context["out"]))
    if context["seed"] is not None:
        value = value.replace("{seed}", str(context["seed"]))
    return os.path.expandvars(value)


def _flags(command: str, options: dict[str, Any]) -> list[str]:
    from condet.cli import build_parser

    actions = _command_actions(build_parser(), command)
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + str(key).replace("_", "-")
        action = actions.get(flag)
        if action is None:
            raise CondetError(f"condet {command} has no option {flag}")
        if value is None:
            continue
        if isinstance(value, bool):
            if isinstance(action, argparse.BooleanOptionalAction):
                argv.append(flag if value else "--no-" + flag[2:])
            elif value:
                argv.append(flag)
            continue
        values = [str(item) for item in value] if isinstance(value, list) else [str(value)]
        if isinstance(action, argparse._AppendAction):
            for item in values:
                argv += [flag, item]
        else:
            argv += [flag, *values]
    return argv


def _command_actions(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if command not in action.choices:
                raise CondetError(f"unknown command {command!r} in the protocol")
            subparser = action.choices[command]
            if command == "data":
                raise CondetError("data commands are not protocol runs")
            return {flag: item for item in subparser._actions for flag in item.option_strings}
    raise CondetError("condet's parser has no commands")


def collect_metrics(run: Run) -> dict[str, float]:
    """The headline numbers of a finished run (see :data:`METRICS`)."""
    metrics: dict[str, float] = {}
    for file_name, key, label in METRICS.get(run.command, ()):
        path = run.folder / file_name
        if not path.is_file():
            continue
        value = _lookup(json.loads(path.read_text()), key)
        if isinstance(value, int | float):
            metrics[label] = float(value)
    if run.command == "pretrain":
        from condet.runs import read_metrics

        losses = [row["train/loss_epoch"] for row in read_metrics(run.folder)]
        losses = [float(loss) for loss in losses if loss]
        if losses:
            metrics["final loss"] = losses[-1]
    return metrics


def _lookup(saved: dict[str, Any], key: str) -> Any:
    value: Any = saved
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def summary_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per protocol run: metrics as mean and spread over its seeds."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.metrics:
            groups.setdefault(run.base_name, []).append(run)
    rows = []
    for name, members in groups.items():
        row: dict[str, Any] = {"run": name, "command": members[0].command, "seeds": len(members)}
        keys = dict.fromkeys(key for member in members for key in member.metrics)
        for key in keys:
            values = [member.metrics[key] for member in members if key in member.metrics]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            row[key] = {"mean": statistics.mean(values), "std": spread, "n": len(values)}
        rows.append(row)
    return rows


def comparison_sentences(
    rows: list[dict[str, Any]], comparisons: Sequence[dict[str, Any]]
) -> list[str]:
    """One sentence per comparison ``{runs: [A, B], metric: M}``: B against A on M, over seeds.

    A difference smaller than twice the larger seed spread (std) is reported as no
    difference; with one seed on either side there is no spread, and no conclusion.
    """
    by_name = {row["run"]: row for row in rows}
    sentences = []
    for comparison in comparisons:
        (first, second), metric = comparison["runs"], comparison["metric"]
        values = [by_name.get(name, {}).get(metric) for name in (first, second)]
        if None in values:
            missing = first if values[0] is None else second
            sentences.append(f"{metric}, {second} vs {first}: {missing} has no result yet.")
            continue
        base, other = values
        difference = other["mean"] - base["mean"]
        stated = (
            f"{metric}: {second} {format_value(other)} vs {first} {format_value(base)} "
            f"({other['n']} and {base['n']} seeds)"
        )
        if min(base["n"], other["n"]) < 2:
            sentences.append(f"{stated}; one seed gives no spread, so no conclusion.")
            continue
        margin = 2 * max(base["std"], other["std"])
        if abs(difference) < margin:
            verdict = (
                f"the difference ({difference:+.3f}) is smaller than twice the seed spread "
                f"({margin:.3f}): no difference"
            )
        else:
            direction = "higher" if difference > 0 else "lower"
            verdict = (
                f"{second} is {direction} by {abs(difference):.3f}, more than twice the seed "
                f"spread ({margin:.3f})"
            )
        sentences.append(f"{stated}; {verdict}.")
    return sentences


def markdown_tables(rows: list[dict[str, Any]]) -> str:
    """One Markdown table per command: ``mean ± std`` where a run repeats over seeds."""
    text = []
    for command in dict.fromkeys(row["command"] for row in rows):
        chosen, keys = command_table(rows, command)
        text.append(f"### {command}\n")
        text.append("| run | seeds | " + " | ".join(keys) + " |")
        text.append("|---|---|" + "---|" * len(keys))
        for row in chosen:
            cells = [format_value(row.get(key)) for key in keys]
            text.append(f"| {row['run']} | {row['seeds']} | " + " | ".join(cells) + " |")
        text.append("")
    return "\n".join(text)


def run_experiment(
    config: Path,
    out: Path | None = None,
    data: str | None = None,
    smoke: bool = False,
    only: Sequence[str] | None = None,
) -> Path:
    """Run the commands of protocol ``config`` and write the tables and ``report.html``.

    A finished run is kept while its record matches what the protocol asks for now, an
    interrupted one continues from its last checkpoint, and any other is run again from the
    start (see the module docstring). With ``only`` (protocol run names, with or without the
    ``-sN`` seed suffix), just those runs are run; the tables still hold every kept result.
    """
    from condet.cli import main
    from condet.runs import environment

    protocol = load_protocol(config)
    name = protocol.get("name", config.stem)
    out = out or Path("runs") / (name + ("-smoke" if smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    resolved_data = data
    synthetic = None
    if data is None and protocol.get("synthetic"):
        synthetic = protocol["synthetic"] if isinstance(protocol["synthetic"], dict) else {}
        if smoke:
            synthetic = synthetic | (protocol.get("smoke") or {}).get("synthetic", {})
        _synthetic_data(synthetic, out / "data")
        # written as {out}/data so that the runs' records do not name where the folder is
        data, resolved_data = "{out}/data", str(out / "data")
    runs = plan_runs(protocol, out, data, smoke)
    chosen = select_runs(runs, only)
    resolved = protocol | {"data": resolved_data or protocol.get("data"), "smoke": smoke}
    write_text_atomic(out / "protocol.yaml", yaml.safe_dump(resolved, sort_keys=False))
    write_text_atomic(out / "environment.json", json.dumps(environment("experiment"), indent=2))
    records: dict[str, dict[str, Any]] = {}
    done = []
    for index, run in enumerate(runs, start=1):
        wanted = _wanted_record(run, synthetic, records)
        previous = read_record(run)
        changes = _changes(previous, wanted) if previous else []
        if previous and previous.get("finished") and not changes and _has_result(run):
            logger.info("%s: finished earlier with the same options, kept", run.name)
            run.seconds = float(previous.get("seconds", 0.0))
            records[run.name] = previous
        elif run.name not in chosen:
            if previous and previous.get("finished"):
                reason = "; ".join(changes or ["its result is missing"])
                print(f"{run.name}: left out of the tables: {reason}", flush=True)
            continue
        else:
            missing = [needed for needed in run.depends if needed not in records]
            if missing:
                hint = " (add it to --only)" if only else ""
                raise CondetError(f"run {run.name} needs run {missing[0]}, not finished{hint}")
            resume = _prepare(run, previous, changes, out)
            _write_record(run, wanted | {"finished": False, "argv": run.argv})
            argv = [*run.argv, "--resume"] if resume else run.argv
            print(f"[{index}/{len(runs)}] condet {' '.join(argv)}", flush=True)
            start = time.perf_counter()
            if main(argv) != 0:
                raise CondetError(f"run {run.name} failed; the experiment stops here")
            run.seconds = time.perf_counter() - start
            if smoke:
                # A finished smoke run is never resumed, and a detector's last.ckpt (weights
                # and optimizer state) is hundreds of MB: over a protocol's runs they would
                # fill a small disk.
                shutil.rmtree(run.folder / "checkpoints", ignore_errors=True)
            records[run.name] = wanted | {
                "finished": True,
                "argv": run.argv,
                "id": uuid.uuid4().hex,
                "seconds": round(run.seconds, 1),
            }
            _write_record(run, records[run.name])
        run.metrics = collect_metrics(run)
        done.append(run)
    rows = summary_rows(done)
    findings = comparison_sentences(rows, protocol.get("comparisons") or [])
    text = f"# {name}\n\n"
    if findings:
        text += "## What the numbers show\n\n" + "".join(f"- {line}\n" for line in findings)
        text += "\n"
    write_text_atomic(out / "results.md", text + markdown_tables(rows))
    write_text_atomic(out / "results.json", json.dumps(rows, indent=2))
    _write_csv(done, out / "results.csv")
    timings = {run.name: round(run.seconds, 1) for run in done}
    write_text_atomic(out / "timings.json", json.dumps(timings, indent=2))
    write_report(out, name, protocol.get("description", ""), done, rows, resolved, findings)
    return out


def select_runs(runs: list[Run], only: Sequence[str] | None) -> set[str]:
    """The names of the runs ``--only`` picks (all runs without it)."""
    if not only:
        return {run.name for run in runs}
    unknown = [name for name in only if not any(name in (r.name, r.base_name) for r in runs)]
    if unknown:
        names = ", ".join(dict.fromkeys(run.base_name for run in runs))
        raise CondetError(f"--only {unknown[0]}: the protocol has no such run (its runs: {names})")
    return {run.name for run in runs if run.name in only or run.base_name in only}


def record_path(run: Run) -> Path:
    """Where ``run``'s record lives: in its folder, or beside the file an explain run writes."""
    if run.command == "explain":
        return run.folder.with_name(f".{run.folder.name}{RECORD}")
    return run.folder / RECORD


def read_record(run: Run) -> dict[str, Any] | None:
    """The record ``run`` left when it last started or finished; None if there is none."""
    path = record_path(run)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a record is written atomically, so this is not one of ours: redo the run
    return record if isinstance(record, dict) else None


def _write_record(run: Run, record: dict[str, Any]) -> None:
    write_text_atomic(record_path(run), json.dumps(record, indent=2))


def _wanted_record(
    run: Run, synthetic: dict[str, Any] | None, records: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What ``run``'s record must say for its result to be kept."""
    return {
        "command": run.command,
        "options": run.options,
        "synthetic": synthetic,
        "condet": condet.__version__,
        # each run it uses, by the id of that run's result: a redone one has a new id
        "depends": {needed: records.get(needed, {}).get("id") for needed in run.depends},
    }


def _changes(previous: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Why a run's record does not match what the protocol asks for now (empty: it does)."""
    changes = []
    if previous.get("command") != wanted["command"]:
        changes.append(f"command {previous.get('command')} -> {wanted['command']}")
    old, new = previous.get("options") or {}, wanted["options"]
    changed = [
        f"{key}: {_shown(old, key)} -> {_shown(new, key)}"
        for key in dict.fromkeys([*new, *old])
        if old.get(key) != new.get(key) or (key in old) != (key in new)
    ]
    if changed:
        changes.append(f"options changed ({', '.join(changed)})")
    if previous.get("synthetic") != wanted["synthetic"]:
        changes.append(f"synthetic data {previous.get('synthetic')} -> {wanted['synthetic']}")
    if previous.get("condet") != wanted["condet"]:
        changes.append(f"made by condet {previous.get('condet')}, this is {wanted['condet']}")
    used = previous.get("depends") or {}
    for needed, result in wanted["depends"].items():
        if result is None:
            changes.append(f"run {needed} has no result")
        elif used.get(needed) != result:
            changes.append(f"run {needed} was run again since")
    return changes


def _shown(options: dict[str, Any], key: str) -> str:
    if key not in options:
        return "unset"
    value = options[key]
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def _prepare(run: Run, previous: dict[str, Any] | None, changes: list[str], out: Path) -> bool:
    """Clear what ``run`` left unless it can continue; True when it resumes."""
    exists = run.folder.exists() or record_path(run).exists()
    if previous is None:
        if not exists:
            return False
        if not run.folder.resolve().is_relative_to(out.resolve()):
            raise CondetError(
                f"{run.folder} exists and was not made by an experiment; move it away or "
                f"give run {run.name} another out"
            )
        reason = "its folder holds no record of the options it ran with"
    elif changes:
        reason = "; ".join(changes)
    elif previous.get("finished"):
        reason = "its result is missing"
    elif (run.folder / "checkpoints" / "last.ckpt").is_file() and _resumable(run.command):
        print(f"{run.name}: interrupted earlier; continuing from its last checkpoint", flush=True)
        return True
    else:
        reason = "interrupted before it saved a checkpoint"
    print(f"{run.name}: {reason}; running it again from the start", flush=True)
    if run.folder.is_dir():
        shutil.rmtree(run.folder)
    else:
        run.folder.unlink(missing_ok=True)
    record_path(run).unlink(missing_ok=True)
    return False


def _resumable(command: str) -> bool:
    from condet.cli import build_parser

    return "--resume" in _command_actions(build_parser(), command)


def _synthetic_data(settings: dict[str, Any], root: Path) -> None:
    """The embedded synthetic set in ``root``; generate_synthetic keeps one already made alike."""
    from condet.data.synthetic import generate_synthetic

    generate_synthetic(root, images=settings.get("images", 300), seed=settings.get("seed", 0))


def _has_result(run: Run) -> bool:
    if run.command == "explain":
        return run.folder.is_file()
    if run.command == "pretrain":
        return (run.folder / "backbone.safetensors").is_file()
    return (run.folder / METRICS[run.command][0][0]).is_file()


def _write_csv(runs: list[Run], path: Path) -> None:
    keys = list(dict.fromkeys(key for run in runs for key in run.metrics))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "command", "seed", "seconds", *keys])
        for run in runs:
            values = [f"{run.metrics[key]:.6g}" if key in run.metrics else "" for key in keys]
            seed = "" if run.seed is None else run.seed
            writer.writerow([run.name, run.command, seed, f"{run.seconds:.1f}", *values])
