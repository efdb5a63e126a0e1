"""EfficientNet-Lite as a sequence of stem, blocks and head, and its state-dict keys."""

from __future__ import annotations

import torch
from efficientnet_lite_pytorch import EfficientNet

from condet.models.efficientnet_lite import lite_body, lite_network_key


def test_the_sequence_runs_the_network_as_its_own_loop_does():
    torch.manual_seed(0)
    network = EfficientNet.from_name("efficientnet-lite0").eval()
    body = lite_body(network).eval()
    names = [name for name, _ in body.named_children()]
    assert names == ["stem", *(f"block{i}" for i in range(len(network._blocks))), "head"]
    images = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(body(images), network.extract_features(images))


def test_every_network_key_but_the_classifier_maps_onto_the_sequence():
    network = EfficientNet.from_name("efficientnet-lite0")
    body_keys = {f"body.{key}" for key in lite_body(network).state_dict()}
    mapped = {key: lite_network_key(key) for key in network.state_dict()}
    assert {key for key, value in mapped.items() if value is None} == {"_fc.weight", "_fc.bias"}
    assert {value for value in mapped.values() if value is not None} == body_keys


def test_keys_of_backbones_saved_before_the_sequence_map_the_same_way():
    assert lite_network_key("body.network._blocks.3._bn1.weight") == "body.block3.block._bn1.weight"
    assert lite_network_key("backbone.body.network._conv_stem.weight") == "body.stem.conv.weight"
    assert lite_network_key("_bn1.running_mean") == "body.head.bn.running_mean"
