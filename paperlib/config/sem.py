"""``sem``: params of the SEM reproduction (Qin et al. 2023, Front. Neurorobot., journal version
``../shared/papers/001``; preprint ``000`` fills gaps).

The zoo (Table 1's heterogeneous redundant collection) is trained one architecture per DVC stage
item: the unsmoothed model (sigma 0, the number in parentheses in Table 1) first, then one
smoothed model per sigma, fine-tuned from it with Gaussian input noise (the preprint: "random
smoothing is conducted on all models in the collection through a pre-trained model").
Table 1 evaluates every model and decides which members SEM may use; the figures attack the
resulting collection under the attacker scenarios of Table 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from paperlib.config.checks import check_architecture, check_dataset, check_train_config
from paperlib.config.schema import require
from paperlib.zoo.attack_names import GRADIENT_ATTACKS  # the shared registry's names (torch-free)

TABLE1_ARCHS = ("densenet100", "densenet121", "densenet161", "densenet169", "wrn", "resnet18",
                "resnet34", "resnet50", "vgg11", "vgg13", "vgg16", "vgg19", "alexnet",
                "inceptionv3", "mobilenetv2", "resnext", "googlenet")
ATTACKS = ("bim", "mim", "pgd", "nes", "spsa")
SCENARIO_CURVES = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M")
BASELINE_CURVES = ("rse", "adp", "ensemble_smoothed")
STRATEGY_CURVES = ("sem", "quantity_low", "quantity_high", "single_architecture", "H")
BEYOND_PAPER_CURVES = ("strongest",)   # full knowledge of Algorithm 1, EOT with per-image draws
HIERARCHIES = ("family", "architecture")
SCREENS = ("sem", "none")   # which clean images the figures attack (paperlib.sem.curves.attack_images)


@dataclass(frozen=True)
class ZooModel:
    """One architecture of the collection: its width multiplier, family options, and smoothed
    models beyond Table 1's sigmas (WRN's for Figures 7-8; the sigma-1 contrasts of Figure 6).

    ``train_images`` (0 = ``sem.train_subset``) and ``train`` (keys that override
    ``sem.zoo.train`` for this architecture, e.g. ``{epochs: 2}``) set the unsmoothed model's
    budget per architecture: at the default scale each is chosen by measured training speed, so
    that every network gets as many distinct images as the zoo's time budget allows."""

    width: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    extra_sigmas: list[float] = field(default_factory=list)
    train_images: int = 0
    train: dict[str, Any] = field(default_factory=dict)

    def validate(self, key: str) -> None:
        require(self.width > 0, f"{key}.width", f"must be > 0, got {self.width}")
        require(self.train_images >= 0, f"{key}.train_images", f"must be >= 0 (0 = sem.train_subset), got {self.train_images}")
        for i, s in enumerate(self.extra_sigmas):
            require(s > 0, f"{key}.extra_sigmas[{i}]", f"a smoothing sigma must be > 0, got {s}")


@dataclass(frozen=True)
class ZooParams:
    """``sem.zoo``: which networks are trained, and how."""

    models: dict[str, ZooModel]
    sigmas: list[float]                      # Table 1's columns (0.25, 0.75, 1.5)
    train: dict[str, Any]                    # the unsmoothed model (a TrainConfig)
    finetune: dict[str, Any]                 # each smoothed model, from the unsmoothed one
    finetune_images: int = 0                 # class-balanced images per fine-tune (0 = sem.train_subset)
    noise_space: str = "normalized"          # units of every smoothing sigma: "normalized" (sigma * std_c in pixels) or "pixel"

    def validate(self, key: str) -> None:
        require(len(self.models) > 0, f"{key}.models", "name at least one architecture")
        require(self.finetune_images >= 0, f"{key}.finetune_images", f"must be >= 0, got {self.finetune_images}")
        require(self.noise_space in ("normalized", "pixel"), f"{key}.noise_space",
                f"must be 'normalized' or 'pixel', got {self.noise_space!r}")
        require("input_noise_space" not in self.finetune and "input_noise_space" not in self.train,
                f"{key}.finetune", "input_noise_space is set from sem.zoo.noise_space")
        for name, m in self.models.items():
            check_architecture(name, f"{key}.models.{name}")
            check_train_config({**self.train, **m.train}, f"{key}.models.{name}.train")
        for i, s in enumerate(self.sigmas):
            require(s > 0, f"{key}.sigmas[{i}]", f"a smoothing sigma must be > 0, got {s}")
        check_train_config(self.train, f"{key}.train")
        check_train_config(self.finetune, f"{key}.finetune")
        require("input_noise_sigma" not in self.train and "input_noise_sigma" not in self.finetune,
                f"{key}.train", "input_noise_sigma is set per model from sigmas/extra_sigmas")

    def train_of(self, arch: str) -> dict[str, Any]:
        """The unsmoothed model's TrainConfig mapping of ``arch``: ``train`` with its overrides."""
        return {**self.train, **self.models[arch].train}

    def sigmas_of(self, arch: str) -> list[float]:
        """The smoothed models of ``arch``, sorted (0 = the unsmoothed one is always trained)."""
        return sorted(set(self.sigmas) | set(self.models[arch].extra_sigmas))


