from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from condet.config.detect import DetectConfig
from condet.models import build_backbone
from condet.models.detector import (
    DETECTOR_KEYS,
    build_detector,
    freeze_batchnorm,
    freeze_stages,
    pyramid_stages,
)
from condet.options import build_config


@pytest.mark.parametrize(
    ("name", "channels"),
    [
        ("resnet18", [64, 128, 256, 512]),
        ("resnet50", [256, 512, 1024, 2048]),
        ("mobilenet_v3_large", [24, 40, 112, 960]),
        ("efficientnet_b0", [24, 40, 112, 1280]),
    ],
)
def test_pyramid_stages_at_strides_4_to_32(name, channels):
    stages = pyramid_stages(build_backbone(name))
    assert [stage.stride for stage in stages] == [4, 8, 16, 32]
    assert [stage.channels for stage in stages] == channels
    if name.startswith("resnet"):
        assert [stage.name for stage in stages] == ["layer1", "layer2", "layer3", "layer4"]


@pytest.mark.parametrize(
    ("name", "channels"),
    [("efficientnet_lite0", [24, 40, 112, 1280]), ("efficientnet_lite2", [24, 48, 120, 1280])],
)
def test_lite_pyramid_stages_at_strides_4_to_32(name, channels):
    stages = pyramid_stages(build_backbone(name))
    assert [stage.stride for stage in stages] == [4, 8, 16, 32]
    assert [stage.channels for stage in stages] == channels


def test_lite_body_computes_what_the_library_computes():
    from efficientnet_lite_pytorch import EfficientNet

    backbone = build_backbone("efficientnet_lite0", "imagenet").eval()
    network = EfficientNet.from_name("efficientnet-lite0").eval()
    network.load_state_dict(build_backbone_network_state("efficientnet_lite0"))
    images = torch.randn(2, 3, 96, 128)
    torch.testing.assert_close(backbone(images), network.extract_features(images))


def build_backbone_network_state(name: str) -> dict[str, torch.Tensor]:
    from condet.models.backbones import BACKBONES, _imagenet_state_dict

    return _imagenet_state_dict(BACKBONES[name])


def test_lite_imagenet_detector_freezes_stem_and_batchnorm_and_normalises_as_lite():
    detector = build_detector(num_classes=3, backbone="efficientnet_lite0", weights="imagenet")
    body = detector.backbone.body
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())
    frozen = [
        name
        for name, child in body.named_children()
        if not any(p.requires_grad for p in child.parameters())
    ]
    assert frozen == ["stem", "block0", "block1", "block2"]  # the stem and the stride-4 stage
    assert detector.transform.image_mean == pytest.approx([127 / 255] * 3)
    assert detector.transform.image_std == pytest.approx([128 / 255] * 3)
    images = [torch.rand(3, 100, 120)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([2])}]
    sum(detector(images, targets).values()).backward()
    assert body.block3.block._depthwise_conv.weight.grad is not None


def test_lite_backbone_saved_by_earlier_versions_still_loads(tmp_path):
    """Before the body became a sequence its keys were ``body.network.<library key>``."""
    from safetensors.torch import save_file

    original = build_backbone("efficientnet_lite0", "imagenet")
    old_keys = {
        f"body.network.{key}": value.contiguous()
        for key, value in build_backbone_network_state("efficientnet_lite0").items()
        if not key.startswith("_fc.")
    }
    save_file(old_keys, str(tmp_path / "backbone.safetensors"))
    loaded = build_backbone("efficientnet_lite0", tmp_path)
    for key, value in original.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_efficientnet_b1_weights_from_a_local_torchvision_file(tmp_path):
    """The SSL paper's backbone, from the file torchvision would download (written here)."""
    import torchvision

    network = torchvision.models.efficientnet_b1(weights=None)
    torch.nn.init.normal_(network.features[0][0].weight)
    torch.save(network.state_dict(), tmp_path / "efficientnet_b1_rwightman-bac287d4.pth")
    detector = build_detector(
        num_classes=3,
        backbone="efficientnet_b1",
        weights=tmp_path / "efficientnet_b1_rwightman-bac287d4.pth",
    )
    stem = detector.backbone.body["0"][0].weight
    torch.testing.assert_close(stem, network.features[0][0].weight)
    assert isinstance(detector.backbone.body["0"][1], FrozenBatchNorm2d)


