"""Direct, loop-by-loop readings of the loss formulas of DESIGN.md, in float64.

Slow on purpose: one anchor, one rank and one pair at a time, so that each line can be checked
against the formula it reads. The vectorised losses are tested against these.
"""

from __future__ import annotations

import math

import torch


def _views(features: torch.Tensor, labels: torch.Tensor | None):
    count, views, _ = features.shape
    z = torch.nn.functional.normalize(features.double(), dim=-1).reshape(count * views, -1)
    if labels is None:
        labels = torch.arange(count)
    return z, labels.repeat_interleave(views).tolist()


def _with_memory(z, y, memory):
    """The contrast set: the views, then the memory's embeddings (never anchors)."""
    if memory is None:
        return z, y
    stored, stored_labels = memory
    stored = torch.nn.functional.normalize(stored.double(), dim=-1)
    return torch.cat([z, stored]), y + stored_labels.tolist()


def supcon_reference(features, labels, temperature, memory=None):
    """Khosla et al. L_out: mean_i -1/|P(i)| sum_p log(exp(s_ip/t) / sum_{a != i} exp(s_ia/t)),
    over anchors i of the batch and a, p in the batch and the memory."""
    anchors, _ = _views(features, labels)
    z, y = _with_memory(*_views(features, labels), memory)
    total, counted = 0.0, 0
    for i in range(len(anchors)):
        others = [a for a in range(len(z)) if a != i]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            continue
        denominator = sum(math.exp(float(z[i] @ z[a]) / temperature) for a in others)
        anchor_loss = 0.0
        for p in positives:
            anchor_loss += -math.log(math.exp(float(z[i] @ z[p]) / temperature) / denominator)
        total += anchor_loss / len(positives)
        counted += 1
    return total / counted if counted else 0.0


def ntxent_reference(z1, z2, temperature):
    """SimCLR: 2N anchors, positive the other view, denominator the 2N - 1 other views."""
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=-1)
    count = len(z1)
    total = 0.0
    for i in range(2 * count):
        positive = (i + count) % (2 * count)
        denominator = sum(
            math.exp(float(z[i] @ z[a]) / temperature) for a in range(2 * count) if a != i
        )
        total += -math.log(math.exp(float(z[i] @ z[positive]) / temperature) / denominator)
    return total / (2 * count)


def ranked_reference(features, labels, rank_matrix, temperatures, mode, memory=None):
    """Ranked InfoNCE exactly as DESIGN.md writes it, for mode "in" and "out"; anchors are
    the batch's views, the contrast set the views and the memory."""
    anchors, _ = _views(features, labels)
    z, y = _with_memory(*_views(features, labels), memory)
    r = len(temperatures)

    def level(i, a):
        value = int(rank_matrix[y[i], y[a]])
        return value if value <= r else 0

    total, counted = 0.0, 0
    for i in range(len(anchors)):
        others = [a for a in range(len(z)) if a != i]
        anchor_loss, has_term = 0.0, False
        for k in range(1, r + 1):
            t = temperatures[k - 1]
            positives = [a for a in others if level(i, a) == k]
            if not positives:
                continue
            has_term = True

            def e(a, i=i, t=t):
                return math.exp(float(z[i] @ z[a]) / t)

            if mode == "in":
                kept = [a for a in others if level(i, a) >= k or level(i, a) == 0]
                numerator = sum(e(p) for p in positives)
                anchor_loss += -math.log(numerator / sum(e(a) for a in kept))
            else:
                lower = [a for a in others if level(i, a) > k or level(i, a) == 0]
                lower_sum = sum(e(a) for a in lower)
                term = 0.0
                for p in positives:
                    term += -math.log(e(p) / (e(p) + lower_sum))
                anchor_loss += term / len(positives)
        if has_term:
            total += anchor_loss
            counted += 1
    return total / counted if counted else 0.0
