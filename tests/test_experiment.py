from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image

import condet
from condet.errors import CondetError
from condet.experiment import Run, load_protocol, plan_runs, summary_rows

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


def test_protocol_file_needs_named_runs(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"runs": [{"name": "a", "command": "ood"}, {"name": "a"}]}))
    with pytest.raises(CondetError, match="run 2 needs a name and a command"):
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
    assert "<table>" in dom and "detect-simclr" in dom and dom.count("<img") >= 6
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
        assert runs and all(run.argv[0] == run.command for run in runs)
    assert len(PROTOCOLS) == 7
