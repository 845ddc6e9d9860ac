"""``rse``: params of the RSE reproduction (Liu et al., "Towards Robust Neural Networks via Random
Self-ensemble", ECCV 2018, ``../shared/papers/003``).

Three settings (``rse.settings``, Table 1's rows): VGG16 and ResNeXt on CIFAR-10, Model A on
STL-10 (``enabled: false`` outside the paper profile: STL-10 is not in the offline mirror). Each
trains, on one class-balanced subset, the defenses it lists (``defenses``):

- ``none``: the network without defense (Table 1's "Baseline model");
- ``rse``: the network with noise layers, ``rse.noise_init`` before the first convolution and
  ``rse.noise_inner`` before every other (Table 1; noise in training and at test time), predicting
  with an ``rse.ensemble``-ensemble (eq. 4);
- ``distill``: defensive distillation (Papernot et al.): a teacher trained at temperature ``T``,
  a student trained on the teacher's soft labels at ``T``, deployed at ``T = 1``;
- ``adv_fgsm``: "Adversarial training (I)": pre-trained like ``none``, then retrained with each
  batch replaced, with probability ``probability``, by FGSM examples at ``eps ~ U(eps_low, eps_high)``
  drawn per batch (pixel units of [0, 1] images);
- ``madry``: "Adversarial training (II)" (Madry et al.): PGD training from scratch, L-inf ``eps``;
- ``robust_opt_brelu``: Zantedeschi et al.'s defense: every ReLU a bounded ReLU ``min(max(0, x),
  threshold)`` and Gaussian data augmentation of std ``sigma`` (pixel units) during training. A
  setting's ``robust_opt_activation: relu`` keeps the ReLUs (data augmentation only): RSE's public
  code does so for ResNeXt (``models/resnext_brelu.py`` imports BReLU but calls ``F.relu``), the
  network behind the paper's ResNeXt curve of Figure 5; ``brelu`` (the default) is the text.

``noise_levels`` (Figure 3 left, eq. 11): further ``[sigma_init, sigma_inner]`` RSE networks; a
level equal to ``rse``'s noise is the ``rse`` network and ``[0, 0]`` is the ``none`` network
(same architecture, same recipe), so neither is trained twice. The defenses' own settings
(``rse.defenses``) are Table 1's, shared by every setting; each setting has its network (a
network taking ``noise_init``/``noise_inner``: RSE's VGG16, ResNeXt or STL-10 Model A, identity
input normalization so that every sigma and eps is in pixel units), its subsets and its recipes:
``train`` (every network from scratch) and ``retrain`` (FGSM retraining after pre-training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from paperlib.config.checks import check_architecture, check_dataset, check_train_config
from paperlib.config.schema import require

SETTINGS = ("cifar10_vgg16", "cifar10_resnext", "stl10_model_a")
DEFENSES = ("none", "rse", "distill", "adv_fgsm", "madry", "robust_opt_brelu")
# The registry networks that take RSE's noise options (paperlib/models/rse.py, stl.py).
NOISE_ARCHS = ("rse_vgg16", "rse_resnext", "stl10_model_a")
# Set by the defenses themselves: a recipe or a setting's options that set them would be overridden.
DEFENSE_TRAIN_KEYS = ("temperature", "input_noise_sigma", "input_noise_space", "adversarial")
DEFENSE_OPTIONS = ("noise_init", "noise_inner", "noise_seed", "activation", "brelu_threshold", "logit_scale")


@dataclass(frozen=True)
class NoiseParams:
    """Table 1's RSE row of a setting: the init-noise and inner-noise std (pixel units; noise
    layers act on unnormalized activations after the first) and the ensemble size ``n`` of eq. 4."""

    noise_init: float
    noise_inner: float
    ensemble: int

    def validate(self, key: str) -> None:
        for name in ("noise_init", "noise_inner"):
            v = getattr(self, name)
            require(v >= 0, f"{key}.{name}", f"a noise level is a standard deviation, must be >= 0, got {v}")
        require(self.ensemble >= 1, f"{key}.ensemble",
                f"the ensemble averages at least 1 forward pass (the paper uses 50), got {self.ensemble}")


@dataclass(frozen=True)
class DistillParams:
    """Defensive distillation at ``temperature`` (Table 1: 40). ``logit_scale``: the teacher's and
    the student's logits times this number (1 = the paper's networks; ``T`` lets a short run at
    ``T`` learn at the ``T = 1`` pace, see :class:`paperlib.models.normalization.ImageClassifier`)."""

    temperature: float
    logit_scale: float = 1.0

    def validate(self, key: str) -> None:
        require(self.temperature > 0, f"{key}.temperature", f"must be > 0, got {self.temperature}")
        require(self.logit_scale > 0, f"{key}.logit_scale", f"must be > 0, got {self.logit_scale}")


@dataclass(frozen=True)
class FgsmParams:
    """FGSM retraining (Table 1: eps ~ U(0.1, 0.3); the text: each batch adversarial with
    probability 1/2). Pixel units of [0, 1] images, as RSE's public code (``main_adv.py``)."""

    eps_low: float
    eps_high: float
    probability: float

    def validate(self, key: str) -> None:
        require(0 <= self.eps_low <= 1, f"{key}.eps_low", f"must be in [0, 1], got {self.eps_low}")
        require(0 <= self.eps_high <= 1, f"{key}.eps_high", f"must be in [0, 1], got {self.eps_high}")
        require(self.eps_low <= self.eps_high, f"{key}.eps_low",
                f"the eps range is empty: eps_low {self.eps_low} > eps_high {self.eps_high}")
        require(0 <= self.probability <= 1, f"{key}.probability",
                f"a batch's probability of being adversarial must be in [0, 1], got {self.probability}")


