"""What CLM's epoch-interleaved population training costs, against its references, in one run.

Ten LeNet5 submodels on the mirror's 5,000 MNIST training images, one epoch each, four ways:

- ``sequential``: the reference, ``paperlib.train.train`` called for one member after the other;
- ``interleaved``: :func:`paperlib.train.population.train_population` without counter-linking
  (Algorithm 1's order; the test suite shows the weights equal the sequential ones);
- ``counter_linked``: the same with CLM's PRSE every 10 steps (``paperlib.clm.counter_linking``);
- ``workers``: the members as independent jobs in two one-thread worker processes (how ULM trains).

All in this process's thread setting (2 threads) except ``workers``. Writes
``benchmarks/results/clm_population.json`` with the CPU model.

    .venv/bin/python benchmarks/clm_population.py
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402  benchmarks/machine.py


def main() -> int:
    from paperlib.clm.counter_linking import CounterLinking, link_mask, weight_layer
    from paperlib.clm.populations import _Job, _shared, _train_member
    from paperlib.config import load_params
    from paperlib.data import load_split
    from paperlib.seeding import make_generator
    from paperlib.train import TrainConfig, train
    from paperlib.train.population import train_population
    from paperlib.zoo.store import build_model
    from paperlib.zoo.workers import map_shared
    import tempfile

    ds = load_params(ROOT / "profiles" / "default.yaml").clm.datasets["mnist"]
    x, y = load_split("mnist", "train")
    raw = dict(ds.train)
    raw["epochs"] = 1
    cfg = TrainConfig.from_dict(raw)
    ds = dataclasses.replace(ds, train=raw)  # the worker jobs build the same one-epoch config
    n = ds.members

    def fresh():
        return [build_model("lenet5", 10, in_channels=1, width=ds.width, seed=i) for i in range(n)]

    out = {"benchmark": "clm_population", "cpu": cpu_model(), "torch_threads": torch.get_num_threads(),
           "members": n, "images": int(len(y)), "epochs": 1, "config": cfg.to_dict(), "seconds": {}}
    train(fresh()[0], x, y, cfg, seed=99, progress=False)  # warm-up: the first run pays oneDNN's setup
    t = time.perf_counter()
    for i, m in enumerate(fresh()):
        train(m, x, y, cfg, seed=100 + i, progress=False)
    out["seconds"]["sequential"] = time.perf_counter() - t

    t = time.perf_counter()
    train_population(fresh(), x, y, cfg, seeds=[100 + i for i in range(n)], progress=False)
    out["seconds"]["interleaved"] = time.perf_counter() - t

    models = fresh()
    mask = link_mask(weight_layer(models[0], 1).weight.shape, make_generator(0, "bench", "mask"))
    links = [CounterLinking(models, i, mask, alpha=ds.link.alpha, delta=ds.link.delta, every=ds.link.every,
                            generator=make_generator(0, "bench", "prse", i)) for i in range(n)]
    t = time.perf_counter()
    train_population(models, x, y, cfg, seeds=[100 + i for i in range(n)], callbacks_for=lambda i: [links[i]],
                     progress=False)
    out["seconds"]["counter_linked"] = time.perf_counter() - t
    out["prse_updates_per_member"] = links[0].updates

    with tempfile.TemporaryDirectory() as tmp:
        jobs = [_Job(i, "bench", tmp, 0) for i in range(n)]
        t = time.perf_counter()
        map_shared(_train_member, jobs, _shared, (x, y, ds, "train", False, "clm.datasets.mnist", 10, 1), workers=2,
                   log=None)
        out["seconds"]["workers"] = time.perf_counter() - t
    s = out["seconds"]
    out["ratios"] = {"interleaved_over_sequential": s["interleaved"] / s["sequential"],
                     "counter_linked_over_sequential": s["counter_linked"] / s["sequential"],
                     "workers_over_sequential": s["workers"] / s["sequential"]}
    path = ROOT / "benchmarks" / "results" / "clm_population.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: out[k] for k in ("cpu", "seconds", "ratios")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
