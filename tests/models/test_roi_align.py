from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign as TorchvisionRoIAlign

from condet.models.roi_align import MultiScaleRoIAlign


def pyramid(channels_last: bool, dtype: torch.dtype = torch.float32) -> OrderedDict:
    generator = torch.Generator().manual_seed(0)
    features = OrderedDict()
    for name, (height, width) in zip("0123", [(40, 56), (20, 28), (10, 14), (5, 7)], strict=True):
        feature = torch.randn(3, 16, height, width, generator=generator, dtype=dtype)
        if channels_last:
            feature = feature.contiguous(memory_format=torch.channels_last)
        features[name] = feature.requires_grad_()
    return features


def boxes_of(count: int, seed: int) -> list[torch.Tensor]:
    """Boxes of all sizes over a 320 x 448 image, some reaching past its edges."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(count, 2, generator=generator) * torch.tensor([470.0, 340.0]) - 10
    sizes = torch.rand(count, 2, generator=generator) ** 2 * 300 + 0.5
    return [torch.cat([corners, corners + sizes], 1)]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("names", [["0", "1", "2", "3"], ["1"]])
def test_pooling_and_its_gradient_are_torchvision_s(channels_last, names):
    boxes = [*boxes_of(60, 1), *boxes_of(0, 2), *boxes_of(45, 3)]
    image_sizes = [(320, 448)] * 3
    outputs, gradients = [], []
    for pool in (TorchvisionRoIAlign(names, 7, 2), MultiScaleRoIAlign(names, 7, 2)):
        features = pyramid(channels_last)
        pooled = pool(features, boxes, image_sizes)
        weights = torch.linspace(-1, 1, pooled.numel()).view_as(pooled)
        (pooled * weights).sum().backward()
        outputs.append(pooled.detach())
        gradients.append([feature.grad for feature in features.values()])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(gradients[1], gradients[0], strict=True):
        if theirs is None:
            assert ours is None or not ours.any()
        else:
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_under_bf16_autocast_it_pools_in_float32_and_returns_the_features_dtype():
    boxes = boxes_of(30, 4) * 3
    features = pyramid(True, torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reference = TorchvisionRoIAlign(["0", "1", "2"], 7, 2)(features, boxes, [(320, 448)] * 3)
        pooled = MultiScaleRoIAlign(["0", "1", "2"], 7, 2)(features, boxes, [(320, 448)] * 3)
    assert pooled.dtype == torch.bfloat16
    torch.testing.assert_close(pooled, reference)
    pooled.float().sum().backward()
    assert all(features[name].grad.dtype == torch.bfloat16 for name in "012")


def test_no_regions_give_an_empty_pooling():
    pooled = MultiScaleRoIAlign(["0", "1"], 7, 2)(
        pyramid(False), [torch.zeros(0, 4)] * 3, [(320, 448)] * 3
    )
    assert pooled.shape == (0, 16, 7, 7)


def test_scripted_it_pools_with_torchvision_s_kernel():
    pool = MultiScaleRoIAlign(["0", "1"], 7, 2)
    scripted = torch.jit.script(pool)
    features, boxes = pyramid(False), boxes_of(20, 5) * 3
    with torch.no_grad():
        torch.testing.assert_close(
            scripted(features, boxes, [(320, 448)] * 3), pool(features, boxes, [(320, 448)] * 3)
        )
