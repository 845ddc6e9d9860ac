"""Approximated certified accuracy (SEM journal, Table 1) and certified-accuracy curves.

SEM's Table 1 lists, per sub-model and smoothing sigma, an "approximated certified accuracy"
(ACA); its values (e.g. 94.03 % for DenseNet100 at sigma 0.25, 9.99 % for a collapsed model)
are accuracies of the smoothed classifier's Monte Carlo prediction. Two ways to compute it
(:data:`ACA_METHODS`):

* ``"predict"``: :func:`approximate_certified_accuracy` of Cohen's PREDICT (``N`` draws, a
  two-sided binomial test at level ``alpha``; abstentions count as errors);
* ``"certify"``: :func:`certified_accuracy_at_zero`, what Cohen et al. (2019) call the
  approximate certified test-set accuracy, at radius 0: the share of images on which CERTIFY
  (``n0`` selection draws, ``n`` estimation draws, one-sided Clopper-Pearson level ``alpha``)
  returns the true label and does not abstain (radius ``>= 0``). Cohen et al. use
  ``n0 = 100``, ``n = 100,000``, ``alpha = 0.001``.

``certified_accuracy`` gives the whole curve over radii from CERTIFY's output.
"""

from __future__ import annotations

import numpy as np
import torch

from .certify import ABSTAIN, Smooth

ACA_METHODS = ("predict", "certify")


def check_aca_method(method: str, name: str = "method") -> str:
    """``method`` if it is one of :data:`ACA_METHODS`, else a ValueError naming ``name``."""
    if method not in ACA_METHODS:
        raise ValueError(f"{name} must be one of {ACA_METHODS}, got {method!r}")
    return method


def _check_certify_settings(n0, n, alpha) -> None:
    for name, v in (("n0", n0), ("n", n)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"CERTIFY's {name} must be an int >= 1, got {v!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"CERTIFY's alpha must lie in (0, 1), got {alpha!r}")


def certify_predictions(model, x: torch.Tensor, *, sigma: float, n0: int, n: int, alpha: float,
                        generator: torch.Generator, chunk: int = 256,
                        num_classes: int = 10) -> tuple[torch.Tensor, np.ndarray]:
    """Cohen's CERTIFY (:meth:`paperlib.metrics.Smooth.certify`) of the Gaussian-smoothed
    ``model`` at ``sigma`` (pixel units) on ``x`` ``(B, C, H, W)`` float pixels in [0, 1]:
    ``n0`` draws select the class, ``n`` fresh draws give the one-sided ``1 - alpha``
    Clopper-Pearson lower bound ``pA_lower`` of its probability; ABSTAIN (-1) when
    ``pA_lower < 0.5``. All draws come from ``generator``; ``chunk`` rows per forward pass.

    Returns ``(prediction (B,) int64 on x's device, radius (B,) float64 numpy)``: the L2 radius
    ``sigma * Phi^-1(pA_lower)`` (0 where abstained).
    """
    _check_certify_settings(n0, n, alpha)
    if generator is None:
        raise ValueError("CERTIFY needs an explicit torch.Generator for its Monte Carlo draws")
    pred, radius, _ = Smooth(model, num_classes, sigma).certify(x, n0, n, float(alpha), generator,
                                                                batch_size=chunk)
    return pred, radius


def certified_accuracy_at_zero(model, x: torch.Tensor, y: torch.Tensor, *, sigma: float, n0: int,
                               n: int, alpha: float, generator: torch.Generator, chunk: int = 256,
                               num_classes: int = 10) -> tuple[float, torch.Tensor]:
    """Certified accuracy at radius 0 (Cohen et al. 2019): the share of images whose CERTIFY
    prediction (:func:`certify_predictions`; ``n0`` selection draws, ``n`` estimation draws,
    level ``alpha``) is the label ``y`` ``(B,)``, not abstained, with radius ``>= 0``.

    An image counts when the class chosen by the ``n0`` draws is its label and the
    Clopper-Pearson lower bound of that class's probability from the ``n`` draws is ``>= 0.5``;
    so even a base classifier that is always right needs ``alpha ** (1 / n) >= 0.5``, i.e.
    ``n >= log2(1 / alpha)`` (10 draws at ``alpha = 0.001``). Returns ``(accuracy in [0, 1],
    correct (B,) bool on the CPU)``.
    """
    y = torch.as_tensor(y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("no images")
    pred, radius = certify_predictions(model, x, sigma=sigma, n0=n0, n=n, alpha=alpha,
                                       generator=generator, chunk=chunk, num_classes=num_classes)
    pred = pred.cpu()
    ok = (pred == y.cpu()) & (pred != ABSTAIN) & torch.as_tensor(radius >= 0)
    return float(ok.double().mean()), ok


def approximate_certified_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose smoothed prediction (``Smooth.predict``, ABSTAIN = -1) is the true
    label: SEM Table 1's ACA, a number in [0, 1]."""
    predictions = torch.as_tensor(predictions)
    labels = torch.as_tensor(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels "
                         f"{tuple(labels.shape)} must have the same shape")
    if predictions.numel() == 0:
        raise ValueError("no predictions")
    return float(((predictions == labels) & (predictions != ABSTAIN)).double().mean())


def certified_accuracy(predictions, radii, labels, radius_grid) -> np.ndarray:
    """Cohen et al.'s certified accuracy at each radius of ``radius_grid``: the share of images
    predicted correctly (not abstained) with certified radius ``>= r``. Returns an array."""
    pred = np.asarray(torch.as_tensor(predictions).cpu())
    lab = np.asarray(torch.as_tensor(labels).cpu())
    rad = np.asarray(radii, dtype=np.float64)
    grid = np.asarray(radius_grid, dtype=np.float64)
    ok = (pred == lab) & (pred != ABSTAIN)
    return (ok[None, :] & (rad[None, :] >= grid[:, None])).mean(1)
