from __future__ import annotations

from pathlib import Path

from PIL import Image

from condet.experiment import Run
from condet.report import label_efficiency, plot_label_efficiency


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
