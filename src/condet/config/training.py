"""The options every training command shares (``pretrain``, ``detect-train``,
``classify-train``), and the recipe that fills those a run leaves unset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from condet.options import SEED_RANGE
from condet.recipes import RecipeName, apply_recipe

Precision = Literal["32-true", "16-mixed", "bf16-mixed", "64-true"]


@dataclass
class TrainingOptions:
    """Options of every training command (fields become flags, see
    :mod:`condet.options`).

    A command's ``RECIPES`` (:mod:`condet.recipes`) fill the options it leaves ``None`` when
    the config is made, so a config always holds the values its run uses.
    """

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {}

    out: Path = field(default=Path("runs/run"), metadata={"help": "run folder"})
    seed: int = field(
        default=0, metadata={"help": "seed of data order, augmentation, init", **SEED_RANGE}
    )
    resume: bool = field(default=False, metadata={"help": "continue the run in --out"})
    restart: bool = field(
        default=False,
        metadata={
            "help": "train the run in --out again from the start, with the options it was "
            "started with (its checkpoints and logs are deleted)"
        },
    )
    max_steps: int = field(
        default=-1,
        metadata={
            "help": "stop after this many optimizer steps (-1: train all epochs; 0: write the "
            "starting weights untrained, to compare a run's update with)",
            "minimum": 0,
            "special": (-1,),
        },
    )
    checkpoint_every: int = field(
        default=100,
        metadata={
            "help": "save RUN/checkpoints/last.ckpt every N steps",
            "changes_results": False,
            "minimum": 1,
        },
    )
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    devices: str = field(default="1", metadata={"help": "devices per node (a number or auto)"})
    num_nodes: int = field(default=1, metadata={"help": "machines", "minimum": 1})
    strategy: str = field(default="auto", metadata={"help": "auto, ddp, ddp_spawn, ..."})
    recipe: RecipeName = field(
        default="auto",
        metadata={
            "help": "preset of sizes and precision for options not given: cpu (measured on "
            "CPUs), gpu (the reference sizes in bf16), reference (in float32), auto (cpu or "
            "gpu, by the accelerator)"
        },
    )
    precision: Precision | None = field(
        default=None,
        metadata={"help": "numeric precision (default: the recipe's, bf16-mixed where fast)"},
    )
    sync_batchnorm: bool = field(
        default=False, metadata={"help": "synchronise BatchNorm statistics across devices"}
    )
    workers: int = field(
        default=0,
        metadata={
            "help": "data-loading worker processes (on a CPU they also make the views)",
            "changes_results": False,
            "minimum": 0,
        },
    )
    progress: bool = field(
        default=True, metadata={"help": "show progress bars", "changes_results": False}
    )
    strict: bool = field(
        default=False,
        metadata={
            "help": "stop at the first bad record in the data (malformed annotation, missing "
            "image, bad box) instead of skipping it and listing every skip in RUN/skipped.txt"
        },
    )

    def __post_init__(self) -> None:
        apply_recipe(self, self.RECIPES)
