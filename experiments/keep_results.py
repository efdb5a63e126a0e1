"""Copy what an experiment folder's runs leave, without their checkpoints and weights, into a
folder the repository keeps, so that a long protocol outlasts a workspace that is reset between
sittings.

    python experiments/keep_results.py runs/ssl_vs_baseline_aquarium \
        experiments/results/ssl_vs_baseline_aquarium --weights simclr imagenet-simclr

Copied back (``cp -r KEPT/. runs/NAME``), the folder lets ``condet experiment`` keep every
finished run: it needs only a run's ``.protocol-run.json`` and ``metrics.json``. Weights are
left out (a Lite0 detector is 50 MB) except those of the runs named with ``--weights``: the
pretraining runs whose weights later runs still have to load.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

LEFT_OUT_SUFFIXES = (".safetensors", ".ckpt", ".pt")


def weights_kept(folder: str, weights_of: set[str]) -> bool:
    """Whether the run folder ``folder`` is one of the runs named (a per-seed run by its name
    with or without its ``-sN``)."""
    return folder in weights_of or re.sub(r"-s\d+$", "", folder) in weights_of


def kept_files(out: Path, weights_of: set[str]) -> list[Path]:
    """The files of ``out`` to keep, relative to it."""
    folders = {path.name for path in out.iterdir() if path.is_dir()}
    unknown = sorted(
        name for name in weights_of if not any(weights_kept(f, {name}) for f in folders)
    )
    if unknown:
        raise SystemExit(f"--weights {unknown[0]}: no run of that name in {out}")
    kept = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out)
        if not path.is_file() or "checkpoints" in relative.parts:
            continue
        if path.suffix in LEFT_OUT_SUFFIXES and not weights_kept(relative.parts[0], weights_of):
            continue
        kept.append(relative)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the experiment folder (condet experiment --out)")
    parser.add_argument("kept", type=Path, help="where to copy it")
    parser.add_argument(
        "--weights",
        nargs="*",
        default=[],
        help="runs whose weights are kept (a per-seed run's name keeps every seed's)",
    )
    arguments = parser.parse_args()
    files = kept_files(arguments.out, set(arguments.weights))
    for relative in files:
        target = arguments.kept / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(arguments.out / relative, target)
    size = sum((arguments.kept / relative).stat().st_size for relative in files)
    print(f"{len(files)} files ({size / 1e6:.1f} MB) copied to {arguments.kept}")


if __name__ == "__main__":
    main()
