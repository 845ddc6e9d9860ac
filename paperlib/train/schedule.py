"""Learning-rate schedules as pure functions of the step (resumable without scheduler state)."""

from __future__ import annotations

import math

from .config import TrainConfig


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of a run of ``config.epochs`` epochs."""
    total = max(1, config.epochs * steps_per_epoch)
    s = config.schedule
    if s == "constant":
        return config.lr
    if s == "step":
        epoch = step // steps_per_epoch
        return config.lr * config.gamma ** sum(epoch >= m for m in config.milestones)
    if s == "cosine":
        return 0.5 * config.lr * (1 + math.cos(math.pi * step / total))
    if s == "onecycle":
        warm = config.warmup_fraction * total
        if step < warm:
            return config.lr * (step + 1) / warm
        return config.lr * max(0.0, (total - step) / max(1.0, total - warm))
    if s == "inverse_time":
        return config.lr / (1.0 + config.decay * step)
    raise ValueError(f"schedule {s!r} unknown")
