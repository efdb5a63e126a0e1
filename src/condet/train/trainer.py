"""The Lightning trainer every condet training command uses, and its callbacks.

The run folder it writes into is :mod:`condet.run_folder`'s; checkpoints go to
``RUN/checkpoints/last.ckpt`` (every --checkpoint-every steps and at the end), written
atomically, the one before it kept as ``last.prev.ckpt`` (:mod:`condet.checkpoints`), so a run
killed at any moment leaves a checkpoint that loads.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only

from condet.checkpoints import keep_previous, last_checkpoint
from condet.config.training import TrainingOptions
from condet.errors import CondetError
from condet.io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, writing through a temporary file beside the checkpoint and
    keeping the checkpoint it replaces (``last.prev.ckpt``, see :mod:`condet.checkpoints`).

    Lightning's own save is atomic only by accident: fsspec's local transaction writes to a
    file in the system temporary folder and ``shutil.move``s it, which is a rename on the same
    file system but a plain copy over ``last.ckpt`` on another one (a run killed mid-copy leaves
    a truncated checkpoint), and needs room for the whole checkpoint there. Reading is
    Lightning's, to the CPU and with ``weights_only=True``.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)
            keep_previous(Path(path))

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location or "cpu", weights_only=True)


class TrainingTime(L.Callback):
    """Logs the training's wall-clock and CPU seconds so far (``time/wall_s``, ``time/cpu_s``).

    CPU seconds are the process's (every thread), so learning curves can be read against the
    compute spent even on a shared machine; both survive ``--resume`` through the checkpoint.
    Evaluation at the end of an epoch is not training time: the clock restarts at the next batch.
    """

    def __init__(self) -> None:
        self.wall, self.cpu = 0.0, 0.0
        self._since: tuple[float, float] | None = None

    def on_train_batch_start(self, *args: Any) -> None:
        if self._since is None:
            self._since = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall += wall - self._since[0]
        self.cpu += cpu - self._since[1]
        self._since = (wall, cpu)
        module.log_dict({"time/wall_s": self.wall, "time/cpu_s": self.cpu}, on_step=True)

    def on_train_epoch_end(self, *args: Any) -> None:
        self._since = None

    def state_dict(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.wall, self.cpu = state["wall"], state["cpu"]


class LastCheckpoint(L.Callback):
    """Writes ``last.ckpt`` every ``every`` steps and after the step that ends training.

    Saving inside the step (not after ``fit`` returns) keeps Lightning's epoch bookkeeping
    true to the steps done, so a run stopped by ``--max-steps`` resumes into the right epoch.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, max(1, every)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        step = trainer.global_step
        last_of_run = (trainer.max_steps > 0 and step >= trainer.max_steps) or (
            trainer.is_last_batch and trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        )
        if step % self.every == 0 or last_of_run:
            trainer.save_checkpoint(self.path, weights_only=False)


def make_trainer(
    options: TrainingOptions,
    run: Path,
    max_epochs: int,
    callbacks: list[L.Callback] | None = None,
    log_every: int = 10,
    clip_grad_norm: float = 0.0,
) -> L.Trainer:
    """A Lightning trainer writing checkpoints and CSV / TensorBoard logs into ``run``, clipping
    the gradient norm to ``clip_grad_norm`` when it is above 0."""
    checkpoint = LastCheckpoint(last_checkpoint(run), options.checkpoint_every)
    loggers = [
        CSVLogger(run, name="logs", version=""),
        TensorBoardLogger(run, name="logs", version="", default_hp_metric=False),
    ]
    devices: int | str = int(options.devices) if options.devices.isdigit() else options.devices
    trainer = L.Trainer(
        default_root_dir=run,
        max_epochs=max_epochs,
        max_steps=options.max_steps,
        accelerator=options.accelerator,
        devices=devices,
        num_nodes=options.num_nodes,
        strategy=options.strategy,
        precision=options.precision,
        sync_batchnorm=options.sync_batchnorm,
        gradient_clip_val=clip_grad_norm or None,
        gradient_clip_algorithm="norm" if clip_grad_norm else None,
        callbacks=[TrainingTime(), checkpoint, *(callbacks or [])],
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        log_every_n_steps=log_every,
        num_sanity_val_steps=0,
        enable_checkpointing=False,  # LastCheckpoint writes the checkpoints
    )
    if options.sync_batchnorm and isinstance(trainer.accelerator, CPUAccelerator):
        raise CondetError(
            "--sync-batchnorm needs GPUs: torch's SyncBatchNorm has no CPU kernel; leave it off "
            "on CPUs (each process then normalises over its own batch)"
        )
    return trainer


def quiet_lightning() -> None:
    """Keep Lightning's tips and device banners out of the output; warnings stay."""
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.distributed",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Said on every --resume, and untrue: prepare_run_folder has kept metrics.csv as a part, and
    # the CSV logger deletes nothing else.
    warnings.filterwarnings("ignore", message=".*Previous log files in this directory will be")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def is_global_zero() -> bool:
    """Whether this is the process that evaluates and writes the results (the only one
    without DDP): the others of a multi-process run end after training."""
    return getattr(rank_zero_only, "rank", 0) == 0
