"""Per-step / per-epoch hooks of the training engine.

A callback is any object with some of the methods of :class:`Callback`; the engine calls
those it has. Callbacks that keep state (counters, their own generator) implement
``state_dict()``/``load_state_dict()`` so that a resumed run continues exactly; the engine
stores it in the resumable checkpoint. CLM's counter-linking (Jasser & Garibay, Alg. 1) is a
per-step callback working on ``state.models``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class TrainState:
    """What a callback sees. ``epoch`` and ``step`` are 0-based; ``global_step`` counts
    optimizer steps since the start of the run (across resumes). ``loss`` is the detached
    loss of the last step; ``x``/``y`` its batch (pixels in [0, 1] after augmentation)."""

    models: list[nn.Module]
    optimizer: torch.optim.Optimizer
    config: object
    seed: int
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    loss: torch.Tensor | None = None
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    history: dict = field(default_factory=dict)
    stop: bool = False  # a callback may set it to end training after the current epoch


class Callback:
    """No-op base; override what you need."""

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


def call(callbacks, hook: str, state: TrainState) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)
