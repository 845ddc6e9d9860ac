"""Comparing two ASR-vs-distortion curves measured on the same images, with a confidence interval.

The SEM paper prints no numbers for its Figures 3-8, only statements such as "the best attack
cannot easily exceed the attack success rate of the ensemble smoothed model". We test such a
statement on the quantity

    mean ASR over budgets [a, b]  =  1/(b - a) * integral_a^b ASR(e) de,

the normalized area under the curve over the budget window the statement is about (stated in
epsilon units in the claims file, e.g. ``[0, 8/255]``). Per image, the share of budgets in
``[a, b]`` at which it is broken is ``(b - clip(m_i, a, b)) / (b - a)`` (``m_i`` its smallest
successful budget from :func:`~paperlib.metrics.asr_distortion_search`; 0 for an image
misclassified clean, ``inf`` for one never broken), and the mean over images is the area. Two
curves on the same images give per-image differences, so the comparison is paired: the estimate
is the mean difference, its 95% interval a Student-t interval over images (the normal-theory
interval of a paired mean, e.g. ``statsmodels``' ``DescrStatsW.tconfint_mean``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def broken_share(min_eps, budget: float) -> np.ndarray:
    """Per image: the share of budgets in ``[0, budget]`` at which the attack succeeds."""
    if not budget > 0:
        raise ValueError(f"budget must be > 0, got {budget!r}")
    m = np.asarray(min_eps, dtype=np.float64)
    if np.isnan(m).any() or (m < 0).any():
        raise ValueError("min_eps must be >= 0 (inf for an image never broken), without NaN")
    return 1.0 - np.minimum(m, budget) / budget


def window_broken_share(min_eps, low: float, high: float) -> np.ndarray:
    """Per image: the share of budgets in ``[low, high]`` at which the attack succeeds."""
    if not 0 <= low < high:
        raise ValueError(f"a budget window needs 0 <= low < high, got [{low!r}, {high!r}]")
    m = np.asarray(min_eps, dtype=np.float64)
    if np.isnan(m).any() or (m < 0).any():
        raise ValueError("min_eps must be >= 0 (inf for an image never broken), without NaN")
    return (high - np.clip(m, low, high)) / (high - low)


def mean_asr(min_eps, budget: float) -> float:
    """The curve's mean ASR over budgets ``[0, budget]`` (normalized area under it)."""
    return float(broken_share(min_eps, budget).mean())


def paired_difference(min_eps_a, min_eps_b, budget: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """``mean_asr(a) - mean_asr(b)`` over budgets ``[0, budget]`` with a paired t interval.

    ``min_eps_a[i]`` and ``min_eps_b[i]`` must belong to the same image ``i``. Returns
    ``(estimate, ci_low, ci_high)``; with all differences equal the interval is that point.
    """
    a = broken_share(min_eps_a, budget)
    b = broken_share(min_eps_b, budget)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired curves need the same images, got shapes {a.shape} and {b.shape}")
    return paired_mean_interval(a - b, confidence)


def paired_mean_interval(differences, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-image differences with its Student-t interval: ``(estimate, low, high)``.

    All differences equal give the point ``(d, d, d)``: no evidence about sampling error, which
    :meth:`paperlib.claims.Claim.verdict` reads as *inconclusive*."""
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2:
        raise ValueError("a paired interval needs a 1-d array of at least two differences")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    est = float(d.mean())
    if float(np.ptp(d)) == 0.0:  # every difference equal: a point, whatever rounding says the spread is
        return est, est, est
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, d.size - 1)) * sd / np.sqrt(d.size)
    return est, est - half, est + half