@dataclass(frozen=True)
class Table1Params:
    """``sem.table1``: clean accuracy and approximated certified accuracy (ACA) of every model."""

    mc_draws: int            # Monte Carlo draws per image for the ACA
    predict_alpha: float     # Cohen's PREDICT abstains when the top-two binomial test p > this
    chunk: int               # rows per forward pass (measured, see README)
    exclude_fraction: float  # a model is excluded when its ACA < fraction x the median at its sigma
    aca_method: str = "certify"   # "certify": Cohen's certified accuracy at radius 0; "predict": PREDICT accuracy
    certify_n0: int = 100         # CERTIFY's selection draws (Cohen et al.: 100)
    certify_n: int = 100000       # CERTIFY's estimation draws (Cohen et al.: 100,000)
    certify_alpha: float = 0.001  # CERTIFY's level (Cohen et al.: 0.001)

    def validate(self, key: str) -> None:
        require(self.mc_draws >= 1, f"{key}.mc_draws", f"must be >= 1, got {self.mc_draws}")
        require(self.chunk >= 1, f"{key}.chunk", f"must be >= 1, got {self.chunk}")
        require(0 < self.predict_alpha < 1, f"{key}.predict_alpha", f"must lie in (0, 1), got {self.predict_alpha}")
        require(0 <= self.exclude_fraction < 1, f"{key}.exclude_fraction", f"must lie in [0, 1), got {self.exclude_fraction}")
        require(self.aca_method in ("certify", "predict"), f"{key}.aca_method",
                f"must be 'certify' or 'predict', got {self.aca_method!r}")
        require(self.certify_n0 >= 1 and self.certify_n >= 1, f"{key}.certify_n", "certify_n0 and certify_n must be >= 1")
        require(0 < self.certify_alpha < 1, f"{key}.certify_alpha", f"must lie in (0, 1), got {self.certify_alpha}")


@dataclass(frozen=True)
class StrategyParams:
    """``sem.strategy``: SEM's attribute distribution (Algorithm 1) and the Figure 7-8 variants."""

    quantities: list[int]           # SEM's ensemble quantity K (journal: 1-4)
    quantities_low: list[int]       # Figures 7-8: 1, 2, 3
    quantities_high: list[int]      # Figures 7-8: 6, 7, 8
    single_architecture: str        # Figures 7-8: the single-architecture collection (WRN)
    single_architecture_sigmas: list[float]   # its smoothed models (paper: 0.12 ... 1.25, seven)
    hierarchy: str = "family"       # Algorithm 1: family, then depth, then sigma ("architecture": every depth its own draw)

    def validate(self, key: str) -> None:
        require(self.hierarchy in HIERARCHIES, f"{key}.hierarchy", f"must be one of {list(HIERARCHIES)}, got {self.hierarchy!r}")
        require(len(self.single_architecture_sigmas) > 0 and all(s > 0 for s in self.single_architecture_sigmas),
                f"{key}.single_architecture_sigmas", f"must be sigmas > 0, got {self.single_architecture_sigmas}")
        for name in ("quantities", "quantities_low", "quantities_high"):
            values = getattr(self, name)
            require(len(values) > 0 and all(k >= 1 for k in values), f"{key}.{name}", f"must be ints >= 1, got {values}")
        check_architecture(self.single_architecture, f"{key}.single_architecture")


