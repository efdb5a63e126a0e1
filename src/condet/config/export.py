"""``condet export``'s options: a trained detector as ONNX or TorchScript."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass
class ExportConfig:
    """``condet export``: one detector file for onnxruntime or TorchScript."""

    checkpoint: Path = field(metadata={"help": "detect-train run folder"})
    format: Literal["onnx", "torchscript"] = field(default="onnx", metadata={"help": "file format"})
    out: Path | None = field(
        default=None, metadata={"help": "output file (default: RUN/detector.onnx or .pt)"}
    )
    size: int = field(default=512, metadata={"help": "side of the tracing example", "minimum": 1})
