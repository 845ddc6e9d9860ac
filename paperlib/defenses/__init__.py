"""Stochastic defenses: ``nn.Module``s drawing from an explicit ``torch.Generator`` that can hand
out frozen realizations (:mod:`paperlib.defenses.base` states the contract).

* :class:`StochasticDefense`, :class:`FrozenDraw` -- the interface and a frozen realization.
* :class:`GaussianSmoothing` (Cohen et al.), :class:`NoisyLogit` (Liang & Samavi).
* :class:`Member`, :class:`SmoothedEnsemble`, :class:`StochasticEnsemble` + :class:`SEMDistribution`
  (SEM Algorithm 1), :class:`RandomSubmodel` (CLM), :class:`EnsembleVote` (Liang & Samavi).
* :class:`RSEEnsemble` (RSE's ensemble over noise layers; SEM's RSE baseline).
"""

from .base import FrozenDraw, StochasticDefense, call_module, draw_seed
from .ensemble import (EnsembleVote, Member, RandomSubmodel, SEMDistribution, SmoothedEnsemble,
                       StochasticEnsemble)
from .rse import RSEEnsemble
from .smoothing import GaussianSmoothing, NoisyLogit

__all__ = ["StochasticDefense", "FrozenDraw", "call_module", "draw_seed", "GaussianSmoothing",
           "NoisyLogit", "Member", "SmoothedEnsemble", "SEMDistribution", "StochasticEnsemble",
           "RandomSubmodel", "EnsembleVote", "RSEEnsemble"]
