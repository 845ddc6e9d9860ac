"""``clm``: params of the CLM reproduction (Jasser & Garibay, "Resilience from diversity",
``../shared/papers/002``).

Two experiments (``clm.datasets``): LeNet5 on MNIST and ResNet18 on CIFAR-10, each with five
populations of ``members`` submodels (``clm.populations``):

- ``ulm``: independently trained submodels (no interference);
- ``clm``: the ULM retrained with counter-linking at a lowered learning rate (``retrain``);
- ``clm_scratch``: counter-linked from the start (``scratch``), as the paper says can be done;
- ``ulm_adv``: independently PGD-adversarially trained submodels (``adv_train``); from scratch,
  or, listed under ``linked`` with a ``ulm`` base, adversarially fine-tuned from its submodels
  (the default profile: a short PGD training from scratch leaves LeNet5 at chance, measured);
- ``clm_adv``: the ULM-Adv retrained with counter-linking and PGD (``adv_retrain``).

Counter-linking settings (``link`` for plain populations, ``link_adv`` for adversarial ones) are
the paper's alpha, delta, PRSE period (n = 10) and the linked weight layer (always the first).
Each table of ``clm.tables`` is one stage item attacking the populations it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from paperlib.config.checks import check_architecture, check_dataset, check_train_config
from paperlib.config.schema import require

KINDS = ("ulm", "clm", "clm_scratch", "ulm_adv", "clm_adv")
LINKED_KINDS = {"clm": ("ulm", "retrain", "link"), "clm_adv": ("ulm_adv", "adv_retrain", "link_adv")}
# The kind of population each kind may start from: CLM and CLM-Adv always (retraining), ULM-Adv
# optionally (adversarial fine-tuning of the ULM).
BASES = {"clm": "ulm", "clm_adv": "ulm_adv", "ulm_adv": "ulm"}
ATTACKS = ("FGSM", "PGD", "AutoAttack", "MI-FGSM", "PGD-EOT")
AUTOATTACK_VERSIONS = ("standard", "apgd-ce")


@dataclass(frozen=True)
class LinkParams:
    """Counter-linking: ``alpha`` added to the linked weights closer than ``delta`` (eq. 4-5),
    every ``every`` steps of a submodel's epoch, in weight layer ``layer`` (1-based)."""

    alpha: float
    delta: float
    every: int = 10
    layer: int = 1

    def validate(self, key: str) -> None:
        require(0 < self.alpha <= 1, f"{key}.alpha", f"must be in (0, 1] (the paper uses 0.01-0.5), got {self.alpha}")
        require(0 < self.delta <= 1, f"{key}.delta", f"must be in (0, 1] (the paper uses 5e-3-0.1), got {self.delta}")
        require(self.every >= 1, f"{key}.every", f"the PRSE period must be >= 1 step, got {self.every}")
        require(self.layer >= 1, f"{key}.layer", f"weight layers are numbered from 1, got {self.layer}")


@dataclass(frozen=True)
class AdvParams:
    """PGD adversarial training (Madry et al.): budget ``eps``, ``steps`` steps of ``step_size``
    (pixel units of [0, 1] images), random start."""

    eps: float
    step_size: float
    steps: int

    def validate(self, key: str) -> None:
        require(0 < self.eps <= 1, f"{key}.eps", f"must be in (0, 1], got {self.eps}")
        require(0 < self.step_size <= 1, f"{key}.step_size", f"must be in (0, 1], got {self.step_size}")
        require(self.steps >= 1, f"{key}.steps", f"must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class AttackParams:
    """How each of the paper's attacks is run (pixel units). The paper names the attacks and
    torchattacks; what it does not print follows its public code (PGD: ``pgd_steps`` steps of
    ``pgd_step`` from a random start) and the torchattacks release its code pins (2.14.2):
    MI-FGSM 5 steps of eps / 5 (``mim_step`` 0), EOTPGD 40 steps of 2/255 from the clean image.
    ``adaptive_*``, ``rand_*``: the attackers beyond the paper (PGD on the expectation over all
    submodels; AutoAttack's rand version with ``rand_steps`` steps and ``rand_eot`` draws)."""

    pgd_steps: int
    pgd_step: float
    mim_steps: int = 5
    mim_step: float = 0.0          # 0: eps / mim_steps (torchattacks 2.14.2)
    mim_decay: float = 1.0
    eot_steps: int = 40
    eot_step: float = 0.00784313725490196
    eot_draws: int = 10
    autoattack: Literal["standard", "apgd-ce"] = "standard"
    apgd_steps: int = 100
    adaptive_steps: int = 40
    adaptive_restarts: int = 1
    rand_steps: int = 100
    rand_eot: int = 20
    official_batch: int = 100
    official_attacks: list[str] = field(default_factory=lambda: ["FGSM", "PGD"])

    def validate(self, key: str) -> None:
        for name in ("pgd_steps", "apgd_steps", "mim_steps", "eot_steps", "eot_draws", "adaptive_steps", "adaptive_restarts",
                     "rand_steps", "rand_eot", "official_batch"):
            require(getattr(self, name) >= 1, f"{key}.{name}", f"must be >= 1, got {getattr(self, name)}")
        require(0 <= self.mim_step <= 1, f"{key}.mim_step", f"must be in [0, 1] (0 = eps / mim_steps), got {self.mim_step}")
        for name in ("pgd_step", "eot_step"):
            require(0 < getattr(self, name) <= 1, f"{key}.{name}", f"must be in (0, 1], got {getattr(self, name)}")
        for i, a in enumerate(self.official_attacks):
            require(a in ATTACKS, f"{key}.official_attacks[{i}]", f"must be one of {list(ATTACKS)}, got {a!r}")


@dataclass(frozen=True)
class DatasetParams:
    """One experiment's populations: the network and its training budgets (the attacks' settings
    are ``clm.attacks``, so that changing an attack retrains nothing)."""

    arch: str
    width: float
    members: int
    train_images: int
    adv_images: int
    test_images: int
    train: dict[str, Any]
    retrain: dict[str, Any]
    scratch: dict[str, Any]
    adv_train: dict[str, Any]
    adv_retrain: dict[str, Any]
    link: LinkParams
    link_adv: LinkParams
    adversarial: AdvParams
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self, key: str) -> None:
        check_architecture(self.arch, f"{key}.arch")
        require(self.width > 0, f"{key}.width", f"must be > 0, got {self.width}")
        require(self.members >= 2, f"{key}.members",
                f"a population needs at least 2 submodels (the paper uses 10), got {self.members}")
        for name in ("train_images", "adv_images", "test_images"):
            require(getattr(self, name) >= 0, f"{key}.{name}", f"must be >= 0 (0 = the whole split), got {getattr(self, name)}")
        for name in ("train", "retrain", "scratch", "adv_train", "adv_retrain"):
            check_train_config(getattr(self, name), f"{key}.{name}")


