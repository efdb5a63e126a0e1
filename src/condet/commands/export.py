"""``condet export``: a trained detector as ONNX or TorchScript."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.outputs import write_config, write_metrics
from condet.commands.registry import Command


@dataclass
class ExportConfig:
    """``condet export``: one detector file for onnxruntime or TorchScript."""

    checkpoint: Path = field(metadata={"help": "detect-train run folder"})
    format: Literal["onnx", "torchscript"] = field(default="onnx", metadata={"help": "file format"})
    out: Path | None = field(
        default=None, metadata={"help": "output file (default: RUN/detector.onnx or .pt)"}
    )
    size: int = field(default=512, metadata={"help": "side of the tracing example", "minimum": 1})


def run(config: ExportConfig) -> int:
    """Export; the config and ``metrics.json`` (the format) lie beside the file."""
    from condet.inference import export_detector, load_detector

    model, _, _ = load_detector(config.checkpoint)
    suffix = ".onnx" if config.format == "onnx" else ".torchscript.pt"
    run_folder = config.checkpoint if config.checkpoint.is_dir() else config.checkpoint.parent
    out = export_detector(
        model, config.out or run_folder / ("detector" + suffix), config.format, config.size
    )
    write_config(out, config, single_file=True)
    write_metrics(out, {"format": config.format, "size": config.size}, single_file=True)
    print(f"exported to {out}")
    return 0


COMMAND = Command(
    name="export",
    help="export a trained detector to ONNX or TorchScript",
    description="Write a detect-train run's detector as ONNX (onnxruntime) or TorchScript.",
    config=ExportConfig,
    run=run,
    output_suffix=".onnx",
)
