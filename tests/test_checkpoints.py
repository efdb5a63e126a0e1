"""A run's checkpoints: the previous one is kept, and resuming checks them before anything else,
falling back to the previous checkpoint or stopping with one line (issue 32)."""

from __future__ import annotations

import logging
import os

import pytest
import torch
import yaml

from condet.checkpoints import (
    PREVIOUS,
    checkpoint_step,
    last_checkpoint,
    newest_loadable,
    resume_checkpoint,
)
from condet.cli import main
from condet.config.pretrain import PretrainConfig
from condet.errors import CondetError
from condet.options import build_config
from condet.run_folder import write_run_info
from condet.train.trainer import AtomicCheckpointIO


def save(path, step):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.full((64,), float(step))}}, path)
    return path


def cut(path, keep=0.5):
    """Truncate ``path`` to ``keep`` of its size (0: an empty file)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_the_checkpoint_io_keeps_the_one_it_replaces(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    assert not (path.parent / PREVIOUS).exists()
    io.save_checkpoint({"global_step": 2}, path)
    assert checkpoint_step(path) == 2 and checkpoint_step(path.parent / PREVIOUS) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", PREVIOUS]
    io.save_checkpoint({"global_step": 3}, path)
    assert checkpoint_step(path) == 3 and checkpoint_step(path.parent / PREVIOUS) == 2


def test_last_ckpt_is_never_missing_while_a_new_one_is_written(tmp_path, monkeypatch):
    """A process killed between keeping the previous checkpoint and writing the new one must
    still leave a last.ckpt: tools and the kill tests read it."""
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    seen = []
    replace = os.replace

    def watching_replace(source, target):
        seen.append(path.is_file())
        replace(source, target)

    monkeypatch.setattr(os, "replace", watching_replace)
    io.save_checkpoint({"global_step": 2}, path)
    assert seen and all(seen)


@pytest.mark.parametrize(
    ("keep", "reason"), [(0.5, "it is truncated or not a checkpoint"), (0, "it is empty")]
)
def test_a_cut_checkpoint_is_named_with_what_is_wrong(tmp_path, keep, reason):
    path = cut(save(tmp_path / "last.ckpt", 3), keep)
    with pytest.raises(CondetError) as error:
        checkpoint_step(path)
    assert str(error.value) == f"{path} does not load ({reason})"


def test_a_file_of_another_kind_is_no_training_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save([1, 2], path)
    with pytest.raises(CondetError, match="it is not a training checkpoint"):
        checkpoint_step(path)


@pytest.mark.parametrize("keep", [0.5, 0])
def test_resuming_falls_back_to_the_previous_checkpoint(tmp_path, caplog, keep):
    last = last_checkpoint(tmp_path)
    save(last.with_name(PREVIOUS), 2)
    cut(save(last, 3), keep)
    with caplog.at_level(logging.WARNING, logger="condet"):
        assert resume_checkpoint(tmp_path) == last
    assert checkpoint_step(last) == 2 and not last.with_name(PREVIOUS).exists()
    (message,) = caplog.messages
    assert message.startswith(f"{last} does not load (")
    assert message.endswith(f"resuming from {last.with_name(PREVIOUS)} (step 2) instead")


def test_a_run_whose_last_checkpoint_is_gone_resumes_from_the_previous(tmp_path, caplog):
    last = last_checkpoint(tmp_path)
    save(last.with_name(PREVIOUS), 2)
    with caplog.at_level(logging.WARNING, logger="condet"):
        assert resume_checkpoint(tmp_path) == last
    assert checkpoint_step(last) == 2 and not caplog.messages


def test_without_a_checkpoint_that_loads_resuming_stops_with_the_way_out(tmp_path):
    last = cut(save(last_checkpoint(tmp_path), 3), 0)
    with pytest.raises(CondetError) as error:
        resume_checkpoint(tmp_path)
    assert str(error.value) == (
        f"{last} does not load (it is empty) and no earlier checkpoint is kept; pass --restart "
        "to train the run again from the start, or choose another --out"
    )
    previous = cut(save(last.with_name(PREVIOUS), 2))
    with pytest.raises(CondetError) as error:
        resume_checkpoint(tmp_path)
    assert str(error.value).startswith(
        f"{last} does not load (it is empty), nor does {previous} (it is truncated or not a "
        "checkpoint); pass --restart"
    )
    assert last.stat().st_size == 0, "a failed resume leaves the files as they were"


def test_nothing_to_resume(tmp_path):
    with pytest.raises(CondetError, match=r"^nothing to resume: "):
        resume_checkpoint(tmp_path)
    assert newest_loadable(tmp_path) == (None, 0, [])


def run_folder(tmp_path):
    """A pretrain run folder as a run killed after its first checkpoint leaves it."""
    run = tmp_path / "run"
    config = build_config(PretrainConfig, {"out": run, "data": tmp_path / "no-data"})
    write_run_info(run, config, "pretrain")
    (run / "logs").mkdir()
    (run / "logs" / "metrics.csv").write_text("step,loss\n0,2.0\n")
    (run / "logs" / "events.out.tfevents.1").write_bytes(b"events")
    return run


def test_a_resume_that_cannot_continue_is_one_line_and_touches_nothing(tmp_path, capsys):
    run = run_folder(tmp_path)
    cut(save(last_checkpoint(run), 3), 0)
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert main(["pretrain", "--out", str(run), "--resume"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"condet: error: {last_checkpoint(run)} does not load (it is empty)")
    assert "pass --restart" in line
    after = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert after == before


def test_restart_deletes_the_checkpoints_and_logs_and_keeps_the_options(tmp_path, capsys):
    run = run_folder(tmp_path)
    save(last_checkpoint(run), 3)
    # The data folder does not exist: the run stops there, after the folder was prepared.
    assert main(["pretrain", "--out", str(run), "--restart"]) == 1
    assert "no-data" in capsys.readouterr().err
    assert not (run / "logs").exists() and not list((run / "checkpoints").iterdir())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"] == str(tmp_path / "no-data") and saved["restart"] is False


def test_a_fresh_run_starts_over_a_checkpoint_that_does_not_load(tmp_path, capsys):
    run = run_folder(tmp_path)
    cut(save(last_checkpoint(run), 3))
    argv = ["pretrain", "--out", str(run), "--data", str(tmp_path / "no-data")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"condet: {last_checkpoint(run)} does not load" in err
    assert "starting the run afresh" in err and "no-data" in err
    assert not (run / "logs").exists() and not list((run / "checkpoints").iterdir())


def test_a_fresh_run_does_not_overwrite_a_run_that_can_continue(tmp_path, capsys):
    run = run_folder(tmp_path)
    save(last_checkpoint(run), 3)
    assert main(["pretrain", "--out", str(run), "--data", str(tmp_path / "no-data")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"condet: error: {run} already holds a run; pass --resume to continue it, --restart to "
        "start it again, or choose another --out"
    )
    assert checkpoint_step(last_checkpoint(run)) == 3


def test_resume_and_restart_together_is_one_line(tmp_path, capsys):
    run = run_folder(tmp_path)
    save(last_checkpoint(run), 3)
    assert main(["pretrain", "--out", str(run), "--resume", "--restart"]) == 1
    assert capsys.readouterr().err.strip() == (
        "condet: error: pass --resume to continue the run or --restart to start it again, not both"
    )
