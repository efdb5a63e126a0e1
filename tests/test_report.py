from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

import condet
from condet.experiment import Run
from condet.experiment.report import label_efficiency, plot_label_efficiency, write_report


def detector_run(name: str, weights: str, fraction: float, seed: int, ap50: float) -> Run:
    options = {"weights": weights, "label-fraction": fraction, "seed": seed}
    # the budget is set per fraction, so it may differ within one start
    options["epochs"] = 90 if fraction < 1 else 9
    return Run(
        name=f"{name}-s{seed}",
        command="detect-train",
        argv=[],
        folder=Path("unused"),
        seed=seed,
        base_name=name,
        options=options,
        metrics={"VOC07 AP50": ap50, "loc. acc@0.7": ap50 / 2},
    )


def test_label_efficiency_groups_runs_by_start_and_fraction():
    runs = [
        detector_run("detect-imagenet-10", "imagenet", 0.1, 0, 0.50),
        detector_run("detect-imagenet-10", "imagenet", 0.1, 1, 0.60),
        detector_run("detect-imagenet-100", "imagenet", 1.0, 0, 0.80),
        detector_run("detect-random-10", "random", 0.1, 0, 0.30),
        detector_run("detect-random-100", "random", 1.0, 0, 0.70),
        # one fraction only: no line to draw
        detector_run("detect-other-10", "other.pth", 0.1, 0, 0.10),
    ]
    starts = label_efficiency(runs)
    assert set(starts) == {"detect-imagenet", "detect-random"}
    assert starts["detect-imagenet"][0.1]["VOC07 AP50"] == [0.50, 0.60]
    assert starts["detect-imagenet"][1.0]["loc. acc@0.7"] == [0.40]
    assert starts["detect-random"][1.0]["VOC07 AP50"] == [0.70]


def test_plot_label_efficiency_draws_a_figure_only_with_two_fractions(tmp_path):
    one_fraction = [detector_run("detect-a-10", "random", 0.1, 0, 0.3)]
    assert plot_label_efficiency(one_fraction, tmp_path / "none.png") is None
    runs = [detector_run("detect-a-10", "random", 0.1, seed, 0.3 + seed / 10) for seed in range(3)]
    runs.append(detector_run("detect-a-100", "random", 1.0, 0, 0.7))
    path = plot_label_efficiency(runs, tmp_path / "efficiency.png")
    with Image.open(path) as figure:
        assert figure.size[0] > 500


HOSTILE = "<script>alert('x')</script>"


def write_hostile_report(tmp_path: Path) -> tuple[str, list[Run]]:
    """A report of two runs whose name, options and results try to inject markup."""
    folder = tmp_path / "run-a"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "roc.png")
    (tmp_path / "environment.json").write_text(json.dumps({"python": HOSTILE}))
    runs = [
        Run(
            name=HOSTILE,
            command="ood",
            argv=["ood", "--weights", "a&b.pt", "--out", str(folder)],
            folder=folder,
            seed=0,
            base_name=HOSTILE,
            seconds=1.25,
        ),
        Run(
            name="features",
            command="features",
            argv=["features", "--data", "voc"],
            folder=tmp_path / "missing",
            seed=None,
            base_name="features",
        ),
    ]
    rows = [
        {"run": HOSTILE, "command": "ood", "seeds": 1, "AUROC": {"mean": 0.5, "std": 0.0, "n": 1}},
        {"run": "features", "command": "features", "seeds": 1},
    ]
    path = write_report(tmp_path, HOSTILE, HOSTILE, runs, rows, {"note": HOSTILE}, [HOSTILE])
    return path.read_text(), runs


def test_report_escapes_hostile_names_and_values(tmp_path):
    page, _ = write_hostile_report(tmp_path)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(" in page
    assert "a&amp;b.pt" in page


def test_report_embeds_figures_as_data_uris(tmp_path):
    page, _ = write_hostile_report(tmp_path)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "href=" not in page
    assert "<h2>Figures</h2>" in page


def test_report_lists_every_runs_command(tmp_path):
    page, runs = write_hostile_report(tmp_path)
    for run in runs:
        assert html.escape(f"condet {' '.join(run.argv)}", quote=False) in page
    assert "<td>1.2</td>" in page


class StrictParser(HTMLParser):
    """Fails on any end tag that does not close the innermost open element."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def test_report_parses_as_well_formed_html(tmp_path):
    page, _ = write_hostile_report(tmp_path)
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    assert page.startswith("<!DOCTYPE html>")


def test_report_template_is_shipped_with_the_package():
    template = Path(condet.__file__).parent / "templates" / "report.html.j2"
    assert template.is_file()
