from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from PIL import Image

import condet
from condet.cli import main
from condet.errors import CondetError
from condet.experiment import (
    Run,
    comparison_sentences,
    launch,
    load_protocol,
    plan_runs,
    read_record,
    runner,
    select_runs,
    summary_rows,
)
from condet.experiment.records import record_changes, result_neutral_options
from condet.experiment.runner import run_experiment

PROTOCOL = {
    "name": "tiny",
    "data": "$TINY_DATA/set",
    "seeds": [3, 4],
    "runs": [
        {
            "name": "ssl",
            "command": "pretrain",
            "options": {"data": "{data}", "epochs": 2, "channels-last": False},
        },
        {
            "name": "enc",
            "command": "ood",
            "seeds": True,
            "options": {"data": "{data}", "withhold": ["a", "b"], "weights": "{run:ssl}"},
        },
        {
            "name": "cam",
            "command": "explain",
            "args": ["{data}"],
            "options": {"model": ["x={run:enc}", "random"], "kind": "encoder"},
        },
    ],
    "smoke": {"ood": {"max-steps": 2}},
}


def test_plan_turns_options_into_the_commands_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_DATA", "/data")
    runs = plan_runs(PROTOCOL, tmp_path)
    assert [run.name for run in runs] == ["ssl", "enc-s3", "enc-s4", "cam"]
    ssl, enc3, enc4, cam = runs
    assert ssl.argv == [
        "pretrain",
        "--data",
        "/data/set",
        "--epochs",
        "2",
        "--no-channels-last",
        "--out",
        str(tmp_path / "ssl"),
    ]
    assert ssl.folder == tmp_path / "ssl" and ssl.seed is None
    assert enc3.argv == [
        "ood",
        "--data",
        "/data/set",
        "--withhold",
        "a",
        "b",
        "--weights",
        str(tmp_path / "ssl"),
        "--seed",
        "3",
        "--out",
        str(tmp_path / "enc-s3"),
    ]
    assert enc4.seed == 4 and enc4.folder == tmp_path / "enc-s4"
    # a repeating flag is repeated; a per-seed run referred to from outside is its first seed's
    assert cam.argv[:2] == ["explain", "/data/set"]
    assert cam.argv.count("--model") == 2 and f"x={tmp_path / 'enc-s3'}" in cam.argv
    assert cam.folder == tmp_path / "cam.png"


def test_a_run_that_writes_one_file_is_referred_to_by_that_file(tmp_path):
    protocol = {
        "name": "derived",
        "runs": [
            {"name": "ranks", "command": "rankings derive", "args": ["/data"]},
            {
                "name": "enc",
                "command": "ood",
                "options": {
                    "data": "/data",
                    "withhold": ["a"],
                    "loss": "ranked",
                    "rankings": "{run:ranks}",
                },
            },
        ],
    }
    ranks, enc = plan_runs(protocol, tmp_path)
    assert ranks.folder == tmp_path / "ranks.yaml"
    assert enc.argv[enc.argv.index("--rankings") + 1] == str(tmp_path / "ranks.yaml")
    assert enc.depends == ["ranks"]


def test_a_per_seed_run_of_a_command_without_a_seed_uses_that_seeds_runs(tmp_path):
    protocol = {
        "name": "open-set",
        "seeds": [0, 1],
        "runs": [
            {"name": "det", "command": "detect-train", "options": {"data": "/data"}},
            {
                "name": "enc",
                "command": "ood",
                "seeds": True,
                "options": {"data": "/data", "withhold": ["a"]},
            },
            {
                "name": "open",
                "command": "pipeline",
                "seeds": True,
                "options": {"detector": "{run:det}", "encoder": "{run:enc}", "data": "/data"},
            },
        ],
    }
    runs = {run.name: run for run in plan_runs(protocol, tmp_path)}
    for seed in (0, 1):
        pipeline = runs[f"open-s{seed}"]
        assert "--seed" not in pipeline.argv and pipeline.seed == seed
        assert pipeline.depends == ["det", f"enc-s{seed}"]
        assert pipeline.argv[pipeline.argv.index("--encoder") + 1] == str(tmp_path / f"enc-s{seed}")


