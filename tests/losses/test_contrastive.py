from __future__ import annotations

import math

import pytest
import torch

from condet.losses import NTXentLoss, SupConLoss, ntxent_loss, supcon_loss
from tests.losses.reference import ntxent_reference, supcon_reference


def random_batch(count, views, dim, classes, seed):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(count, views, dim, generator=generator, dtype=torch.float64)
    labels = torch.randint(classes, (count,), generator=generator)
    return features, labels


class TestSupConLoss:
    @pytest.mark.parametrize(
        ("count", "views", "dim", "classes", "temperature"),
        [
            (8, 2, 16, 3, 0.1),
            (12, 3, 8, 5, 0.5),
            (10, 1, 32, 4, 0.07),
            (6, 2, 4, 6, 1.0),
            (16, 2, 64, 2, 0.05),
        ],
    )
    def test_matches_the_loop_reference(self, count, views, dim, classes, temperature):
        features, labels = random_batch(count, views, dim, classes, seed=count + views)
        loss = supcon_loss(features, labels, temperature)
        expected = supcon_reference(features, labels, temperature)
        assert loss.dtype == torch.float64
        assert loss.item() == pytest.approx(expected, rel=1e-10)

    def test_without_labels_is_self_supervised(self):
        features, _ = random_batch(6, 3, 8, 1, seed=0)
        assert supcon_loss(features, None, 0.2).item() == pytest.approx(
            supcon_reference(features, None, 0.2), rel=1e-10
        )

    def test_aligned_positives_reach_the_lower_bound(self):
        # 4 classes on orthogonal axes, every view of a class on its axis:
        # -log(e^{1/t} / (|P| e^{1/t} + n e^0)) -> log |P| as the negatives vanish.
        labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        features = torch.nn.functional.one_hot(labels, 8).double()[:, None, :].repeat(1, 2, 1)
        loss = supcon_loss(features, labels, temperature=0.05)
        assert loss.item() == pytest.approx(math.log(3), abs=1e-6)
        assert supcon_loss(torch.randn(8, 2, 8, dtype=torch.float64), labels, 0.05) > loss

    def test_anchors_without_positives_are_not_counted(self):
        features, _ = random_batch(5, 1, 8, 1, seed=1)
        labels = torch.tensor([0, 0, 1, 2, 3])
        assert supcon_loss(features, labels, 0.1).item() == pytest.approx(
            supcon_reference(features, labels, 0.1), rel=1e-10
        )

    def test_no_positive_at_all_gives_zero_and_a_finite_gradient(self):
        features = torch.randn(4, 1, 8, requires_grad=True)
        loss = supcon_loss(features, torch.arange(4), 0.1)
        loss.backward()
        assert loss.item() == 0.0 and torch.isfinite(features.grad).all()

    def test_gradcheck(self):
        features, labels = random_batch(5, 2, 6, 2, seed=2)
        features.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda f: supcon_loss(f, labels, 0.3), (features,))

    def test_invariant_to_feature_scale(self):
        features, labels = random_batch(8, 2, 16, 3, seed=3)
        torch.testing.assert_close(
            supcon_loss(features, labels, 0.1), supcon_loss(features * 37.5, labels, 0.1)
        )

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_precision_inputs_and_autocast_stay_finite_at_low_temperature(self, dtype):
        features, labels = random_batch(32, 2, 32, 4, seed=4)
        expected = supcon_loss(features.to(dtype).double(), labels, 0.05)
        half = features.to(dtype).requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = supcon_loss(half, labels, 0.05)
        loss.backward()
        assert loss.dtype == torch.float32 and torch.isfinite(half.grad).all()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    @pytest.mark.parametrize(
        ("features", "labels", "message"),
        [
            (torch.randn(4, 8), torch.arange(4), r"features must be \[N, V, D\]"),
            (torch.randn(4, 2, 8), torch.arange(3), r"labels must be \[N\] = \[4\]"),
            (torch.randn(4, 2, 8), torch.zeros(4), "labels must be integers"),
        ],
    )
    def test_shape_errors(self, features, labels, message):
        with pytest.raises(ValueError, match=message):
            supcon_loss(features, labels)

    def test_module(self):
        features, labels = random_batch(6, 2, 8, 2, seed=5)
        torch.testing.assert_close(
            SupConLoss(0.2)(features, labels), supcon_loss(features, labels, 0.2)
        )


class TestNTXentLoss:
    @pytest.mark.parametrize(
        ("count", "dim", "temperature"), [(4, 8, 0.5), (9, 16, 0.1), (2, 3, 1.0)]
    )
    def test_matches_the_loop_reference(self, count, dim, temperature):
        z1, z2 = torch.randn(2, count, dim, dtype=torch.float64)
        assert ntxent_loss(z1, z2, temperature).item() == pytest.approx(
            ntxent_reference(z1, z2, temperature), rel=1e-10
        )

    def test_equals_supcon_without_labels(self):
        z1, z2 = torch.randn(2, 10, 16, dtype=torch.float64)
        torch.testing.assert_close(
            ntxent_loss(z1, z2, 0.3), supcon_loss(torch.stack([z1, z2], 1), None, 0.3)
        )

    def test_identical_views_reach_the_lower_bound(self):
        z = torch.eye(6, dtype=torch.float64)
        assert ntxent_loss(z, z.clone(), 0.05).item() == pytest.approx(0.0, abs=1e-6)

    def test_gradcheck(self):
        z1, z2 = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: ntxent_loss(a, b, 0.5), (z1, z2))

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match=r"z1 and z2 must both be \[N, D\]"):
            ntxent_loss(torch.randn(4, 8), torch.randn(5, 8))

    def test_module(self):
        z1, z2 = torch.randn(2, 4, 8)
        torch.testing.assert_close(NTXentLoss(0.5)(z1, z2), ntxent_loss(z1, z2, 0.5))
