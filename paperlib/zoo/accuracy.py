"""Accuracy of one trained network, clean or smoothed, with its interval; accuracy pooled over
several networks.

* Clean: the argmax of the logits, one forward pass per image.
* Smoothed, ``method="predict"`` (the default): Cohen et al.'s PREDICT on ``mc_draws``
  Gaussian draws at ``sigma`` (:meth:`paperlib.metrics.Smooth.predict`); an abstention counts
  as an error.
* Smoothed, ``method="certify"``: Cohen et al.'s CERTIFY (``certify_n0`` selection draws,
  ``certify_n`` estimation draws, level ``certify_alpha``); an image is correct when it is
  certified (radius >= 0) with its label: Cohen's certified accuracy at radius 0
  (:func:`paperlib.metrics.aca.certified_accuracy_at_zero`). Both are SEM Table 1's ACA
  candidates (:mod:`paperlib.metrics.aca`).

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
from ..metrics.aca import certify_predictions, check_aca_method
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
                generator: torch.Generator | None = None, chunk: int = 256, num_classes: int = 10,
                method: str = "predict", certify_n0: int | None = None, certify_n: int | None = None,
                certify_alpha: float | None = None) -> torch.Tensor:
    """Predicted class per image ``(B,)`` int64; ``-1`` (ABSTAIN) where PREDICT / CERTIFY abstains.

    ``x``: ``(B, C, H, W)`` float pixels in [0, 1] or uint8. ``sigma == 0``: the clean argmax
    (every other argument unused). ``sigma > 0`` and ``method="predict"``: PREDICT with
    ``mc_draws`` draws of ``N(0, sigma^2 I)`` (pixel units) from ``generator``, abstaining when the
    binomial test of the top two counts has p-value > ``predict_alpha``. ``method="certify"``:
    CERTIFY with ``certify_n0`` selection and ``certify_n`` estimation draws at level
    ``certify_alpha`` (all three required; ``mc_draws`` and ``predict_alpha`` unused), abstaining
    when the class cannot be certified at radius 0. ``chunk``: rows per forward pass.
    """
    check_aca_method(method)
    xf = _float_pixels(x)
    if sigma == 0:
        return predict_logits(model, xf, chunk).argmax(1)
    if generator is None:
        raise ValueError("smoothed accuracy needs an explicit torch.Generator for its Monte Carlo draws")
    if method == "certify":
        missing = [k for k, v in (("certify_n0", certify_n0), ("certify_n", certify_n),
                                  ("certify_alpha", certify_alpha)) if v is None]
        if missing:
            raise ValueError(f"method='certify' needs {', '.join(missing)}")
        pred, _ = certify_predictions(model, xf, sigma=sigma, n0=certify_n0, n=certify_n, alpha=certify_alpha,
                                      generator=generator, chunk=chunk, num_classes=num_classes)
        return pred
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
                   num_classes: int = 10, method: str = "predict", certify_n0: int | None = None,
                   certify_n: int | None = None, certify_alpha: float | None = None) -> tuple[dict, torch.Tensor]:
    """Clean accuracy (``sigma == 0``) or smoothed accuracy (``sigma > 0``; PREDICT or, with
    ``method="certify"``, CERTIFY's certified accuracy at radius 0; abstention = error) of
    ``model`` on ``(x, y)``: :func:`predictions` scored by :func:`accuracy_row`."""
    pred = predictions(model, x, sigma=sigma, mc_draws=mc_draws, predict_alpha=predict_alpha, generator=generator,
                       chunk=chunk, num_classes=num_classes, method=method, certify_n0=certify_n0,
                       certify_n=certify_n, certify_alpha=certify_alpha)
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
