"""Liang & Samavi's attack tests on one dataset's ensemble, as per-test arrays.

* :func:`craft_single_network` -- "Random Single Network Attack": for every input ``s``, target
  ``t != y`` and member ``F^l``, the C&W L2 targeted example ``A(F^l, s, t)``; ``condition="nl"``
  crafts on the member with Noisy Logit (a fresh input-noise draw at every Adam step, what an
  attacker querying the noisy member sees). All members are attacked in one C&W run
  (:class:`~paperlib.liang.ensemble.PerNetwork`).
* :func:`superimposition_tests` -- SI2/SI3 (Table 3's greedy setup): per (input, target), the
  ``m`` successful single-network examples of smallest eq. 14 perturbation, superimposed
  (:func:`paperlib.scenarios.liang.greedy_superimposition`).
* :func:`judge` -- how every member and the ensemble's vote classify each test's clean input and
  its adversarial input: plain members, or Noisy Logit with a fresh draw per member and per test
  (Table 2a's 99.867% clean accuracy with NL is a rate over the 6,750 tests, so the paper draws
  per test), and Rank Verification on the noisy votes.

Every function returns a :class:`TestSet` of plain tensors, written by the stage as one ``.npz``
per dataset and read back by the tables stage (:mod:`paperlib.liang.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from ..attacks.cw import carlini_wagner_l2
from ..config.liang import CWParams
from ..metrics.certify import ABSTAIN, rank_verification
from ..scenarios.liang import greedy_superimposition, perturbation_ratio
from .ensemble import PerNetwork, member_predictions, vote, vote_counts

CONDITIONS = ("plain", "nl")


@dataclass
class TestSet:
    """One attack's tests under one condition. ``E`` tests, ``L`` members.

    input_of (E,) index of the test's clean input; label (E,) its class; target (E,) the attack's
    target; source (E,) the member the example was crafted on (-1: a superimposition); p (E,)
    eq. 14 perturbation ``||a - s|| / ||s||``; l2 (E,) ``||a - s||_2`` in pixels of [0, 1];
    member_clean / member_adv (L, E) each member's label of ``s`` / ``a``; vote_clean / vote_adv
    (E,) ``F*``; rv_clean / rv_adv (E,) Rank Verification's answer (-1 = abstain); rv_p_clean /
    rv_p_adv (E,) its p-value; success (E,) whether the example fooled the member it was crafted
    on (SI: whether all its parts did)."""

    input_of: torch.Tensor
    label: torch.Tensor
    target: torch.Tensor
    source: torch.Tensor
    p: torch.Tensor
    l2: torch.Tensor
    success: torch.Tensor
    member_clean: torch.Tensor | None = None
    member_adv: torch.Tensor | None = None
    vote_clean: torch.Tensor | None = None
    vote_adv: torch.Tensor | None = None
    rv_clean: torch.Tensor | None = None
    rv_adv: torch.Tensor | None = None
    rv_p_clean: torch.Tensor | None = None
    rv_p_adv: torch.Tensor | None = None

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """``{prefix + field: numpy array}`` for ``np.savez``."""
        return {f"{prefix}{f.name}": np.asarray(getattr(self, f.name).cpu() if torch.is_tensor(getattr(self, f.name))
                                                 else getattr(self, f.name))
                for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "TestSet":
        kw = {f.name: torch.as_tensor(np.asarray(data[prefix + f.name])) for f in fields(cls)
              if prefix + f.name in data}
        return cls(**kw)


@dataclass
class SingleNetworkExamples:
    """``adv (L, E, C, H, W)``: member ``l``'s example for test ``e``; ``success (L, E)``;
    ``input_of``/``target`` (E,) as in :class:`TestSet`."""

    adv: torch.Tensor
    success: torch.Tensor
    input_of: torch.Tensor
    target: torch.Tensor


def targets_of(y: torch.Tensor, targets: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The (input, target) pairs: for every input ``i``, the ``targets`` classes ``y_i + 1, ..., y_i +
    targets`` (mod K); 9 targets on 10 classes = every other class, the paper's ``t_j, j = 1..9``."""
    if not 1 <= targets < num_classes:
        raise ValueError(f"targets must lie in [1, {num_classes - 1}], got {targets}")
    i = torch.arange(len(y)).repeat_interleave(targets)
    k = torch.arange(1, targets + 1).repeat(len(y))
    return i, (y[i] + k) % num_classes


