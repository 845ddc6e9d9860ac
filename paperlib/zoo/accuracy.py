"""Accuracy of one trained network, clean or smoothed, with its interval; accuracy pooled over
several networks.

* Clean: the argmax of the logits, one forward pass per image.
* Smoothed: Cohen et al.'s PREDICT on ``mc_draws`` Gaussian draws at ``sigma``
  (:meth:`paperlib.metrics.Smooth.predict`); an abstention counts as an error. At radius 0 this
  is the certified accuracy SEM's Table 1 calls ACA (:mod:`paperlib.metrics.aca`).

The interval of one network's accuracy is the 95% Clopper-Pearson (exact binomial) interval over
its test images: it covers the sampling of the images (and of the Monte Carlo draws), not the
training run. The interval of an accuracy pooled over networks (:func:`pooled_accuracy`) is a
Student-t interval over the per-network accuracies: it covers the variation between networks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from statsmodels.stats.proportion import proportion_confint

from ..metrics import Smooth, approximate_certified_accuracy, paired_mean_interval
from ..train import predict_logits


def proportion_interval(correct: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` Clopper-Pearson interval ``(low, high)`` of a proportion
    ``correct / n`` (statsmodels ``proportion_confint(method="beta")``; ``alpha`` is passed as
    given, so ``0.05`` reproduces the tables written before this module existed bit for bit)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if not 0 <= correct <= n or n < 1:
        raise ValueError(f"need 0 <= correct <= n and n >= 1, got correct={correct!r}, n={n!r}")
    lo, hi = proportion_confint(correct, n, alpha=alpha, method="beta")
    return float(lo), float(hi)


def _float_pixels(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255 if x.dtype == torch.uint8 else x


def predictions(model, x: torch.Tensor, *, sigma: float = 0.0, mc_draws: int = 0, predict_alpha: float = 0.001,
                generator: torch.Generator | None = None, chunk: int = 256,
                num_classes: int = 10) -> torch.Tensor:
    """Predicted class per image ``(B,)`` int64; ``-1`` (ABSTAIN) where PREDICT abstains.

    ``x``: ``(B, C, H, W)`` float pixels in [0, 1] or uint8. ``sigma == 0``: the clean argmax
    (``mc_draws``, ``predict_alpha``, ``generator`` unused). ``sigma > 0``: PREDICT with ``mc_draws``
    draws of ``N(0, sigma^2 I)`` (pixel units) from ``generator``, abstaining when the binomial
    test of the top two counts has p-value > ``predict_alpha``. ``chunk``: rows per forward pass.
    """
    xf = _float_pixels(x)
    if sigma == 0:
        return predict_logits(model, xf, chunk).argmax(1)
    if generator is None:
        raise ValueError("smoothed accuracy needs an explicit torch.Generator for its Monte Carlo draws")
    return Smooth(model, num_classes, sigma).predict(xf, mc_draws, predict_alpha, generator, batch_size=chunk)


def accuracy_row(pred: torch.Tensor, y: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Score predictions ``(B,)`` (``-1`` = abstained) against labels ``(B,)``.

    Returns ``({"accuracy", "ci_low", "ci_high", "correct", "n", "abstained"}, ok)`` with
    ``accuracy`` in [0, 1], the 95% Clopper-Pearson interval, and ``ok`` ``(B,)`` bool on the
    CPU (an abstention is never correct)."""
    pred, y = pred.cpu(), y.cpu()
    ok = pred == y  # an abstention (-1) is never a class
    acc = approximate_certified_accuracy(pred, y)
    correct = int(ok.sum())
    lo, hi = proportion_interval(correct, len(y))
    return {"accuracy": acc, "ci_low": lo, "ci_high": hi, "correct": correct, "n": int(len(y)),
            "abstained": int((pred < 0).sum())}, ok


def model_accuracy(model, x: torch.Tensor, y: torch.Tensor, *, sigma: float = 0.0, mc_draws: int = 0,
                   predict_alpha: float = 0.001, generator: torch.Generator | None = None, chunk: int = 256,
                   num_classes: int = 10) -> tuple[dict, torch.Tensor]:
    """Clean accuracy (``sigma == 0``) or smoothed PREDICT accuracy (``sigma > 0``, abstention =
    error) of ``model`` on ``(x, y)``: :func:`predictions` scored by :func:`accuracy_row`."""
    pred = predictions(model, x, sigma=sigma, mc_draws=mc_draws, predict_alpha=predict_alpha, generator=generator,
                       chunk=chunk, num_classes=num_classes)
    return accuracy_row(pred, y)


def pooled_accuracy(accuracies: Sequence[float], alpha: float = 0.05) -> dict:
    """Mean accuracy over networks (e.g. one per training seed or temperature) with a ``1 - alpha``
    Student-t interval over the per-network accuracies (``n - 1`` degrees of freedom):
    ``{"accuracy", "ci_low", "ci_high", "networks"}``. Needs at least two networks."""
    a = np.asarray(accuracies, dtype=np.float64)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    # The same t interval as a paired per-image difference: one implementation of the formula.
    est, lo, hi = paired_mean_interval(a, 1 - alpha)
    return {"accuracy": est, "ci_low": lo, "ci_high": hi, "networks": int(a.size)}
