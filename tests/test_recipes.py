import pytest
import torch

from condet import recipes
from condet.config.classify import ClassifyConfig
from condet.config.detect import DETECT_RECIPES, DetectConfig
from condet.config.pretrain import PretrainConfig
from condet.options import ConfigError, build_config


@pytest.fixture
def cpu_with_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(recipes, "cpu_has_bf16", lambda: True)


def test_the_detector_defaults_are_the_measured_cpu_recipe(cpu_with_bf16):
    config = DetectConfig()
    assert (config.backbone, config.weights, config.recipe) == (
        "efficientnet_lite0",
        "imagenet",
        "cpu",
    )
    sizes = (config.min_size, config.max_size, config.smallest_stride, config.fpn_channels)
    assert sizes == (320, 427, 8, 128)
    assert (config.proposals, config.roi_samples, config.precision) == (300, 128, "bf16-mixed")


def test_without_bf16_instructions_the_cpu_recipe_stays_in_float32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(recipes, "cpu_has_bf16", lambda: False)
    assert DetectConfig().precision == "32-true"


def test_any_explicit_option_wins_over_the_recipe(cpu_with_bf16):
    config = DetectConfig(recipe="reference", min_size=512, precision="bf16-mixed")
    assert (config.recipe, config.min_size, config.max_size) == ("reference", 512, 1333)
    assert (config.precision, config.roi_samples) == ("bf16-mixed", 512)


def test_auto_is_the_gpu_recipe_on_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    config = DetectConfig()
    assert (config.recipe, config.min_size, config.proposals) == ("gpu", 800, 1000)
    assert config.precision == "16-mixed"
    assert DetectConfig(accelerator="cpu").recipe == "cpu"


def test_every_recipe_sets_the_same_options_and_only_unset_ones():
    for config_class in (DetectConfig, PretrainConfig, ClassifyConfig):
        tables = config_class.RECIPES
        assert set(tables) == {"cpu", "gpu", "reference"}
        options = {frozenset(table) for table in tables.values()}
        assert len(options) == 1
        defaults = config_class.__dataclass_fields__
        assert all(defaults[option].default is None for option in next(iter(options)))


def test_a_resolved_config_is_its_own_fixed_point(cpu_with_bf16):
    """config.yaml holds every value the recipe set: reading it back changes nothing."""
    config = PretrainConfig(recipe="gpu")
    again = build_config(PretrainConfig, vars(config))
    assert again == config
    assert (again.image_size, again.optimizer, again.weights) == (224, "lars", "imagenet")


def test_random_weights_still_work_and_the_crop_recipe_is_the_measured_one(cpu_with_bf16):
    config = ClassifyConfig(weights="random")
    assert (config.weights, config.optimizer, config.lr, config.batch_size) == (
        "random",
        "adamw",
        0.004,
        64,
    )
    assert config.small_input_stem is False


def test_an_unknown_recipe_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="option recipe must be one of auto, cpu, gpu"):
        build_config(DetectConfig, {"recipe": "laptop"})


def test_the_help_names_each_recipe_s_value():
    assert recipes.recipe_help(DETECT_RECIPES, "min_size") == (
        "default: the recipe's (cpu 320, gpu 800, reference 800)"
    )
