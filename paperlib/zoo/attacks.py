"""The attack registry: one name per attack, what access it needs, and one dispatch that calls
it with the right arguments.

Every paper's evaluation names attacks as strings in its params (``"pgd"``, ``"nes"``...);
:func:`run_attack` turns a name and the shared settings into the call of the
:mod:`paperlib.attacks` function, so no paper keeps its own if/elif over names. The names and
kinds come from :mod:`paperlib.zoo.attack_names` (torch-free, read by params validation).

Arguments each kind receives (budgets ``eps`` in pixel units, a float or one per image):

* ``fgsm``: ``norm``; deterministic.
* ``bim``, ``mim``: ``steps=settings.iterations``, ``norm``, ``step_rule``; deterministic (step
  ``eps / steps`` or Dong et al.'s ``1.5 * eps / steps``).
* ``pgd``: as BIM plus ``generator`` for the random start (step ``2.5 * eps / steps``).
* ``nes``, ``spsa``: ``max_queries``, ``samples=settings.query_samples``,
  ``sigma=settings.query_sigma``, ``norm``, ``chunk``, ``generator``, and for stochastic
  targets ``query_repeats``, ``stop_draws=settings.query_stop_draws``,
  ``stop_alpha=settings.query_stop_alpha`` (read with ``getattr``, defaults 1, 1, None, so a
  settings object without them gets the single-query behaviour); the view is a ``probs_fn`` and
  :func:`run_attack` returns the result's ``x_adv``.

Carlini-Wagner (:func:`paperlib.attacks.carlini_wagner_l2`) is not registered: it has no budget
``eps`` (it minimizes the distortion), so it does not fit :func:`run_attack`'s contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..attacks import bim, fgsm, mim, nes, pgd, spsa
from .attack_names import ATTACK_KINDS, GRADIENT_ATTACKS, QUERY_ATTACKS, attack_kind

__all__ = ["AttackSettings", "AttackSpec", "ATTACKS", "GRADIENT_ATTACKS", "QUERY_ATTACKS", "attack_kind",
           "run_attack"]


@dataclass(frozen=True)
class AttackSettings:
    """What an attack call needs besides the images and the budget. Any object with these
    attributes will do (SEM passes its ``sem.attack`` params section).

    ``iterations``: BIM/MIM/PGD steps. ``norm``: ``"linf"`` or ``"l2"``. ``max_queries``,
    ``query_samples``, ``query_sigma`` (pixel units): NES/SPSA query budget per image, samples
    per gradient estimate, finite-difference scale. ``chunk``: rows per query batch.
    ``query_repeats``: queries per perturbed point, averaged (stochastic targets).
    ``query_stop_draws``, ``query_stop_alpha``: draws per success check and the alpha of SEM's
    eq.-6 rule for the early stop (``None``: argmax of the mean probabilities); see
    :mod:`paperlib.attacks.score`. ``query_early_stop``: stop an image at its first successful
    check (else spend the whole budget). ``step_rule``: BIM/MIM step size, ``"eps/steps"``
    (torchattacks) or ``"1.5eps/steps"`` (Dong et al.'s benchmark). The newer fields may be
    missing from other settings objects (then: the old behaviour).
    """

    iterations: int = 20
    norm: str = "linf"
    max_queries: int = 5000
    query_samples: int = 50
    query_sigma: float = 1e-3
    chunk: int = 256
    query_repeats: int = 1
    query_stop_draws: int = 1
    query_stop_alpha: float | None = None
    query_early_stop: bool = True
    step_rule: str = "eps/steps"


def _fgsm_kwargs(s, generator):
    return {"norm": s.norm}


def _iterative_kwargs(s, generator):
    return {"steps": s.iterations, "norm": s.norm, "step_rule": getattr(s, "step_rule", "eps/steps")}


def _pgd_kwargs(s, generator):
    return {"steps": s.iterations, "norm": s.norm, "generator": generator}


def _query_kwargs(s, generator):
    return {"max_queries": s.max_queries, "samples": s.query_samples, "sigma": s.query_sigma, "norm": s.norm,
            "chunk": s.chunk, "generator": generator,
            # Newer fields: settings objects written before them lack them (defaults = old behaviour).
            "query_repeats": getattr(s, "query_repeats", 1),
            "stop_draws": getattr(s, "query_stop_draws", 1),
            "stop_alpha": getattr(s, "query_stop_alpha", None),
            "early_stop": getattr(s, "query_early_stop", True)}


@dataclass(frozen=True)
class AttackSpec:
    """One registered attack: its ``kind`` (``"gradient"``: the view is an ``nn.Module``;
    ``"query"``: a ``probs_fn``), the :mod:`paperlib.attacks` function, and how the settings
    become its keyword arguments."""

    kind: str
    attack: Callable[..., Any]
    kwargs: Callable[[Any, torch.Generator | None], dict]


_FUNCTIONS = {
    "fgsm": (fgsm, _fgsm_kwargs),
    "bim": (bim, _iterative_kwargs),
    "mim": (mim, _iterative_kwargs),
    "pgd": (pgd, _pgd_kwargs),
    "nes": (nes, _query_kwargs),
    "spsa": (spsa, _query_kwargs),
}
if set(_FUNCTIONS) != set(ATTACK_KINDS):  # pragma: no cover - a programming error, caught at import
    raise ImportError(f"attack registry {sorted(_FUNCTIONS)} differs from attack_names {sorted(ATTACK_KINDS)}")

ATTACKS: dict[str, AttackSpec] = {name: AttackSpec(ATTACK_KINDS[name], *_FUNCTIONS[name]) for name in ATTACK_KINDS}


def run_attack(name: str, view, x: torch.Tensor, y: torch.Tensor, *, eps, targeted: bool = False,
               generator: torch.Generator | None = None, settings: Any = AttackSettings()) -> torch.Tensor:
    """``x_adv`` ``(B, C, H, W)`` of attack ``name`` on ``view``.

    ``view``: a differentiable ``nn.Module`` (gradient attacks) or ``probs_fn`` (query attacks)
    mapping ``(N, C, H, W)`` pixels in [0, 1] to logits / probabilities ``(N, K)``.
    ``y``: true labels, or target labels when ``targeted``. ``eps``: budget in pixel units.
    ``generator``: the attack's own randomness (PGD's start, NES/SPSA's samples; unused by the
    deterministic ones). ``settings``: an :class:`AttackSettings` or any object with its fields.
    ValueError listing the known names for an unknown ``name``.
    """
    attack_kind(name)  # the error for an unknown name
    spec = ATTACKS[name]
    out = spec.attack(view, x, y, eps=eps, targeted=targeted, **spec.kwargs(settings, generator))
    return out.x_adv if spec.kind == "query" else out
