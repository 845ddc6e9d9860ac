"""RSE's inference as a stochastic defense (Liu et al., ECCV 2018, Sec. 3.3 "ensemble over
noise"), and the SEM paper's RSE baseline.

The models carry their own randomness: :class:`~paperlib.models.noise.GaussianNoise` layers
(RSE's :func:`~paperlib.models.rse.rse_vgg16` / :func:`~paperlib.models.rse.rse_resnext`, or any
registry network passed through :func:`~paperlib.models.rse.add_noise_layers`). A query runs
every model once with its noise layers drawing from the query's generator and answers with the
sum of the logits. The noise is elementwise over the whole batch, so every row gets an
independent draw (the :class:`~paperlib.defenses.base.StochasticDefense` contract) with no
per-row loop; ``probs(x, n)`` is RSE's ensemble over ``n`` noise draws.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..models.noise import noise_layers
from .base import StochasticDefense


class RSEEnsemble(StochasticDefense):
    """``sum_m f_m(x; noise)`` over ``models`` (one model: RSE's single noisy network).

    Logits are summed, as in :class:`~paperlib.defenses.ensemble.SmoothedEnsemble`. During a
    query every noise layer of every model draws from the query's generator and is enabled; the
    layers' previous generators and ``enabled`` flags are restored afterwards (normally ``None``
    and ``True``; the training engine sets them while it trains). No discrete attributes:
    :meth:`condition` returns ``self``. Put the models in eval mode (batch norm would otherwise
    mix the rows of a batch).
    """

    def __init__(self, models: Sequence[nn.Module], generator: torch.Generator | None = None):
        super().__init__(generator)
        if len(models) == 0:
            raise ValueError("models must not be empty")
        for i, m in enumerate(models):
            if not any(True for _ in noise_layers(m)):
                raise ValueError(f"RSEEnsemble: model {i} has no GaussianNoise layer (build an RSE "
                                 "model or apply paperlib.models.rse.add_noise_layers)")
        self.models = nn.ModuleList(models)

    def sample(self, x, generator):
        layers = [layer for m in self.models for layer in noise_layers(m)]
        saved = [(layer.generator, layer.enabled) for layer in layers]
        try:
            for layer in layers:
                layer.generator, layer.enabled = generator, True
            out = None
            for m in self.models:
                z = m(x)
                out = z if out is None else out + z
            return out
        finally:
            for layer, (g, enabled) in zip(layers, saved):
                layer.generator, layer.enabled = g, enabled