def test_smoke_keeps_one_seed_and_adds_its_overrides(tmp_path):
    runs = plan_runs(PROTOCOL, tmp_path, data="/elsewhere", smoke=True)
    assert [run.name for run in runs] == ["ssl", "enc-s3", "cam"]
    assert "--max-steps" in runs[1].argv and runs[0].argv[2] == "/elsewhere"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"command": "fly"}, "unknown command 'fly'"),
        ({"options": {"no-such-option": 1}}, "has no option --no-such-option"),
    ],
)
def test_protocol_errors(tmp_path, change, message):
    protocol = {"runs": [{"name": "x", "command": "pretrain"} | change]}
    with pytest.raises(CondetError, match=message):
        plan_runs(protocol, tmp_path)


@pytest.mark.parametrize(
    ("run", "options", "message"),
    [
        (1, {"lr": "fast"}, "run enc-s3: option lr must be float, got 'fast'"),
        (1, {"lr": -1}, "run enc-s3: --lr must be above 0, got -1"),
        (1, {"batch-size": 0}, "run enc-s3: --batch-size must be at least 1, got 0"),
        (1, {"loss": "magic"}, "run enc-s3: option loss must be one of supcon, rince, ranked, ce"),
        (1, {"bogus": 1}, "run enc-s3: condet ood has no option --bogus"),
        # what options need of each other, and what a command needs of its config
        (1, {"withhold": []}, "run enc-s3: condet ood needs --withhold CLASS [CLASS ...]"),
        (
            1,
            {"loss": "ranked"},
            "run enc-s3: --loss ranked needs --rankings FILE (rankings or groups YAML)",
        ),
        (2, {"model": []}, "run cam: name at least one model: --model LABEL=SOURCE"),
    ],
)
def test_every_run_is_checked_when_the_protocol_is_planned(tmp_path, run, options, message):
    """Every run's options, before any runs, as its command will check them: a wrong value in
    a later run was found only when that run started, after the earlier ones trained (issues 32
    and 31)."""
    protocol = copy.deepcopy(PROTOCOL)
    protocol["runs"][run]["options"] |= options  # enc runs for seeds 3 and 4
    with pytest.raises(CondetError) as error:
        plan_runs(protocol, tmp_path, data="/d")
    assert str(error.value) == message


@pytest.mark.parametrize("seeds", [["zero"], [1.5], "0, 1", []])
def test_seeds_must_be_a_list_of_whole_numbers(tmp_path, seeds):
    with pytest.raises(CondetError, match="the protocol's seeds must be a list of whole numbers"):
        plan_runs(PROTOCOL | {"seeds": seeds}, tmp_path, data="/d")


def test_a_run_left_out_by_only_is_checked_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    tiny = copy.deepcopy(TINY) | {"synthetic": {"images": 10}}
    tiny["runs"][1]["options"]["lr"] = "fast"
    protocol = write_protocol(tmp_path / "tiny.yaml", tiny)
    out = tmp_path / "out"
    assert main(["experiment", str(protocol), "--out", str(out), "--only", "ssl"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "condet: error: run enc: option lr must be float, got 'fast'"
    assert not (out / "ssl").exists()


def test_protocol_file_needs_named_runs(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"runs": [{"name": "a", "command": "ood"}, {"name": "a"}]}))
    with pytest.raises(CondetError, match="run 2 needs a name and a command"):
        load_protocol(path)


def test_a_run_that_sets_its_own_out_is_refused(tmp_path):
    """{run:NAME} points into the experiment folder, and per-seed runs would share one folder."""
    path = tmp_path / "p.yaml"
    run = {"name": "enc", "command": "ood", "seeds": True, "options": {"out": "/elsewhere"}}
    path.write_text(yaml.safe_dump({"runs": [run]}))
    with pytest.raises(CondetError, match="run 'enc' sets out; the experiment places every run"):
        load_protocol(path)


def cell(mean, std, n):
    return {"mean": mean, "std": std, "n": n}


