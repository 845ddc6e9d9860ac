"""Randomized-smoothing prediction and certification (Cohen et al. 2019, ``code/core.py``) and
Rank Verification (Hung & Fithian 2019, as Liang & Samavi use it).

:class:`Smooth` follows Cohen's ``Smooth`` (``predict``, ``certify``, ``ABSTAIN``), batched over
images and drawing from an explicit generator. The base classifier may itself be stochastic
(Liang & Samavi's noisy voting ensemble ``F*``, their eq. 10-11): their Theorem 1 and
certification procedure are Cohen's with ``F*`` as the base, radius ``sigma * Phi^-1(pA_lower)``
(eq. 13 with ``pB_upper = 1 - pA_lower``).

The noise may have a per-channel std ``(s_1, ..., s_C)`` in pixel units (a sigma meant after the
input normalization, :mod:`paperlib.models.noise_space`). The certified L2 radius in pixel space
is then ``min_c(s_c) * Phi^-1(pA_lower)``: with ``D = diag(s)`` per channel, ``g(x) = h(D^-1 x)``
where ``h`` is smoothed with isotropic noise of std 1, so ``h`` is certified for
``||D^-1 delta||_2 < Phi^-1(pA_lower)`` (Cohen et al. Theorem 1), and
``||D^-1 delta||_2 <= ||delta||_2 / min_c s_c``. In normalized units that radius is exactly
``sigma * Phi^-1(pA_lower)``; in pixel units it is the largest L2 ball inside the certified ellipsoid.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import beta, norm

from ..models.noise_space import check_std
from ..defenses.smoothing import GaussianSmoothing
from .montecarlo import binomial_test, monte_carlo_counts

ABSTAIN = -1


def clopper_pearson_lower(k, n, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion, elementwise.
    Equals ``statsmodels proportion_confint(k, n, alpha=2*alpha, method="beta")[0]`` (Cohen's
    ``_lower_confidence_bound``)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lo = beta.ppf(alpha, k, n - k + 1)
    return np.where(k > 0, lo, 0.0)


def rank_verification(counts: torch.Tensor, alpha_rv: float = 0.05):
    """Rank Verification on vote counts ``(B, K)`` (Liang & Samavi, section "Rank Verification").

    ``p = BinomTest(n_A, n_A + n_B, 0.5)`` (two-sided) on the top two counts; the prediction is
    the top class if ``p < alpha_rv``, else :data:`ABSTAIN`. Returns ``(prediction (B,) int64,
    p (B,) numpy)``.
    """
    if not 0 < alpha_rv < 1:
        raise ValueError(f"alpha_rv must be in (0, 1), got {alpha_rv!r}")
    top2 = counts.topk(2, dim=1)
    n_a, n_b = top2.values[:, 0], top2.values[:, 1]
    p = binomial_test(n_a, n_a + n_b, 0.5)
    pred = top2.indices[:, 0].clone()
    pred[torch.as_tensor(p >= alpha_rv, device=pred.device)] = ABSTAIN
    return pred, p


class Smooth:
    """The smoothed classifier ``g(x) = argmax_c P(f(x + eps) = c)``, ``eps ~ N(0, sigma^2 I)``.

    Args:
        base_classifier: maps ``(N, C, H, W)`` in [0, 1] to scores ``(N, K)`` (a model, or a
            stochastic defense such as an :class:`~paperlib.defenses.EnsembleVote`).
        num_classes: K. sigma: noise std in pixel units, a float or per channel (a sequence of
            ``C`` floats, each > 0; ``eps_c ~ N(0, sigma_c^2)``). ``self.sigma`` keeps the form
            given (float or tuple); ``self.radius_sigma`` is the std that scales the certified
            radius (``sigma``, or ``min_c sigma_c``; see the module docstring).
    """

    def __init__(self, base_classifier, num_classes: int, sigma):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        try:
            std = check_std(sigma, "sigma")
        except ValueError:
            std = None
        if std is None or not min(std if isinstance(std, tuple) else (std,)) > 0:
            raise ValueError(f"sigma must be > 0 (a number or one number per channel), got {sigma!r}")
        self.base_classifier = base_classifier
        self.num_classes = num_classes
        self.sigma = std
        self.radius_sigma = min(std) if isinstance(std, tuple) else std
        self._noisy = GaussianSmoothing(base_classifier, self.sigma)

    def counts(self, x: torch.Tensor, num: int, generator: torch.Generator,
               batch_size: int = 256) -> torch.Tensor:
        """Class counts ``(B, K)`` of ``num`` noisy predictions per image."""
        return monte_carlo_counts(self._noisy, x, num, generator, chunk=batch_size,
                                  num_classes=self.num_classes)

    def predict(self, x: torch.Tensor, n: int, alpha: float, generator: torch.Generator,
                batch_size: int = 256) -> torch.Tensor:
        """Cohen's PREDICT: the top class of ``n`` draws, or ABSTAIN when the two-sided binomial
        test of the top two counts has p-value > ``alpha``. With probability at least
        ``1 - alpha`` a non-abstained answer is ``g(x)``. Returns ``(B,)`` int64."""
        counts = self.counts(x, n, generator, batch_size)
        top2 = counts.topk(2, dim=1)
        n_a, n_b = top2.values[:, 0], top2.values[:, 1]
        p = binomial_test(n_a, n_a + n_b, 0.5)
        pred = top2.indices[:, 0].clone()
        pred[torch.as_tensor(p > alpha, device=pred.device)] = ABSTAIN
        return pred

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, generator: torch.Generator,
                batch_size: int = 256):
        """Cohen's CERTIFY: select the class with ``n0`` draws, estimate ``pA_lower`` (one-sided
        Clopper-Pearson at level ``alpha``) from ``n`` fresh draws; if ``pA_lower < 0.5``
        ABSTAIN (radius 0), else radius ``sigma * Phi^-1(pA_lower)`` (L2, pixel units; with a
        per-channel sigma, ``min_c sigma_c * Phi^-1(pA_lower)``).

        Returns ``(prediction (B,) int64, radius (B,) float64 numpy, pA_lower (B,) numpy)``.
        With probability at least ``1 - alpha`` over the draws, ``g`` is constant within the
        radius of every non-abstained image.
        """
        c_hat = self.counts(x, n0, generator, batch_size).argmax(1)
        counts = self.counts(x, n, generator, batch_size)
        n_a = counts.gather(1, c_hat[:, None]).squeeze(1).cpu().numpy()
        p_lower = clopper_pearson_lower(n_a, n, alpha)
        certified = p_lower >= 0.5
        radius = np.where(certified, self.radius_sigma * norm.ppf(np.clip(p_lower, 1e-300, 1.0)), 0.0)
        pred = c_hat.clone()
        pred[torch.as_tensor(~certified, device=pred.device)] = ABSTAIN
        return pred, radius, p_lower
