"""Training commands on a data set with broken records: they train on the rest, but say so once,
list every skip in RUN/skipped.txt and count it in their results; --strict stops instead."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from condet.cli import main
from condet.data.synthetic import generate_synthetic

CASES = {
    "malformed XML": "malformed annotation",
    "missing image": "missing image",
    "degenerate box": "degenerate box",
    # its header does not open either, but the readers do not open it: VOC XML gives the size
    "text file named .jpg": "unreadable image",
}


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory):
    """16 small synthetic scenes (train 10, trainval 13, test 3), made once for the module."""
    out = tmp_path_factory.mktemp("broken-data") / "data"
    return generate_synthetic(out, images=16, seed=0, image_size=64, progress=False)


def broken_copy(clean_root, tmp_path, *cases):
    """A copy of the data set with one broken training record per case; the broken files."""
    root = shutil.copytree(clean_root, tmp_path / "data")
    ids = (root / "ImageSets" / "Main" / "train.txt").read_text().split()
    broken = []
    for image_id, case in zip(ids, cases, strict=False):
        xml = root / "Annotations" / f"{image_id}.xml"
        if case == "malformed XML":
            xml.write_text("<annotation><size>")
            broken.append(xml)
        elif case == "missing image":
            image = root / "JPEGImages" / f"{image_id}.jpg"
            image.unlink()
            broken.append(image)
        elif case == "text file named .jpg":
            image = root / "JPEGImages" / f"{image_id}.jpg"
            image.write_text("not an image\n")
            broken.append(image)
        else:
            text = xml.read_text()
            xmin = re.search(r"<xmin>([^<]*)</xmin>", text).group(1)
            xml.write_text(re.sub(r"<xmax>[^<]*</xmax>", f"<xmax>{xmin}</xmax>", text, count=1))
            broken.append(xml)
    return root, broken


def detect_args(data, out, *extra):
    return [
        "detect-train",
        *("--data", str(data), "--split", "train", "--test-split", "test"),
        *(
            "--backbone",
            "mobilenet_v3_large",
            "--weights",
            "random",
            "--min-size",
            "64",
            "--max-size",
            "64",
        ),
        *("--batch-size", "2", "--epochs", "1", "--max-steps", "1", "--no-progress"),
        *("--out", str(out), *extra),
    ]


def pretrain_args(data, out, *extra):
    return [
        "pretrain",
        *("--data", str(data), "--split", "train", "--backbone", "resnet18", "--weights", "random"),
        *("--image-size", "32", "--batch-size", "4", "--hidden-dim", "32", "--epochs", "1"),
        *("--max-steps", "1", "--no-progress", "--out", str(out), *extra),
    ]


def classify_args(data, out, *extra, command="classify-train"):
    return [
        command,
        *("--data", str(data), "--split", "trainval", "--test-split", "test"),
        *(
            "--backbone",
            "mobilenet_v3_small",
            "--weights",
            "random",
            "--crop-size",
            "32",
            "--batch-size",
            "4",
        ),
        *("--epochs", "1", "--max-steps", "1", "--no-progress", "--out", str(out), *extra),
    ]


def ood_args(data, out, *extra):
    return classify_args(data, out, "--withhold", "ring", *extra, command="ood")


COMMANDS = {
    "detect-train": (detect_args, "metrics.json"),
    "classify-train": (classify_args, "results.json"),
    "ood": (ood_args, "results.json"),
    "pretrain": (pretrain_args, "data.json"),
}


def summary_lines(stderr):
    return [line for line in stderr.splitlines() if "skipped" in line]


def check_reported(run, stderr, results, case, broken):
    (line,) = summary_lines(stderr)  # one line, not also the reader's own warning
    kind = CASES[case]
    unit = "objects" if case == "degenerate box" else "images"
    assert re.fullmatch(
        rf"condet: skipped 1 of \d+ {unit}: 1 {kind}; see {re.escape(str(run))}/skipped\.txt",
        line,
    ), line
    listing = (run / "skipped.txt").read_text()
    assert f"{broken}: " in listing and f"[{kind}]" in listing
    skipped = json.loads((run / results).read_text())["skipped"]
    assert skipped["records"] == 1 and skipped["by_kind"] == {kind: 1}
    assert skipped[unit] == 1 and skipped[f"of_{unit}"] > 1


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_detect_train_skips_reports_and_counts(clean_root, tmp_path, capsys, case):
    root, (broken,) = broken_copy(clean_root, tmp_path, case)
    run = tmp_path / "run"
    assert main(detect_args(root, run)) == 0
    check_reported(run, capsys.readouterr().err, "metrics.json", case, broken)


@pytest.mark.parametrize("case", list(CASES))
def test_classify_train_skips_reports_and_counts(clean_root, tmp_path, capsys, case):
    # train.txt's first ids are in trainval, the split classify-train reads
    root, (broken,) = broken_copy(clean_root, tmp_path, case)
    run = tmp_path / "run"
    assert main(classify_args(root, run)) == 0
    check_reported(run, capsys.readouterr().err, "results.json", case, broken)


@pytest.mark.parametrize("case", list(CASES))
def test_ood_skips_reports_and_counts(clean_root, tmp_path, capsys, case):
    root, (broken,) = broken_copy(clean_root, tmp_path, case)
    run = tmp_path / "run"
    assert main(ood_args(root, run)) == 0
    check_reported(run, capsys.readouterr().err, "results.json", case, broken)


@pytest.mark.parametrize("case", list(CASES))
def test_pretrain_skips_reports_and_counts_in_data_json(clean_root, tmp_path, capsys, case):
    root, (broken,) = broken_copy(clean_root, tmp_path, case)
    run = tmp_path / "run"
    assert main(pretrain_args(root, run)) == 0
    check_reported(run, capsys.readouterr().err, "data.json", case, broken)
    images = json.loads((run / "data.json").read_text())["images"]
    # a degenerate box skips an object, not its image, which pretraining still uses
    assert images == (10 if case == "degenerate box" else 9)


def test_every_kind_in_one_summary_line(clean_root, tmp_path, capsys):
    root, _ = broken_copy(clean_root, tmp_path, *CASES)
    run = tmp_path / "run"
    assert main(pretrain_args(root, run)) == 0
    (line,) = summary_lines(capsys.readouterr().err)
    assert re.fullmatch(
        r"condet: skipped 3 of 10 images and 1 of \d+ objects: 1 malformed annotation, "
        rf"1 missing image, 1 degenerate box, 1 unreadable image; see {re.escape(str(run))}/"
        r"skipped\.txt",
        line,
    ), line
    # the summary, a blank line, the split, its four skips
    assert len((run / "skipped.txt").read_text().splitlines()) == 7


@pytest.mark.parametrize("command", list(COMMANDS))
def test_strict_stops_with_one_line_naming_the_first_problem(clean_root, tmp_path, capsys, command):
    root, broken = broken_copy(clean_root, tmp_path, *CASES)
    args, results = COMMANDS[command]
    run = tmp_path / "run"
    assert main(args(root, run, "--strict")) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"condet: error: {broken[0]}: malformed XML"), line
    assert "the first of 4 problems in the data" in line
    assert not (run / results).exists() and not (run / "skipped.txt").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_strict_stops_at_an_image_that_does_not_decode(clean_root, tmp_path, capsys, command):
    """A text file named .jpg trained with exit 0 under --strict (issue 32): data check flagged
    it, the training commands did not look."""
    root, (broken,) = broken_copy(clean_root, tmp_path, "text file named .jpg")
    args, results = COMMANDS[command]
    run = tmp_path / "run"
    assert main(args(root, run, "--strict")) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"condet: error: {broken}: cannot decode the image (Unsupported image file) (the only "
        "problem in the data; condet data check lists them all; without --strict they are "
        "skipped)"
    )
    assert not (run / results).exists()


def test_clean_data_writes_no_skipped_txt_and_counts_zero(clean_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(pretrain_args(clean_root, run)) == 0
    assert not summary_lines(capsys.readouterr().err)
    assert not (run / "skipped.txt").exists()
    skipped = json.loads((run / "data.json").read_text())["skipped"]
    assert skipped["records"] == 0 and skipped["of_images"] == 10


@pytest.mark.parametrize("case", list(CASES))
def test_evaluate_features_skips_reports_and_counts(clean_root, tmp_path, capsys, case):
    # not a training command (no --strict), but it reads detection data sets the same way
    root, (broken,) = broken_copy(clean_root, tmp_path, case)
    out = tmp_path / "features"
    argv = [
        "evaluate-features",
        *("--train", str(root), "--train-split", "trainval"),
        *("--test", str(root), "--test-split", "test"),
        *(
            "--backbone",
            "mobilenet_v3_small",
            "--weights",
            "random",
            "--image-size",
            "32",
            "--k",
            "5",
        ),
        *("--plot", "none", "--no-progress", "--out", str(out)),
    ]
    assert main(argv) == 0
    check_reported(out, capsys.readouterr().err, "features.json", case, broken)