@dataclass(frozen=True)
class MadryParams:
    """PGD adversarial training (Table 1: L-inf eps = 8.0/256; Madry et al.'s CIFAR-10 adversary:
    7 steps of 2/255 from a random start). Pixel units."""

    eps: float
    step_size: float
    steps: int

    def validate(self, key: str) -> None:
        require(0 < self.eps <= 1, f"{key}.eps", f"must be in (0, 1], got {self.eps}")
        require(0 < self.step_size <= 1, f"{key}.step_size", f"must be in (0, 1], got {self.step_size}")
        require(self.steps >= 1, f"{key}.steps", f"must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class BreluParams:
    """Robust Opt. + BReLU (Zantedeschi et al.): Gaussian data augmentation of std ``sigma``
    (the RSE paper: 0.05; pixel units) and BReLU ``min(max(0, x), threshold)`` (t = 1 in RSE's
    public code, ``models/layer.py``)."""

    sigma: float
    threshold: float

    def validate(self, key: str) -> None:
        require(self.sigma >= 0, f"{key}.sigma",
                f"a noise level is a standard deviation, must be >= 0, got {self.sigma}")
        require(self.threshold > 0, f"{key}.threshold", f"the BReLU bound must be > 0, got {self.threshold}")


@dataclass(frozen=True)
class DefenseParams:
    """The baselines' settings (Table 1), shared by every setting."""

    distill: DistillParams
    adv_fgsm: FgsmParams
    madry: MadryParams
    robust_opt_brelu: BreluParams


@dataclass(frozen=True)
class SettingParams:
    """One setting of Table 1 (a dataset and a network) and the defenses it trains."""

    enabled: bool
    dataset: str
    arch: str
    width: float
    train_images: int
    test_images: int
    rse: NoiseParams
    noise_levels: list[list[float]]
    defenses: list[str]
    train: dict[str, Any]
    retrain: dict[str, Any]
    robust_opt_activation: Literal["brelu", "relu"] = "brelu"
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self, key: str) -> None:
        check_dataset(self.dataset, f"{key}.dataset")
        check_architecture(self.arch, f"{key}.arch")
        require(self.arch in NOISE_ARCHS, f"{key}.arch",
                f"RSE's settings use a network with noise layers, one of {list(NOISE_ARCHS)}, got {self.arch!r}")
        require(self.width > 0, f"{key}.width", f"must be > 0, got {self.width}")
        for name in ("train_images", "test_images"):
            v = getattr(self, name)
            require(v >= 0, f"{key}.{name}", f"must be >= 0 (0 = the whole split), got {v}")
        for i, level in enumerate(self.noise_levels):
            where = f"{key}.noise_levels[{i}]"
            require(len(level) == 2, where, f"a noise level is [sigma_init, sigma_inner], got {level}")
            require(all(v >= 0 for v in level), where,
                    f"a noise level is a standard deviation, must be >= 0, got {level}")
        require(len({tuple(v) for v in self.noise_levels}) == len(self.noise_levels), f"{key}.noise_levels",
                f"duplicate levels in {self.noise_levels}")
        require(len(self.defenses) > 0, f"{key}.defenses", "list at least one defense")
        for i, name in enumerate(self.defenses):
            require(name in DEFENSES, f"{key}.defenses[{i}]", f"unknown defense {name!r}; known: {list(DEFENSES)}")
        require(len(set(self.defenses)) == len(self.defenses), f"{key}.defenses",
                f"duplicate entries in {self.defenses}")
        for name in ("train", "retrain"):
            check_train_config(getattr(self, name), f"{key}.{name}")
            for k in DEFENSE_TRAIN_KEYS:
                require(k not in getattr(self, name), f"{key}.{name}.{k}",
                        f"set by the defenses ({key.rsplit('.', 2)[0]}.defenses), not by the recipe")
        for k in DEFENSE_OPTIONS:
            require(k not in self.options, f"{key}.options.{k}",
                    f"set by the defenses (noise: {key}.rse; activation: robust_opt_brelu; logit_scale: distill)")


