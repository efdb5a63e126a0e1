"""BatchNorm frozen into a per-channel affine map that keeps its input's dtype.

torchvision's ``FrozenBatchNorm2d`` computes ``x * scale + bias`` with float32 ``scale`` and
``bias``, so under bf16 autocast every frozen norm turns its bf16 convolution output into
float32: the activation that follows, the next convolution's cast back to bf16 and the whole
backward pass then move twice the bytes (about a third of an EfficientNet-Lite0 body's
training step on a CPU, docs/results.md). Here the statistics are folded into ``scale`` and
``bias`` in float32 (as torchvision does), and only the result is cast to the activation's
dtype; in float32 the output is torchvision's.
"""

import torch
from torch import Tensor
from torchvision.ops import misc as misc_ops


class FrozenBatchNorm2d(misc_ops.FrozenBatchNorm2d):
    """torchvision's ``FrozenBatchNorm2d`` (same buffers and state-dict keys), in the input's
    dtype.

    >>> norm = FrozenBatchNorm2d(8)
    >>> norm(torch.ones(2, 8, 4, 4, dtype=torch.bfloat16)).dtype
    torch.bfloat16
    """

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        return torch.addcmul(
            bias.to(x.dtype).reshape(1, -1, 1, 1), x, scale.to(x.dtype).reshape(1, -1, 1, 1)
        )