@pytest.mark.parametrize(
    ("second", "verdict"),
    [
        # 0.05 apart with spreads 0.03 and 0.01: within 2 x 0.03, no difference
        (cell(0.65, 0.01, 2), "the difference (+0.050) is smaller than twice the seed spread"),
        (cell(0.75, 0.01, 2), "ranked is higher by 0.150, more than twice the seed spread (0.060)"),
        (cell(0.45, 0.01, 3), "ranked is lower by 0.150, more than twice the seed spread (0.060)"),
        (cell(0.90, 0.0, 1), "one seed gives no spread, so no conclusion"),
    ],
)
def test_comparison_sentence_says_what_the_spread_allows(second, verdict):
    rows = [
        {"run": "supcon", "command": "ood", "seeds": 2, "NCM top-1": cell(0.60, 0.03, 2)},
        {"run": "ranked", "command": "ood", "seeds": 2, "NCM top-1": second},
    ]
    (sentence,) = comparison_sentences(
        rows, [{"runs": ["supcon", "ranked"], "metric": "NCM top-1"}]
    )
    assert sentence.startswith("NCM top-1: ranked ") and "vs supcon 0.600 ± 0.030" in sentence
    assert verdict in sentence


def test_comparison_of_a_run_without_result_says_so():
    rows = [{"run": "supcon", "command": "ood", "seeds": 1, "NCM top-1": cell(0.6, 0.0, 1)}]
    comparison = {"runs": ["supcon", "ranked"], "metric": "NCM top-1"}
    assert comparison_sentences(rows, [comparison]) == [
        "NCM top-1, ranked vs supcon: ranked has no result yet."
    ]


@pytest.mark.parametrize(
    ("comparison", "message"),
    [
        ({"runs": ["a"], "metric": "m"}, "needs two runs and a metric"),
        ({"runs": ["a", "b"]}, "needs two runs and a metric"),
        ({"runs": ["a", "zz"], "metric": "m"}, "comparison of 'zz', which is no run"),
    ],
)
def test_protocol_comparisons_are_checked(tmp_path, comparison, message):
    runs = [{"name": "a", "command": "ood"}, {"name": "b", "command": "ood"}]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"runs": runs, "comparisons": [comparison]}))
    with pytest.raises(CondetError, match=message):
        load_protocol(path)


def test_summary_is_mean_and_spread_over_seeds(tmp_path):
    runs = [
        Run("a-s0", "ood", [], tmp_path, 0, "a", metrics={"top-1": 0.5, "auroc": 0.7}),
        Run("a-s1", "ood", [], tmp_path, 1, "a", metrics={"top-1": 0.7, "auroc": 0.7}),
        Run("b", "pretrain", [], tmp_path, None, "b", metrics={"final loss": 3.0}),
    ]
    a, b = summary_rows(runs)
    assert a["seeds"] == 2 and a["top-1"]["mean"] == pytest.approx(0.6)
    assert a["top-1"]["std"] == pytest.approx(0.1414, abs=1e-4) and a["auroc"]["std"] == 0
    assert b == {
        "run": "b",
        "command": "pretrain",
        "seeds": 1,
        "final loss": pytest.approx({"mean": 3.0, "std": 0.0, "n": 1}),
    }


def without_paths(rows):
    return json.loads(json.dumps(rows))