@dataclass(frozen=True)
class AttackParams:
    """``rse.attacks``: how every setting's networks are attacked (``notebooks/rse_attack.ipynb``,
    :mod:`paperlib.rse.evaluation`).

    ``images``: class-balanced test images per setting, drawn from the held-out subset (the paper:
    about 1,600); ``cs``: the C&W constants swept (0 = no attack; Table 2's five and the windows of
    ``claims/rse.yaml``); ``steps``, ``lr``: Adam at each fixed c (the authors' code: 300 of 1e-3);
    ``attack_draws``: noise draws per step against a noisy network (EOT; the authors' code: 1);
    ``ensemble_ns``: Figure 4 right's ensemble sizes; ``targeted_*``: Table 3's targeted C&W;
    ``pgd_*``, ``aa_*``: beyond the paper, L-inf EOT-PGD and AutoAttack's rand version at
    ``pgd_eps``; ``chunk``: rows per forward (draws x images)."""

    images: int
    cs: list[float]
    steps: int
    lr: float
    attack_draws: int
    ensemble_ns: list[int]
    targeted_c: float
    targeted_steps: int
    targeted_lr: float
    pgd_eps: float
    pgd_steps: int
    pgd_step: float
    aa_steps: int
    aa_eot: int
    chunk: int = 512

    def validate(self, key: str) -> None:
        require(self.images >= 1, f"{key}.images", f"must be >= 1, got {self.images}")
        require(len(self.cs) > 0 and all(c >= 0 for c in self.cs), f"{key}.cs",
                f"C&W constants must be >= 0 (0 = no attack), got {self.cs}")
        require(len(set(self.cs)) == len(self.cs) and list(self.cs) == sorted(self.cs), f"{key}.cs",
                f"list each constant once, in increasing order, got {self.cs}")
        for name in ("steps", "attack_draws", "targeted_steps", "pgd_steps", "aa_steps", "aa_eot", "chunk"):
            v = getattr(self, name)
            require(isinstance(v, int) and v >= 1, f"{key}.{name}", f"must be an int >= 1, got {v!r}")
        for name in ("lr", "targeted_lr", "targeted_c", "pgd_eps", "pgd_step"):
            v = getattr(self, name)
            require(v > 0, f"{key}.{name}", f"must be > 0, got {v!r}")
        require(len(self.ensemble_ns) > 0 and all(isinstance(n, int) and n >= 1 for n in self.ensemble_ns),
                f"{key}.ensemble_ns", f"ensemble sizes must be ints >= 1, got {self.ensemble_ns}")


@dataclass(frozen=True)
class RseParams:
    """``rse``: the RSE paper's zoo (Table 1), per setting."""

    workers: int
    defenses: DefenseParams
    settings: dict[str, SettingParams]
    attacks: AttackParams

    def validate(self, key: str) -> None:
        require(self.workers >= 1, f"{key}.workers", f"must be >= 1, got {self.workers}")
        for name in SETTINGS:
            require(name in self.settings, f"{key}.settings.{name}",
                    f"missing setting (every profile lists Table 1's three: {list(SETTINGS)}; "
                    f"set enabled: false to skip one)")
        for name in self.settings:
            require(name in SETTINGS, f"{key}.settings.{name}", f"unknown setting; known: {list(SETTINGS)}")

    def validate_params(self, key: str, params) -> None:
        for name, s in self.settings.items():
            if s.enabled:
                require(s.dataset in params.data.datasets, f"{key}.settings.{name}.dataset",
                        f"{s.dataset!r} is not prepared by data.datasets {params.data.datasets} "
                        f"(set enabled: false to skip the setting)")

    def setting(self, name: str, key: str = "rse") -> SettingParams:
        """The setting ``name``; ParamsError naming ``<key>.settings.<name>`` if there is none."""
        require(name in self.settings, f"{key}.settings.{name}", f"no such setting; known: {sorted(self.settings)}")
        return self.settings[name]


SECTION = RseParams
