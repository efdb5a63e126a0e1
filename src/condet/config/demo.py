"""``condet demo``'s options: the demo protocol into one folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoConfig:
    """``condet demo``: the demo protocol (``condet/protocols/demo.yaml``) into one folder."""

    out: Path = field(default=Path("runs/demo"), metadata={"help": "run folder"})
    smoke: bool = field(default=False, metadata={"help": "a few steps of every stage"})
