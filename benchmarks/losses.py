"""Speed and memory of condet's contrastive losses against reference implementations.

Forward + backward time (median over interleaved repeats, so that machine noise hits every
contender alike) and peak memory of:

- ``ranked_infonce_loss`` against a loop reference: one anchor and one rank at a time, the way
  the formula reads (and the way a first implementation is written);
- ``supcon_loss`` against the SupContrast repository's masked-matmul formulation
  (HobbitLong/SupContrast ``losses.py``), rewritten here without its class wrapper;
- ``ranked_infonce_loss`` against ``supcon_loss`` (what the extra ranks cost).

Peak memory is the growth of the peak resident set (VmHWM) of a fresh process over one
forward + backward on CPU, and ``torch.cuda.max_memory_allocated`` on CUDA.

    python benchmarks/losses.py                   # N = 256, 1024; V = 2, D = 128, C = 20, r = 3
    python benchmarks/losses.py --device cuda
    python benchmarks/losses.py --tune-allocator  # as condet's commands run (condet.allocator)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from condet.allocator import tune_cpu_allocator
from condet.losses import ranked_infonce_loss, supcon_loss
from timing import synchronize

TEMPERATURES = [0.1, 0.2, 0.4]


def loop_ranked_reference(features, labels, rank_matrix, temperatures, mode="in"):
    """Ranked InfoNCE, one anchor and one rank at a time (differentiable, any device)."""
    count, views, _ = features.shape
    z = torch.nn.functional.normalize(features, dim=-1).reshape(count * views, -1)
    y = labels.repeat_interleave(views)
    similarities = z @ z.T
    ranks = len(temperatures)
    total, counted = z.new_zeros(()), 0
    for i in range(len(z)):
        others = torch.arange(len(z), device=z.device) != i
        levels = rank_matrix[y[i], y]
        levels = torch.where(levels > ranks, 0, levels)
        anchor_loss, has_term = z.new_zeros(()), False
        for k in range(1, ranks + 1):
            positive = others & (levels == k)
            if not positive.any():
                continue
            has_term = True
            logits = similarities[i] / temperatures[k - 1]
            if mode == "in":
                kept = others & ((levels >= k) | (levels == 0))
                anchor_loss = (
                    anchor_loss
                    + torch.logsumexp(logits[kept], 0)
                    - torch.logsumexp(logits[positive], 0)
                )
            else:
                lower = others & ((levels > k) | (levels == 0))
                log_lower = torch.logsumexp(logits[lower], 0)
                anchor_loss = (
                    anchor_loss + torch.nn.functional.softplus(log_lower - logits[positive]).mean()
                )
        if has_term:
            total = total + anchor_loss
            counted += 1
    return total / max(counted, 1)


def supcontrast_reference(features, labels, temperature=0.1):
    """SupContrast's SupConLoss.forward, contrast_mode='all', base_temperature=temperature."""
    features = torch.nn.functional.normalize(features, dim=-1)
    batch_size, contrast_count = features.shape[:2]
    labels = labels.contiguous().view(-1, 1)
    mask = torch.eq(labels, labels.T).float()
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_dot_contrast = torch.div(contrast_feature @ contrast_feature.T, temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(contrast_count, contrast_count)
    logits_mask = torch.scatter(
        torch.ones_like(mask),
        1,
        torch.arange(batch_size * contrast_count, device=features.device).view(-1, 1),
        0,
    )
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mask_pos_pairs = mask.sum(1)
    mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6, 1, mask_pos_pairs)
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs
    return -mean_log_prob_pos.view(contrast_count, batch_size).mean()


def make_inputs(count, views, dim, classes, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(count, views, dim, generator=generator).to(device)
    labels = torch.randint(classes, (count,), generator=generator).to(device)
    # every class ranks the next two classes (ranks 2 and 3), as a user ranking would
    rank_matrix = torch.eye(classes, dtype=torch.long)
    for c in range(classes):
        rank_matrix[c, (c + 1) % classes] = 2
        rank_matrix[c, (c + 2) % classes] = 3
    return features.requires_grad_(True), labels, rank_matrix.to(device)


def contenders(rank_matrix) -> dict[str, Callable]:
    return {
        "ranked (condet)": lambda f, y: ranked_infonce_loss(f, y, rank_matrix, TEMPERATURES),
        "ranked (loop reference)": lambda f, y: loop_ranked_reference(
            f, y, rank_matrix, TEMPERATURES
        ),
        "supcon (condet)": lambda f, y: supcon_loss(f, y, 0.1),
        "supcon (SupContrast reference)": lambda f, y: supcontrast_reference(f, y, 0.1),
    }


def step(loss_fn, features, labels) -> None:
    features.grad = None
    loss_fn(features, labels).backward()


def time_all(names, size, args) -> dict[str, float]:
    features, labels, rank_matrix = make_inputs(size, 2, args.dim, args.classes, args.device)
    functions = contenders(rank_matrix)
    for name in names:
        step(functions[name], features, labels)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names:
            if name.endswith("(loop reference)") and repeat >= args.loop_repeats:
                continue
            synchronize()
            start = time.perf_counter()
            step(functions[name], features, labels)
            synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_memory_mb(name: str, size: int, args) -> float:
    """Peak memory of one forward + backward, measured in a fresh process."""
    command = [
        sys.executable,
        __file__,
        "--memory-of",
        name,
        "--sizes",
        str(size),
        "--device",
        args.device,
        "--dim",
        str(args.dim),
        "--classes",
        str(args.classes),
    ]
    if args.tune_allocator:
        command.append("--tune-allocator")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def measure_memory_here(name: str, size: int, args) -> None:
    features, labels, rank_matrix = make_inputs(size, 2, args.dim, args.classes, args.device)
    loss_fn = contenders(rank_matrix)[name]
    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(loss_fn, features, labels)
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        resident_before = _status_kib("VmRSS")
        # Resets the peak (VmHWM) to the current resident set (Linux >= 4.0).
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        step(loss_fn, features, labels)
        peak = (_status_kib("VmHWM") - resident_before) / 1024
    print(json.dumps({"peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="N samples")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--loop-repeats", type=int, default=3, help="repeats of the slow loop")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--tune-allocator", action="store_true", help="keep freed blocks as condet commands do"
    )
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tune_allocator:
        tune_cpu_allocator()
    if args.memory_of:
        measure_memory_here(args.memory_of, args.sizes[0], args)
        return

    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
        f"V=2 D={args.dim} C={args.classes} r={len(TEMPERATURES)}, forward + backward, "
        f"allocator {'tuned' if args.tune_allocator else 'default'}"
    )
    print(f"{'loss':<32}{'N':>6}{'time ms':>10}{'peak MB':>10}")
    names = list(contenders(torch.eye(1, dtype=torch.long)))
    for size in args.sizes:
        times = time_all(names, size, args)
        for name in names:
            memory = peak_memory_mb(name, size, args)
            print(f"{name:<32}{size:>6}{times[name] * 1000:>10.1f}{memory:>10.1f}")
        ranked, loop = times["ranked (condet)"], times["ranked (loop reference)"]
        supcon, supcontrast = times["supcon (condet)"], times["supcon (SupContrast reference)"]
        print(
            f"  N={size}: ranked is {loop / ranked:.0f}x faster than the loop reference "
            f"(target >= 20x at N=1024)"
        )
        print(
            f"  N={size}: ranked takes {ranked / supcon:.2f}x the time of supcon (target <= 1.5x)"
        )
        print(f"  N={size}: supcon takes {supcon / supcontrast:.2f}x the time of SupContrast's")


if __name__ == "__main__":
    main()
