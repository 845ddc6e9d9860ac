"""Independent jobs (smoothed fine-tunes, Table 1's models, a figure's curves) in worker
processes with one thread each.

Why processes: the default profile's narrow networks spend most of their time in per-operator
overhead, which PyTorch's intra-op threads do not hide. On the 2-core machine two one-thread
processes do 1.47x (training, batch 128) to 1.65x (attacks, batch 24) the work of one two-thread
process; ``benchmarks/parallel_workers.py`` measures it (``benchmarks/results/parallel_workers.json``).

Why results do not depend on the schedule: every job seeds its own generators from its name (see
:mod:`paperlib.seeding`), and its thread count is fixed by its position in the job list (the
last ``workers - 1`` jobs, which run while fewer than ``workers`` jobs are left, get more threads
so that no core idles at the end), so which worker runs a job, and when, changes nothing.
``workers=1`` runs the jobs in this process with its threads; that is a different floating-point
schedule, so changing ``workers`` may change the last digits (not the seeds) of the results.

Workers start with ``spawn`` (safe after PyTorch has started threads, and inside a Jupyter
kernel): ``fn`` and ``initializer`` must be importable module-level functions, and state they
share (loaded models, data) is built once per worker by ``initializer``; for that,
:func:`paperlib.zoo.workers.map_shared` (``fn(state, job)`` with ``state = factory(*args)``)
is the one way every paper uses, rather than a module-level dict per caller.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

import torch


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _start_worker(deterministic: bool, initializer: Callable | None, initargs: tuple) -> None:
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(deterministic)
    import paperlib.models  # noqa: F401  (paperlib.cpu_runtime settings, as in the parent)
    if initializer is not None:
        initializer(*initargs)


def _timed(fn: Callable, job: Any, threads: int | None = None) -> tuple[Any, float]:
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    out = fn(job)
    return out, time.perf_counter() - t0


def map_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int = 1,
             initializer: Callable | None = None, initargs: tuple = (),
             describe: Callable[[Any], str] = str, log: Callable[[str], None] | None = print,
             with_seconds: bool = False) -> list[Any]:
    """``[fn(job) for job in jobs]``, run by ``workers`` processes; results in the order of
    ``jobs`` whatever order they finish in.

    ``workers=1``: in this process (``initializer(*initargs)`` is called here first). ``workers``
    > 1: a spawn pool with PyTorch's deterministic mode as set here; job ``i`` of ``n`` runs
    with ``max(1, usable_cores() // min(workers, n - i))`` threads; jobs are handed out in list
    order, so put the longest first. ``log`` gets one line per finished job (``describe(job)`` and its seconds).
    The first failing job cancels the rest and its exception is raised, naming the job.
    ``with_seconds``: return ``(result, seconds)`` pairs (each job's own wall time).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    jobs = list(jobs)
    if workers == 1 or len(jobs) <= 1:
        if initializer is not None:
            initializer(*initargs)
        results = []
        for job in jobs:
            out, dt = _timed(fn, job)
            if log:
                log(f"{describe(job)}: {dt:.1f} s")
            results.append((out, dt) if with_seconds else out)
        return results
    cores, n = usable_cores(), len(jobs)
    ctx = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_start_worker,
                             initargs=(torch.are_deterministic_algorithms_enabled(), initializer, initargs)) as pool:
        futures = {pool.submit(_timed, fn, job, max(1, cores // min(workers, n - i))): i for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = futures[fut]
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise RuntimeError(f"job {describe(jobs[i])} failed in a worker: {exc!r}") from exc
                out, dt = fut.result()
                results[i] = (out, dt) if with_seconds else out
                if log:
                    log(f"{describe(jobs[i])}: {dt:.1f} s")
    return results
