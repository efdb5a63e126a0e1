"""Bad input reaches the user as one line, ``condet: error: FILE: what is wrong``, exit code 1."""

from __future__ import annotations

import collections
import json
import pickle
import re
import warnings
from pathlib import Path

import pytest

from condet.cli import main
from condet.losses import (
    RankingError,
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
)
from tests.helpers import make_voc, voc_xml


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def cats_and_dogs(tmp_path) -> Path:
    """A VOC folder of four images, a cat and a dog in each, two in each split."""
    objects = [("cat", (5, 5, 45, 45)), ("dog", (50, 20, 95, 75))]
    annotations = {name: voc_xml(objects) for name in ("a", "b", "c", "d")}
    return make_voc(tmp_path / "voc", annotations, {"train": ["a", "b"], "test": ["c", "d"]})


def one_error_line(capsys) -> str:
    """The command's only stderr line, without its ``condet: error: `` prefix."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("condet: error: "), lines[0]
    return lines[0].removeprefix("condet: error: ")


def classify_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "classify-train",
        "--data",
        str(data),
        "--split",
        "train",
        "--test-split",
        "test",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--crop-size",
        "32",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def test_unknown_class_in_a_rankings_file_names_the_file(tmp_path):
    path = tmp_path / "rankings.yaml"
    path.write_text("rankings: {cat: [dog], dog: [], blob: [cat]}\n")
    with pytest.raises(RankingError) as error:
        rank_matrix_from_rankings(["cat", "dog"], load_rankings(path), r=2)
    assert str(error.value) == f"{path}: rankings name unknown classes: blob (classes: cat, dog)"


def test_a_bad_ranking_list_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "rankings.yaml"
    path.write_text("rankings: {cat: [blob], dog: []}\n")
    with pytest.raises(
        RankingError, match=f"^{re.escape(str(path))}: the ranking of 'cat' names unknown"
    ):
        rank_matrix_from_rankings(["cat", "dog"], load_rankings(path), r=2)


def test_unknown_class_in_a_groups_file_names_the_file(tmp_path):
    path = tmp_path / "groups.yaml"
    path.write_text("groups: {animal: [cat, blob]}\n")
    with pytest.raises(
        RankingError, match=f"^{re.escape(str(path))}: group 'animal' names unknown classes: blob"
    ):
        rank_matrix_from_groups(["cat", "dog"], load_groups(path))


def test_rankings_given_in_code_have_no_file_to_name():
    with pytest.raises(RankingError, match=r"^rankings name unknown classes: blob"):
        rank_matrix_from_rankings(["cat", "dog"], {"cat": [], "dog": [], "blob": []}, r=2)


def test_classify_train_names_the_rankings_file_with_an_unknown_class(
    cats_and_dogs, tmp_path, capsys
):
    rankings = tmp_path / "bad.yaml"
    rankings.write_text("rankings: {cat: [dog], dog: [cat], blob: []}\n")
    argv = classify_argv(
        cats_and_dogs, tmp_path / "run", "--loss", "ranked", "--rankings", str(rankings)
    )
    assert main(argv) == 1
    assert one_error_line(capsys) == (
        f"{rankings}: rankings name unknown classes: blob (classes: cat, dog)"
    )


# An unclosed flow sequence: PyYAML's message for it spans five lines.
MALFORMED_YAML = "epochs: 2\nbatch_size: [1,\n"
YAML_PROBLEM = (
    "malformed YAML at line 3, column 1: expected the node content, but found '<stream end>' "
    "(while parsing a flow node)"
)


def test_a_malformed_config_file_is_one_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(MALFORMED_YAML)
    assert main(["pretrain", "--config", str(config), "--out", str(tmp_path / "run")]) == 1
    assert one_error_line(capsys) == f"{config}: {YAML_PROBLEM}"


def test_a_config_file_that_is_not_text_is_one_line(tmp_path, capsys):
    config = tmp_path / "binary.yaml"
    config.write_bytes(b"epochs: \xff\xfe\n")
    assert main(["pretrain", "--config", str(config), "--out", str(tmp_path / "run")]) == 1
    assert one_error_line(capsys) == f"{config}: not UTF-8 text (at byte 8)"


def test_a_malformed_rankings_file_is_one_line(cats_and_dogs, tmp_path, capsys):
    rankings = tmp_path / "rankings.yaml"
    rankings.write_text("rankings:\n  cat: [dog,\n")
    argv = classify_argv(
        cats_and_dogs, tmp_path / "run", "--loss", "ranked", "--rankings", str(rankings)
    )
    assert main(argv) == 1
    assert one_error_line(capsys) == (
        f"{rankings}: malformed YAML at line 3, column 1: expected the node content, but found "
        "'<stream end>' (while parsing a flow node)"
    )


def test_a_malformed_protocol_is_one_line(tmp_path, capsys):
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(MALFORMED_YAML)
    assert main(["experiment", str(protocol), "--out", str(tmp_path / "out")]) == 1
    assert one_error_line(capsys) == f"{protocol}: {YAML_PROBLEM}"


def test_a_malformed_yolo_data_yaml_is_one_line(tmp_path, capsys):
    data_yaml = tmp_path / "data.yaml"
    data_yaml.write_text(MALFORMED_YAML)
    assert main(["data", "check", str(data_yaml)]) == 1
    assert one_error_line(capsys) == f"{data_yaml}: {YAML_PROBLEM}"


def evaluate_features_argv(data: Path, weights: Path, out: Path) -> list[str]:
    return [
        "evaluate-features",
        "--train",
        str(data),
        "--test",
        str(data),
        "--weights",
        str(weights),
        "--image-size",
        "32",
        "--plot",
        "none",
        "--out",
        str(out),
        "--no-progress",
    ]


REFUSED_PTH = (
    "not a plain state dict or checkpoint (it is read with weights_only=True, so pickled "
    "objects are refused)"
)


def test_a_junk_pth_is_one_line(cats_and_dogs, tmp_path, capsys):
    weights = tmp_path / "junk.pth"
    weights.write_bytes(b"this is not a torch file\n")
    assert main(evaluate_features_argv(cats_and_dogs, weights, tmp_path / "out")) == 1
    assert one_error_line(capsys) == f"{weights}: {REFUSED_PTH}"


def test_a_pickled_object_pth_is_one_line_without_torchs_advice(cats_and_dogs, tmp_path, capsys):
    weights = tmp_path / "counter.pth"
    # A plain pickle (protocol 4, which torch also warns about before refusing the file).
    weights.write_bytes(pickle.dumps(collections.Counter(conv=1), protocol=4))
    with warnings.catch_warnings():
        # Torch's warning about the file would print as lines of its own.
        warnings.filterwarnings("error", category=UserWarning)
        assert main(evaluate_features_argv(cats_and_dogs, weights, tmp_path / "out")) == 1
    line = one_error_line(capsys)
    assert line == f"{weights}: {REFUSED_PTH}"
    assert "weights_only=False" not in line


def test_a_diverging_training_run_is_one_line_not_an_internal_error(
    synthetic_root, tmp_path, capsys
):
    # At --lr 1e6 the detection loss is NaN within a few steps of this tiny detector.
    argv = [
        "detect-train",
        "--data",
        str(synthetic_root),
        "--split",
        "trainval",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--min-size",
        "64",
        "--max-size",
        "64",
        "--fpn-channels",
        "16",
        "--proposals",
        "50",
        "--roi-samples",
        "16",
        "--batch-size",
        "2",
        "--lr",
        "1e6",
        "--warmup-steps",
        "0",
        "--max-steps",
        "8",
        "--workers",
        "0",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 1
    line = one_error_line(capsys)
    assert re.match(r"training diverged: the detection loss is (nan|-?inf) at step \d+", line)
    assert "lower --lr" in line


def test_sync_batchnorm_on_a_cpu_is_one_line(cats_and_dogs, tmp_path, capsys):
    argv = classify_argv(cats_and_dogs, tmp_path / "run", "--accelerator", "cpu")
    assert main([*argv, "--sync-batchnorm", "--max-steps", "1"]) == 1
    assert one_error_line(capsys).startswith("--sync-batchnorm needs GPUs")


# Bad input, second sweep (issue 32): each of these exited 0 with a meaningless result, or
# failed with a message that misled. Each is now one line naming the option and the value.
OUT_OF_RANGE = [
    (["pretrain", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["detect-train", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["evaluate-features", "--k", "0"], "--k must be at least 1, got 0"),
    (["pretrain", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["pretrain", "--lr", "-1"], "--lr must be above 0, got -1"),
    (["detect-train", "--lr", "nan"], "--lr must be above 0, got nan"),
    (["pretrain", "--temperature", "0"], "--temperature must be above 0, got 0"),
    (["classify-train", "--temperatures", "0.1", "0"], "--temperatures must be above 0, got 0"),
    (["evaluate-features", "--knn-temperature", "0"], "--knn-temperature must be above 0, got 0"),
    (
        ["pipeline", "--detector", "d", "--encoder", "e", "--data", "x", "--threshold", "5"],
        "--threshold must be between -1 and 1, got 5",
    ),
    (
        ["pipeline", "--detector", "d", "--encoder", "e", "--data", "x", "--score-threshold", "2"],
        "--score-threshold must be between 0 and 1, got 2",
    ),
    (
        ["detect-train", "--label-fraction", "0"],
        "--label-fraction must be above 0 and at most 1, got 0",
    ),
    (
        ["detect-train", "--trainable-stages", "6"],
        "--trainable-stages must be between 0 and 5, got 6",
    ),
    (["classify-train", "--r", "0"], "--r must be at least 1, got 0"),
    (["pretrain", "--max-steps", "-2"], "--max-steps must be at least 0 or -1, got -2"),
    (["pretrain", "--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    (
        ["explain", "data", "--model", "a=random", "--images", "0"],
        "--images must be at least 1, got 0",
    ),
    (["data", "synth", "out", "--size", "0"], "--size must be at least 4, got 0"),
]


@pytest.mark.parametrize(("argv", "message"), OUT_OF_RANGE, ids=lambda x: " ".join(x)[:40])
def test_an_option_out_of_its_range_is_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but not into the checkout either
    assert main(argv) == 1
    assert one_error_line(capsys) == message
    assert not list(tmp_path.iterdir())


def test_a_range_in_a_config_file_is_checked_as_the_flag(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("batch_size: 0\n")
    assert main(["pretrain", "--config", str(config), "--out", str(tmp_path / "run")]) == 1
    assert one_error_line(capsys) == "--batch-size must be at least 1, got 0"
    assert not (tmp_path / "run").exists()


def test_explain_into_an_existing_folder_is_one_line(cats_and_dogs, tmp_path, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    argv = ["explain", str(cats_and_dogs), "--model", "a=random", "--out", str(folder)]
    assert main(argv) == 1
    assert one_error_line(capsys) == (
        f"--out {folder} is a folder; condet explain writes one file: name it "
        f"(e.g. {folder / 'explain.png'})"
    )
    assert list(tmp_path.glob("pictures*")) == [folder] and not list(folder.iterdir())


@pytest.mark.parametrize("command", ["pretrain", "evaluate-features", "pipeline"])
def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys, command):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    extra = ["--detector", "d", "--encoder", "e", "--data", "x"] if command == "pipeline" else []
    assert main([command, *extra, "--out", str(out)]) == 1
    assert (
        one_error_line(capsys) == f"--out {out} is a file; condet {command} writes a folder there"
    )
    assert out.read_text() == "mine"


def fake_run(folder: Path, command: str) -> Path:
    """A run folder as ``command`` leaves it, as far as telling its kind goes."""
    folder.mkdir(parents=True)
    (folder / "environment.json").write_text(json.dumps({"command": command}))
    return folder


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "{data}", "--kind", "detector", "--model", "a={encoder}"],
            "{encoder} is a classify-train run, not a detect-train run; --model a=... (--kind "
            "detector) needs a detect-train run folder",
        ),
        (
            ["explain", "{data}", "--kind", "encoder", "--model", "a={detector}"],
            "{detector} is a detect-train run, not a classify-train run; --model a=... (--kind "
            "encoder) needs a classify-train run folder",
        ),
        (
            ["pipeline", "--detector", "{encoder}", "--encoder", "{encoder}", "--data", "{data}"],
            "{encoder} is a classify-train run, not a detect-train run; --detector needs a "
            "detect-train run folder",
        ),
        (
            ["predict", "{data}", "--checkpoint", "{encoder}"],
            "{encoder} is a classify-train run, not a detect-train run; --checkpoint needs a "
            "detect-train run folder",
        ),
    ],
)
def test_the_wrong_kind_of_run_names_the_option_given(
    cats_and_dogs, tmp_path, capsys, argv, message
):
    """No mention of a --checkpoint option the command does not have (issue 32)."""
    runs = {
        "data": cats_and_dogs,
        "encoder": fake_run(tmp_path / "encoder", "classify-train"),
        "detector": fake_run(tmp_path / "detector", "detect-train"),
    }
    out = tmp_path / ("out.png" if argv[0] == "explain" else "out")
    assert main([*(part.format(**runs) for part in argv), "--out", str(out)]) == 1
    assert one_error_line(capsys) == message.format(**runs)


def test_ood_withholding_every_class_says_so(cats_and_dogs, tmp_path, capsys):
    argv = classify_argv(cats_and_dogs, tmp_path / "run", "--withhold", "cat", "dog")
    assert main(["ood", *argv[1:]]) == 1
    assert one_error_line(capsys) == (
        f"--withhold names every class of {cats_and_dogs} (cat, dog); leave at least one class "
        "to train on"
    )


def test_detect_train_withholding_every_class_says_so(cats_and_dogs, tmp_path, capsys):
    argv = [
        "detect-train",
        "--data",
        str(cats_and_dogs),
        "--withhold",
        "cat",
        "dog",
        "--no-progress",
    ]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 1
    assert one_error_line(capsys) == (
        "--withhold cat dog leaves no boxes to train on in the split 'train'"
    )
