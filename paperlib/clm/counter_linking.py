"""Counter-linking (Jasser & Garibay, section 2: Figure 3, equations 4-5, Algorithm 1's PRSE).

The counter-linked weights (CLWs, ``w_c``) of a layer are chosen by a random binary *mask*
``l`` drawn once for the whole population (Figure 3: one 5x5 mask for LeNet5's 1-channel
filters, three 3x3 masks for ResNet18's 3-channel filters; the mask has the shape of one filter,
``(in_channels, k, k)``, and applies to every filter of the layer). Every ``every`` steps of a
submodel's training (the periodic random similarity examination, PRSE, "n = 10 steps") another
submodel ``m_j`` is drawn uniformly among the others and

    beta = 1[|W_i - W_j| < delta]                                 (eq. 4)
    W_i <- (O + (-1)^n alpha) * beta * l + W_i                     (eq. 5)

with ``n`` the submodel's number (1-based, as the paper numbers them in Figure 6: odd submodels
are pushed in the negative direction, even ones in the positive).

The paper always links the first weight layer (``l = 1``); :func:`weight_layer` accepts any
index and refuses one the network does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..train.callbacks import Callback, TrainState


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The convolution and linear layers of ``model``, in module order (the paper's "weight layers")."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def weight_layer(model: nn.Module, layer: int, key: str = "layer") -> nn.Module:
    """Weight layer number ``layer`` (1-based) of ``model``; ValueError naming ``key`` if it has none."""
    layers = weight_layers(model)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= len(layers):
        raise ValueError(f"{key}: the network has weight layers 1..{len(layers)}, got {layer!r}")
    return layers[layer - 1]


def link_mask(weight_shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """A uniform random 0/1 mask of one filter's shape (``weight_shape[1:]``), drawn from ``generator``:
    about half of each filter's weights become counter-linked (Figure 3)."""
    shape = tuple(weight_shape[1:])
    if not shape:
        raise ValueError(f"a weight of shape {tuple(weight_shape)} has no filter dimensions to mask")
    return torch.randint(0, 2, shape, generator=generator).float()


def prse_update(w_i: torch.Tensor, w_j: torch.Tensor, mask: torch.Tensor, *, alpha: float, delta: float,
                number: int) -> torch.Tensor:
    """Equations 4-5: the new weights of submodel number ``number`` (1-based) after comparing its
    weights ``w_i`` with ``w_j``: ``w_i + (-1)^number * alpha * beta * mask``, ``beta`` marking the
    weights closer than ``delta``. ``mask`` has one filter's shape and applies to every filter."""
    beta = ((w_i - w_j).abs() < delta).to(w_i.dtype)
    sign = -1.0 if number % 2 == 1 else 1.0
    return w_i + sign * alpha * beta * mask.to(w_i.dtype)


class CounterLinking(Callback):
    """The PRSE of Algorithm 1 as a training callback of member ``index`` (0-based) of ``population``.

    Every ``every`` steps within an epoch (the step counter restarts with each epoch, as the
    submodel "has been trained for n = 10 steps" in the current epoch), a partner ``j != index``
    is drawn from ``generator`` and :func:`prse_update` is applied to the linked layer in place.
    ``trace`` records the monitored weight (Figure 5) after every step: ``(global step, value)``.
    """

    def __init__(self, population: Sequence[nn.Module], index: int, mask: torch.Tensor, *, alpha: float,
                 delta: float, every: int = 10, layer: int = 1, generator: torch.Generator,
                 monitor: tuple[int, ...] | None = None):
        if len(population) < 2:
            raise ValueError("counter-linking needs a population of at least 2 submodels")
        if not 0 <= index < len(population):
            raise ValueError(f"index must be in 0..{len(population) - 1}, got {index}")
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.population, self.index, self.mask = list(population), index, mask
        self.alpha, self.delta, self.every, self.layer = float(alpha), float(delta), every, layer
        self.generator = generator
        self.monitor = monitor
        self.trace: list[tuple[int, float]] = []
        self.updates = 0
        self.linked_changes = 0
        self._weights = [weight_layer(m, layer).weight for m in self.population]
        if tuple(self.mask.shape) != tuple(self._weights[index].shape[1:]):
            raise ValueError(f"mask of shape {tuple(self.mask.shape)} does not fit layer {layer}'s filters "
                             f"{tuple(self._weights[index].shape[1:])}")

    def partner(self) -> int:
        j = int(torch.randint(0, len(self.population) - 1, (), generator=self.generator))
        return j + 1 if j >= self.index else j

    @torch.no_grad()
    def on_step_end(self, state: TrainState) -> None:
        if (state.step + 1) % self.every == 0:
            w_i, w_j = self._weights[self.index], self._weights[self.partner()]
            new = prse_update(w_i, w_j, self.mask.to(w_i.device), alpha=self.alpha, delta=self.delta,
                              number=self.index + 1)
            self.linked_changes += int((new != w_i).sum())
            w_i.copy_(new)
            self.updates += 1
        if self.monitor is not None:
            self.trace.append((state.global_step, float(self._weights[self.index][self.monitor])))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "updates": self.updates,
                "linked_changes": self.linked_changes, "trace": list(self.trace)}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.updates, self.linked_changes = state["updates"], state["linked_changes"]
        self.trace = [tuple(t) for t in state["trace"]]


def monitored_index(mask: torch.Tensor) -> tuple[int, ...]:
    """The weight Figure 5 follows: filter 0's first counter-linked position (as the official
    code picks it), as an index into the layer's weight."""
    flat = mask.flatten().nonzero()
    if flat.numel() == 0:
        raise ValueError("the mask links no weight")
    pos = torch.unravel_index(flat[0, 0], tuple(mask.shape))
    return (0, *(int(p) for p in pos))
