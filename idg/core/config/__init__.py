"""Typed configuration: one dataclass per config group, registered with Hydra's ConfigStore.

One module per family of groups (``scene``: dataset, background, classes; ``generation``: sampler,
inpaint, generate, copy_paste; ``models``: model, inpaint_model; ``judging``: quality, verify; ``labeling``:
labeler, autolabel; ``study``: detector, real, study, logger; ``root``: the whole config, its cross-field
checks and :func:`to_config`). Imports nothing of idg but ``idg.core``. Everything public is re-exported
here: ``from idg.core.config import IdgConfig``.
"""

from idg.core.config.generation import GENERATORS, CopyPasteConfig, GenerateConfig, InpaintConfig, SamplerConfig
from idg.core.config.models import FAMILIES, InpaintModelConfig, LoraConfig, ModelConfig
from idg.core.config.judging import LABELER_VERIFIERS, VERIFIERS, QualityConfig, VerifyConfig
from idg.core.config.labeling import LABELERS, ON_EMPTY, AutolabelConfig, LabelerConfig
from idg.core.config.root import REPO_ROOT, IdgConfig, register_configs, to_config
from idg.core.config.scene import BackgroundConfig, BackgroundPrompt, ClassConfig, DatasetConfig
from idg.core.config.study import ARMS, DetectorConfig, LoggerConfig, RealConfig, StudyConfig
from idg.core.stages import STAGES

__all__ = [
    "ARMS", "FAMILIES", "GENERATORS", "LABELERS", "LABELER_VERIFIERS", "ON_EMPTY", "REPO_ROOT", "STAGES", "VERIFIERS",
    "AutolabelConfig", "BackgroundConfig", "BackgroundPrompt", "ClassConfig", "CopyPasteConfig", "DatasetConfig",
    "DetectorConfig", "GenerateConfig", "IdgConfig", "InpaintConfig", "InpaintModelConfig", "LabelerConfig",
    "LoggerConfig", "LoraConfig", "ModelConfig", "QualityConfig", "RealConfig", "SamplerConfig", "StudyConfig",
    "VerifyConfig", "register_configs", "to_config",
]
