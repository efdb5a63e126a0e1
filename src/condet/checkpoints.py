"""A training run's checkpoints: the last one, the one before it, and which to resume from.

``RUN/checkpoints/last.ckpt`` is written atomically and synced (:func:`condet.io.atomic_path`),
and while the run trains, the checkpoint it replaces is kept as ``last.prev.ckpt`` (a rename, no
copy; deleted when training ends). That covers a killed process and a crashed machine; a copy of
the folder cut short, a failing disk or a hand-edited file can still leave a ``last.ckpt`` that
does not load. :func:`resume_checkpoint` checks the file before anything of the run is touched
and falls back to the previous checkpoint, or stops with one line saying how to start again.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import torch

from condet.errors import CondetError

logger = logging.getLogger("condet")

LAST = "last.ckpt"
PREVIOUS = "last.prev.ckpt"


def last_checkpoint(run: Path) -> Path:
    """Where a run's latest checkpoint is written."""
    return run / "checkpoints" / LAST


def previous_checkpoint(path: Path) -> Path:
    """Where the checkpoint at ``path`` is kept when a newer one replaces it."""
    return path.with_name(PREVIOUS)


def checkpoint_files(run: Path) -> list[Path]:
    """The run's checkpoints that exist, newest first."""
    last = last_checkpoint(run)
    return [path for path in (last, previous_checkpoint(last)) if path.is_file()]


def keep_previous(path: Path) -> None:
    """Keep the checkpoint at ``path`` as the previous one, before a new one replaces it.

    A hard link, renamed into place: ``last.ckpt`` is never missing, not even to a process
    killed in between, and nothing is copied. On a file system without hard links no previous
    checkpoint is kept.
    """
    if not path.is_file():
        return
    link = path.with_name(f".{PREVIOUS}.tmp")  # a stale one is removed with the run's others
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        return
    os.replace(link, previous_checkpoint(path))


class BrokenCheckpoint(CondetError):
    """A checkpoint file that does not load; ``reason`` says how (empty, truncated, ...)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path} does not load ({reason})")


def checkpoint_step(path: Path) -> int:
    """The optimizer steps the checkpoint at ``path`` holds.

    Reads the file as resuming will (weights only, to the CPU), memory-mapped so that the
    tensors are not read.

    Raises:
        BrokenCheckpoint: the file does not load.
    """
    if path.stat().st_size == 0:
        raise BrokenCheckpoint(path, "it is empty")
    # torch.save writes a zip archive, whose directory is at the end: a cut file has none
    if not zipfile.is_zipfile(path):
        raise BrokenCheckpoint(path, "it is truncated or not a checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        # torch's message for a damaged archive goes on for several sentences of advice
        raise BrokenCheckpoint(path, str(error).split(". ")[0]) from None
    if not isinstance(checkpoint, dict) or "global_step" not in checkpoint:
        raise BrokenCheckpoint(path, "it is not a training checkpoint")
    return int(checkpoint["global_step"])


def newest_loadable(run: Path) -> tuple[Path | None, int, list[BrokenCheckpoint]]:
    """The newest of the run's checkpoints that loads (None when none does) and its step, and
    the newer ones that do not load."""
    broken: list[BrokenCheckpoint] = []
    for path in checkpoint_files(run):
        try:
            return path, checkpoint_step(path), broken
        except BrokenCheckpoint as error:
            broken.append(error)
    return None, 0, broken


def resume_checkpoint(run: Path) -> Path:
    """``RUN/checkpoints/last.ckpt``, made sure to load before the run resumes from it.

    When it does not load (or is gone), the previous checkpoint takes its place, with a warning
    naming both; the file that does not load is deleted, as the next checkpoint would replace
    it anyway.

    Raises:
        CondetError: there is no checkpoint, or none loads: one line naming the files and how to
            start the run again.
    """
    last = last_checkpoint(run)
    path, step, broken = newest_loadable(run)
    if path is not None:
        if broken:
            logger.warning("%s; resuming from %s (step %d) instead", broken[0], path, step)
        if path != last:
            os.replace(path, last)
        return last
    if not broken:
        raise CondetError(f"nothing to resume: {last} does not exist")
    problem = f"{broken[0]}"
    if len(broken) > 1:
        problem += f", nor does {broken[1].path} ({broken[1].reason})"
    elif broken[0].path == last:
        problem += " and no earlier checkpoint is kept"
    raise CondetError(
        f"{problem}; pass --restart to train the run again from the start, or choose another --out"
    )
