"""Chunk size of batched Monte Carlo prediction: which rows-per-forward beat a per-draw loop.

``paperlib.metrics.monte_carlo_counts`` stacks the ``N`` draws of ``B`` images into ``N * B``
rows and cuts them into chunks. A fixed chunk of 256 ran at 1.04x of a loop of ``N`` forwards of
the ``B``-image batch on an AMX Xeon but 0.91x on a Zen 5 EPYC (``attack_throughput.py``). This
benchmark times, on the networks the default profile evaluates (Gaussian-smoothed SEM members),
the loop and the batched version at several chunk sizes and at the rule
:func:`paperlib.metrics.montecarlo.auto_chunk`, with one and two threads, in one run, interleaved
(median of ``--repeats``), and records the CPU.

Run: ``.venv/bin/python benchmarks/mc_chunk.py`` -> ``benchmarks/results/mc_chunk.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from machine import cpu_model
from paperlib.defenses import GaussianSmoothing
from paperlib.metrics.montecarlo import auto_chunk, monte_carlo_counts
from paperlib.models import build
from paperlib.seeding import make_generator

NETWORKS = {  # the default profile's SEM members (params.yaml sem.zoo.models)
    "resnet18": dict(width=0.125),
    "densenet121": dict(width=0.125),
    "vgg16": dict(width=0.125),
}




def loop_counts(defense, x, n, generator):
    """Reference: ``n`` forwards of the ``B``-image batch, one per draw."""
    counts = torch.zeros(x.shape[0], 10, dtype=torch.long)
    rows = torch.arange(x.shape[0])
    with torch.inference_mode():
        for _ in range(n):
            counts[rows, defense(x, generator=generator).argmax(1)] += 1
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--batches", type=int, nargs="+", default=[24, 64, 200])
    ap.add_argument("--chunks", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/mc_chunk.json")
    args = ap.parse_args()
    t_start = time.perf_counter()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for arch, kw in NETWORKS.items():
            net = build(arch, 10, seed=0, **kw).to(memory_format=torch.channels_last).eval().requires_grad_(False)
            defense = GaussianSmoothing(net, 0.25)
            for b in args.batches:
                x = torch.rand(b, 3, 32, 32, generator=make_generator(0, "x", b))
                rule = auto_chunk(b)
                fns = {"loop": lambda: loop_counts(defense, x, args.draws, make_generator(0, "g"))}
                for c in sorted(set(args.chunks) | {rule}):
                    fns[f"chunk_{c}"] = (lambda c=c: monte_carlo_counts(defense, x, args.draws, make_generator(0, "g"),
                                                                        chunk=c))
                times = {k: [] for k in fns}
                for k in fns:  # warm-up
                    fns[k]()
                for _ in range(args.repeats):
                    for k, fn in fns.items():
                        t0 = time.perf_counter()
                        fn()
                        times[k].append(time.perf_counter() - t0)
                med = {k: statistics.median(v) for k, v in times.items()}
                speed = {k: round(med["loop"] / v, 3) for k, v in med.items() if k != "loop"}
                row = {"threads": threads, "arch": arch, "batch": b, "draws": args.draws, "rule_chunk": rule,
                       "loop_s": round(med["loop"], 4), "speedup_vs_loop": speed,
                       "rule_speedup": speed[f"chunk_{rule}"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    rule_speedups = [r["rule_speedup"] for r in rows]
    result = {
        "benchmark": "mc_chunk", "cpu": cpu_model(), "torch": torch.__version__,
        "what": "Monte Carlo prediction (Gaussian smoothing, sigma 0.25): batched monte_carlo_counts at each chunk "
                "vs a loop of per-draw forwards of the B-image batch (the reference, measured in the same run)",
        "rule": "auto_chunk(B) = B * max(1, 256 // B) rows (whole draws of the batch, about 256 rows, never fewer than B)",
        "statistic": f"median of {args.repeats} interleaved repeats after one warm-up",
        "rule_speedup_min": min(rule_speedups), "rule_speedup_median": statistics.median(rule_speedups),
        "rows": rows, "wall_s": round(time.perf_counter() - t_start, 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("rule speed-up vs loop: min", result["rule_speedup_min"], "median", result["rule_speedup_median"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
