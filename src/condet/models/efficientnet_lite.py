"""EfficientNet-Lite (the ``efficientnet-lite-pytorch`` library) as a condet backbone body.

The library's network runs its blocks from its own loop, passing each its drop-connect rate;
:func:`lite_body` makes it a sequence of stem, blocks and head, as torchvision's ``features``,
and :func:`lite_network_key` maps the library's state-dict keys (its ImageNet weights, and
backbones saved before the body was a sequence) onto that sequence.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from torch import Tensor, nn


class _ConvBNAct(nn.Module):
    """Convolution, BatchNorm, ReLU6: EfficientNet-Lite's stem, and its head (1x1 to 1280)."""

    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, features: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(features)))


class _Block(nn.Module):
    """One MBConv block with its drop-connect rate, callable as ``block(x)``.

    The library passes the rate (scaled by depth) as an argument from its own loop; as a
    child of a sequential body the block must carry it, so that a feature pyramid (which calls
    the children in turn) trains the network as its authors did.
    """

    def __init__(self, block: nn.Module, drop_connect_rate: float) -> None:
        super().__init__()
        self.block, self.drop_connect_rate = block, drop_connect_rate

    def forward(self, features: Tensor) -> Tensor:
        return self.block(features, drop_connect_rate=self.drop_connect_rate or None)


def lite_body(network: nn.Module) -> nn.Sequential:
    """EfficientNet-Lite (efficientnet-lite-pytorch) as a sequence: stem, blocks, head.

    One child per block, as torchvision's ``features``, so that :mod:`condet.models.detector`
    finds its stride-4..32 stages and freezes them as for the other families.
    """
    rate = network._global_params.drop_connect_rate or 0.0
    count = len(network._blocks)
    blocks = [
        (f"block{index}", _Block(block, rate * index / count))
        for index, block in enumerate(network._blocks)
    ]
    stem = _ConvBNAct(network._conv_stem, network._bn0, network._swish)
    head = _ConvBNAct(network._conv_head, network._bn1, network._swish)
    return nn.Sequential(OrderedDict([("stem", stem), *blocks, ("head", head)]))


_NETWORK_KEYS = (
    (re.compile(r"_conv_stem\."), "stem.conv."),
    (re.compile(r"_bn0\."), "stem.bn."),
    (re.compile(r"_blocks\.(\d+)\."), r"block\1.block."),
    (re.compile(r"_conv_head\."), "head.conv."),
    (re.compile(r"_bn1\."), "head.bn."),
)


def lite_network_key(key: str) -> str | None:
    """A key of the library's EfficientNet-Lite in :func:`lite_body`, None for its classifier.

    Backbones and checkpoints saved before the body became a sequence (``body.network.<key>``)
    map the same way.
    """
    key = key.removeprefix("backbone.").removeprefix("body.network.")
    for pattern, replacement in _NETWORK_KEYS:
        if pattern.match(key):
            return "body." + pattern.sub(replacement, key, count=1)
    return None
