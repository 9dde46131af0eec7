"""Typed configuration: one dataclass per config group, registered with Hydra's ConfigStore.

One module per family of groups (``scene``: dataset, background, classes; ``generation``: sampler,
inpaint, generate, copy_paste; ``models``: model, inpaint_model; ``judging``: quality, verify; ``labeling``:
labeler, autolabel; ``study``: detector, real, study, logger; ``root``: the whole config, its cross-field
checks and :func:`to_config`). Imports nothing of idg but ``idg.core``. Everything public is re-exported
here: ``from idg.core.config import IdgConfig``.
"""

from idg.core.config.generation import (BLEND_MODES, GENERATORS, CopyPasteConfig, GenerateConfig, InpaintConfig,
                                        SamplerConfig)
from idg.core.config.models import FAMILIES, InpaintModelConfig, LoraConfig, ModelConfig
from idg.core.config.judging import LABELER_VERIFIERS, VERIFIERS, QualityConfig, VerifyConfig
from idg.core.config.labeling import LABELERS, ON_EMPTY, AutolabelConfig, LabelerConfig
from idg.core.config.describe import register_help_resolver
from idg.core.config.root import REPO_ROOT, IdgConfig, to_config
from idg.core.config.root import register_configs as register_schemas
from idg.core.config.scene import (PHOTO_SOURCES, BackgroundConfig, BackgroundPrompt, BackgroundShare, ClassConfig,
                                   DatasetConfig, RealClassesConfig)
from idg.core.config.study import ARMS, DetectorConfig, LoggerConfig, RealConfig, StudyConfig
from idg.core.stages import STAGES

__all__ = [
    "ARMS", "BLEND_MODES", "FAMILIES", "GENERATORS", "LABELERS", "LABELER_VERIFIERS", "ON_EMPTY", "PHOTO_SOURCES",
    "REPO_ROOT", "STAGES", "VERIFIERS", "AutolabelConfig", "BackgroundConfig", "BackgroundPrompt", "BackgroundShare",
    "ClassConfig", "CopyPasteConfig", "DatasetConfig", "DetectorConfig", "GenerateConfig", "IdgConfig",
    "InpaintConfig", "InpaintModelConfig", "LabelerConfig", "LoggerConfig", "LoraConfig", "ModelConfig",
    "QualityConfig", "RealClassesConfig", "RealConfig", "SamplerConfig", "StudyConfig",
    "VerifyConfig", "register_configs", "to_config",
]


def register_configs() -> None:
    """Each group's schema as ``base_<group>`` (:func:`idg.core.config.root.register_configs`), idg's
    resolvers, and ``${idg.help:}``, the text of ``--help``."""
    register_schemas()
    register_help_resolver()
