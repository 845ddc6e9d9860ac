"""One ASR-vs-distortion curve of the SEM paper's Figures 3-8: which defense is judged, what the
attacker sees, which attack runs, and the optimal budget search (section 4.1).

A curve is named by its row of Table 2 (``A``-``M``), by a baseline of Figure 3 (``rse``,
``adp``, ``ensemble_smoothed``) or by an ensemble strategy of Figures 7-8 (``sem``,
``quantity_low``, ``quantity_high``, ``single_architecture``; ``H`` is the plain ensemble drawn
beside them). :class:`SemCurves` builds every defense once from the trained collection and hands
out :class:`CurveSetup` objects; :func:`run_curve` runs the search with SEM's settings:
success judged by ``N`` Monte Carlo predictions with abstention threshold ``alpha`` (eq. 6),
exponential then binary search of the smallest successful budget per image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..config.sem import SCREENS, AttackParams, BaselineParams, StrategyParams, ZooParams
from ..data import class_balanced_subset
from ..defenses import RSEEnsemble, SEMDistribution, SmoothedEnsemble, StochasticDefense, StochasticEnsemble
from ..defenses.ensemble import Member
from ..metrics import SearchResult, asr_distortion_search, monte_carlo_counts, sem_attack_success
from ..scenarios import sem as sem_scenarios
from ..seeding import make_generator
from ..zoo.attack_names import attack_kind
from ..zoo.attacks import AttackSettings, run_attack
from ..zoo.workers import map_shared
from .collection import load_baselines, load_member

WHITE_BOX_CONTRASTS = ("F", "G", "H", "I")
BLACK_BOX_CONTRASTS = ("J", "K", "L", "M")


@dataclass
class CurveSetup:
    """What one curve attacks: ``judged`` decides success (the deployed defense); ``attacker``
    returns a fresh attacker view per attack call (an ``nn.Module`` for gradient attacks or a
    ``probs_fn`` for query attacks); ``description`` says it in words for the tables."""

    name: str
    judged: nn.Module
    attacker: Callable[[torch.Generator], object]
    description: str
    query_based: bool = False


def _deterministic(defense: StochasticDefense, generator: torch.Generator) -> nn.Module:
    """A defense without randomness (all sigmas 0) as a plain module: EOT over it is wasted work."""
    return defense.draw(generator)


def _fit_quantities(quantities: Sequence[int], n_groups: int, what: str, notes: list[str],
                    groups: str = "architectures") -> tuple[int, ...]:
    kept = tuple(k for k in quantities if k <= n_groups)
    if len(kept) < len(quantities):
        notes.append(f"{what}: quantities {list(quantities)} reduced to {list(kept)} "
                     f"(the collection has {n_groups} {groups})")
    if not kept:
        raise ValueError(f"{what}: no ensemble quantity in {list(quantities)} fits {n_groups} {groups}")
    return kept


class SemCurves:
    """Every defense of Figures 3-8, built once from the trained members.

    Args:
        strategy, baselines, attack: the ``sem.strategy``, ``sem.baselines`` and ``sem.attack``
            params sections.
        members: ``{(arch, sigma): Member}`` of every trained model (loaded, eval mode).
        sem_keys: the ``(arch, sigma)`` members SEM uses (Table 1's selection).
        rse_models, adp_models: the section 4.3 baselines (RSE noisy networks, ADP members).
        seed: base seed; every stream is named from it.
    """

    def __init__(self, strategy: StrategyParams, baselines: BaselineParams, attack: AttackParams, members: dict,
                 sem_keys: Sequence[tuple[str, float]], *, rse_models: Sequence[nn.Module] = (),
                 adp_models: Sequence[nn.Module] = (), seed: int = 0):
        self.attack = attack
        self.seed = seed
        self.notes: list[str] = []
        g = make_generator(seed, "sem", "defenses")
        self.defense_generator = g
        collection = [members[k] for k in sem_keys]
        st = strategy
        # Algorithm 1 draws K families, then a depth variant, then a sigma (strategy.hierarchy
        # "family"); "architecture" treats every depth variant as its own draw.
        n_groups = len({m.family if st.hierarchy == "family" else m.arch for m in collection})
        what = "families" if st.hierarchy == "family" else "architectures"

        def distribution(quantities, name):
            return SEMDistribution(_fit_quantities(quantities, n_groups, name, self.notes, what), hierarchy=st.hierarchy)

        self.sem = StochasticEnsemble(collection, distribution(st.quantities, "SEM"), generator=g)
        self.variants = {
            "sem": self.sem,
            "quantity_low": StochasticEnsemble(collection, distribution(st.quantities_low, "quantity_low"), generator=g),
            "quantity_high": StochasticEnsemble(collection, distribution(st.quantities_high, "quantity_high"), generator=g),
        }
        wanted = set(st.single_architecture_sigmas)
        single = [m for (a, s), m in sorted(members.items()) if a == st.single_architecture and s in wanted]
        # Each smoothed WRN is its own "architecture" of the single-architecture collection, so
        # Algorithm 1 draws K distinct members of it.
        single = [replace(m, arch=m.name, family=m.name) for m in single]  # keeps each member's noise_std
        self.variants["single_architecture"] = StochasticEnsemble(single, SEMDistribution(
            _fit_quantities(st.quantities, len(single), "single_architecture", self.notes, "members"),
            hierarchy=st.hierarchy), generator=g)
        b = baselines
        self.known = sem_scenarios.known_half(collection, make_generator(seed, "sem", "known-half"))
        smoothed = SmoothedEnsemble([members[(a, b.sigma)] for a in b.archs], generator=g)
        plain = _deterministic(SmoothedEnsemble([members[(a, 0.0)] for a in b.archs], generator=g), g)
        self.contrasts = {
            "F": smoothed,
            "G": SmoothedEnsemble([members[(b.single, b.sigma)]], generator=g),
            "H": plain,
            "I": members[(b.single, 0.0)].model,
            "J": SmoothedEnsemble([members[(a, b.blackbox_sigma)] for a in b.archs], generator=g),
            "K": SmoothedEnsemble([members[(b.single, b.blackbox_sigma)]], generator=g),
            "L": plain,
            "M": members[(b.single, 0.0)].model,
        }
        self.baselines = {"ensemble_smoothed": smoothed}
        if rse_models:
            self.baselines["rse"] = RSEEnsemble(list(rse_models), generator=g)
        if adp_models:
            adp = [Member(f"adp{i}", f"adp{i}", 0.0, m) for i, m in enumerate(adp_models)]
            self.baselines["adp"] = _deterministic(SmoothedEnsemble(adp, generator=g), g)

    def setup(self, name: str) -> CurveSetup:
        """The :class:`CurveSetup` of curve ``name``."""
        k, chunk = self.attack.eot_draws, self.attack.chunk
        if name in ("A", "B", "C", "D", "E"):
            spec = sem_scenarios.spec(name)
            return CurveSetup(name, self.sem, lambda g: self._attacker_view(name, self.sem, g),
                              f"SEM under attacker {name}: {spec.knowledge}", query_based=name == "E")
        if name in WHITE_BOX_CONTRASTS + BLACK_BOX_CONTRASTS:
            spec = sem_scenarios.spec(name)
            defense = self.contrasts[name]
            if name in BLACK_BOX_CONTRASTS:
                return CurveSetup(name, defense, lambda g: sem_scenarios.contrast(name, defense, generator=g).probs_fn,
                                  spec.definition, query_based=True)
            return CurveSetup(name, defense, lambda g: sem_scenarios.contrast(name, defense, generator=g, k=k, chunk=chunk).model,
                              spec.definition)
        if name == "strongest":
            sem, k_strong = self.sem, self.attack.strongest_eot_draws
            return CurveSetup(name, sem, lambda g: sem_scenarios.expectation_view(sem, k_strong, g, chunk),
                              f"SEM under the strongest attacker (beyond the paper): full knowledge of Algorithm 1, "
                              f"EOT over {k_strong} fresh draws of the whole attribute distribution per image and step")
        if name in self.variants:
            variant = self.variants[name]
            return CurveSetup(name, variant, lambda g: self._attacker_view("A", variant, g),
                              f"{name.replace('_', ' ')} stochastic ensemble under attacker A")
        if name in self.baselines:
            defense = self.baselines[name]
            view = (lambda g: sem_scenarios.expectation_view(defense, k, g, chunk))
            return CurveSetup(name, defense, view, f"{name.replace('_', ' ')} under a white-box (EOT) attack")
        raise ValueError(f"unknown or unavailable curve {name!r}")

    def _attacker_view(self, tag: str, sem: StochasticEnsemble, g: torch.Generator):
        a = self.attack
        known = self.known if tag in ("C", "D") else None
        knowledge = sem_scenarios.sem_attacker(tag, sem, generator=g, k=a.eot_draws, period=a.period,
                                               known=known, chunk=a.chunk)
        return knowledge.probs_fn if knowledge.probs_fn is not None else knowledge.model


def make_attack(attack: str, setup: CurveSetup, cfg: AttackParams, targeted: bool,
                view_generator: torch.Generator, attack_generator: torch.Generator):
    """``attack(x, y, eps) -> x_adv`` for the budget search: :func:`paperlib.zoo.attacks.run_attack`
    with the ``sem.attack`` settings and a fresh attacker view per call (attacker B's period
    restarts with every attack run). ValueError if the attack's access (gradient or query) is not
    the curve's, or the name is unknown."""
    if (attack_kind(attack) == "query") != setup.query_based:
        raise ValueError(f"attack {attack!r} does not fit curve {setup.name!r} "
                         f"({'query' if setup.query_based else 'gradient'} access)")

    settings = attack_settings(cfg, stochastic=isinstance(setup.judged, StochasticDefense))

    def run(x, y, eps):
        return run_attack(attack, setup.attacker(view_generator), x, y, eps=eps, targeted=targeted,
                          generator=attack_generator, settings=settings)

    return run


def attack_settings(cfg: AttackParams, *, stochastic: bool) -> AttackSettings:
    """The attack settings of a curve whose judged defense is ``stochastic`` or not.

    Query attacks stop an image by the judge's own rule (:func:`make_judge`: ``mc_draws`` draws
    and eq. 6 at ``alpha`` on a stochastic defense, one prediction on a deterministic one), so an
    attack never stops on a lucky draw the judge would not count; on a stochastic target each
    perturbed point is queried ``query_repeats`` times and the answers averaged (one query
    suffices on a deterministic one). BIM/MIM use ``step_rule``."""
    return AttackSettings(iterations=cfg.iterations, norm=cfg.norm, max_queries=cfg.max_queries,
                          query_samples=cfg.query_samples, query_sigma=cfg.query_sigma, chunk=cfg.chunk,
                          query_repeats=cfg.query_repeats if stochastic else 1,
                          query_stop_draws=cfg.mc_draws if stochastic else 1, query_stop_alpha=cfg.alpha,
                          query_early_stop=cfg.query_early_stop, step_rule=cfg.step_rule)


def make_judge(defense: nn.Module, cfg: AttackParams, targeted: bool, generator: torch.Generator):
    """``judge(x_adv, y) -> (B,) bool``: SEM eq. 6 on ``N`` Monte Carlo predictions (one
    prediction for a deterministic model); ``y`` is the target class when ``targeted``."""
    n = cfg.mc_draws if isinstance(defense, StochasticDefense) else 1

    def judge(x_adv, y):
        counts = monte_carlo_counts(defense, x_adv, n, generator, chunk=cfg.chunk)
        return sem_attack_success(counts, y, cfg.alpha, targeted=targeted, y_target=y if targeted else None)

    return judge


def run_curve(setup: CurveSetup, attack: str, x: torch.Tensor, y: torch.Tensor, cfg: AttackParams, *,
              targeted: bool, seed: int, stream: Sequence = (), y_true: torch.Tensor | None = None) -> SearchResult:
    """The optimal budget search of one curve. ``y``: true labels, or target labels when
    ``targeted`` (then ``y_true`` gives the true ones). Streams ``(seed, "sem-curve", *stream,
    role)`` for the attacker's view of the defense, the attack's own randomness and the judge's
    Monte Carlo draws.

    The table gains ``clean_correct``: whether the judged defense classifies the clean image
    correctly by the same N-draw rule (untargeted eq. 6 on the true label; for an untargeted
    curve that is the search's own clean judgement). The claims compare curves on the images
    both defenses classify correctly, so a clean error never counts as an attack success."""
    tag = ("sem-curve", *[str(s) for s in stream], setup.name, attack, "targeted" if targeted else "untargeted")
    fn = make_attack(attack, setup, cfg, targeted, make_generator(seed, *tag, "view"),
                     make_generator(seed, *tag, "attack"))
    judge = make_judge(setup.judged, cfg, targeted, make_generator(seed, *tag, "judge"))
    res = asr_distortion_search(fn, judge, x, y, eps_init=cfg.eps_init, search_steps=cfg.search_steps,
                                binary_steps=cfg.binary_steps, rtol=cfg.rtol, norm=cfg.norm)
    if not targeted:
        clean_correct = ~res.table.clean_success.to_numpy(bool)
    else:
        if y_true is None:
            raise ValueError("a targeted curve needs y_true (the true labels) to say which clean images are correct")
        clean_judge = make_judge(setup.judged, cfg, False, make_generator(seed, *tag, "clean-judge"))
        clean_correct = ~clean_judge(x, y_true).cpu().numpy().astype(bool)
    table = res.table.assign(clean_correct=clean_correct)
    return SearchResult(table=table, curve=res.curve)


def attack_images(sem: nn.Module, x_pool: torch.Tensor, y_pool: torch.Tensor, n: int, cfg: AttackParams, *,
                  screen: str, generator: torch.Generator, candidates_per_image: int = 8) -> torch.Tensor:
    """Indices into ``x_pool`` of the ``n`` class-balanced images every curve of a figure attacks.

    ``screen="none"``: a class-balanced draw. ``screen="sem"``: images SEM classifies correctly
    when clean by the judge's own rule (``mc_draws`` draws, eq. 6 at ``alpha``, untargeted on the
    true label), so that the claims' comparisons (on images both defenses classify correctly)
    keep most of the ``n`` images. Candidates are judged in class-balanced rounds of
    ``candidates_per_image * n`` not yet judged images until ``n`` correct ones are found; which
    images are attacked depends on clean predictions only, never on an attack. The pick is as
    equal per class as the correct candidates allow (a class short of them is filled up from the
    others). ``x_pool`` uint8 or float in [0, 1]; ``generator`` drives the draws and the
    screening's Monte Carlo."""
    if screen not in SCREENS:
        raise ValueError(f"screen must be one of {SCREENS}, got {screen!r}")
    if screen == "none":
        return class_balanced_subset(y_pool, n, generator)
    judge = make_judge(sem, cfg, False, generator)
    unjudged = torch.arange(len(y_pool))
    kept = []
    while sum(len(k) for k in kept) < n and len(unjudged):
        take = class_balanced_subset(y_pool[unjudged], min(len(unjudged), candidates_per_image * n), generator)
        cand = unjudged[take]
        mask = torch.ones(len(unjudged), dtype=torch.bool)
        mask[take] = False
        unjudged = unjudged[mask]
        x = x_pool[cand]
        x = x.float() / 255 if x.dtype == torch.uint8 else x
        kept.append(cand[~judge(x, y_pool[cand]).cpu()])
    kept = torch.cat(kept)
    if len(kept) < n:
        raise ValueError(f"only {len(kept)} of {len(y_pool)} images are classified correctly by SEM; "
                         f"sem.attack.test_subset = {n} needs more (lower it, or sem.attack.screen: none)")
    pick = class_balanced_subset(y_pool[kept], n, generator)
    if len(pick) < n:  # a class with too few correct images: fill up with the others, at random
        others = torch.ones(len(kept), dtype=torch.bool)
        others[pick] = False
        rest = others.nonzero().squeeze(1)
        rest = rest[torch.randperm(len(rest), generator=generator, device=generator.device).to(rest.device)]
        pick = torch.cat([pick, rest[: n - len(pick)]])
    return kept[pick]


def target_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A random target class different from the true one, per image (targeted attacks)."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator, device=generator.device)
    return (y + shift.to(y.device)) % num_classes


def load_sem_curves(models_root: str | Path, baselines_root: str | Path, zoo: ZooParams, strategy: StrategyParams,
                    baselines: BaselineParams, attack: AttackParams, sem_keys: Sequence[tuple[str, float]], *,
                    num_classes: int, in_channels: int, seed: int, rse: bool, adp: bool) -> SemCurves:
    """:class:`SemCurves` from the trained collection on disk (every member of ``zoo``, and the
    RSE / ADP baselines when ``rse`` / ``adp``)."""
    members = {(a, s): load_member(models_root, a, s, zoo.models[a], num_classes, in_channels, noise_space=zoo.noise_space)
               for a in zoo.models for s in [0.0] + zoo.sigmas_of(a)}
    rse_models, adp_models = load_baselines(baselines_root, zoo.models, baselines, num_classes, in_channels, seed,
                                            rse=rse, adp=adp)
    return SemCurves(strategy, baselines, attack, members, sem_keys, rse_models=rse_models,
                     adp_models=adp_models, seed=seed)


@dataclass(frozen=True)
class CurveJob:
    """One search of a figure: a curve under one attack, untargeted or targeted."""

    curve: str
    attack: str
    targeted: bool

    def __str__(self) -> str:
        return f"{'targeted' if self.targeted else 'untargeted'} {self.attack} {self.curve}"


# Members run per attack step, roughly (default profile): D's surrogate is every known member,
# quantity 6-8 draws twice SEM's members, C runs SEM on the known half; a single model is cheapest.
_RELATIVE_COST = {"strongest": 12.0, "D": 10.0, "quantity_high": 7.0, "C": 5.0, "G": 1.0, "I": 1.0, "K": 1.0, "M": 1.0}


def longest_first(jobs: Sequence[CurveJob]) -> list[CurveJob]:
    """``jobs`` ordered by expected cost, longest first (targeted searches take longer), so that
    parallel workers finish together. Results do not depend on the order (see
    :mod:`paperlib.parallel`)."""
    def cost(j: CurveJob) -> float:
        return _RELATIVE_COST.get(j.curve, 3.0) * (1.5 if j.targeted else 1.0)
    return sorted(jobs, key=cost, reverse=True)


@dataclass(frozen=True)
class _CurveState:
    """What every curve job reads: the loaded defenses and the attacked images (one per worker)."""

    curves: SemCurves
    x: torch.Tensor
    y: torch.Tensor
    y_target: torch.Tensor
    seed: int
    stream: tuple


def _curve_state(loader: dict, x: torch.Tensor, y: torch.Tensor, y_target: torch.Tensor, seed: int,
                 stream: tuple, curves: SemCurves | None = None) -> _CurveState:
    return _CurveState(curves if curves is not None else load_sem_curves(**loader), x, y, y_target, seed, stream)


def _run_curve_job(w: _CurveState, job: CurveJob) -> SearchResult:
    return run_curve(w.curves.setup(job.curve), job.attack, w.x, w.y_target if job.targeted else w.y,
                     w.curves.attack, targeted=job.targeted, seed=w.seed, stream=w.stream, y_true=w.y)


def run_curve_jobs(jobs: Sequence[CurveJob], loader: dict, x: torch.Tensor, y: torch.Tensor,
                   y_target: torch.Tensor, *, seed: int, stream: Sequence = (), workers: int = 1,
                   curves: SemCurves | None = None) -> list[tuple[SearchResult, float]]:
    """Every search of ``jobs`` and its wall time in seconds (in the order of ``jobs``), in
    ``workers`` processes.

    ``loader``: the keyword arguments of :func:`load_sem_curves`, with which each worker loads
    the collection once; ``curves``: an already loaded one to use when ``workers`` is 1.
    ``y``: true labels; ``y_target``: targets of the targeted jobs."""
    order = longest_first(jobs)
    results = map_shared(_run_curve_job, order, _curve_state,
                         (loader, x, y, y_target, seed, tuple(stream), curves if workers == 1 else None),
                         workers=workers, with_seconds=True)
    by_job = dict(zip(order, results))
    return [by_job[j] for j in jobs]
