"""One training engine for every paper: ``train`` / ``train_joint`` with a :class:`TrainConfig`.

Variants are options of the config (input noise, temperature, RSE noise layers, adversarial
training with a pluggable attack, precision, channels_last) or callbacks (per-step hooks such
as CLM's counter-linking); joint training of several members with one loss across them (ADP)
is :func:`train_joint`, the same loop.
"""

from .adversarial import fgsm, pgd_linf
from .augment import crop_flip, random_crop, random_flip
from .callbacks import Callback, TrainState
from .checkpoint import load_checkpoint, save_atomic, write_json_atomic
from .config import AdvTrainConfig, TrainConfig
from .engine import bf16_is_fast, evaluate, predict_logits, recommended_precision, train, train_joint
from .losses import adp_loss, cross_entropy
from .schedule import lr_at

__all__ = ["TrainConfig", "AdvTrainConfig", "train", "train_joint", "evaluate", "predict_logits",
           "load_checkpoint", "save_atomic", "write_json_atomic", "Callback", "TrainState",
           "adp_loss", "cross_entropy", "fgsm", "pgd_linf", "crop_flip", "random_crop",
           "random_flip", "lr_at", "bf16_is_fast", "recommended_precision"]
