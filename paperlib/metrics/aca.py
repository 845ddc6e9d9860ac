"""Approximated certified accuracy (SEM journal, Table 1) and certified-accuracy curves.

SEM's Table 1 lists, per sub-model and smoothing sigma, an "approximated certified accuracy"
(ACA); its values (e.g. 94.03 % for DenseNet100 at sigma 0.25, 9.99 % for a collapsed model)
are accuracies of the smoothed classifier's Monte Carlo prediction, i.e. certified accuracy at
radius 0 approximated by Cohen's PREDICT (abstentions count as errors). We compute it that way;
``certified_accuracy`` gives the whole curve over radii from CERTIFY's output.
"""

from __future__ import annotations

import numpy as np
import torch

from .certify import ABSTAIN


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
