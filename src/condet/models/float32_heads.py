"""Faster R-CNN heads whose predictions are float32 under bf16 / fp16 autocast.

The networks may run in low precision, but box arithmetic may not: in bfloat16 (8 bits of
mantissa) box corners a few hundred pixels out round to the same value, zero-area proposals then
give 0 / 0 IoUs, and the loss turns NaN within a few steps (seen on Aquarium). These heads are
torchvision's ``RPNHead`` and ``FastRCNNPredictor`` (same parameters, same state-dict keys) with
their outputs cast to float32, so decoding, matching and the losses stay in float32; in float32
the cast is a no-op. Their forwards repeat torchvision's because TorchScript (``condet export``)
has no ``super()``; this module has no ``from __future__ import annotations`` for the same
reason.
"""

from typing import List, Tuple  # noqa: UP035 - TorchScript reads these annotations

from torch import Tensor
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.rpn import RPNHead


class Float32RPNHead(RPNHead):
    """torchvision's ``RPNHead``: objectness logits and box deltas per level, in float32."""

    def forward(self, x: List[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:  # noqa: UP006
        logits = []
        deltas = []
        for feature in x:
            hidden = self.conv(feature)
            logits.append(self.cls_logits(hidden).float())
            deltas.append(self.bbox_pred(hidden).float())
        return logits, deltas


class Float32BoxPredictor(FastRCNNPredictor):
    """torchvision's ``FastRCNNPredictor``: class scores and box deltas, in float32."""

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:  # noqa: UP006
        x = x.flatten(start_dim=1)
        return self.cls_score(x).float(), self.bbox_pred(x).float()
