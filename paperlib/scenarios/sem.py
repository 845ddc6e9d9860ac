"""SEM's attacker-knowledge models A-E and contrast methods F-M (Qin et al. 2023, journal
Table 2; preprint section 4.2), as data plus a few lines each on top of the views.

``TABLE2`` holds the rows (tag, role, attack type, knowledge, the paper's definition);
:func:`table2_rows` returns them as dicts for a DataFrame. :func:`sem_attacker` and
:func:`contrast` build what each attacker sees:

===  ============================================================  ==========================
tag  knowledge                                                     view
===  ============================================================  ==========================
A    whole collection, attributes in real time                     PeriodicView(period=1, k)
B    whole collection, attributes periodically                     PeriodicView(period=P, k)
C    half the collection, SEM built on it as EOT surrogate          expectation_view(SEM_half)
D    half the collection, plain ensemble of the known models        SmoothedEnsemble(half, sigma 0)
E    probability vector only                                       query_view(SEM)
F-I  white-box on the ensemble smoothed / single smoothed /        expectation_view(defense)
     ensemble / single model                                       (EOT for the smoothed ones)
J-M  the same four models under the query-based black-box attack   query_view(defense)
===  ============================================================  ==========================

"Half of the collection" (attackers C and D): by default the first half of the members in
collection order after a seeded shuffle by architecture, so that the known half covers half of
the architectures; pass ``known`` (member names) to choose it explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..defenses.ensemble import Member, SmoothedEnsemble, StochasticEnsemble
from .views import PeriodicView, expectation_view, query_view


@dataclass(frozen=True)
class ScenarioSpec:
    """One row of SEM Table 2."""

    tag: str
    role: str          # "attacker" (against SEM) or "contrast" (a baseline model)
    attack_type: str   # "white-box as EOT", "transfer-based black-box", "query-based black-box"
    knowledge: str
    definition: str
    defense: str       # what is attacked: "SEM" or the contrast model


TABLE2: tuple[ScenarioSpec, ...] = (
    ScenarioSpec("A", "attacker", "white-box as EOT", "full collection; attributes in real time",
                 "The attacker has full knowledge of the model collection and can obtain ensemble "
                 "attributes in real-time. However, they lack the ability to predict these attributes "
                 "for the next ensemble iteration, where their best strategy is to implement the EOT "
                 "attack on each ensemble iteration for the expectation of gradient.", "SEM"),
    ScenarioSpec("B", "attacker", "white-box as EOT", "full collection; attributes periodically",
                 "The attacker has full knowledge of the model collection but cannot obtain ensemble "
                 "attributes in real-time, where their one of the attack strategies is to implement an "
                 "EOT attack on periodic ensemble iteration.", "SEM"),
    ScenarioSpec("C", "attacker", "transfer-based black-box", "half of the collection",
                 "The attacker has knowledge of half of the models in the collection for the "
                 "experiment. Their best attack strategy is to structure the alternative SEM model on "
                 "known models as an EOT method for generalized adversarial samples.", "SEM"),
    ScenarioSpec("D", "attacker", "transfer-based black-box", "half of the collection",
                 "The attacker has knowledge of half of the models in the collection. Their more "
                 "direct attack strategy is to use all the known models as an ensemble model to "
                 "generate transfer adversarial samples.", "SEM"),
    ScenarioSpec("E", "attacker", "query-based black-box", "probability vector only",
                 "The attacker lacks any knowledge of the model collection or gradients and can only "
                 "query the model probability vector to implement a black-box attack.", "SEM"),
    ScenarioSpec("F", "contrast", "white-box", "full (white-box)",
                 "The ensemble smoothed model under a white-box attack", "ensemble smoothed model"),
    ScenarioSpec("G", "contrast", "white-box", "full (white-box)",
                 "The single-smoothed model under a white-box attack", "single smoothed model"),
    ScenarioSpec("H", "contrast", "white-box", "full (white-box)",
                 "The ensemble model under a white-box attack", "ensemble model"),
    ScenarioSpec("I", "contrast", "white-box", "full (white-box)",
                 "The single model under a white-box attack", "single model"),
    ScenarioSpec("J", "contrast", "query-based black-box", "probability vector only",
                 "The ensemble smoothed model under the black-box attack", "ensemble smoothed model"),
    ScenarioSpec("K", "contrast", "query-based black-box", "probability vector only",
                 "The smoothed model under the black-box attack", "single smoothed model"),
    ScenarioSpec("L", "contrast", "query-based black-box", "probability vector only",
                 "The ensemble model under the black-box attack", "ensemble model"),
    ScenarioSpec("M", "contrast", "query-based black-box", "probability vector only",
                 "The single model under the black-box attack", "single model"),
)

_BY_TAG = {s.tag: s for s in TABLE2}


def table2_rows() -> list[dict]:
    """SEM Table 2 as a list of dicts (``pandas.DataFrame(table2_rows())``)."""
    return [dict(tag=s.tag, role=s.role, attack_type=s.attack_type, knowledge=s.knowledge,
                 definition=s.definition, defense=s.defense) for s in TABLE2]


def spec(tag: str) -> ScenarioSpec:
    if tag not in _BY_TAG:
        raise ValueError(f"unknown SEM scenario {tag!r}; known: {sorted(_BY_TAG)}")
    return _BY_TAG[tag]


def known_half(members: Sequence[Member], generator: torch.Generator) -> tuple[str, ...]:
    """Names of the members of a seeded random half of the architectures (attackers C, D)."""
    archs = list(dict.fromkeys(m.arch for m in members))
    order = torch.randperm(len(archs), generator=generator).tolist()
    chosen = {archs[i] for i in order[: max(1, len(archs) // 2)]}
    return tuple(m.name for m in members if m.arch in chosen)


@dataclass(frozen=True)
class AttackerKnowledge:
    """What one scenario gives the attack: ``model`` (a differentiable view, for gradient
    attacks) or ``probs_fn`` (score-based attacks only). Exactly one is set."""

    spec: ScenarioSpec
    model: nn.Module | None = None
    probs_fn: object | None = None


def sem_attacker(tag: str, sem: StochasticEnsemble, *, generator: torch.Generator, k: int = 10,
                 period: int = 5, known: Sequence[str] | None = None,
                 chunk: int | None = None) -> AttackerKnowledge:
    """The view of SEM attacker ``tag`` in ``"A"``-``"E"`` (see the module table).

    ``generator`` drives every draw the attacker sees (a stream separate from the defense's own
    evaluation noise); ``k`` EOT draws per step (A, B, C); ``period`` iterations between
    attribute draws (B); ``known`` member names known to C and D (default: :func:`known_half`).
    """
    s = spec(tag)
    if s.role != "attacker":
        raise ValueError(f"{tag!r} is a contrast method; use contrast()")
    if tag == "A":
        return AttackerKnowledge(s, model=PeriodicView(sem, period=1, k=k, generator=generator, chunk=chunk))
    if tag == "B":
        return AttackerKnowledge(s, model=PeriodicView(sem, period=period, k=k, generator=generator, chunk=chunk))
    if tag == "E":
        return AttackerKnowledge(s, probs_fn=query_view(sem, generator))
    names = tuple(known) if known is not None else known_half(sem.members, generator)
    if tag == "C":
        return AttackerKnowledge(s, model=expectation_view(sem.restricted(names), k, generator, chunk))
    plain = [Member(m.name, m.arch, 0.0, m.model) for m in sem.members if m.name in set(names)]
    return AttackerKnowledge(s, model=SmoothedEnsemble(plain, generator=generator).draw(generator))


def contrast(tag: str, defense: nn.Module, *, generator: torch.Generator, k: int = 10,
             chunk: int | None = None) -> AttackerKnowledge:
    """Contrast method ``tag`` in ``"F"``-``"M"`` attacking the baseline ``defense`` the row
    names (built by the caller, e.g. a :class:`SmoothedEnsemble` of DenseNet100, ResNet50 and WRN
    at sigma 0.25 for F and J). White-box rows (F-I) get an EOT view over ``k`` draws (a plain
    model is attacked directly); black-box rows (J-M) get the probability vector only."""
    s = spec(tag)
    if s.role != "contrast":
        raise ValueError(f"{tag!r} is an SEM attacker; use sem_attacker()")
    if s.attack_type == "white-box":
        return AttackerKnowledge(s, model=expectation_view(defense, k, generator, chunk))
    return AttackerKnowledge(s, probs_fn=query_view(defense, generator))
