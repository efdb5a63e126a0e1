"""Multi-scale RoIAlign as one sparse matrix product, for training on a CPU.

RoIAlign (He et al., Mask R-CNN, 2017) samples each of a region's ``PH x PW`` bins at
``sampling_ratio ** 2`` points and averages their bilinear interpolations: every output value
is a fixed weighted sum of at most ``4 * sampling_ratio ** 2`` feature-map values. Written as
a sparse matrix ``A`` (one row per region and bin, one column per feature-map position of
every pyramid level), pooling is ``A @ features`` and its gradient is ``A.T @ grad``.

torchvision's CPU kernel computes the same numbers, but its backward recomputes the bilinear
weights for every channel and scatters one value at a time: 4-5x its forward, and 14% of a
detector's training step on a CPU (docs/results.md). Here the weights are built once, as
tensors, for all levels together, and both directions are one sparse product; the results
equal torchvision's up to float32 summation order (tested). On GPUs, when scripting or
exporting, and for settings this does not cover, torchvision's kernel runs. No ``from
__future__ import annotations`` here: TorchScript (``condet export``) reads the annotations.
"""

import warnings

import torch
from torch import Tensor
from torchvision.ops import poolers


def interpolation_weights(
    rois: Tensor,
    levels: Tensor,
    scales: list[float],
    level_shapes: list[tuple[int, int, int]],
    output_size: tuple[int, int],
    sampling_ratio: int,
) -> tuple[Tensor, Tensor]:
    """Column indices and weights of the rows of RoIAlign's matrix (``aligned=False``).

    Args:
        rois: ``[K, 5]`` float: batch index, then ``x1, y1, x2, y2`` in image pixels.
        levels: ``[K]`` int64, the pyramid level each region is pooled from.
        scales: the spatial scale of each level (1 / its stride).
        level_shapes: ``(N, H, W)`` of each level's feature map; the columns are the
            positions of level 0 (batch, row, column, in that order), then of level 1, ...
        output_size: ``(PH, PW)`` bins per region.
        sampling_ratio: sample points per bin side (> 0).

    Returns:
        ``index`` and ``weight``, both ``[K * PH * PW, 4 * sampling_ratio ** 2]``: row
        ``(k * PH + i) * PW + j`` (region ``k``, bin ``(i, j)``) is the sum of ``weight`` times
        the features at columns ``index``, as torchvision's ``roi_align`` samples them (points
        more than one pixel outside the map weigh 0; points past the last row or column read
        it).
    """
    count, (bins_high, bins_wide) = len(rois), output_size
    dtype = rois.dtype
    sizes = torch.tensor([[height, width] for _, height, width in level_shapes])[levels]
    offsets = torch.tensor([0] + [n * h * w for n, h, w in level_shapes]).cumsum(0)[levels]
    scale = torch.tensor(scales, dtype=dtype)[levels]
    x1, y1, x2, y2 = (rois[:, column] * scale for column in range(1, 5))
    points = torch.arange(sampling_ratio, dtype=dtype) + 0.5

    def axis(start: Tensor, end: Tensor, bins: int, size: Tensor) -> tuple[Tensor, ...]:
        """Along one axis, per region, bin and point: the two neighbours and their weights."""
        bin_size = ((end - start).clamp(min=1.0) / bins)[:, None, None]
        # the order of torchvision's float32 arithmetic, so that the points round alike
        position = (
            start[:, None, None]
            + torch.arange(bins, dtype=dtype)[None, :, None] * bin_size
            + points[None, None, :] * bin_size / sampling_ratio
        )
        size = size[:, None, None]
        inside = ((position >= -1.0) & (position <= size)).to(dtype)
        position = position.clamp(min=0.0)
        low = position.floor().long()
        at_edge = low >= size - 1
        low = torch.where(at_edge, size - 1, low)
        high = torch.where(at_edge, low, low + 1)
        fraction = torch.where(at_edge, 0.0, position - low)
        return low, high, (1 - fraction) * inside, fraction * inside

    y_low, y_high, y_low_weight, y_high_weight = axis(y1, y2, bins_high, sizes[:, 0])
    x_low, x_high, x_low_weight, x_high_weight = axis(x1, x2, bins_wide, sizes[:, 1])
    # [K, bins, points, 4 corners], then broadcast to [K, PH, PW, points_y, points_x, 4]
    rows = torch.stack([y_low, y_low, y_high, y_high], -1)[:, :, None, :, None]
    columns = torch.stack([x_low, x_high, x_low, x_high], -1)[:, None, :, None, :]
    row_weights = torch.stack([y_low_weight, y_low_weight, y_high_weight, y_high_weight], -1)
    column_weights = torch.stack([x_low_weight, x_high_weight, x_low_weight, x_high_weight], -1)
    batch = rois[:, 0].long()
    width = sizes[:, 1]
    first = offsets + batch * sizes[:, 0] * width
    index = first.view(-1, 1, 1, 1, 1, 1) + rows * width.view(-1, 1, 1, 1, 1, 1) + columns
    weight = row_weights[:, :, None, :, None] * column_weights[:, None, :, None, :]
    per_row = 4 * sampling_ratio**2
    shape = (count * bins_high * bins_wide, per_row)
    return index.reshape(shape), (weight / sampling_ratio**2).reshape(shape)