@dataclass(frozen=True)
class PopulationItem:
    """One population (a DVC stage item): its dataset and kind; linked kinds name their base."""

    dataset: str
    kind: Literal["ulm", "clm", "clm_scratch", "ulm_adv", "clm_adv"]
    base: str = ""


@dataclass(frozen=True)
class TableItem:
    """One attack table (a DVC stage item): the table of ``claims/clm.yaml`` it regenerates and
    the populations it attacks (by item name), beside the paper's columns."""

    datasets: list[str]
    populations: list[str]


@dataclass(frozen=True)
class FigureParams:
    """Figures 3-6: images for the saliency maps (Figure 6) and for the pair analysis
    (every submodel crafts PGD on them, every other classifies)."""

    saliency_images: int
    pair_images: int
    bootstrap: int = 2000


@dataclass(frozen=True)
class ClmParams:
    """``clm``: the CLM paper end to end (Tables 1-5, Figures 3-6, claims)."""

    datasets: dict[str, DatasetParams]
    attacks: dict[str, AttackParams]
    populations: dict[str, PopulationItem]
    linked: dict[str, PopulationItem]
    tables: dict[str, TableItem]
    figures: FigureParams
    workers: int

    def validate(self, key: str) -> None:
        require(self.workers >= 1, f"{key}.workers", f"must be >= 1, got {self.workers}")
        for name in self.datasets:
            check_dataset(name, f"{key}.datasets.{name}")
        require(sorted(self.attacks) == sorted(self.datasets), f"{key}.attacks",
                f"needs one entry per dataset of {key}.datasets {sorted(self.datasets)}, got {sorted(self.attacks)}")
        every = {**self.populations, **self.linked}
        overlap = sorted(set(self.populations) & set(self.linked))
        require(not overlap, f"{key}.linked", f"{overlap} also in {key}.populations")
        for group, items in (("populations", self.populations), ("linked", self.linked)):
            for name, item in items.items():
                where = f"{key}.{group}.{name}"
                require(item.dataset in self.datasets, f"{where}.dataset", f"{item.dataset!r} is not in {key}.datasets")
                if item.kind in BASES and (item.kind in LINKED_KINDS or group == "linked"):
                    require(group == "linked", f"{where}.kind", f"{item.kind!r} retrains a base: list it under {key}.linked")
                    base = every.get(item.base)
                    want = BASES[item.kind]
                    require(base is not None and base.kind == want and base.dataset == item.dataset, f"{where}.base",
                            f"must name a {want!r} population of {item.dataset} in {key}.populations, got {item.base!r}")
                else:
                    require(group == "populations", f"{where}.kind", f"{item.kind!r} trains from scratch: list it under {key}.populations")
                    require(item.base == "", f"{where}.base", f"{item.kind!r} has no base, got {item.base!r}")
        for name, table in self.tables.items():
            for i, p in enumerate(table.populations):
                require(p in every, f"{key}.tables.{name}.populations[{i}]", f"{p!r} is not a population of {key}")
            for i, d in enumerate(table.datasets):
                require(d in self.datasets, f"{key}.tables.{name}.datasets[{i}]", f"{d!r} is not in {key}.datasets")

    def validate_params(self, key: str, params) -> None:
        for name in self.datasets:
            require(name in params.data.datasets, f"{key}.datasets.{name}",
                    f"{name!r} is not prepared by data.datasets {params.data.datasets}")


SECTION = ClmParams
