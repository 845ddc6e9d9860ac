"""Epoch-interleaved training of a population of networks, on the one training engine.

CLM's Algorithm 1 (Jasser & Garibay, section 2) trains its submodels "simultaneously": submodel
1 trains one epoch, then submodel 2 trains one epoch, ..., then every submodel trains its second
epoch, and so on; a periodic step (PRSE) compares the submodel being trained with another one
*as that one stands at that moment*. :func:`train_population` gives exactly this order without a
second training loop: every member is a run of the engine's loop
(:func:`paperlib.train.engine.fit_epochs`, its own optimizer, data order, augmentation and
schedule, from its own seed), advanced one epoch at a time in the fixed order 0, 1, ..., n-1, in
this thread. Member callbacks (``callbacks_for``) see the whole population through the list they
were built with.

Each member keeps its own state of torch's global RNG (what dropout draws from), swapped in for
its epochs, so a member draws exactly what it would draw trained alone. An earlier version ran
each member in its own thread and took turns; on this 2-core CPU that was 1.45x slower than
training the members one after the other (torch's per-thread pools), and it could not allow
dropout (``benchmarks/results/clm_population.json``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..seeding import derive_seed
from .config import TrainConfig
from .engine import fit_epochs


def train_population(models: Sequence[nn.Module], x_train: torch.Tensor, y_train: torch.Tensor,
                     config: TrainConfig, *, seeds: Sequence[int],
                     callbacks_for: Callable[[int], Sequence] | None = None,
                     checkpoint_dirs: Sequence[str | Path] | None = None,
                     x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                     progress: bool = True) -> list[dict]:
    """Train ``models`` on the same data, epoch by epoch in turn (Algorithm 1 of CLM).

    Args:
        models: the members, trained in place; all on one device.
        x_train, y_train, config, x_val, y_val: as :func:`paperlib.train.train`, shared.
        seeds: one seed per member (its data order, augmentation and attack streams).
        callbacks_for: ``i -> callbacks of member i`` (e.g. CLM's counter-linking, which reads
            the other members' current weights).
        checkpoint_dirs: one directory per member for ``model.pt`` and ``history.json``.
        progress: one bar over all members' epochs.

    Returns the members' histories, in order (each as :func:`paperlib.train.train` returns it).
    """
    n = len(models)
    if n < 1:
        raise ValueError("train_population needs at least one model")
    if len(seeds) != n:
        raise ValueError(f"seeds: one per member, got {len(seeds)} for {n} members")
    if checkpoint_dirs is not None and len(checkpoint_dirs) != n:
        raise ValueError(f"checkpoint_dirs: one per member, got {len(checkpoint_dirs)} for {n} members")
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=n * config.epochs, desc="population", unit="epoch", ascii=True, ncols=100,
                   mininterval=2.0, file=sys.stderr)

    histories: list[dict | None] = [None] * n
    with torch.random.fork_rng(devices=[]):  # the members' global-RNG states; the caller's is left as it was
        rng_states = []
        for i in range(n):
            torch.random.manual_seed(derive_seed(int(seeds[i]), "train", "dropout"))  # as train() seeds it
            rng_states.append(torch.random.get_rng_state())
        runs = [fit_epochs([models[i]], x_train, y_train, config, seed=int(seeds[i]),
                           callbacks=list(callbacks_for(i)) if callbacks_for else [],
                           checkpoint_dir=None if checkpoint_dirs is None else checkpoint_dirs[i],
                           x_val=x_val, y_val=y_val) for i in range(n)]
        active = list(range(n))
        try:
            while active:
                for i in list(active):
                    torch.random.set_rng_state(rng_states[i])
                    try:
                        next(runs[i])
                    except StopIteration as done:
                        histories[i] = done.value
                        active.remove(i)
                    rng_states[i] = torch.random.get_rng_state()
                    if bar is not None:
                        bar.update(1)
        finally:
            for run in runs:  # a member failed: end the others' loops (their finally blocks) now
                run.close()
            if bar is not None:
                bar.close()
    return histories  # type: ignore[return-value]