class _SparseRoIAlign(torch.autograd.Function):
    """``A @ features`` forward (CSR), ``A.T @ grad`` backward (COO), in float32 whatever the
    autocast (as torchvision's kernel runs), the gradients in each level's dtype."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, index: Tensor, weight: Tensor, *features: Tensor) -> Tensor:
        rows = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for f in features])
        row_starts = torch.arange(0, index.numel() + 1, index.shape[1])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(
                row_starts,
                index.reshape(-1),
                weight.reshape(-1),
                (len(index), len(rows)),
                check_invariants=False,
            )
        ctx.save_for_backward(index, weight)
        ctx.shapes = [feature.shape for feature in features]
        return matrix @ rows

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        index, weight = ctx.saved_tensors
        total = sum(n * h * w for n, _, h, w in ctx.shapes)
        bins = torch.arange(len(index)).repeat_interleave(index.shape[1])
        transposed = torch.sparse_coo_tensor(
            torch.stack([index.reshape(-1), bins]),
            weight.reshape(-1),
            (total, len(index)),
            check_invariants=False,
        )
        grad_rows = torch.sparse.mm(transposed, grad.float())
        grads, start = [], 0
        for n, channels, height, width in ctx.shapes:
            end = start + n * height * width
            grads.append(grad_rows[start:end].view(n, height, width, channels).permute(0, 3, 1, 2))
            start = end
        return None, None, *grads


class MultiScaleRoIAlign(poolers.MultiScaleRoIAlign):
    """torchvision's ``MultiScaleRoIAlign`` (same levels, scales and level mapping), pooling
    through :func:`interpolation_weights` as one sparse product on a CPU.

    >>> from collections import OrderedDict
    >>> pool = MultiScaleRoIAlign(["0", "1"], output_size=7, sampling_ratio=2)
    >>> features = OrderedDict(
    ...     [("0", torch.rand(1, 8, 32, 32, requires_grad=True)), ("1", torch.rand(1, 8, 16, 16))]
    ... )
    >>> boxes = [torch.tensor([[4.0, 4.0, 60.0, 90.0], [10.0, 20.0, 200.0, 180.0]])]
    >>> pool(features, boxes, [(256, 256)]).shape
    torch.Size([2, 8, 7, 7])
    """

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        features = poolers._filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = poolers._setup_scales(
                features, image_shapes, self.canonical_scale, self.canonical_level
            )
        if not torch.jit.is_scripting() and self._pools_sparsely(features):
            return self._sparse_pool(features, boxes)
        return poolers._multiscale_roi_align(
            features, boxes, self.output_size, self.sampling_ratio, self.scales, self.map_levels
        )

    @torch.jit.unused
    def _pools_sparsely(self, features: list[Tensor]) -> bool:
        return (
            features[0].device.type == "cpu"
            and self.sampling_ratio > 0
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
        )

    @torch.jit.unused
    def _sparse_pool(self, features: list[Tensor], boxes: list[Tensor]) -> Tensor:
        rois = poolers._convert_to_roi_format(boxes).float()
        if len(features) > 1:
            levels = self.map_levels(boxes)
        else:
            levels = torch.zeros(len(rois), dtype=torch.int64)
        index, weight = interpolation_weights(
            rois,
            levels,
            self.scales,
            [(feature.shape[0], feature.shape[2], feature.shape[3]) for feature in features],
            self.output_size,
            self.sampling_ratio,
        )
        pooled = _SparseRoIAlign.apply(index, weight, *features)
        channels = features[0].shape[1]
        pooled = pooled.view(len(rois), *self.output_size, channels).permute(0, 3, 1, 2)
        return pooled.to(features[0].dtype)
