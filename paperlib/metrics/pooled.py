"""Intervals at the level of what varies: a quantity pooled over several networks.

SEM's section 4.1 compares SEM's clean accuracy with "the single smoothed models" of its
collection, i.e. with the mean accuracy of several networks. Both the test images and the
networks are samples (another training run gives other networks), so the interval must carry
both sources of variation, not only the spread of pooled per-image predictions. The
two-level (hierarchical) bootstrap below resamples images and networks independently
(Davison & Hinkley 1997, section 3.8), every draw vectorized; for one network it reduces to the
ordinary paired bootstrap over images.
"""

from __future__ import annotations

import numpy as np


def difference_to_pooled_networks(ours_correct, networks_correct, *, seed: int, draws: int = 4000,
                                  confidence: float = 0.95) -> tuple[float, float, float]:
    """``accuracy(ours) - mean over networks of accuracy(network)`` on the same images, with a
    percentile interval from a two-level bootstrap over images and networks.

    Args:
        ours_correct: ``(n,)`` bool, the defense's per-image correctness.
        networks_correct: ``(M, n)`` bool, each network's correctness on the same images.
        seed: seeds the bootstrap (reproducible). draws: bootstrap replicates.
    Returns ``(estimate, low, high)``.
    """
    a = np.asarray(ours_correct, dtype=np.float64)
    b = np.asarray(networks_correct, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 2 or b.shape[1] != a.shape[0] or a.size < 2:
        raise ValueError(f"need ours (n,) and networks (M, n) with n >= 2, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if not isinstance(draws, int) or draws < 100:
        raise ValueError(f"draws must be an int >= 100, got {draws!r}")
    n, m = a.size, b.shape[0]
    rng = np.random.default_rng(seed)
    w_img = rng.multinomial(n, np.full(n, 1.0 / n), size=draws) / n          # (draws, n) image weights
    w_net = rng.multinomial(m, np.full(m, 1.0 / m), size=draws) / m          # (draws, M) network weights
    ours = w_img @ a                                                          # (draws,)
    per_net = w_img @ b.T                                                     # (draws, M)
    stats = ours - (per_net * w_net).sum(1)
    estimate = float(a.mean() - b.mean())
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return estimate, float(low), float(high)
