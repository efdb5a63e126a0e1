"""Every command's typed config: one dataclass per command, its fields the command's flags.

The configs sit in the lowest layer, below the code that reads them: ``train/``,
``evaluation/``, ``selection/``, the run folder and ``commands/`` all import them normally,
so a renamed option is a renamed attribute everywhere at once. A training command's recipes
(:mod:`condet.recipes`) live beside its config and fill the options a run leaves unset when
the config is made. :mod:`condet.options` turns a config into flags, a ``--config`` file and
``config.yaml``.
"""

from condet.config.classify import ClassifyConfig
from condet.config.data import CheckConfig, SynthConfig
from condet.config.demo import DemoConfig
from condet.config.detect import DetectConfig
from condet.config.experiment import ExperimentConfig
from condet.config.explain import ExplainConfig
from condet.config.export import ExportConfig
from condet.config.features import FeaturesConfig
from condet.config.pipeline import PipelineConfig
from condet.config.predict import PredictConfig
from condet.config.pretrain import PretrainConfig
from condet.config.rankings import DeriveConfig
from condet.config.selection import SelectConfig
from condet.config.training import TrainingOptions

__all__ = [
    "CheckConfig",
    "ClassifyConfig",
    "DemoConfig",
    "DeriveConfig",
    "DetectConfig",
    "ExperimentConfig",
    "ExplainConfig",
    "ExportConfig",
    "FeaturesConfig",
    "PipelineConfig",
    "PredictConfig",
    "PretrainConfig",
    "SelectConfig",
    "SynthConfig",
    "TrainingOptions",
]
