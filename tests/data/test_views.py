"""The seeded two-view transform of contrastive training."""

from __future__ import annotations

import torch

from condet.data.views import LabelledTwoViews, SimCLRAugmentation, TwoViews, crop_augmentation


def batch(size: int = 40, count: int = 6) -> torch.Tensor:
    return torch.randint(
        0,
        256,
        (count, 3, size, size),
        generator=torch.Generator().manual_seed(0),
        dtype=torch.uint8,
    )


def test_two_views_have_the_view_shape_and_differ():
    first, second = TwoViews(SimCLRAugmentation(32), seed=0, rank=0)(batch(), step=0)
    assert first.shape == second.shape == (6, 3, 32, 32)
    assert first.dtype == torch.float32 and not torch.equal(first, second)


def test_two_views_are_a_function_of_seed_rank_and_step():
    images = batch()
    views = TwoViews(SimCLRAugmentation(32), seed=3, rank=1)
    torch.manual_seed(123)
    once = views(images, step=5)
    torch.rand(7)  # the global generator's state must not matter, nor be changed
    state = torch.get_rng_state()
    again = views(images, step=5)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(once, again, strict=True))
    for other in (
        views(images, step=6),
        TwoViews(SimCLRAugmentation(32), seed=4, rank=1)(images, step=5),
        TwoViews(SimCLRAugmentation(32), seed=3, rank=0)(images, step=5),
    ):
        assert not torch.equal(once[0], other[0])


def test_labelled_two_views_pass_the_labels_through():
    labels = torch.arange(6)
    views = TwoViews(crop_augmentation(24, 0.2, [0.5] * 3, [0.25] * 3), seed=0, rank=0)
    first, second, passed = LabelledTwoViews(views)((batch(), labels), step=2)
    assert passed is labels and first.shape == second.shape == (6, 3, 24, 24)
    expected = views(batch(), step=2)
    assert torch.equal(first, expected[0]) and torch.equal(second, expected[1])


def test_crop_augmentation_has_no_blur_at_any_size():
    import kornia.augmentation as K

    steps = crop_augmentation(128, 0.2, [0.5] * 3, [0.25] * 3).augment
    assert not any(isinstance(step, K.RandomGaussianBlur) for step in steps)
    assert any(isinstance(step, K.RandomGaussianBlur) for step in SimCLRAugmentation(128).augment)
