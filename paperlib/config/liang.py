"""``liang``: params of the Liang & Samavi reproduction ("Towards Robust Deep Learning With
Ensemble Networks and Noisy Layers", ``../shared/papers/004``): Noisy Logit, Ensemble Voting and
Rank Verification.

``ensembles`` holds one ensemble per dataset (their Table 1): ``members`` Carlini-Wagner networks
(Table 1a, ``cw_mnist`` / ``cw_cifar`` at ``width``) trained at the temperatures ``temperatures``
(one per member; the paper's ``T_l = 10 l``, ``l = 1..50``) with the recipe ``train`` (Table 1b).
MNIST members train on disjoint partitions of ``partition`` images each (the paper: 50 x 1,100);
``partition: 0`` trains every member on the same ``train_images`` (CIFAR-10: the 45,000).
``sigma`` is Noisy Logit's input noise at query time (pixel units: 0.5 MNIST, 0.03 CIFAR-10),
and the certification's sigma. ``logit_scale: temperature`` multiplies each network's logits by
its T, so that a short run at temperature T learns at the T = 1 pace (a stated deviation of the
reduced profiles; ``one`` is the paper's plain network). ``validation`` test-split images measure
each member's accuracy (the paper: 5,000 validation images).

``attack``: the single-network C&W L2 targeted attacks (15 inputs x 9 targets x m networks) and
the superimposition tests SI2/SI3 (Table 3: 30 and 20 inputs); ``certify``: the Certification
Procedure (n = 10,000, alpha = 0.05) behind Figures 7-8; ``adaptive``: beyond the paper, L2 PGD
with EOT through the input noise on the sum of the members' soft votes; ``rv_alpha``: Rank
Verification's level (0.05).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paperlib.config.checks import check_architecture, check_dataset, check_train_config
from paperlib.config.schema import require

LOGIT_SCALES = ("temperature", "one")
DATASETS = ("mnist", "cifar10")


def _check_alpha(value: float, key: str) -> None:
    require(isinstance(value, (int, float)) and 0 < value < 1, key, f"must lie in (0, 1), got {value!r}")


@dataclass(frozen=True)
class EnsembleParams:
    """One dataset's ensemble (Table 1's column)."""

    dataset: str
    arch: str
    width: float
    members: int
    temperatures: list[float]
    sigma: float
    train: dict[str, Any]
    partition: int = 0           # images per member, disjoint partitions (0: every member on train_images)
    train_images: int = 0        # the shared training subset when partition is 0 (0 = the whole split)
    validation: int = 1000       # class-balanced test-split images for each member's accuracy
    logit_scale: str = "temperature"
    adaptive_eps: tuple[float, ...] = ()   # L2 budgets (pixel units) of the adaptive attack

    def validate(self, key: str) -> None:
        check_dataset(self.dataset, f"{key}.dataset")
        check_architecture(self.arch, f"{key}.arch")
        require(self.width > 0, f"{key}.width", f"must be > 0, got {self.width}")
        require(self.members >= 2, f"{key}.members", f"an ensemble needs at least 2 members, got {self.members}")
        require(len(self.temperatures) == self.members, f"{key}.temperatures",
                f"one temperature per member: {self.members} members ({key}.members) but "
                f"{len(self.temperatures)} temperatures")
        for i, t in enumerate(self.temperatures):
            require(t > 0, f"{key}.temperatures[{i}]", f"must be > 0, got {t}")
        require(self.sigma > 0, f"{key}.sigma", f"Noisy Logit's sigma must be > 0, got {self.sigma}")
        require(self.partition >= 0, f"{key}.partition", f"must be >= 0 (0: no partitions), got {self.partition}")
        require(self.train_images >= 0, f"{key}.train_images", f"must be >= 0 (0 = the whole split), got {self.train_images}")
        require(self.validation >= 1, f"{key}.validation", f"must be >= 1, got {self.validation}")
        require(self.logit_scale in LOGIT_SCALES, f"{key}.logit_scale", f"must be one of {list(LOGIT_SCALES)}, got {self.logit_scale!r}")
        for i, e in enumerate(self.adaptive_eps):
            require(e > 0, f"{key}.adaptive_eps[{i}]", f"an L2 budget must be > 0, got {e}")
        check_train_config(self.train, f"{key}.train")
        require("temperature" not in self.train, f"{key}.train.temperature",
                f"set per member by {key}.temperatures, not in the recipe")

    def check_data(self, n_train: int, key: str) -> None:
        """The partitions fit the training split (``n_train`` images): refused before any training."""
        if self.partition:
            need = self.partition * self.members
            require(need <= n_train, f"{key}.partition",
                    f"{self.members} disjoint partitions of {self.partition} images need {need} training images; "
                    f"{self.dataset}'s training split holds {n_train}")
        else:
            require(self.train_images <= n_train, f"{key}.train_images",
                    f"{self.train_images} images asked; {self.dataset}'s training split holds {n_train}")

    def logit_scales(self) -> list[float]:
        return [float(t) if self.logit_scale == "temperature" else 1.0 for t in self.temperatures]


@dataclass(frozen=True)
class CWParams:
    """Carlini & Wagner's L2 attack (``paperlib.attacks.carlini_wagner_l2``), targeted."""

    binary_steps: int = 9
    steps: int = 1000
    lr: float = 0.01
    c_init: float = 0.001
    kappa: float = 0.0

    def validate(self, key: str) -> None:
        require(self.binary_steps >= 1, f"{key}.binary_steps", f"must be >= 1, got {self.binary_steps}")
        require(self.steps >= 1, f"{key}.steps", f"must be >= 1, got {self.steps}")
        require(self.lr > 0, f"{key}.lr", f"must be > 0, got {self.lr}")
        require(self.c_init > 0, f"{key}.c_init", f"must be > 0, got {self.c_init}")
        require(self.kappa >= 0, f"{key}.kappa", f"must be >= 0, got {self.kappa}")


