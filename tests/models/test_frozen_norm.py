import torch
from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBatchNorm2d

from condet.models.frozen_norm import FrozenBatchNorm2d


def norms() -> tuple[FrozenBatchNorm2d, TorchvisionFrozenBatchNorm2d]:
    generator = torch.Generator().manual_seed(0)
    ours, theirs = FrozenBatchNorm2d(6), TorchvisionFrozenBatchNorm2d(6)
    state = {
        "weight": torch.randn(6, generator=generator),
        "bias": torch.randn(6, generator=generator),
        "running_mean": torch.randn(6, generator=generator),
        "running_var": torch.rand(6, generator=generator) + 0.1,
    }
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    return ours, theirs


def test_in_float32_it_is_torchvision_s_frozen_norm():
    ours, theirs = norms()
    features = torch.randn(2, 6, 5, 7)
    torch.testing.assert_close(ours(features), theirs(features))


def test_it_keeps_bf16_activations_in_bf16_and_agrees_to_bf16_rounding():
    ours, theirs = norms()
    features = torch.randn(2, 6, 5, 7).to(torch.bfloat16)
    output = ours(features)
    assert output.dtype == torch.bfloat16
    assert theirs(features).dtype == torch.float32  # the conversion this class avoids
    torch.testing.assert_close(output.float(), theirs(features), rtol=2e-2, atol=2e-2)
