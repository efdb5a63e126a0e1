"""Run folders: creating, resuming, what they record, and reading their metrics back."""

from __future__ import annotations

import json
import platform

import pytest
import torch
import yaml

from condet.config.pretrain import PretrainConfig
from condet.errors import CondetError
from condet.options import build_config
from condet.run_folder import (
    cpu_model,
    prepare_run_folder,
    read_training_log,
    resume_config_values,
    write_run_info,
)


def config_for(out, resume=False):
    return build_config(PretrainConfig, {"out": out, "resume": resume, "epochs": 3})


def test_prepare_run_folder_creates_a_fresh_run(tmp_path):
    run = prepare_run_folder(config_for(tmp_path / "run"), "pretrain")
    assert run == tmp_path / "run" and (run / "checkpoints").is_dir()
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 3
    assert resume_config_values(run)["epochs"] == 3


def test_prepare_run_folder_refuses_to_overwrite_and_to_resume_nothing(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CondetError, match="nothing to resume"):
        prepare_run_folder(config_for(run, resume=True), "pretrain")
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 1}, run / "checkpoints" / "last.ckpt")
    with pytest.raises(CondetError, match="already holds a run"):
        prepare_run_folder(config_for(run), "pretrain")


def test_resuming_keeps_the_earlier_metrics_and_drops_stale_temporaries(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 1}, run / "checkpoints" / "last.ckpt")
    (run / "checkpoints" / ".last.ckpt.tmp").write_bytes(b"half")
    (run / "logs").mkdir()
    (run / "logs" / "metrics.csv").write_text("step,loss\n0,2.0\n")
    prepare_run_folder(config_for(run, resume=True), "pretrain")
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert not (run / "logs" / "metrics.csv").exists()
    assert (run / "logs" / "metrics-part1.csv").read_text() == "step,loss\n0,2.0\n"


def test_an_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    with pytest.raises(CondetError) as error:
        prepare_run_folder(config_for(out), "pretrain")
    assert str(error.value) == f"--out {out} is a file; a run needs a folder there"
    assert out.read_text() == "mine"


def test_write_run_info_records_config_and_environment(tmp_path):
    write_run_info(tmp_path / "run", config_for(tmp_path / "run"), "pretrain")
    environment = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert environment["command"] == "pretrain"
    assert {"condet", "torch", "lightning", "python", "commit", "argv"} <= set(environment)
    assert environment["cpu"] == cpu_model()
    assert environment["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["out"] == str(
        tmp_path / "run"
    )


def test_read_metrics_reads_the_parts_before_each_resume_first(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "metrics-part10.csv").write_text("step,loss\n2,1.0\n")
    (logs / "metrics-part2.csv").write_text("step,loss\n1,1.5\n")
    (logs / "metrics-part1.csv").write_text("step,loss\n0,2.0\n")
    (logs / "metrics.csv").write_text("step,loss\n3,0.5\n")
    assert [row["step"] for row in read_training_log(tmp_path)] == ["0", "1", "2", "3"]
    assert read_training_log(tmp_path)[-1] == {"step": "3", "loss": "0.5"}
    assert read_training_log(tmp_path / "missing") == []


def test_cpu_model_reads_the_model_name_line_of_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon Test CPU\n")
    assert cpu_model(cpuinfo) == "Xeon Test CPU"


def test_cpu_model_without_cpuinfo_falls_back_to_platform(tmp_path):
    expected = platform.processor() or platform.machine()
    assert cpu_model(tmp_path / "missing") == expected
    (tmp_path / "empty").write_text("processor\t: 0\n")
    assert cpu_model(tmp_path / "empty") == expected


def test_steps_trained_again_after_a_resume_are_read_once_from_the_later_part(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    # checkpoint at step 2: the first part logged steps 3-4, which the resumed run trains again
    (logs / "metrics-part1.csv").write_text("step,loss\n0,2.0\n2,1.5\n3,1.4\n4,1.3\n")
    (logs / "metrics.csv").write_text("step,loss\n3,1.2\n4,1.1\n5,1.0\n")
    rows = read_training_log(tmp_path)
    assert [(row["step"], row["loss"]) for row in rows] == [
        ("0", "2.0"),
        ("2", "1.5"),
        ("3", "1.2"),
        ("4", "1.1"),
        ("5", "1.0"),
    ]
