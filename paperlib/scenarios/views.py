"""Attacker views: which realization of a stochastic defense an attack sees, and when it
changes. A view is an ``nn.Module`` ``view(x) -> logits`` handed to any attack of
:mod:`paperlib.attacks` in place of the model; gradient attacks call it once per iteration, so
"every P calls" is "every P iterations".

* :class:`PeriodicView` -- the defense's attributes are redrawn (and shown to the attacker)
  every ``period`` calls; within them the gradient is the EOT mean over ``k`` noise draws.
  ``period=1``: SEM attacker A; ``period=P > 1``: attacker B.
* :func:`frozen_view` -- one frozen realization for the whole attack (CLM's attacker crafting on
  one random submodel; the attacker of a deterministic model).
* :func:`expectation_view` -- EOT over full draws of the defense (attributes and noise), e.g.
  SEM attacker C on a surrogate SEM, or contrasts F and G.
* :func:`query_view` -- only the probability vector, one fresh draw per query (attacker E,
  contrasts J-M); for :func:`paperlib.attacks.nes` / :func:`~paperlib.attacks.spsa`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attacks._core import check_positive_int
from ..attacks.eot import ExpectationView
from ..defenses.base import StochasticDefense


class PeriodicView(nn.Module):
    """Attributes redrawn every ``period`` calls; EOT over ``k`` noise draws in between.

    Returns ``(k, B, K)`` logits. ``calls`` counts forwards; ``attribute_draws`` counts redraws.
    Call :meth:`reset` before reusing the view for a new attack run.
    """

    def __init__(self, defense: StochasticDefense, *, period: int, k: int,
                 generator: torch.Generator, chunk: int | None = None):
        super().__init__()
        check_positive_int(period, "period")
        check_positive_int(k, "k")
        self.defense = defense
        self.period = period
        self.k = k
        self.generator = generator
        self.chunk = chunk
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.attribute_draws = 0
        self._current = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calls % self.period == 0:
            self._current = ExpectationView(self.defense.condition(self.generator), self.k,
                                            self.generator, self.chunk)
            self.attribute_draws += 1
        self.calls += 1
        return self._current(x)


def frozen_view(defense: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """One frozen realization of ``defense`` (a plain model is returned unchanged)."""
    if isinstance(defense, StochasticDefense):
        return defense.draw(generator)
    return defense


def expectation_view(defense: nn.Module, k: int, generator: torch.Generator,
                     chunk: int | None = None) -> nn.Module:
    """EOT over ``k`` full draws of ``defense`` per call (a plain model is returned unchanged)."""
    if isinstance(defense, StochasticDefense):
        return ExpectationView(defense, k, generator, chunk)
    return defense


def query_view(defense: nn.Module, generator: torch.Generator | None):
    """``probs_fn(x) -> (B, K)``: the probability vector of one fresh draw per query."""
    if isinstance(defense, StochasticDefense):
        return lambda x: defense.probs(x, 1, generator)
    return lambda x: defense(x).softmax(-1)
