from __future__ import annotations

import copy
import math

import pytest
import torch

from condet.models.detector import build_detector
from condet.models.focal_heads import FocalLossRoIHeads, softmax_focal_loss


def focal_loss_by_loop(logits: torch.Tensor, targets: torch.Tensor, gamma: float) -> float:
    """The formula read literally: -(1 - p_t)^gamma log p_t, p_t a softmax, averaged."""
    total = 0.0
    for row, target in zip(logits.tolist(), targets.tolist(), strict=True):
        denominator = sum(math.exp(value) for value in row)
        probability = math.exp(row[target]) / denominator
        total += -((1 - probability) ** gamma) * math.log(probability)
    return total / len(targets)


class TestSoftmaxFocalLoss:
    @pytest.mark.parametrize("gamma", [0.0, 1.0, 1.5, 2.0])
    def test_matches_the_formula(self, gamma):
        generator = torch.Generator().manual_seed(0)
        logits = torch.randn(12, 5, generator=generator, dtype=torch.float64) * 3
        targets = torch.randint(0, 5, (12,), generator=generator)
        expected = focal_loss_by_loop(logits, targets, gamma)
        assert softmax_focal_loss(logits, targets, gamma).item() == pytest.approx(expected)

    def test_gradient_flows(self):
        logits = torch.randn(4, 3, requires_grad=True)
        softmax_focal_loss(logits, torch.tensor([0, 1, 2, 0]), 1.5).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()


def small_detector() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detector(
        num_classes=3, backbone="mobilenet_v3_small", weights="random", min_size=96, max_size=96
    )


def losses_of(detector: torch.nn.Module) -> dict[str, torch.Tensor]:
    images = [torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(1))]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([2])}]
    detector.train()
    torch.manual_seed(5)  # the proposal and RoI samplers draw from the global generator
    return detector(images, targets)


class TestFocalLossRoIHeads:
    def test_gamma_zero_is_torchvisions_loss_and_the_keys_are_unchanged(self):
        plain = small_detector()
        focal = copy.deepcopy(plain)
        focal.roi_heads = FocalLossRoIHeads(focal.roi_heads, gamma=0.0)
        assert focal.state_dict().keys() == plain.state_dict().keys()
        expected, got = losses_of(plain), losses_of(focal)
        assert got.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(got[name], expected[name])

    def test_gamma_lowers_only_the_classifier_loss(self):
        plain = small_detector()
        focal = copy.deepcopy(plain)
        focal.roi_heads = FocalLossRoIHeads(focal.roi_heads, gamma=1.5)
        expected, got = losses_of(plain), losses_of(focal)
        assert got["loss_classifier"] < expected["loss_classifier"]
        for name in ("loss_box_reg", "loss_objectness", "loss_rpn_box_reg"):
            torch.testing.assert_close(got[name], expected[name])

    def test_evaluation_is_torchvisions(self):
        plain = small_detector().eval()
        focal = copy.deepcopy(plain)
        focal.roi_heads = FocalLossRoIHeads(focal.roi_heads, gamma=1.5)
        image = [torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(2))]
        with torch.no_grad():
            expected, got = plain(image)[0], focal.eval()(image)[0]
        for key in expected:
            torch.testing.assert_close(got[key], expected[key])