@dataclass(frozen=True)
class BaselineParams:
    """``sem.baselines``: the contrast models (section 4.3): an ensemble of ``archs`` smoothed at
    ``sigma`` (F), one of them (G), the same unsmoothed (H, I), RSE and ADP on the same archs."""

    archs: list[str]
    single: str                  # the single (smoothed) model of contrasts G, I, K, M
    sigma: float                 # smoothing of F and G (paper 0.25)
    blackbox_sigma: float        # smoothing of J and K (paper: "set delta as 1 for contrast method")
    rse_noise_init: float
    rse_noise_inner: float
    adp_alpha: float
    adp_beta: float
    train: dict[str, Any]        # RSE members and the ADP ensemble

    def validate(self, key: str) -> None:
        require(len(self.archs) >= 2, f"{key}.archs", "an ensemble needs at least two architectures")
        for i, a in enumerate(self.archs):
            check_architecture(a, f"{key}.archs[{i}]")
        require(self.single in self.archs, f"{key}.single", f"{self.single!r} is not one of {key}.archs")
        require(self.sigma > 0 and self.blackbox_sigma > 0, f"{key}.sigma", "smoothing sigmas must be > 0")
        require(self.rse_noise_init >= 0 and self.rse_noise_inner >= 0, f"{key}.rse_noise_init", "must be >= 0")
        require(self.adp_alpha >= 0 and self.adp_beta >= 0, f"{key}.adp_alpha", "must be >= 0")
        check_train_config(self.train, f"{key}.train")


@dataclass(frozen=True)
class AttackParams:
    """``sem.attack``: the ASR-vs-distortion protocol (section 4.1 and 4.4)."""

    test_subset: int         # images attacked per curve (class-balanced; see screen)
    screen: str              # "sem": images SEM classifies correctly when clean (judge's rule); "none"
    norm: Literal["linf", "l2"]
    eps_init: float          # first budget of the exponential search
    search_steps: int        # paper 10
    binary_steps: int        # paper 20
    rtol: float              # a bisection stops once (hi - lo) <= rtol * hi
    iterations: int          # BIM/MIM/PGD iterations (paper 20)
    eot_draws: int           # k draws per gradient (attackers A, B, C; contrasts F, G)
    period: int              # attacker B: iterations between attribute draws
    mc_draws: int            # N Monte Carlo predictions judging success
    alpha: float             # abstention threshold (paper 0.3)
    max_queries: int         # NES / SPSA query budget (paper 5,000)
    query_samples: int       # NES / SPSA samples per gradient estimate
    query_sigma: float       # NES / SPSA finite-difference scale
    chunk: int               # rows per forward pass of the stochastic defenses
    strongest_eot_draws: int  # the strongest attacker (beyond the paper): EOT draws of the whole SEM per image and step
    step_rule: str           # BIM/MIM step: "1.5eps/steps" (Dong et al.'s benchmark, which the paper cites) or "eps/steps"
    query_repeats: int       # NES/SPSA: queries per perturbed point, averaged, on a stochastic target
    query_early_stop: bool   # NES/SPSA stop an image once the judge's own N-draw rule (mc_draws, alpha) says success

    def validate(self, key: str) -> None:
        for name in ("test_subset", "search_steps", "iterations", "eot_draws", "period", "mc_draws",
                     "max_queries", "query_samples", "chunk", "strongest_eot_draws", "query_repeats"):
            require(getattr(self, name) >= 1, f"{key}.{name}", f"must be >= 1, got {getattr(self, name)}")
        require(self.binary_steps >= 0, f"{key}.binary_steps", "must be >= 0")
        require(self.eps_init > 0, f"{key}.eps_init", f"must be > 0, got {self.eps_init}")
        require(self.rtol >= 0, f"{key}.rtol", "must be >= 0")
        require(0 < self.alpha < 1, f"{key}.alpha", f"must lie in (0, 1), got {self.alpha}")
        require(self.query_sigma > 0, f"{key}.query_sigma", "must be > 0")
        require(self.screen in SCREENS, f"{key}.screen", f"must be one of {list(SCREENS)}, got {self.screen!r}")
        require(self.step_rule in ("eps/steps", "1.5eps/steps"), f"{key}.step_rule",
                f"must be 'eps/steps' or '1.5eps/steps', got {self.step_rule!r}")
        require(isinstance(self.query_early_stop, bool), f"{key}.query_early_stop", "must be true or false")
        require(self.mc_draws <= self.max_queries or not self.query_early_stop, f"{key}.mc_draws",
                f"the query attacks' success check spends mc_draws = {self.mc_draws} queries; max_queries is {self.max_queries}")


