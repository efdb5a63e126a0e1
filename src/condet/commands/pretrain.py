"""``condet pretrain``: SimCLR pretraining of a backbone on unlabeled images."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.pretrain import PretrainConfig


def run(config: PretrainConfig) -> int:
    """Pretrain (the training writes the run folder, ``metrics.json`` the last epoch's mean
    loss)."""
    from condet.train.pretrain import run_pretrain

    run_folder = run_pretrain(config)
    print(f"backbone written to {run_folder / 'backbone.safetensors'}")
    return 0


COMMAND = Command(
    name="pretrain",
    help="SimCLR-pretrain a backbone on unlabeled images",
    description="SimCLR (NT-Xent) pretraining of a backbone on the images of a VOC folder, "
    "COCO JSON, YOLO data.yaml or plain image folder. Writes a run folder with config, "
    "checkpoints, CSV/TensorBoard logs and backbone.safetensors.",
    config=PretrainConfig,
    run=run,
    headline=(("final_loss", "final loss"),),
)