@pytest.mark.parametrize(
    ("trainable", "frozen"),
    [(5, []), (3, ["conv1", "bn1", "layer1"]), (0, ["conv1", "layer1", "layer4"])],
)
def test_freeze_stages_like_torchvision(trainable, frozen):
    backbone = build_backbone("resnet18")
    freeze_stages(backbone, pyramid_stages(backbone), trainable)
    for name, child in backbone.body.named_children():
        expected = name not in frozen and trainable != 0
        assert all(p.requires_grad == expected for p in child.parameters()), name
    with pytest.raises(ValueError, match=r"trainable stages must be in 0\.\.5"):
        freeze_stages(backbone, pyramid_stages(backbone), 6)


def test_freeze_batchnorm_keeps_the_statistics():
    backbone = build_backbone("resnet18")
    backbone.body.bn1.running_mean.fill_(0.5)
    images = torch.randn(2, 3, 64, 64)
    with_statistics = backbone.eval()(images).detach()
    # in training mode BatchNorm would normalise by the batch instead (a copy: it also updates
    # the running statistics)
    with_batch = copy.deepcopy(backbone).train()(images).detach()
    assert not torch.allclose(with_batch, with_statistics, rtol=1e-2, atol=1e-2)
    freeze_batchnorm(backbone)
    assert isinstance(backbone.body.bn1, FrozenBatchNorm2d)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())
    torch.testing.assert_close(backbone.train()(images), with_statistics, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "efficientnet_b0"])
def test_detector_trains_and_predicts(name):
    detector = build_detector(
        num_classes=3, backbone=name, weights="random", min_size=128, max_size=128
    )
    images = [torch.rand(3, 100, 120), torch.rand(3, 90, 110)]
    targets = [
        {"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    losses = detector(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    outputs = detector.eval()(images)
    assert outputs[0]["boxes"].shape[1] == 4
    assert detector.roi_heads.box_predictor.cls_score.out_features == 4  # 3 classes + background


def test_class_agnostic_detector_has_one_object_class():
    detector = build_detector(
        num_classes=20, backbone="resnet18", weights="random", class_agnostic=True
    )
    assert detector.roi_heads.box_predictor.cls_score.out_features == 2


def test_pretrained_weights_freeze_batchnorm_by_default(tmp_path):
    from condet.models import save_backbone

    save_backbone(build_backbone("resnet18"), tmp_path / "backbone.safetensors")
    pretrained = build_detector(num_classes=2, backbone="resnet18", weights=tmp_path)
    assert isinstance(pretrained.backbone.body.bn1, FrozenBatchNorm2d)
    assert not pretrained.backbone.body.conv1.weight.requires_grad  # stem and layer1 frozen
    assert not pretrained.backbone.body.layer1[0].conv1.weight.requires_grad
    assert pretrained.backbone.body.layer2[0].conv1.weight.requires_grad
    scratch = build_detector(num_classes=2, backbone="resnet18", weights="random")
    assert isinstance(scratch.backbone.body.bn1, torch.nn.BatchNorm2d)
    assert scratch.backbone.body.conv1.weight.requires_grad


def test_box_predictions_stay_float32_under_bf16_autocast():
    """Low-precision boxes round to zero-area proposals and NaN losses (seen on Aquarium)."""
    detector = build_detector(
        num_classes=3, backbone="resnet18", weights="random", min_size=128, max_size=128
    )
    images = [torch.rand(3, 100, 120)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = detector.backbone(torch.rand(1, 3, 128, 128))
        objectness, deltas = detector.rpn.head(list(features.values()))
        scores, box_deltas = detector.roi_heads.box_predictor(torch.rand(5, 1024))
        outputs = detector.eval()(images)
    assert next(iter(features.values())).dtype == torch.bfloat16  # the networks run in bf16
    assert {t.dtype for t in [*objectness, *deltas, scores, box_deltas]} == {torch.float32}
    assert outputs[0]["boxes"].dtype == torch.float32


def test_build_detector_takes_keywords_whose_defaults_are_detect_trains_on_a_cpu():
    parameters = inspect.signature(build_detector).parameters.values()
    assert {parameter.kind for parameter in parameters} == {inspect.Parameter.KEYWORD_ONLY}
    defaults = {parameter.name: parameter.default for parameter in parameters}
    config = build_config(DetectConfig, {"accelerator": "cpu"})
    assert {key: defaults[key] for key in DETECTOR_KEYS} == {
        key: getattr(config, key) for key in DETECTOR_KEYS
    }
