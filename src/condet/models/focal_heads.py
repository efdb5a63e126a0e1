"""Faster R-CNN's box classifier trained with a focal loss, as Unbiased Teacher trains it.

The focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017) scales each
sampled RoI's cross-entropy by how wrong the classifier still is:

    FL(p_t) = -(1 - p_t)^gamma * log(p_t)

with ``p_t`` the softmax probability of the RoI's true class (background included), averaged
over the RoIs. Unbiased Teacher (Liu et al., ICLR 2021) trains its box classifier so, with
gamma 1.5, because pseudo-labels are biased towards the classes and the background the teacher
already finds easy: the loss moves the student's attention to the RoIs it still gets wrong.
gamma 0 is the cross-entropy of torchvision's ``fastrcnn_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss


def softmax_focal_loss(logits: Tensor, targets: Tensor, gamma: float) -> Tensor:
    """The mean focal loss of ``logits`` against ``targets``.

    Args:
        logits: ``[N, C]`` class scores (for a box head, C = classes + background).
        targets: ``[N]`` int64 class indices.
        gamma: the focusing exponent (0: cross-entropy).

    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> targets = torch.tensor([0, 0])
    >>> bool(softmax_focal_loss(logits, targets, 0.0) == F.cross_entropy(logits, targets))
    True
    >>> bool(softmax_focal_loss(logits, targets, 1.5) < F.cross_entropy(logits, targets))
    True
    """
    cross_entropy = F.cross_entropy(logits, targets, reduction="none")
    true_class_probability = torch.exp(-cross_entropy)
    return ((1 - true_class_probability) ** gamma * cross_entropy).mean()


class FocalLossRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` whose box classifier trains on :func:`softmax_focal_loss`.

    Made from the heads of a built detector, whose modules and settings it takes: the same
    parameters and state-dict keys, so its weights load into a plain detector. Box regression
    keeps ``fastrcnn_loss``'s smooth L1, and evaluation is torchvision's. condet's detector has
    no mask or keypoint heads, and these heads have none either.
    """

    def __init__(self, heads: RoIHeads, gamma: float) -> None:
        super().__init__(
            heads.box_roi_pool,
            heads.box_head,
            heads.box_predictor,
            fg_iou_thresh=heads.proposal_matcher.high_threshold,
            bg_iou_thresh=heads.proposal_matcher.low_threshold,
            batch_size_per_image=heads.fg_bg_sampler.batch_size_per_image,
            positive_fraction=heads.fg_bg_sampler.positive_fraction,
            bbox_reg_weights=heads.box_coder.weights,
            score_thresh=heads.score_thresh,
            nms_thresh=heads.nms_thresh,
            detections_per_img=heads.detections_per_img,
        )
        self.gamma = gamma

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        proposals, _, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        _, box_loss = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
        classifier_loss = softmax_focal_loss(class_logits, torch.cat(labels), self.gamma)
        return [], {"loss_classifier": classifier_loss, "loss_box_reg": box_loss}
