"""Epoch-interleaved training of a population of networks, on the one training engine.

CLM's Algorithm 1 (Jasser & Garibay, section 2) trains its submodels "simultaneously": submodel
1 trains one epoch, then submodel 2 trains one epoch, ..., then every submodel trains its second
epoch, and so on; a periodic step (PRSE) compares the submodel being trained with another one
*as that one stands at that moment*. :func:`train_population` gives exactly this order without a
second training loop: every member runs :func:`paperlib.train.train` (its own optimizer, data
order, augmentation and schedule, from its own seed) in its own thread, and a turn-taking
callback lets only one member run at a time, handing the turn on at every epoch end in the
fixed order 0, 1, ..., n-1. The threads never run together, so the result is deterministic and
equal to a sequential epoch-by-epoch loop; member callbacks (``callbacks_for``) see the whole
population through the list they were built with.

Restrictions, checked: members must not use ``nn.Dropout`` (the engine gives dropout torch's
global generator, which the member threads would share), and a population is trained as a whole
(a member directory holding a finished run is loaded by the engine, the others train against it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from .callbacks import Callback, TrainState
from .config import TrainConfig
from .engine import train


class PopulationAborted(RuntimeError):
    """Raised in the waiting members when another member failed."""


class _Turns:
    """Round-robin turns among ``n`` members; a failed member aborts the others."""

    def __init__(self, n: int):
        self.n = n
        self.turn = 0
        self.done = [False] * n
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def wait(self, i: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.turn == i or self.error is not None)
            if self.error is not None:
                raise PopulationAborted(f"member {i} stopped: another member failed ({self.error!r})")

    def _pass_locked(self, i: int) -> None:
        if self.turn != i:
            return
        for k in range(1, self.n + 1):
            j = (i + k) % self.n
            if not self.done[j]:
                self.turn = j
                break
        else:
            self.turn = -1
        self.cond.notify_all()

    def pass_on(self, i: int) -> None:
        with self.cond:
            self._pass_locked(i)

    def finish(self, i: int) -> None:
        with self.cond:
            self.done[i] = True
            self._pass_locked(i)

    def fail(self, error: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()


class _TurnTaking(Callback):
    """Wraps a member's callbacks: waits for the turn before training and after each epoch."""

    def __init__(self, turns: _Turns, index: int, inner: Sequence, on_epoch: Callable[[int, TrainState], None] | None):
        self.turns, self.index, self.inner, self.on_epoch = turns, index, list(inner), on_epoch

    def _call(self, hook: str, state: TrainState) -> None:
        for cb in self.inner:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(state)

    def on_train_begin(self, state):
        self.turns.wait(self.index)
        self._call("on_train_begin", state)

    def on_step_end(self, state):
        self._call("on_step_end", state)

    def on_epoch_end(self, state):
        self._call("on_epoch_end", state)
        if self.on_epoch is not None:
            self.on_epoch(self.index, state)
        self.turns.pass_on(self.index)
        self.turns.wait(self.index)

    def on_train_end(self, state):
        self._call("on_train_end", state)


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
    for i, m in enumerate(models):
        if any(isinstance(mod, nn.modules.dropout._DropoutNd) for mod in m.modules()):
            raise ValueError(f"member {i} has dropout: its draws would come from torch's global generator, "
                             f"shared by the member threads; epoch-interleaved training needs members without dropout")
    turns = _Turns(n)
    histories: list[dict | None] = [None] * n
    bar = None
    if progress:
        from tqdm import tqdm
        import sys

        bar = tqdm(total=n * config.epochs, desc="population", unit="epoch", ascii=True, ncols=100,
                   mininterval=2.0, file=sys.stderr)

    def tick(i: int, state: TrainState) -> None:
        if bar is not None:
            bar.update(1)

    def run(i: int) -> None:
        try:
            cbs = [_TurnTaking(turns, i, callbacks_for(i) if callbacks_for else (), tick)]
            histories[i] = train(models[i], x_train, y_train, config, seed=int(seeds[i]),
                                 checkpoint_dir=None if checkpoint_dirs is None else checkpoint_dirs[i],
                                 x_val=x_val, y_val=y_val, callbacks=cbs, progress=False)
        except PopulationAborted:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            turns.fail(err)
            histories[i] = err  # type: ignore[assignment]
        finally:
            turns.finish(i)

    with torch.random.fork_rng(devices=[]):  # the engine seeds the global RNG per member: undo it
        threads = [threading.Thread(target=run, args=(i,), name=f"population-member-{i}") for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if bar is not None:
        bar.close()
    if turns.error is not None:
        raise turns.error
    return histories  # type: ignore[return-value]
