from __future__ import annotations

import pytest
import torch

from condet.losses import RankedInfoNCELoss, ranked_infonce_loss, supcon_loss
from tests.losses.reference import ranked_reference


def random_rank_matrix(classes: int, max_rank: int, generator: torch.Generator) -> torch.Tensor:
    """Asymmetric ranks up to ``max_rank`` (beyond the tested ``r`` too), 1 on the diagonal."""
    matrix = torch.randint(0, max_rank + 1, (classes, classes), generator=generator)
    matrix = matrix.masked_fill(matrix == 1, 0)
    matrix.fill_diagonal_(1)
    return matrix


CASES = [
    # count, views, dim, classes, temperatures
    (8, 2, 16, 3, [0.1]),
    (10, 2, 8, 4, [0.1, 0.2]),
    (12, 3, 16, 5, [0.1, 0.2, 0.4]),
    (9, 1, 32, 6, [0.05, 0.3, 0.6]),
    (14, 2, 4, 7, [0.2, 0.25, 0.3, 0.5, 0.6]),
    (6, 2, 8, 8, [0.5, 1.0]),
]


class TestRankedInfoNCELoss:
    @pytest.mark.parametrize("mode", ["in", "out"])
    @pytest.mark.parametrize(("count", "views", "dim", "classes", "temperatures"), CASES)
    def test_matches_the_loop_reference(self, count, views, dim, classes, temperatures, mode):
        generator = torch.Generator().manual_seed(count * 31 + classes)
        features = torch.randn(count, views, dim, generator=generator, dtype=torch.float64)
        labels = torch.randint(classes, (count,), generator=generator)
        rank_matrix = random_rank_matrix(classes, len(temperatures) + 2, generator)
        loss = ranked_infonce_loss(features, labels, rank_matrix, temperatures, mode)
        expected = ranked_reference(features, labels, rank_matrix, temperatures, mode)
        assert loss.item() == pytest.approx(expected, rel=1e-10)

    @pytest.mark.parametrize("mode", ["in", "out"])
    def test_low_temperature_float32_matches_float64(self, mode):
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(40, 2, 16, generator=generator)
        labels = torch.randint(5, (40,), generator=generator)
        rank_matrix = random_rank_matrix(5, 3, generator)
        temperatures = [0.01, 0.02, 0.05]
        single = ranked_infonce_loss(features, labels, rank_matrix, temperatures, mode)
        double = ranked_infonce_loss(features.double(), labels, rank_matrix, temperatures, mode)
        assert torch.isfinite(single) and single.item() == pytest.approx(double.item(), rel=1e-4)

    def test_rank_one_in_mode_is_supcon_l_in(self):
        # With one rank, "in" puts all positives in one numerator: SupCon's L_in.
        generator = torch.Generator().manual_seed(1)
        features = torch.randn(10, 2, 8, generator=generator, dtype=torch.float64)
        labels = torch.randint(3, (10,), generator=generator)
        loss = ranked_infonce_loss(features, labels, torch.eye(3, dtype=torch.long), [0.2])
        z = torch.nn.functional.normalize(features, dim=-1).reshape(20, 8)
        y = labels.repeat_interleave(2)
        logits = (z @ z.T / 0.2).fill_diagonal_(float("-inf"))
        positive = (y[:, None] == y[None, :]).fill_diagonal_(False)
        l_in = torch.logsumexp(logits, 1) - torch.logsumexp(
            logits.masked_fill(~positive, float("-inf")), 1
        )
        torch.testing.assert_close(loss, l_in.mean())

    def test_rank_one_out_mode_with_one_positive_is_supcon(self):
        # one positive per anchor (two views, distinct labels): "out" has the same denominator
        features = torch.randn(6, 2, 8, dtype=torch.float64)
        labels = torch.arange(6)
        torch.testing.assert_close(
            ranked_infonce_loss(features, labels, torch.eye(6, dtype=torch.long), [0.1], "out"),
            supcon_loss(features, labels, 0.1),
        )

    @pytest.mark.parametrize("mode", ["in", "out"])
    def test_respecting_the_ranking_costs_less_than_reversing_it(self, mode):
        # classes 0 and 1 are rank-2 neighbours, 2 is negative to both
        rank_matrix = torch.tensor([[1, 2, 0], [2, 1, 0], [0, 0, 1]])
        labels = torch.tensor([0, 0, 1, 1, 2, 2])
        axis = torch.eye(3, dtype=torch.float64)
        ordered = torch.stack([axis[0], axis[0] + 0.8 * axis[1], axis[2]])  # 0 close to 1
        reversed_ = torch.stack([axis[0], axis[1], axis[0] + 0.2 * axis[1]])  # 0 close to 2
        loss = {}
        for name, centres in (("ordered", ordered), ("reversed", reversed_)):
            features = centres[labels][:, None, :].repeat(1, 2, 1)
            loss[name] = ranked_infonce_loss(features, labels, rank_matrix, [0.1, 0.3], mode)
        assert loss["ordered"] < loss["reversed"]

    def test_aligned_classes_reach_the_lower_bound(self):
        labels = torch.tensor([0, 0, 1, 1, 2, 2])
        features = torch.eye(3, dtype=torch.float64)[labels][:, None, :].repeat(1, 2, 1)
        loss = ranked_infonce_loss(features, labels, torch.eye(3, dtype=torch.long), [0.05])
        assert loss.item() == pytest.approx(0.0, abs=1e-6)

    def test_levels_above_r_are_negatives(self):
        generator = torch.Generator().manual_seed(2)
        features = torch.randn(8, 2, 8, generator=generator, dtype=torch.float64)
        labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        deep = torch.tensor([[1, 2, 3], [3, 1, 2], [2, 3, 1]])
        truncated = deep.masked_fill(deep > 2, 0)
        torch.testing.assert_close(
            ranked_infonce_loss(features, labels, deep, [0.1, 0.2]),
            ranked_infonce_loss(features, labels, truncated, [0.1, 0.2]),
        )

    @pytest.mark.parametrize("mode", ["in", "out"])
    def test_empty_rank_sets_give_no_nan(self, mode):
        # one view per sample, all classes distinct: no positive of any rank
        features = torch.randn(5, 1, 8, requires_grad=True)
        rank_matrix = torch.eye(5, dtype=torch.long)
        loss = ranked_infonce_loss(features, torch.arange(5), rank_matrix, [0.1, 0.2], mode)
        loss.backward()
        assert loss.item() == 0.0 and torch.isfinite(features.grad).all()
        # some anchors with and some without: those without are not counted, no NaN anywhere
        features.grad = None
        rank_matrix[0, 1] = 2
        labels = torch.tensor([0, 1, 2, 3, 3])
        loss = ranked_infonce_loss(features, labels, rank_matrix, [0.1, 0.2], mode)
        loss.backward()
        expected = ranked_reference(features.detach(), labels, rank_matrix, [0.1, 0.2], mode)
        assert loss.item() == pytest.approx(expected, rel=1e-5)
        assert torch.isfinite(features.grad).all()

    @pytest.mark.parametrize("mode", ["in", "out"])
    def test_gradcheck(self, mode):
        generator = torch.Generator().manual_seed(3)
        features = torch.randn(
            6, 2, 5, generator=generator, dtype=torch.float64, requires_grad=True
        )
        labels = torch.tensor([0, 1, 2, 0, 1, 3])
        rank_matrix = random_rank_matrix(4, 3, generator)
        assert torch.autograd.gradcheck(
            lambda f: ranked_infonce_loss(f, labels, rank_matrix, [0.2, 0.4, 0.6], mode),
            (features,),
        )

    @pytest.mark.parametrize("mode", ["in", "out"])
    def test_invariant_to_feature_scale(self, mode):
        features = torch.randn(8, 2, 16, dtype=torch.float64)
        labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        rank_matrix = torch.tensor([[1, 2, 3], [3, 1, 2], [2, 3, 1]])
        torch.testing.assert_close(
            ranked_infonce_loss(features, labels, rank_matrix, [0.1, 0.2, 0.3], mode),
            ranked_infonce_loss(features * 0.01, labels, rank_matrix, [0.1, 0.2, 0.3], mode),
        )

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_precision_autocast_at_low_temperature(self, dtype):
        generator = torch.Generator().manual_seed(4)
        features = torch.randn(32, 2, 32, generator=generator).to(dtype).requires_grad_(True)
        labels = torch.randint(6, (32,), generator=generator)
        rank_matrix = random_rank_matrix(6, 3, generator)
        expected = ranked_infonce_loss(features.double(), labels, rank_matrix, [0.05, 0.1, 0.2])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = ranked_infonce_loss(features, labels, rank_matrix, [0.05, 0.1, 0.2])
        loss.backward()
        assert torch.isfinite(features.grad).all()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"features": torch.randn(4, 8)}, r"features must be \[N, V, D\]"),
            ({"labels": torch.tensor([0, 1, 2])}, r"labels must be \[N\] = \[4\]"),
            ({"labels": torch.tensor([0, 1, 2, 3])}, r"class indices in 0\.\.2"),
            ({"rank_matrix": torch.ones(3, 2, dtype=torch.long)}, r"must be \[C, C\]"),
            ({"rank_matrix": torch.zeros(3, 3, dtype=torch.long)}, "1 on the diagonal"),
            ({"rank_matrix": -torch.eye(3, dtype=torch.long)}, "non-negative integer"),
            ({"temperatures": []}, "temperatures must be positive"),
            ({"temperatures": [0.1, -0.2]}, "temperatures must be positive"),
            ({"mode": "sideways"}, "mode must be one of"),
        ],
    )
    def test_errors(self, kwargs, message):
        arguments = {
            "features": torch.randn(4, 2, 8),
            "labels": torch.tensor([0, 1, 2, 0]),
            "rank_matrix": torch.eye(3, dtype=torch.long),
            "temperatures": [0.1],
            "mode": "in",
        }
        arguments.update(kwargs)
        with pytest.raises(ValueError, match=message):
            ranked_infonce_loss(**arguments)

    def test_module(self):
        rank_matrix = torch.tensor([[1, 2], [2, 1]])
        features, labels = torch.randn(4, 2, 8), torch.tensor([0, 1, 0, 1])
        module = RankedInfoNCELoss(rank_matrix, [0.1, 0.2], mode="out")
        torch.testing.assert_close(
            module(features, labels),
            ranked_infonce_loss(features, labels, rank_matrix, [0.1, 0.2], "out"),
        )
        assert "rank_matrix" in module.state_dict()
