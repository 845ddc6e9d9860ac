"""One training engine for every paper: ``train`` / ``train_joint`` with a :class:`TrainConfig`.

Variants are options of the config (input noise, temperature, RSE noise layers, adversarial
training with a pluggable attack, precision, channels_last) or callbacks (per-step hooks such
as CLM's counter-linking); joint training of several members with one loss across them (ADP)
is :func:`train_joint`, the same loop.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, for type checkers and for paperlib.stage_deps' import closure
    from .adversarial import fgsm_training_attack, pgd_linf_training_attack
    from .augment import crop_flip, random_crop, random_flip
    from .callbacks import Callback, TrainState
    from .checkpoint import load_checkpoint, save_atomic, write_json_atomic
    from .config import AdvTrainConfig, TrainConfig
    from .engine import bf16_is_fast, evaluate, predict_logits, recommended_precision, train, train_joint
    from .losses import adp_loss, cross_entropy
    from .schedule import lr_at

# Exports load their module on first use (PEP 562): validating params (paperlib.config imports
# paperlib.train.config for TrainConfig) must not import torch, which costs a stage 3-4 s before
# the notebook's kernel imports it again (benchmarks/stage_overhead.py).
_EXPORTS = {
    "fgsm_training_attack": "adversarial", "pgd_linf_training_attack": "adversarial",
    "crop_flip": "augment", "random_crop": "augment", "random_flip": "augment",
    "Callback": "callbacks", "TrainState": "callbacks",
    "load_checkpoint": "checkpoint", "save_atomic": "checkpoint", "write_json_atomic": "checkpoint",
    "AdvTrainConfig": "config", "TrainConfig": "config",
    "bf16_is_fast": "engine", "evaluate": "engine", "predict_logits": "engine", "recommended_precision": "engine",
    "train": "engine", "train_joint": "engine",
    "adp_loss": "losses", "cross_entropy": "losses",
    "lr_at": "schedule",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
