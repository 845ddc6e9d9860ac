"""Adversarial attacks: functions ``attack(model, x, y, *, eps, steps, step_size, targeted,
generator)`` on [0, 1] pixels with budgets in pixel units (see :mod:`paperlib.attacks._core`
for the shared conventions, including the draw axis that makes :func:`eot` work for all).

* :func:`fgsm`, :func:`bim`, :func:`mim`, :func:`pgd` -- L-inf and L2 gradient attacks.
* :func:`carlini_wagner_l2` -> :class:`CWResult` -- C&W L2 with a binary search over c.
* :func:`nes`, :func:`spsa` -> :class:`QueryResult` -- score-based, probabilities only.
* :func:`autoattack` -- torchattacks' AutoAttack, ``standard`` or ``rand``.
* :func:`eot`, :class:`ExpectationView` -- expectation over transformation for any attack.
* :class:`Bf16ChannelsLast` -- run a model under bf16 autocast + channels_last.
"""

from .autoattack import autoattack
from .cw import CWResult, carlini_wagner_l2
from .eot import ExpectationView, eot
from .gradient import bim, fgsm, mim, pgd
from .precision import Bf16ChannelsLast
from .score import QueryResult, nes, spsa

__all__ = ["fgsm", "bim", "mim", "pgd", "carlini_wagner_l2", "CWResult", "nes", "spsa",
           "QueryResult", "autoattack", "eot", "ExpectationView", "Bf16ChannelsLast"]
