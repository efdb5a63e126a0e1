"""What every condet training command shares: options, the run folder, and the Lightning trainer.

A run folder holds everything about one run::

    RUN/config.yaml          the resolved config (flags > --config file > defaults)
    RUN/environment.json     condet / torch / lightning versions, git commit, devices, command
    RUN/checkpoints/         last.ckpt (every --checkpoint-every steps and at the end)
    RUN/logs/                metrics.csv (earlier parts of a resumed run: metrics-partN.csv)
                             and TensorBoard events

Resuming (``--resume``) is exact: data order and augmentations are functions of the seed and
the optimizer step, the loader tells Lightning how far into the epoch it was, and checkpoints
are written atomically, so a run killed at any moment continues from its last checkpoint as if
it had never stopped.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
import yaml
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, Dataset, Sampler

import condet
from condet.commands.options import config_to_dict
from condet.errors import CondetError
from condet.io import atomic_path, write_text_atomic

if TYPE_CHECKING:
    # the command's config, in annotations only: commands import this module, not the reverse
    from condet.commands.training import TrainingOptions


def prepare_run_folder(options: TrainingOptions, config: Any, command: str) -> Path:
    """Create (or, resuming, check) the run folder and write the config and environment."""
    run = options.out
    checkpoint = run / "checkpoints" / "last.ckpt"
    if options.resume and not checkpoint.is_file():
        raise CondetError(f"nothing to resume: {checkpoint} does not exist")
    if not options.resume and checkpoint.is_file():
        raise CondetError(
            f"{run} already holds a run; pass --resume to continue it or choose another --out"
        )
    write_run_info(run, config, command)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    for stale in (run / "checkpoints").glob(".*.tmp"):
        stale.unlink()  # left by a process killed while writing; the checkpoint itself is whole
    metrics = run / "logs" / "metrics.csv"
    if options.resume and metrics.is_file():
        # Lightning's CSV logger starts a fresh metrics.csv; keep the earlier part beside it.
        part = 1 + len(list(metrics.parent.glob("metrics-part*.csv")))
        metrics.rename(metrics.with_name(f"metrics-part{part}.csv"))
    return run


def write_run_info(run: Path, config: Any, command: str) -> None:
    """``RUN/config.yaml`` (the resolved config) and ``RUN/environment.json``."""
    run.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_text_atomic(run / "environment.json", json.dumps(environment(command), indent=2))


def resume_config_values(out: Path) -> dict[str, Any]:
    """The config a run was started with, to continue it without repeating its flags."""
    path = out / "config.yaml"
    if not path.is_file():
        raise CondetError(f"nothing to resume: {path} does not exist")
    return yaml.safe_load(path.read_text()) or {}


def read_metrics(run: Path) -> list[dict[str, str]]:
    """Every row of the run's CSV logs, the parts before each resume first."""
    import csv

    logs = run / "logs"
    parts = sorted(
        logs.glob("metrics-part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics-part"))
    )
    rows: list[dict[str, str]] = []
    for path in [*parts, logs / "metrics.csv"]:
        if path.is_file():
            with path.open(newline="") as handle:
                rows += list(csv.DictReader(handle))
    return rows


def environment(command: str) -> dict[str, Any]:
    """Versions, commit, devices and command line, for the run folder."""
    return {
        "command": command,
        "argv": sys.argv,
        "condet": condet.__version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "cuda_devices": [
            torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())
        ],
        "cpu_threads": torch.get_num_threads(),
    }


def git_commit() -> str | None:
    """The commit of the condet checkout in use (None for an installed package)."""
    source = Path(condet.__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed, and read with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


class StepBatchSampler(Sampler[tuple[int, list[int]]]):
    """``(step, indices)`` of each batch, drawn from a seeded permutation per epoch.

    Where an iteration starts is a function of the optimizer steps already done
    (``steps_done()``): epoch ``e = steps // batches_per_epoch`` uses the permutation of
    ``seed + e``, and a run resumed mid-epoch starts at the batch it had reached. The step
    number travels with the batch so that its random augmentation can be seeded by it. Process
    ``r`` of ``w`` takes every ``w``-th sample of the permutation, and all processes yield the
    same number of full batches (DDP needs equal steps and the contrastive gather equal shapes).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        steps_done: Callable[[], int],
        rank: int = 0,
        world: int = 1,
    ) -> None:
        per_process = size // world
        if per_process < batch_size:
            raise CondetError(
                f"{size} samples over {world} process(es) cannot fill one batch of {batch_size}; "
                "lower --batch-size"
            )
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.steps_done = steps_done
        self.rank, self.world = rank, world
        self.batches_per_epoch = per_process // batch_size

    def set_epoch(self, epoch: int) -> None:
        """Ignored: the epoch follows from the steps done (Lightning calls this each epoch)."""

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        epoch, start = divmod(int(self.steps_done()), self.batches_per_epoch)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(self.size, generator=generator)[self.rank :: self.world]
        for batch in range(start, self.batches_per_epoch):
            indices = order[batch * self.batch_size : (batch + 1) * self.batch_size].tolist()
            yield epoch * self.batches_per_epoch + batch, indices


class StepBatches(Dataset):
    """Whole batches of a uint8 image tensor, keyed by ``(step, indices)``.

    ``transform(images, step)`` (e.g. two augmented views seeded by the step) runs where the
    batch is made: in a data-loading worker, in parallel with the training step, when the
    loader has workers. Without one, items are ``(images, step)``.
    """

    def __init__(self, images: torch.Tensor, transform: Callable | None = None) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, list[int]]) -> Any:
        step, indices = key
        batch = self.images[indices]
        return (batch, step) if self.transform is None else self.transform(batch, step)


class ResumableLoader(DataLoader):
    """A DataLoader over a :class:`StepBatchSampler` that Lightning knows it can resume.

    Lightning resumes a mid-epoch checkpoint correctly only for loaders with a
    ``state_dict``; this one's position follows from the restored step count, so its state
    is just that count, kept for the record.
    """

    def __init__(self, dataset: StepBatches, sampler: StepBatchSampler, **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, batch_size=None, **kwargs)

    def state_dict(self) -> dict[str, int]:
        return {"steps_done": int(self.sampler.steps_done())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Nothing to restore: the sampler reads the trainer's restored step count."""


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
    checkpoint = LastCheckpoint(run / "checkpoints" / "last.ckpt", options.checkpoint_every)
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


def cosine_with_warmup(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up from 0, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def quiet_lightning() -> None:
    """Keep Lightning's tips and device banners out of the output; warnings stay."""
    import logging
    import warnings

    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.distributed",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
