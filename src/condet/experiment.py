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
    smoke:                          # merged into a command's options under --smoke
      ood: {epochs: 1, max-steps: 2}

In option values, ``{data}`` is the data set, ``{seed}`` the run's seed, ``{run:NAME}`` the
folder of run NAME (of the same seed when NAME repeats per seed, else of the first seed),
``{out}`` the experiment
folder, and ``$VARIABLE`` an environment variable (e.g. ``$CONDET_SHARED_DATA``). Options
name the command's flags without ``--``; lists give several values (or repeat a flag that
repeats), ``true`` / ``false`` switch a flag on or off.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from condet.errors import CondetError
from condet.io import write_text_atomic

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


@dataclass
class Run:
    """One command of a protocol, for one seed."""

    name: str
    command: str
    argv: list[str]
    folder: Path
    seed: int | None
    base_name: str
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
    return protocol


def plan_runs(
    protocol: dict[str, Any], out: Path, data: str | None = None, smoke: bool = False
) -> list[Run]:
    """The protocol's runs in order, each with its full ``condet`` argument list."""
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
            context = {
                "data": data,
                "seed": seed,
                "first": seeds[0],
                "out": out,
                "per_seed": per_seed,
            }
            suffix = ".png" if spec["command"] == "explain" else ""
            options.setdefault("out", str(out / name) + suffix)
            positional = [_substitute(value, context) for value in spec.get("args", [])]
            argv = [
                spec["command"],
                *positional,
                *_flags(spec["command"], _substitute(options, context)),
            ]
            folder = Path(_substitute(options["out"], context))
            runs.append(Run(name, spec["command"], argv, folder, seed, spec["name"]))
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
        from condet.train.common import read_metrics

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


def command_table(
    rows: list[dict[str, Any]], command: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The summary rows of one command and their metric columns, in first-seen order."""
    chosen = [row for row in rows if row["command"] == command]
    keys = list(dict.fromkeys(k for row in chosen for k in row if isinstance(row[k], dict)))
    return chosen, keys


def format_value(value: dict[str, float] | None) -> str:
    """A summary cell: ``mean ± std`` over seeds, the value alone for one run."""
    if value is None:
        return ""
    if value["n"] > 1:
        return f"{value['mean']:.3f} ± {value['std']:.3f}"
    return f"{value['mean']:.3f}"


def run_experiment(
    config: Path, out: Path | None = None, data: str | None = None, smoke: bool = False
) -> Path:
    """Run every command of protocol ``config`` and write the tables and ``report.html``.

    Runs whose folder already holds a finished result are not run again, so an interrupted
    experiment continues where it stopped.
    """
    from condet.cli import main
    from condet.report import write_report
    from condet.train.common import environment

    protocol = load_protocol(config)
    name = protocol.get("name", config.stem)
    out = out or Path("runs") / (name + ("-smoke" if smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    if data is None and protocol.get("synthetic"):
        data = str(_synthetic_data(protocol["synthetic"], out))
    runs = plan_runs(protocol, out, data, smoke)
    resolved = protocol | {"data": data or protocol.get("data"), "smoke": smoke}
    write_text_atomic(out / "protocol.yaml", yaml.safe_dump(resolved, sort_keys=False))
    write_text_atomic(out / "environment.json", json.dumps(environment("experiment"), indent=2))
    for index, run in enumerate(runs, start=1):
        if _finished(run):
            logger.info("%s: finished earlier, kept", run.name)
        else:
            print(f"[{index}/{len(runs)}] condet {' '.join(run.argv)}", flush=True)
            start = time.perf_counter()
            if main(run.argv) != 0:
                raise CondetError(f"run {run.name} failed; the experiment stops here")
            run.seconds = time.perf_counter() - start
        run.metrics = collect_metrics(run)
    rows = summary_rows(runs)
    write_text_atomic(out / "results.md", f"# {name}\n\n" + markdown_tables(rows))
    write_text_atomic(out / "results.json", json.dumps(rows, indent=2))
    _write_csv(runs, out / "results.csv")
    timings = {run.name: round(run.seconds, 1) for run in runs}
    write_text_atomic(out / "timings.json", json.dumps(timings, indent=2))
    write_report(out, name, protocol.get("description", ""), runs, rows, resolved)
    return out


def _synthetic_data(settings: dict[str, Any] | bool, out: Path) -> Path:
    """The embedded synthetic set in ``out/data``, generated unless it is already there."""
    from condet.data.synthetic import generate_synthetic

    settings = settings if isinstance(settings, dict) else {}
    root = out / "data"
    if not (root / "rankings.yaml").is_file():
        print(f"generating the synthetic data set in {root}", flush=True)
        generate_synthetic(root, images=settings.get("images", 300), seed=settings.get("seed", 0))
    return root


def _finished(run: Run) -> bool:
    if run.command == "explain":
        return False
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
