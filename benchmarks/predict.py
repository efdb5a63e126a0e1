"""Images/s of deployed detection on a CPU: PyTorch eager (``condet predict``) against the
exported ONNX model under onnxruntime, in one process, the repeats interleaved.

Each way runs one image at a time (what the exported model takes) over the same test images,
decoding included, with the same threads:

- eager float32: ``condet predict`` as it runs (``predict_images``, ``inference_mode``);
- eager bf16: the same under bf16 autocast, where the CPU has bf16 instructions;
- onnxruntime: ``condet export --format onnx`` of the same detector, CPU execution provider,
  its graph optimisations on.

The detector is a ``detect-train`` run (``--checkpoint``), or the default detector built here
(ImageNet Lite0; untrained heads, so few boxes pass NMS: pass a run for realistic counts).

    CONDET_SHARED_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/predict.py \\
        --checkpoint runs/det-bccd-10 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as F

from condet.allocator import tune_cpu_allocator
from condet.config.detect import DetectConfig
from condet.data.load import load_annotations
from condet.data.synthetic import generate_synthetic
from condet.inference import export_detector, load_detector
from condet.models.detector import detector_from_config
from condet.recipes import cpu_has_bf16
from timing import images_per_second

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect import load_average, machine


def decoded(path: Path) -> torch.Tensor:
    pixels = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    return F.to_dtype(pixels, torch.float32, scale=True)


def eager(model: torch.nn.Module, bf16: bool) -> Callable[[Path], None]:
    def predict(path: Path) -> None:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            model([decoded(path)])

    return predict


def onnx_runtime(onnx_path: Path, threads: int) -> Callable[[Path], None]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(onnx_path), options, providers=["CPUExecutionProvider"]
    )

    def predict(path: Path) -> None:
        session.run(None, {"image": decoded(path).numpy()})

    return predict


def one_file_a_step(predict: Callable[[Path], None], files: Sequence[Path]) -> Callable[[], None]:
    """A step for :func:`timing.images_per_second`: ``predict`` on the next file, round."""
    paths = itertools.cycle(files)
    return lambda: predict(next(paths))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = os.environ.get("CONDET_SHARED_DATA")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(shared) / "bccd" / "BCCD" if shared else None,
        help="images to predict: a data set's split (default BCCD test, or a synthetic set)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", type=Path, help="a detect-train run (default: built)")
    parser.add_argument("--images", type=int, default=30, help="images timed per repeat")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    print(f"machine: {machine()}\nat start: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        data = args.data or generate_synthetic(Path(folder) / "data", images=40, progress=False)
        files = [image.image_path for image in load_annotations(data, args.split)][: args.images]
        if args.checkpoint:
            model, _, config = load_detector(args.checkpoint)
        else:
            config = vars(DetectConfig(accelerator="cpu"))
            model = detector_from_config(config, 3).eval()
        size = config["min_size"]
        onnx_path = export_detector(model, Path(folder) / "detector.onnx", "onnx", size)
        ways = {
            "eager float32": eager(model, False),
            "onnxruntime": onnx_runtime(onnx_path, torch.get_num_threads()),
        }
        if cpu_has_bf16():
            ways["eager bf16"] = eager(model, True)
        figures: dict[str, list[float]] = {name: [] for name in ways}
        for repeat in range(args.repeats):
            names = list(ways)[repeat % len(ways) :] + list(ways)[: repeat % len(ways)]
            for name in names:
                step = one_file_a_step(ways[name], files)
                figures[name].append(images_per_second(step, args.warmup, len(files), 1))
                print(
                    f"  repeat {repeat + 1}: {name:<14} {figures[name][-1]:.2f} img/s", flush=True
                )
    reference = statistics.median(figures["eager float32"])
    print(
        f"\n{data.name} {args.split}, {len(files)} images one at a time (decode included), "
        f"{torch.get_num_threads()} thread(s), median of {args.repeats} repeats\n"
    )
    print("| way | img/s | / eager float32 |\n|---|---:|---:|")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / reference:.2f}x |")
    print(f"\nat end: {load_average()}")


if __name__ == "__main__":
    main()
