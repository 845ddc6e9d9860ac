"""The quantities behind CLM's Figures 4-6 and their claims, each with a 95% interval.

- Figure 4 (weights): the spread of each submodel's linked layer; CLM against ULM by Welch's t
  interval over submodels (:func:`weight_spread`).
- Figure 5 (monitored counter-linked weights): how far the coinciding counter-linked weights of
  the submodels move apart during retraining: for every linked position, the standard deviation
  across submodels after minus before, t interval over positions (:func:`monitor_spread`).
- Figure 6 (saliency, eq. 7-8): per pair of submodels the median cosine similarity of their
  saliency maps over images; CLM's mean median minus ULM's with a bootstrap interval over images
  (:func:`saliency_difference`), and section 4.2's pair analysis: the Spearman correlation, over
  the ordered pairs ``i -> j``, between the pair's median similarity and the accuracy of ``j`` on
  PGD examples crafted on ``i`` (:func:`pair_correlation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn

from ..metrics.saliency import pairwise_cosine_similarity, saliency_map
from .counter_linking import weight_layer


def layer_stds(models: Sequence[nn.Module], layer: int = 1) -> np.ndarray:
    """The standard deviation of each submodel's weight layer ``layer``."""
    return np.array([float(weight_layer(m, layer).weight.detach().float().std()) for m in models])


def welch_interval(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` with Welch's t interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    est = float(a.mean() - b.mean())
    if se == 0:
        return est, est, est
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return est, est - half, est + half


def weight_spread(linked: Sequence[nn.Module], unlinked: Sequence[nn.Module], layer: int = 1):
    """Figure 4: mean per-submodel weight std of ``linked`` minus ``unlinked``, Welch interval."""
    return welch_interval(layer_stds(linked, layer), layer_stds(unlinked, layer))


def monitor_spread(record: dict, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Figure 5: for every counter-linked position of the layer, the std across submodels after
    retraining minus before; mean with its t interval over positions, and the number of positions."""
    link = record["link"]
    before, after = np.array(link["layer_before"]), np.array(link["layer_after"])   # (n, out, in, k, k)
    mask = np.broadcast_to(np.array(link["mask"], bool), before.shape[1:])
    d = after.std(axis=0)[mask] - before.std(axis=0)[mask]
    est = float(d.mean())
    if d.size < 2 or np.ptp(d) == 0:
        return est, est, est, int(d.size)
    half = float(stats.t.ppf(0.5 + confidence / 2, d.size - 1)) * d.std(ddof=1) / np.sqrt(d.size)
    return est, est - half, est + half, int(d.size)


def saliencies(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(n, N, C, H, W)`` saliency maps (eq. 8, class score before softmax) of every submodel."""
    return torch.stack([saliency_map(m, x, y) for m in models])


def pair_similarities(maps: torch.Tensor) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The 45 (for 10 submodels) pairs ``i < j`` and their per-image cosine similarities ``(pairs, N)``."""
    pairs, sims = pairwise_cosine_similarity(maps)
    return pairs, sims.cpu().numpy()


def _bootstrap(n_images: int, draws: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_images, size=(draws, n_images))


def saliency_difference(sims_a: np.ndarray, sims_b: np.ndarray, *, draws: int, seed: int,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean over pairs of the median similarity, ``a`` minus ``b`` (same images), with a
    percentile bootstrap interval over images."""
    def stat(idx):
        return np.median(sims_a[:, idx], axis=1).mean() - np.median(sims_b[:, idx], axis=1).mean()

    est = float(stat(np.arange(sims_a.shape[1])))
    boots = np.array([stat(i) for i in _bootstrap(sims_a.shape[1], draws, seed)])
    lo, hi = np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2])
    return est, float(lo), float(hi)


def pair_table(pairs: Sequence[tuple[int, int]], sims: np.ndarray, cross: np.ndarray) -> list[dict]:
    """One row per ordered pair ``i -> j`` (1-based, as the paper numbers submodels): the pair's
    median saliency similarity and the accuracy of ``j`` on examples crafted on ``i``."""
    med = {p: float(np.median(s)) for p, s in zip(pairs, sims)}
    rows = []
    for (i, j), m in med.items():
        for a, b in ((i, j), (j, i)):
            rows.append({"craft": a + 1, "classify": b + 1, "median_similarity": m,
                         "robustness": float(cross[a, b].mean())})
    return rows


def pair_correlation(pairs: Sequence[tuple[int, int]], sims: np.ndarray, cross: np.ndarray, *, draws: int,
                     seed: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Spearman correlation over the ordered pairs between median similarity and cross-robustness
    (``cross``: ``(n, n, N)`` bool from :func:`paperlib.clm.evaluation.cross_robustness`), with a
    percentile bootstrap interval over images."""
    ii = np.array([p[0] for p in pairs] + [p[1] for p in pairs])
    jj = np.array([p[1] for p in pairs] + [p[0] for p in pairs])
    sims2 = np.concatenate([sims, sims])

    def stat(idx):
        med = np.median(sims2[:, idx], axis=1)
        rob = cross[ii, jj][:, idx].mean(axis=1)
        return stats.spearmanr(med, rob).statistic

    cross = np.asarray(cross, dtype=float)
    est = float(stat(np.arange(sims.shape[1])))
    boots = np.array([stat(i) for i in _bootstrap(sims.shape[1], draws, seed)])
    boots = boots[np.isfinite(boots)]
    if boots.size == 0 or not np.isfinite(est):
        return est, est, est
    lo, hi = np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2])
    return est, float(lo), float(hi)
