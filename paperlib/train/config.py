"""Typed, validated training configuration (frozen dataclasses).

Every field has one meaning and a unit; ``__post_init__`` rejects impossible values with a
message naming the field. :meth:`TrainConfig.to_dict` gives the JSON-able resolved config
saved with every checkpoint (callables are recorded by name).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

SCHEDULES = ("constant", "step", "cosine", "onecycle", "inverse_time")
PRECISIONS = ("fp32", "bf16", "auto")
ADV_MODES = ("per_example", "per_batch")
# The spaces of a noise sigma: paperlib.models.noise_space.NOISE_SPACES, repeated here so that
# validating params does not import torch (tests/test_noise_space.py checks they are equal).
NOISE_SPACES = ("pixel", "normalized")


def _check(cond: bool, name: str, msg: str, value) -> None:
    if not cond:
        raise ValueError(f"{name} {msg}, got {value!r}")


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class AdvTrainConfig:
    """Adversarial training: which attack makes the training inputs, and how they are mixed.

    Attributes:
        attack: ``attack(model, x, y, generator) -> x_adv``; ``x`` pixels in [0, 1]
            ``[B, C, H, W]``, ``y`` int64 ``[B]``; returns a tensor like ``x``. Built e.g. by
            :func:`paperlib.train.adversarial.pgd_linf_training_attack` (Madry et al. 2018) or
            :func:`~paperlib.train.adversarial.fgsm_training_attack`; any function of this
            signature fits (a ``paperlib.attacks`` attack takes ``eps`` and ``generator`` as
            keywords, so wrap it: ``lambda m, x, y, g: pgd(m, x, y, eps=e, generator=g)``).
        ratio: in ``[0, 1]``. ``mode="per_example"``: the fraction of each batch replaced by
            adversarial examples (1.0 = Madry et al.'s PGD training). ``mode="per_batch"``: the
            probability that a whole batch is adversarial (0.5 = RSE's FGSM-retraining
            baseline, which picks clean or adversarial for each batch at random).
        mode: ``"per_example"`` or ``"per_batch"``.
        eval_mode: craft the examples with the model in ``eval()`` mode (BatchNorm running
            statistics, dropout off); the training step itself always runs in ``train()``.
    """

    attack: Callable
    ratio: float = 1.0
    mode: str = "per_example"
    eval_mode: bool = True

    def __post_init__(self):
        _check(callable(self.attack), "adversarial.attack", "must be callable", self.attack)
        _check(_is_num(self.ratio) and 0.0 <= self.ratio <= 1.0, "adversarial.ratio",
               "must be a number in [0, 1]", self.ratio)
        _check(self.mode in ADV_MODES, "adversarial.mode", f"must be one of {ADV_MODES}", self.mode)
        _check(isinstance(self.eval_mode, bool), "adversarial.eval_mode", "must be a bool", self.eval_mode)

    def to_dict(self) -> dict:
        name = getattr(self.attack, "__name__", None) or repr(self.attack)
        return {"attack": name, "ratio": self.ratio, "mode": self.mode, "eval_mode": self.eval_mode}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run, apart from the model, the data and the seed.

    Optimization: SGD with ``momentum`` (``nesterov`` optional) and L2 ``weight_decay`` on all
    parameters; ``lr`` is the peak learning rate of the ``schedule``:
      - ``constant``; ``step``: multiply by ``gamma`` at each epoch of ``milestones``;
      - ``cosine``: per step from ``lr`` to 0 (Loshchilov & Hutter, no restarts);
      - ``onecycle``: linear warm-up over ``warmup_fraction`` of the steps, linear decay to 0;
      - ``inverse_time``: ``lr / (1 + decay * step)`` (Keras' SGD ``decay``, Liang & Samavi's
        Table 1b uses decay 1e-6).
    Data: ``batch_size`` examples per step, reshuffled every epoch; ``drop_last`` drops the
    incomplete last batch. ``augment``: random crop with ``crop_padding`` zero padding (on the
    uint8 tensors, on the device) and, if ``flip``, horizontal flips with probability 1/2.
    Variants (all off by default):
      - ``input_noise_sigma``: Gaussian noise of this std added to every training input, no
        clipping (randomized smoothing training, Cohen et al. 2019), in the space
        ``input_noise_space`` says: ``"pixel"`` (default; [0, 1] scale, the same std on every
        channel) or ``"normalized"`` (the sigma is meant after the model's input normalization:
        pixel noise of per-channel std ``sigma * std_c``, ``std_c`` from the model's ``Normalize``
        layer, else :func:`paperlib.models.normalization.default_stats`; see
        :mod:`paperlib.models.noise_space`). ``to_dict`` records ``input_noise_space`` only when
        it is not ``"pixel"``, so the pixel runs' records (and the pinned zoo) are unchanged;
      - ``temperature``: logits divided by ``T`` before the softmax cross-entropy (defensive
        distillation; Liang & Samavi train member ``l`` at ``T_l = 10 l``);
      - ``label_smoothing``: as in ``torch.nn.functional.cross_entropy``;
      - ``noise_layers``: RSE noise layers active during training (no effect on models without);
      - ``adversarial``: an :class:`AdvTrainConfig`.
    Speed: ``precision`` ``"fp32"``, ``"bf16"`` (autocast on the model's device) or ``"auto"``
    (bf16 where the device has fast bf16 kernels, else fp32: see
    :func:`paperlib.train.recommended_precision`; the history records the precision used);
    ``channels_last`` memory format for model and inputs.
    Checkpoints: a resumable checkpoint every ``checkpoint_every`` epochs (0 = only at the end).
    The fast recipe (``docs/models_and_training.md``, ``benchmarks/train_recipe.py``):
      - ``ema_decay``: keep an exponential moving average of the weights and the BatchNorm
        statistics (decay ``min(ema_decay, (1 + t) / (10 + t))`` at step ``t``, so a short run is
        not dominated by its random initialization); the saved and returned model is the
        average. 0 = off. The average is a training-time choice only: the model an attacker
        sees is the one saved, nothing is added at test time;
      - ``bn_momentum``: BatchNorm's running-statistics momentum during training (PyTorch's
        default 0.1; larger values track the fast-moving weights of a short run);
      - ``decay_norm_and_bias``: apply ``weight_decay`` to BatchNorm weights and biases too
        (False: only to convolution and linear weights, the usual fast-training choice).
    Temperature: a short run at ``T >= 20`` stays at chance (every gradient is divided by
    ``T``); build the network with ``logit_scale = T`` (:func:`paperlib.models.build`).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_fraction: float = 0.25
    decay: float = 0.0
    drop_last: bool = True
    augment: bool = True
    crop_padding: int = 4
    flip: bool = True
    input_noise_sigma: float = 0.0
    input_noise_space: str = "pixel"
    temperature: float = 1.0
    label_smoothing: float = 0.0
    noise_layers: bool = True
    adversarial: AdvTrainConfig | None = None
    precision: str = "fp32"
    channels_last: bool = False
    checkpoint_every: int = 1
    max_grad_norm: float = 0.0
    ema_decay: float = 0.0
    bn_momentum: float = 0.1
    decay_norm_and_bias: bool = True

    def __post_init__(self):
        _check(_is_int(self.epochs) and self.epochs >= 1, "epochs", "must be an int >= 1", self.epochs)
        _check(_is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be an int >= 1",
               self.batch_size)
        _check(_is_num(self.lr) and self.lr > 0, "lr", "must be a positive number", self.lr)
        _check(_is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "must be in [0, 1)",
               self.momentum)
        _check(isinstance(self.nesterov, bool), "nesterov", "must be a bool", self.nesterov)
        _check(not (self.nesterov and self.momentum == 0), "nesterov", "needs momentum > 0",
               self.nesterov)
        _check(_is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
               "must be a number >= 0", self.weight_decay)
        _check(self.schedule in SCHEDULES, "schedule", f"must be one of {SCHEDULES}", self.schedule)
        ms = self.milestones
        _check(isinstance(ms, (tuple, list)) and all(_is_int(m) and 0 < m for m in ms)
               and list(ms) == sorted(set(ms)), "milestones",
               "must be increasing positive epoch numbers", ms)
        object.__setattr__(self, "milestones", tuple(ms))
        _check(not (self.schedule == "step" and not ms), "milestones",
               "must be given when schedule='step'", ms)
        _check(_is_num(self.gamma) and 0 < self.gamma <= 1, "gamma", "must be in (0, 1]", self.gamma)
        _check(_is_num(self.warmup_fraction) and 0 <= self.warmup_fraction < 1, "warmup_fraction",
               "must be in [0, 1)", self.warmup_fraction)
        _check(_is_num(self.decay) and self.decay >= 0, "decay", "must be a number >= 0", self.decay)
        for name in ("drop_last", "augment", "flip", "noise_layers", "channels_last"):
            _check(isinstance(getattr(self, name), bool), name, "must be a bool", getattr(self, name))
        _check(_is_int(self.crop_padding) and self.crop_padding >= 0, "crop_padding",
               "must be an int >= 0", self.crop_padding)
        _check(_is_num(self.input_noise_sigma) and self.input_noise_sigma >= 0, "input_noise_sigma",
               "must be a number >= 0", self.input_noise_sigma)
        _check(self.input_noise_space in NOISE_SPACES, "input_noise_space", f"must be one of {NOISE_SPACES}",
               self.input_noise_space)
        _check(_is_num(self.temperature) and self.temperature > 0, "temperature",
               "must be a positive number", self.temperature)
        _check(_is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "label_smoothing",
               "must be in [0, 1)", self.label_smoothing)
        _check(self.adversarial is None or isinstance(self.adversarial, AdvTrainConfig),
               "adversarial", "must be None or an AdvTrainConfig", self.adversarial)
        _check(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}", self.precision)
        _check(_is_int(self.checkpoint_every) and self.checkpoint_every >= 0, "checkpoint_every",
               "must be an int >= 0", self.checkpoint_every)
        _check(_is_num(self.max_grad_norm) and self.max_grad_norm >= 0, "max_grad_norm",
               "must be a number >= 0 (0 = no clipping)", self.max_grad_norm)
        _check(_is_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay",
               "must be in [0, 1) (0 = no weight average)", self.ema_decay)
        _check(_is_num(self.bn_momentum) and 0 < self.bn_momentum <= 1, "bn_momentum",
               "must be in (0, 1]", self.bn_momentum)
        _check(isinstance(self.decay_norm_and_bias, bool), "decay_norm_and_bias", "must be a bool",
               self.decay_norm_and_bias)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a mapping (e.g. a params.yaml section); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "milestones" in data and isinstance(data["milestones"], list):
            data["milestones"] = tuple(data["milestones"])
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-able dict of every field (the attack is recorded by name); ``input_noise_space``
        only when it is not the default ``"pixel"`` (records written before it existed stay valid:
        a finished run is recognized by its recorded config, ``paperlib.train.engine``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "adversarial"}
        if out["input_noise_space"] == "pixel":
            del out["input_noise_space"]
        out["milestones"] = list(self.milestones)
        out["adversarial"] = None if self.adversarial is None else self.adversarial.to_dict()
        return out