@pytest.fixture(scope="module")
def smoke_demo(tmp_path_factory):
    from condet.cli import main

    out = tmp_path_factory.mktemp("demo") / "run"
    assert main(["demo", "--smoke", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_demo_smoke_writes_tables_and_a_self_contained_report(smoke_demo):
    rows = json.loads((smoke_demo / "results.json").read_text())
    commands = {row["command"] for row in rows}
    assert commands == {"pretrain", "evaluate-features", "detect-train", "ood", "pipeline"}
    assert (smoke_demo / "results.csv").read_text().startswith("run,command,seed,seconds,")
    page = (smoke_demo / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6 and 'src="file:' not in page
    for path in ("protocol.yaml", "environment.json", "timings.json", "simclr/config.yaml"):
        assert (smoke_demo / path).is_file()


@pytest.mark.slow
def test_finished_smoke_runs_keep_their_weights_but_no_checkpoints(smoke_demo):
    assert (smoke_demo / "simclr" / "backbone.safetensors").is_file()
    assert (smoke_demo / "detect-imagenet-simclr-s0" / "metrics.json").is_file()
    assert sorted(smoke_demo.glob("*/checkpoints")) == []


@pytest.mark.slow
def test_same_protocol_and_seed_give_the_same_table(smoke_demo, tmp_path):
    from condet.cli import main

    again = tmp_path / "again"
    assert main(["demo", "--smoke", "--out", str(again)]) == 0
    first = json.loads((smoke_demo / "results.json").read_text())
    second = json.loads((again / "results.json").read_text())
    assert first == second


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(smoke_demo, tmp_path):
    screenshot = tmp_path / "report.png"
    browser = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (smoke_demo / "report.html").resolve().as_uri()
    dom = subprocess.run(
        [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "<table>" in dom and "detect-imagenet-simclr" in dom and dom.count("<img") >= 6
    subprocess.run(
        [*browser, "--window-size=1200,2400", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    picture = Image.open(screenshot).convert("RGB")
    assert picture.size == (1200, 2400)
    # a rendered page, not a blank one: text, table borders and plots give many colours
    assert len(picture.getcolors(maxcolors=1 << 20)) > 200


PROTOCOLS = sorted(
    [
        *(Path(__file__).parents[1] / "configs" / "experiments").glob("*.yaml"),
        Path(condet.__file__).parent / "protocols" / "demo.yaml",
    ]
)


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda path: path.stem)
def test_every_shipped_protocol_names_real_options(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_SHARED_DATA", "/shared")
    protocol = load_protocol(path)
    for smoke in (False, True):
        runs = plan_runs(protocol, tmp_path, data="/some/data", smoke=smoke)
        assert runs and all(
            run.argv[: len(run.command.split())] == run.command.split() for run in runs
        )
    assert {"demo", "ranked_contrastive", "ssl_vs_baseline"} <= {path.stem for path in PROTOCOLS}


def test_only_picks_runs_by_name_with_or_without_the_seed(tmp_path):
    runs = plan_runs(PROTOCOL, tmp_path, data="/d")
    assert select_runs(runs, None) == {"ssl", "enc-s3", "enc-s4", "cam"}
    assert select_runs(runs, ["enc", "cam"]) == {"enc-s3", "enc-s4", "cam"}
    assert select_runs(runs, ["enc-s4"]) == {"enc-s4"}
    with pytest.raises(CondetError, match="--only gan: the protocol has no such run"):
        select_runs(runs, ["gan"])


def test_runs_record_their_options_without_the_experiment_folder(tmp_path):
    ssl, enc3, _, cam = plan_runs(PROTOCOL, tmp_path, data="{out}/data")
    assert ssl.options["data"] == "{out}/data" and ssl.options["out"] == "{out}/ssl"
    assert enc3.options["weights"] == "{out}/ssl" and enc3.options["seed"] == 3
    assert enc3.argv[enc3.argv.index("--weights") + 1] == str(tmp_path / "ssl")
    assert enc3.depends == ["ssl"] and cam.depends == ["enc-s3"]
    with pytest.raises(CondetError, match=r"refers to \{run:gan\}: no such run"):
        plan_runs(
            {
                "runs": [
                    {
                        "name": "x",
                        "command": "ood",
                        "options": {"weights": "{run:gan}", "withhold": ["ring"]},
                    }
                ]
            },
            tmp_path,
        )


def test_changes_name_each_option_the_version_and_redone_runs():
    wanted = {
        "command": "ood",
        "options": {"lr": 0.01, "withhold": ["ring", "star"], "r": 3},
        "synthetic": {"images": 40},
        "condet": condet.__version__,
        "depends": {"ssl": "new"},
    }
    assert record_changes(copy.deepcopy(wanted), wanted) == []
    previous = copy.deepcopy(wanted) | {"condet": "0.0.1", "depends": {"ssl": "old"}}
    previous["options"] = {"lr": 0.004, "withhold": ["ring"], "loss": "ce"}
    assert record_changes(previous, wanted) == [
        "options changed (lr: 0.004 -> 0.01, withhold: [ring] -> [ring, star], r: unset -> 3, "
        "loss: ce -> unset)",
        f"made by condet 0.0.1, this is {condet.__version__}",
        "run ssl was run again since",
    ]


def test_changes_leave_out_options_that_do_not_change_results():
    wanted = {
        "command": "detect-train",
        "options": {"lr": 0.01, "workers": 2, "progress": False, "checkpoint-every": 50},
        "synthetic": None,
        "condet": condet.__version__,
        "depends": {},
    }
    previous = copy.deepcopy(wanted)
    previous["options"] = {"lr": 0.01, "workers": 0, "checkpoint-every": 10}
    assert record_changes(previous, wanted) == []
    previous["options"]["lr"] = 0.02
    assert record_changes(previous, wanted) == ["options changed (lr: 0.02 -> 0.01)"]
    assert result_neutral_options("detect-train") == {"workers", "progress", "checkpoint-every"}
    assert result_neutral_options("evaluate-features") == {"progress"}


# Three small runs on the synthetic set: a SimCLR backbone, a crop encoder from it (30 steps,
# a checkpoint after each, so that it can be killed half-way) and a feature evaluation apart.
# On the CPU, where results repeat bit for bit, even on a machine with a GPU.
TINY = {
    "name": "tiny",
    "synthetic": {"images": 24},
    "runs": [
        {
            "name": "ssl",
            "command": "pretrain",
            "options": {
                "data": "{data}",
                "split": "trainval",
                "backbone": "mobilenet_v3_small",
                "weights": "random",
                "image-size": 32,
                "batch-size": 8,
                "hidden-dim": 32,
                "max-steps": 2,
                "accelerator": "cpu",
                "progress": False,
            },
        },
        {
            "name": "enc",
            "command": "classify-train",
            "options": {
                "data": "{data}",
                "split": "trainval",
                "test-split": "test",
                "backbone": "mobilenet_v3_small",
                "weights": "{run:ssl}",
                "crop-size": 32,
                "batch-size": 16,
                "epochs": 50,
                "max-steps": 30,
                "checkpoint-every": 1,
                "accelerator": "cpu",
                "progress": False,
            },
        },
        {
            "name": "features",
            "command": "evaluate-features",
            "options": {
                "train": "{data}",
                "test": "{data}",
                "train-split": "trainval",
                "test-split": "test",
                "backbone": "mobilenet_v3_small",
                "weights": "random",
                "image-size": 32,
                "accelerator": "cpu",
                "progress": False,
            },
        },
    ],
}


def write_protocol(path, protocol):
    path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    return path


def experiment_process(protocol, out, cache, **popen):
    # one thread, as in every run of this protocol, so that the results are bit-identical
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONDET_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "condet", "experiment", str(protocol), "--out", str(out)]
    return subprocess.Popen(command, env=env, text=True, **popen)


def run_id(out, name, command="classify-train"):
    return read_record(Run(name, command, [], out / name, None, name))["id"]


@pytest.fixture(scope="module")
def tiny_straight(tmp_path_factory):
    """The tiny protocol run once without a stop, and its protocol file."""
    root = tmp_path_factory.mktemp("tiny")
    protocol = write_protocol(root / "tiny.yaml", TINY)
    process = experiment_process(protocol, root / "straight", root / "cache")
    assert process.wait(timeout=300) == 0
    return root / "straight", protocol


@pytest.mark.slow
def test_a_killed_experiment_continues_each_run_and_gives_the_same_results(tiny_straight, tmp_path):
    straight, protocol = tiny_straight
    out = tmp_path / "killed"
    process = experiment_process(protocol, out, tmp_path / "cache", stdout=subprocess.DEVNULL)
    checkpoint = out / "enc" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.is_file() and not (out / "enc" / "results.json").exists(), (
        "the experiment was not stopped half-way through its crop encoder"
    )

    again = experiment_process(protocol, out, tmp_path / "cache", stdout=subprocess.PIPE)
    log = again.communicate(timeout=300)[0]
    assert again.returncode == 0
    assert "enc: interrupted earlier; continuing from its last checkpoint" in log
    assert "--resume" in log and "condet pretrain" not in log  # ssl had finished: kept
    results = (out / "results.json").read_text()
    assert json.loads(results) == json.loads((straight / "results.json").read_text())


@pytest.mark.slow
def test_a_changed_option_reruns_that_run_and_only_runs_picks_runs(
    tiny_straight, tmp_path, capsys, monkeypatch
):
    straight, _ = tiny_straight
    out = tmp_path / "moved"  # records name no folder: a moved experiment keeps its runs
    shutil.copytree(straight, out)
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    before = {name: run_id(out, name) for name in ("ssl", "enc", "features")}
    changed = copy.deepcopy(TINY)
    changed["runs"][1]["options"]["lr"] = 0.01
    changed["runs"][2]["options"]["k"] = 5
    changed["runs"][0]["options"]["checkpoint-every"] = 5  # changes no result: ssl is kept
    protocol = write_protocol(tmp_path / "tiny.yaml", changed)

    assert main(["experiment", str(protocol), "--out", str(out), "--only", "enc"]) == 0
    log = capsys.readouterr().out
    assert "enc: options changed (lr: unset -> 0.01); running it again from the start" in log
    assert "features: left out of the tables: options changed (k: unset -> 5)" in log
    assert "condet pretrain" not in log and "condet evaluate-features" not in log
    rows = json.loads((out / "results.json").read_text())
    assert [row["run"] for row in rows] == ["ssl", "enc"]  # ssl kept, though not picked
    assert run_id(out, "ssl") == before["ssl"] and run_id(out, "enc") != before["enc"]
    assert run_id(out, "features") == before["features"]

    # a redone backbone makes the encoder trained from it stale, not the features run
    changed["runs"][0]["options"]["max-steps"] = 3
    del changed["runs"][2]["options"]["k"]
    write_protocol(protocol, changed)
    enc = run_id(out, "enc")
    assert main(["experiment", str(protocol), "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "ssl: options changed (max-steps: 2 -> 3)" in log
    assert "enc: run ssl was run again since; running it again from the start" in log
    assert run_id(out, "features") == before["features"] and run_id(out, "enc") != enc
    assert len(json.loads((out / "results.json").read_text())) == 3


def test_an_unset_variable_in_the_protocol_is_an_error_not_a_literal(tmp_path, monkeypatch):
    # left as "$TINY_DATA/set", every finished run's recorded data would differ from it
    monkeypatch.delenv("TINY_DATA", raising=False)
    with pytest.raises(CondetError, match=r"data names \$TINY_DATA, which is not set"):
        plan_runs(PROTOCOL, tmp_path)
    moved = copy.deepcopy(PROTOCOL) | {"data": "/d"}
    moved["runs"][0]["options"]["weights"] = "${TINY_WEIGHTS}/w.ckpt"
    with pytest.raises(CondetError, match=r"run ssl names \$TINY_WEIGHTS, which is not set"):
        plan_runs(moved, tmp_path)
    moved["runs"][0]["options"]["weights"] = "${TINY_WEIGHTS:-/w}/w.ckpt"
    with pytest.raises(CondetError, match=r"has \$\{TINY_WEIGHTS:-/w\}: only \$NAME and"):
        plan_runs(moved, tmp_path)
    # a "$" in the experiment folder is no variable
    monkeypatch.setenv("TINY_WEIGHTS", "/weights")
    moved["runs"][0]["options"]["weights"] = "${TINY_WEIGHTS}/w.ckpt"
    runs = plan_runs(moved | {"runs": moved["runs"][:1]}, tmp_path / "$HOME")
    assert runs[0].argv[-1] == str(tmp_path / "$HOME" / "ssl")
    assert runs[0].argv[runs[0].argv.index("--weights") + 1] == "/weights/w.ckpt"


@pytest.mark.slow
def test_missing_data_stops_the_experiment_before_it_clears_a_finished_run(
    tiny_straight, tmp_path, capsys, monkeypatch
):
    straight, _ = tiny_straight
    out = tmp_path / "kept"
    shutil.copytree(straight, out)
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    before = {name: run_id(out, name) for name in ("ssl", "enc", "features")}
    missing = tmp_path / "not-mounted"
    moved = {key: value for key, value in TINY.items() if key != "synthetic"}
    protocol = write_protocol(tmp_path / "tiny.yaml", moved | {"data": str(missing)})
    for jobs in ("1", "2"):  # in this process, and before workers are launched
        assert main(["experiment", str(protocol), "--out", str(out), "--jobs", jobs]) == 1
        error = capsys.readouterr().err.splitlines()[-1]
        assert error == f"condet: error: the protocol's data {missing} does not exist"
        assert {name: run_id(out, name) for name in before} == before
    assert (out / "enc" / "results.json").is_file()


def test_only_needs_the_runs_a_run_uses(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    protocol = write_protocol(tmp_path / "tiny.yaml", TINY | {"synthetic": {"images": 10}})
    out = str(tmp_path / "out")
    assert main(["experiment", str(protocol), "--out", out, "--only", "enc"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == "condet: error: run enc needs run ssl, not finished (add it to --only)"
    assert main(["experiment", str(protocol), "--out", out, "--only", "gan"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("condet: error: --only gan: the protocol has no such run")


@pytest.mark.slow
def test_tables_hold_a_run_another_process_finished_meanwhile(tiny_straight, tmp_path, monkeypatch):
    # two `--only` chains on one folder: enc, earlier in the plan, finishes in the other chain
    # while this one runs features, and this one writes the tables last
    straight, protocol = tiny_straight
    out = tmp_path / "shared"
    shutil.copytree(straight, out)
    shutil.rmtree(out / "enc")
    shutil.rmtree(out / "features")

    def other_chain_finishes_enc(run, resume):
        shutil.copytree(straight / "features", out / "features", dirs_exist_ok=True)
        shutil.copytree(straight / "enc", out / "enc")

    monkeypatch.setattr(runner, "_run_command", other_chain_finishes_enc)
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["experiment", str(protocol), "--out", str(out), "--only", "features"]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [row["run"] for row in rows] == ["ssl", "enc", "features"]
    assert rows == json.loads((straight / "results.json").read_text())


@pytest.mark.slow
def test_two_jobs_give_the_tables_of_one_and_wait_for_the_runs_they_use(
    tiny_straight, tmp_path, capsys, monkeypatch
):
    straight, protocol = tiny_straight
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(launch, "available_cores", lambda: 2)  # one thread a run, as straight
    out = tmp_path / "jobs"
    assert main(["experiment", str(protocol), "--out", str(out), "--jobs", "2"]) == 0
    log = capsys.readouterr().out
    # the encoder uses the SimCLR run; the features run does not, and goes beside it
    assert log.index("finished ssl") < log.index("started enc")
    assert log.index("started features") < log.index("finished ssl")
    assert {path.name for path in (out / "logs").iterdir()} == {
        "ssl.log",
        "enc.log",
        "features.log",
    }
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads((straight / "results.json").read_text())


@pytest.mark.slow
def test_submitit_s_local_executor_runs_the_protocol_as_jobs(tiny_straight, tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    straight, protocol = tiny_straight
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "submitit"
    call = launch.ExperimentCall(protocol, out, None, False)
    launcher = launch.SubmititLauncher(call, submitit.LocalExecutor(tmp_path / "jobs"))
    assert not launcher.chains_dependencies  # a local job starts at once: runs wait here
    run_experiment(protocol, out, launcher=launcher)
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads((straight / "results.json").read_text())


class FakeSlurmJob:
    def __init__(self, job_id: int, error: Exception | None, blocked: bool) -> None:
        self.job_id, self.error, self.blocked, self.cancelled = job_id, error, blocked, False
        self.paths = SimpleNamespace(stderr=Path(f"slurm/{job_id}_0_log.err"))

    def done(self) -> bool:
        return not self.blocked  # a job after a failed one waits in the queue for ever

    def exception(self) -> Exception | None:
        return self.error

    def cancel(self, check: bool = True) -> None:
        self.cancelled = True


class FakeSlurmExecutor:
    cluster = "slurm"

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing, self.parameters, self.jobs = failing, {}, {}
        self.submitted: list[tuple[str, dict]] = []

    def update_parameters(self, **parameters) -> None:
        self.parameters |= parameters

    def submit(self, function, call, name):
        self.submitted.append((name, dict(self.parameters)))
        error = RuntimeError("out of memory") if name in self.failing else None
        dependency = self.parameters.get("slurm_additional_parameters", {}).get("dependency", "")
        failed = {str(job.job_id) for job in self.jobs.values() if job.error}
        blocked = bool(failed & set(dependency.removeprefix("afterok:").split(":")))
        self.jobs[name] = FakeSlurmJob(100 + len(self.jobs), error, blocked)
        return self.jobs[name]


def tiny_runs(tmp_path):
    protocol = write_protocol(tmp_path / "tiny.yaml", TINY)
    return protocol, plan_runs(load_protocol(protocol), tmp_path / "out", "/DATA")


def test_slurm_jobs_are_submitted_at_once_chained_by_afterok(tmp_path):
    protocol, runs = tiny_runs(tmp_path)
    executor = FakeSlurmExecutor()
    launcher = launch.SubmititLauncher(
        launch.ExperimentCall(protocol, tmp_path, None, False), executor
    )
    assert launch.launch_runs(runs, launcher) == []
    dependencies = {
        name: parameters["slurm_additional_parameters"] for name, parameters in executor.submitted
    }
    assert dependencies == {"ssl": {}, "enc": {"dependency": "afterok:100"}, "features": {}}
    assert [name for name, _ in executor.submitted] == ["ssl", "enc", "features"]


def test_a_failed_slurm_job_withdraws_the_jobs_chained_to_it(tmp_path):
    protocol, runs = tiny_runs(tmp_path)
    executor = FakeSlurmExecutor(failing={"ssl"})
    launcher = launch.SubmititLauncher(
        launch.ExperimentCall(protocol, tmp_path, None, False), executor
    )
    failures = launch.launch_runs(runs, launcher)
    assert executor.jobs["enc"].cancelled and not executor.jobs["features"].cancelled
    assert failures[0] == "ssl: RuntimeError: out of memory; see slurm/100_0_log.err"
    assert failures[1] == "enc: withdrawn, as a run it uses failed"


def test_a_run_failing_in_a_worker_is_one_line_and_its_output_is_in_its_log(tmp_path):
    ssl = plan_runs(TINY, tmp_path / "out")[0]
    # the worker's call names a protocol file that is not there, so the run fails in the worker
    call = launch.ExperimentCall(tmp_path / "gone.yaml", tmp_path / "out", None, smoke=False)
    launcher = launch.ProcessLauncher(call, jobs=1)
    try:
        failures = launch.launch_runs([ssl], launcher)
    finally:
        launcher.close()
    log = tmp_path / "out" / "logs" / "ssl.log"
    assert failures == [f"ssl: CondetError: no protocol file at {call.protocol}; see {log}"]
    last_line = log.read_text().splitlines()[-1]
    assert last_line == f"condet: error: CondetError: no protocol file at {call.protocol}"


def test_runs_go_on_in_a_new_pool_after_a_worker_dies(tmp_path):
    """A worker killed (out of memory, say) breaks the pool: the run it held fails, and the
    next run starts in a new pool instead of ending the launch without its summary."""
    ssl = plan_runs(TINY, tmp_path / "out")[0]
    call = launch.ExperimentCall(tmp_path / "gone.yaml", tmp_path / "out", None, smoke=False)
    launcher = launch.ProcessLauncher(call, jobs=1)
    try:
        future, _ = launcher.start(ssl, [])
        future.exception()
        dying = launcher.pool.submit(os._exit, 1)
        with pytest.raises(BrokenProcessPool):
            dying.result()
        failures = launch.launch_runs([ssl], launcher)
    finally:
        launcher.close()
    assert failures == [
        f"ssl: CondetError: no protocol file at {call.protocol}; see {tmp_path}/out/logs/ssl.log"
    ]


def test_bad_launch_options_are_one_line(tmp_path, capsys, monkeypatch):
    protocol = write_protocol(tmp_path / "tiny.yaml", TINY)
    assert main(["experiment", str(protocol), "--jobs", "0"]) == 1
    assert capsys.readouterr().err.strip() == "condet: error: --jobs must be at least 1, got 0"
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if it were not installed
    assert main(["experiment", str(protocol), "--launcher", "slurm"]) == 1
    assert capsys.readouterr().err.strip() == (
        "condet: error: --launcher slurm needs submitit: pip install 'condet[cluster]'"
    )


@pytest.mark.parametrize(
    ("files", "resumes"),
    [
        ({"last.ckpt": 3}, True),
        ({"last.ckpt": None, "last.prev.ckpt": 2}, True),
        ({"last.ckpt": None}, False),
    ],
)
def test_an_interrupted_run_continues_only_from_a_checkpoint_that_loads(
    tmp_path, capsys, files, resumes
):
    """A cut last.ckpt (None here) stopped the experiment at that run, every time (issue 32)."""
    (run,) = plan_runs({"runs": [{"name": "ssl", "command": "pretrain"}]}, tmp_path, data="/d")
    (run.folder / "checkpoints").mkdir(parents=True)
    for name, step in files.items():
        path = run.folder / "checkpoints" / name
        if step is None:
            path.write_bytes(b"")
        else:
            torch.save({"global_step": step}, path)
    assert runner._prepare(run, {"finished": False}, [], tmp_path) is resumes
    said = capsys.readouterr().out
    if resumes:
        assert said == "ssl: interrupted earlier; continuing from its last checkpoint\n"
    else:
        assert said == (
            "ssl: interrupted before it saved a checkpoint that loads; running it again from "
            "the start\n"
        )
        assert not run.folder.exists()