def craft_single_network(members: list[nn.Module], x: torch.Tensor, y: torch.Tensor, *, targets: int,
                         num_classes: int, cw: CWParams, sigma: float = 0.0,
                         generator: torch.Generator | None = None) -> SingleNetworkExamples:
    """``A(F^l, s, t)`` for every member, input and target (see the module docstring)."""
    input_of, target = targets_of(y, targets, num_classes)
    L, E = len(members), len(input_of)
    xs = x[input_of].repeat(L, 1, 1, 1)
    model = PerNetwork(members, sigma, generator)
    res = carlini_wagner_l2(model, xs, target.repeat(L), targeted=True, c_init=cw.c_init,
                            binary_steps=cw.binary_steps, steps=cw.steps, lr=cw.lr, kappa=cw.kappa)
    return SingleNetworkExamples(adv=res.x_adv.view(L, E, *x.shape[1:]), success=res.success.view(L, E),
                                 input_of=input_of, target=target)


def single_network_tests(ex: SingleNetworkExamples, x: torch.Tensor, y: torch.Tensor, inputs: int) -> tuple[TestSet, torch.Tensor]:
    """The SN tests on the first ``inputs`` inputs: every (member, input, target) example is a
    test (the paper's 9 x 50 x 15 = 6,750). Returns the tests and their adversarial inputs."""
    keep = ex.input_of < inputs
    L = ex.adv.shape[0]
    adv = ex.adv[:, keep].flatten(0, 1)
    io = ex.input_of[keep].repeat(L)
    s = x[io]
    return TestSet(input_of=io, label=y[io], target=ex.target[keep].repeat(L),
                   source=torch.arange(L).repeat_interleave(int(keep.sum())),
                   p=perturbation_ratio(adv, s), l2=(adv - s).flatten(1).norm(dim=1),
                   success=ex.success[:, keep].flatten()), adv


def superimposition_tests(ex: SingleNetworkExamples, x: torch.Tensor, y: torch.Tensor, m: int,
                          inputs: int) -> tuple[TestSet, torch.Tensor]:
    """SI-``m`` on the first ``inputs`` inputs: one test per (input, target), the ``m`` smallest
    successful single-network examples superimposed (fewer where fewer succeeded; none: ``s``)."""
    keep = ex.input_of < inputs
    io = ex.input_of[keep]
    s = x[io]
    sup, chosen = greedy_superimposition(s, ex.adv[:, keep], ex.success[:, keep], m)
    return TestSet(input_of=io, label=y[io], target=ex.target[keep], source=torch.full_like(io, -1),
                   p=perturbation_ratio(sup, s), l2=(sup - s).flatten(1).norm(dim=1),
                   success=(chosen >= 0).all(0)), sup


def judge(tests: TestSet, adv: torch.Tensor, x: torch.Tensor, members: list[nn.Module], *, num_classes: int,
          sigma: float = 0.0, generator: torch.Generator | None = None, rv_alpha: float = 0.05,
          batch_size: int = 1000) -> TestSet:
    """Fill in how the members, the vote and Rank Verification classify each test's clean input
    ``x[input_of]`` and adversarial input ``adv``; ``sigma > 0``: Noisy Logit, fresh draws per
    member and per test."""
    s = x[tests.input_of]
    kw = dict(sigma=sigma, generator=generator, batch_size=batch_size)
    tests.member_clean = member_predictions(members, s, **kw)
    tests.member_adv = member_predictions(members, adv, **kw)
    for which, pred in (("clean", tests.member_clean), ("adv", tests.member_adv)):
        counts = vote_counts(pred, num_classes)
        rv, p = rank_verification(counts, rv_alpha)
        setattr(tests, f"vote_{which}", vote(counts))
        setattr(tests, f"rv_{which}", rv)
        setattr(tests, f"rv_p_{which}", torch.as_tensor(p))
    return tests


__all__ = ["ABSTAIN", "CONDITIONS", "TestSet", "SingleNetworkExamples", "craft_single_network", "judge",
           "single_network_tests", "superimposition_tests", "targets_of"]
