"""Liang & Samavi's "Measuring Robustness" (Theorem 1, Figures 7-8) and, beyond the paper, an
adaptive attack on the whole noisy voting ensemble.

* :func:`certify_inputs` -- the Certification Procedure: ``F*`` (the members' vote) on ``x + eps``,
  ``eps ~ N(0, sigma^2 I)`` shared by the members of one draw, ``n0`` draws to pick ``y_A``, ``n``
  draws for the one-sided Clopper-Pearson ``p_A`` lower bound at ``alpha``, radius
  ``R = sigma * Phi^-1(p_A)`` (eq. 13 with ``p_B = 1 - p_A``), abstaining (``R = 0``, the red mark)
  when ``p_A <= 0.5``; Rank Verification's p-value on the vote counts of the first draw (the
  yellow mark when ``p >= alpha_RV``). Built on :class:`paperlib.metrics.Smooth` with an
  :class:`paperlib.defenses.EnsembleVote` base, so Cohen's certificate applies unchanged.
* :func:`violations` -- every adversarial input within a certified radius, judged by the smoothed
  classifier (Cohen's PREDICT): a certificate is violated when one of them gets a non-abstained
  answer other than the certified class.
* :class:`SoftVote` and :func:`adaptive_attack` -- EOT through Noisy Logit: the mean of the
  members' softmax outputs, each on its own noisy copy of the input; untargeted L2 PGD follows the
  mean gradient of its cross-entropy over ``eot`` draws, and the deployed classifier (noisy vote,
  then Rank Verification) judges the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..attacks.eot import ExpectationView
from ..attacks.gradient import pgd
from ..defenses.base import StochasticDefense
from ..defenses.ensemble import EnsembleVote
from ..metrics.certify import ABSTAIN, Smooth, rank_verification
from ..models.noise_space import add_gaussian_noise
from .ensemble import member_predictions, vote, vote_counts


@dataclass
class Certificates:
    """Per input: ``pred`` (y_A, or -1 when not certified), ``radius`` R (0 when not certified),
    ``p_lower`` (p_A), ``rv_p`` (Rank Verification's p on the first draw), ``red`` (p_A <= 0.5),
    ``yellow`` (certified but rv_p >= alpha_RV)."""

    pred: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    rv_p: np.ndarray
    red: np.ndarray
    yellow: np.ndarray

    @property
    def certified(self) -> np.ndarray:
        """Certified and not abstained by either mark (the paper abstains on both)."""
        return ~self.red & ~self.yellow


def certify_inputs(members: list[nn.Module], x: torch.Tensor, *, num_classes: int, sigma: float, n0: int, n: int,
                   alpha: float, rv_alpha: float, generator: torch.Generator, batch_size: int = 1000) -> Certificates:
    """The Certification Procedure on every input of ``x`` (see the module docstring)."""
    base = EnsembleVote(members)
    smooth = Smooth(base, num_classes, sigma)
    first = vote_counts(member_predictions(members, add_gaussian_noise(x, sigma, generator)), num_classes)
    _, rv_p = rank_verification(first, rv_alpha)
    pred, radius, p_lower = smooth.certify(x, n0, n, alpha, generator, batch_size)
    red = p_lower <= 0.5          # the paper's rule (Cohen's CERTIFY abstains only below 0.5)
    pred[torch.as_tensor(red, device=pred.device)] = ABSTAIN
    yellow = ~red & (np.asarray(rv_p) >= rv_alpha)
    return Certificates(pred=pred.cpu().numpy(), radius=np.asarray(radius), p_lower=np.asarray(p_lower),
                        rv_p=np.asarray(rv_p), red=red, yellow=yellow)


def violations(members: list[nn.Module], cert: Certificates, x_adv: torch.Tensor, input_of: torch.Tensor,
               l2: torch.Tensor, *, num_classes: int, sigma: float, check_n: int, alpha: float,
               generator: torch.Generator, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """For every certified input: how many adversarial inputs lie strictly inside its radius, and
    how many of those the smoothed classifier (``check_n`` draws, abstaining at ``alpha``) assigns
    a class other than the certified one. ``{"inside": (I,), "broken": (I,)}`` (zeros elsewhere)."""
    n_inputs = len(cert.pred)
    inside = np.zeros(n_inputs, dtype=np.int64)
    broken = np.zeros(n_inputs, dtype=np.int64)
    radius = torch.as_tensor(cert.radius)[input_of]
    cand = (torch.as_tensor(cert.certified)[input_of] & (l2 < radius)).nonzero().squeeze(1)
    if cand.numel():
        smooth = Smooth(EnsembleVote(members), num_classes, sigma)
        pred = smooth.predict(x_adv[cand], check_n, alpha, generator, batch_size).cpu()
        owner = input_of[cand]
        np.add.at(inside, owner.numpy(), 1)
        wrong = (pred != ABSTAIN) & (pred != torch.as_tensor(cert.pred)[owner])
        np.add.at(broken, owner[wrong].numpy(), 1)
    return {"inside": inside, "broken": broken}


class SoftVote(StochasticDefense):
    """The members' mean softmax, each member on its own Noisy Logit draw; returns the log of the
    mean (log-probabilities: a cross-entropy on them is ``-log`` of the soft vote share)."""

    def __init__(self, members: list[nn.Module], sigma: float, generator: torch.Generator | None = None):
        super().__init__(generator)
        self.members = nn.ModuleList(members)
        self.sigma = float(sigma)

    def sample(self, x, generator):
        p = torch.stack([m(add_gaussian_noise(x, self.sigma, generator)).float().softmax(1) for m in self.members])
        return p.mean(0).clamp_min(1e-12).log()


@dataclass
class AdaptiveResult:
    """Per budget ``eps`` (L2) and input: the deployed classifier's answers on the attacked input:
    ``vote`` (noisy vote, one draw), ``rv`` (Rank Verification, -1 = abstain)."""

    eps: np.ndarray          # (B,)
    vote: np.ndarray         # (B, N)
    rv: np.ndarray           # (B, N)
    l2: np.ndarray           # (B, N)


def adaptive_attack(members: list[nn.Module], x: torch.Tensor, y: torch.Tensor, *, eps: tuple[float, ...], steps: int,
                    eot: int, sigma: float, num_classes: int, rv_alpha: float, generator: torch.Generator) -> AdaptiveResult:
    """Untargeted L2 PGD with EOT on :class:`SoftVote`, per budget, judged by the noisy vote and
    Rank Verification (fresh draws); a budget of 0 judges the clean inputs."""
    view = ExpectationView(SoftVote(members, sigma), eot, generator)
    votes, rvs, l2s = [], [], []
    for e in eps:
        x_adv = x if e == 0 else pgd(view, x, y, eps=float(e), steps=steps, norm="l2", generator=generator)
        counts = vote_counts(member_predictions(members, x_adv, sigma=sigma, generator=generator), num_classes)
        rv, _ = rank_verification(counts, rv_alpha)
        votes.append(vote(counts).numpy())
        rvs.append(rv.numpy())
        l2s.append((x_adv - x).flatten(1).norm(dim=1).numpy())
    return AdaptiveResult(eps=np.asarray(eps, dtype=float), vote=np.stack(votes), rv=np.stack(rvs), l2=np.stack(l2s))
