"""Shared state (loaded models, test images) for the jobs of :func:`paperlib.parallel.map_jobs`.

A figure's curves or a table's models are independent jobs, but they share what is expensive to
build (a loaded collection) or to ship (the test images). :func:`map_shared` builds that state
once per worker with ``factory(*args)`` and calls ``fn(state, job)`` for every job:

* ``workers == 1`` (or a single job): ``factory`` runs here, the state is handed to ``fn``
  directly, nothing global is touched (so a job may itself call :func:`map_shared`).
* ``workers > 1``: every spawn worker runs ``factory(*args)`` once in its initializer
  (:func:`init_worker_state`) and keeps the result in this module; ``fn`` receives it.

``fn`` and ``factory`` must be importable module-level functions (or classes), and ``args``
picklable, because workers start with ``spawn``. Results do not depend on the schedule as long
as a job only reads the state and draws its randomness from generators named by the job (see
:mod:`paperlib.parallel`); a job that mutated the state would make its result depend on which
jobs its worker ran before it.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

from ..parallel import map_jobs

_STATE: dict[str, Any] = {}


def init_worker_state(factory: Callable[..., Any], *args: Any) -> None:
    """``map_jobs`` initializer: this process's state becomes ``factory(*args)``."""
    _STATE.clear()
    _STATE["state"] = factory(*args)


def worker_state() -> Any:
    """The state :func:`init_worker_state` built in this process; RuntimeError if none was."""
    try:
        return _STATE["state"]
    except KeyError:
        raise RuntimeError("no worker state in this process: run the jobs with map_shared "
                           "(or map_jobs(initializer=init_worker_state, initargs=(factory, ...)))") from None


def _call_with_worker_state(fn: Callable[[Any, Any], Any], job: Any) -> Any:
    return fn(worker_state(), job)


def map_shared(fn: Callable[[Any, Any], Any], jobs: Sequence[Any], factory: Callable[..., Any],
               args: tuple = (), *, workers: int = 1, **map_kwargs: Any) -> list[Any]:
    """``[fn(state, job) for job in jobs]`` with ``state = factory(*args)`` built once per
    process, run by :func:`paperlib.parallel.map_jobs` in ``workers`` processes (results in
    the order of ``jobs``). ``map_kwargs``: ``describe``, ``log``, ``with_seconds``."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    jobs = list(jobs)
    if workers == 1 or len(jobs) <= 1:
        return map_jobs(partial(fn, factory(*args)), jobs, workers=workers, **map_kwargs)
    return map_jobs(partial(_call_with_worker_state, fn), jobs, workers=workers, initializer=init_worker_state,
                    initargs=(factory, *args), **map_kwargs)