@dataclass(frozen=True)
class AttackParams:
    """The paper's attacks: single-network examples on ``inputs`` test images x ``targets`` targets
    x every member; SN tables use the first ``sn_inputs``, SI2 the first ``si2_inputs``, SI3 the
    first ``si3_inputs`` of them (the paper: 15, 30 and 20 inputs)."""

    sn_inputs: int
    si2_inputs: int
    si3_inputs: int
    cw: CWParams
    targets: int = 9

    def validate(self, key: str) -> None:
        for name in ("sn_inputs", "si2_inputs", "si3_inputs"):
            require(getattr(self, name) >= 1, f"{key}.{name}", f"must be >= 1, got {getattr(self, name)}")
        require(1 <= self.targets <= 9, f"{key}.targets", f"targets per input must lie in [1, 9], got {self.targets}")

    @property
    def inputs(self) -> int:
        return max(self.sn_inputs, self.si2_inputs, self.si3_inputs)


@dataclass(frozen=True)
class CertifyParams:
    """The Certification Procedure (Theorem 1): ``n0`` selection draws, ``n`` estimation draws,
    one-sided level ``alpha``; ``check_n`` draws of the smoothed classifier per adversarial example
    checked against a certificate."""

    n: int
    alpha: float
    n0: int = 100
    check_n: int = 100
    batch_size: int = 1000

    def validate(self, key: str) -> None:
        require(self.n >= 1, f"{key}.n", f"must be >= 1, got {self.n}")
        require(self.n0 >= 1, f"{key}.n0", f"must be >= 1, got {self.n0}")
        require(self.check_n >= 1, f"{key}.check_n", f"must be >= 1, got {self.check_n}")
        require(self.batch_size >= 1, f"{key}.batch_size", f"must be >= 1, got {self.batch_size}")
        _check_alpha(self.alpha, f"{key}.alpha")


@dataclass(frozen=True)
class AdaptiveParams:
    """Beyond the paper: untargeted L2 PGD on the whole noisy voting ensemble, each step the mean
    over ``eot`` input-noise draws of the gradient of the cross-entropy of the members' summed
    soft votes; ``inputs`` test images per dataset."""

    inputs: int
    steps: int
    eot: int

    def validate(self, key: str) -> None:
        for name in ("inputs", "steps", "eot"):
            require(getattr(self, name) >= 1, f"{key}.{name}", f"must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class LiangParams:
    """``liang``: see the module docstring."""

    ensembles: dict[str, EnsembleParams]
    attack: AttackParams
    certify: CertifyParams
    adaptive: AdaptiveParams
    rv_alpha: float = 0.05
    workers: int = 1

    def validate(self, key: str) -> None:
        require(len(self.ensembles) > 0, f"{key}.ensembles", "name at least one ensemble")
        for name, e in self.ensembles.items():
            require(name in DATASETS, f"{key}.ensembles.{name}", f"ensembles are named by their dataset: {list(DATASETS)}")
            require(e.dataset == name, f"{key}.ensembles.{name}.dataset", f"must be {name!r} (the ensemble's name), got {e.dataset!r}")
        _check_alpha(self.rv_alpha, f"{key}.rv_alpha")
        require(self.workers >= 1, f"{key}.workers", f"must be >= 1, got {self.workers}")

    def validate_params(self, key: str, params) -> None:
        """Every ensemble's dataset is one the ``data`` stage prepares."""
        for name, e in self.ensembles.items():
            require(e.dataset in params.data.datasets, f"{key}.ensembles.{name}.dataset",
                    f"{e.dataset!r} is not prepared by data.datasets {list(params.data.datasets)}")


SECTION = LiangParams