@dataclass(frozen=True)
class FigureParams:
    """One ASR-vs-distortion figure: which curves, which attacks, untargeted and/or targeted."""

    title: str
    curves: list[str]
    attacks: list[str]
    targeted: list[bool]

    def validate(self, key: str) -> None:
        allowed = SCENARIO_CURVES + BASELINE_CURVES + STRATEGY_CURVES + BEYOND_PAPER_CURVES
        for i, c in enumerate(self.curves):
            require(c in allowed, f"{key}.curves[{i}]", f"unknown curve {c!r}; allowed: {list(allowed)}")
        for i, a in enumerate(self.attacks):
            require(a in ATTACKS, f"{key}.attacks[{i}]", f"unknown attack {a!r}; allowed: {list(ATTACKS)}")
        require(len(self.curves) > 0 and len(self.attacks) > 0 and len(self.targeted) > 0, key,
                "needs curves, attacks and targeted")
        query = [a for a in self.attacks if a not in GRADIENT_ATTACKS]
        if query:
            for i, c in enumerate(self.curves):
                require(c in ("E", "J", "K", "L", "M"), f"{key}.curves[{i}]",
                        f"query attacks {query} run against E and J-M only, got {c!r}")


@dataclass(frozen=True)
class SemParams:
    """``sem``: the SEM paper end to end (Table 1, Table 2, Figures 3-8, claims)."""

    dataset: str
    train_subset: int
    test_subset: int
    zoo: ZooParams
    table1: Table1Params
    strategy: StrategyParams
    baselines: BaselineParams
    attack: AttackParams
    figures: dict[str, FigureParams]
    workers: int          # processes (one thread each) for independent jobs: fine-tunes, Table 1, curves

    def validate(self, key: str) -> None:
        check_dataset(self.dataset, f"{key}.dataset")
        require(self.workers >= 1, f"{key}.workers", f"must be >= 1, got {self.workers}")
        require(self.train_subset >= 0, f"{key}.train_subset", "must be >= 0 (0 = the whole split)")
        require(self.test_subset >= 0, f"{key}.test_subset", "must be >= 0 (0 = the whole split)")
        for a in self.baselines.archs:
            require(a in self.zoo.models, f"{key}.baselines.archs", f"{a!r} is not trained: add it to {key}.zoo.models")
            require(self.baselines.sigma in self.zoo.sigmas_of(a), f"{key}.baselines.sigma",
                    f"{a!r} has no model at sigma {self.baselines.sigma}: add it to {key}.zoo.sigmas or the model's extra_sigmas")
            require(self.baselines.blackbox_sigma in self.zoo.sigmas_of(a), f"{key}.baselines.blackbox_sigma",
                    f"{a!r} has no model at sigma {self.baselines.blackbox_sigma}: add it to {key}.zoo.models.{a}.extra_sigmas")
        single = self.strategy.single_architecture
        require(single in self.zoo.models, f"{key}.strategy.single_architecture", f"{single!r} is not in {key}.zoo.models")
        missing = sorted(set(self.strategy.single_architecture_sigmas) - set(self.zoo.sigmas_of(single)))
        require(not missing, f"{key}.strategy.single_architecture_sigmas",
                f"{single!r} has no models at sigma {missing}: add them to {key}.zoo.models.{single}.extra_sigmas")
        for name in self.figures:
            require(name.replace("_", "").isalnum(), f"{key}.figures.{name}", "figure names use letters, digits and _ only")


SECTION = SemParams
