"""Two one-thread worker processes against one process with every thread, on the default
profile's narrow SEM networks: the measurement behind ``sem.workers`` (``paperlib.parallel``).

Workload: one forward+backward pass through each of the default profile's 17 architectures
(``profiles/default.yaml``, untrained: speed does not depend on the weights), at batch 24 (an
attack step on a curve's images) and batch 128 (a training step). ``single``: one process with
``usable_cores()`` threads does the pass ``repeats`` times; ``pair``: two spawned processes with
``usable_cores() // 2`` threads each do it ``repeats`` times *each*, at the same time. The
speed-up is the work per second of the pair over the single process.

Writes ``benchmarks/results/parallel_workers.json``. Run: ``python benchmarks/parallel_workers.py``
(about 2 minutes on 2 idle cores).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperlib.config import load_params  # noqa: E402
from paperlib.models import build  # noqa: E402
from paperlib.parallel import usable_cores  # noqa: E402

REPEATS = 4


def one_pass_per_arch(threads: int, batch: int, repeats: int = REPEATS) -> float:
    """Seconds for ``repeats`` forward+backward passes through every default architecture."""
    torch.set_num_threads(threads)
    p = load_params(ROOT / "profiles" / "default.yaml")
    nets = [build(a, 10, width=m.width, **m.options).to(memory_format=torch.channels_last)
            for a, m in p.sem.zoo.models.items()]
    x = torch.rand(batch, 3, 32, 32).to(memory_format=torch.channels_last).requires_grad_()
    for net in nets:  # warm-up: oneDNN primitive creation
        net(x).sum().backward()
    t0 = time.perf_counter()
    for _ in range(repeats):
        for net in nets:
            net(x).sum().backward()
    return time.perf_counter() - t0


def _worker(args):
    return one_pass_per_arch(*args)


def main() -> None:
    cores = usable_cores()
    results = []
    for batch in (24, 128):
        single = one_pass_per_arch(cores, batch)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as pool:
            each = pool.map(_worker, [(max(1, cores // 2), batch)] * 2)
            pair_wall = max(each)
        speedup = 2 * single / pair_wall
        results.append({"batch": batch, "single_process_s": round(single, 2), "threads_single": cores,
                        "pair_each_s": [round(s, 2) for s in each], "threads_each": max(1, cores // 2),
                        "speedup_pair_over_single": round(speedup, 2)})
        print(f"batch {batch}: one process {single:.2f} s for the work, two processes {pair_wall:.2f} s for twice "
              f"the work: {speedup:.2f}x", flush=True)
    out = {"benchmark": "parallel_workers", "cpu": platform.processor() or platform.machine(), "cores": cores,
           "torch": torch.__version__, "repeats": REPEATS, "load_average_at_end": os.getloadavg(),
           "workload": "forward+backward through each of the default profile's 17 SEM architectures",
           "results": results}
    path = ROOT / "benchmarks" / "results" / "parallel_workers.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
