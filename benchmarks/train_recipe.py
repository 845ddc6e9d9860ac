"""Clean accuracy per CPU-second: the old default-profile recipe against the new one, at equal time.

Old recipe (the default profile before issue 12): 2,500 class-balanced CIFAR-10 images, cosine
schedule from lr 0.05, no weight average, weight decay on every parameter, BatchNorm momentum 0.1;
more time meant more passes over the same 2,500 images.
New recipe (``params.yaml`` ``sem.zoo.train``): the budget spent on distinct images (each
architecture's ``train_images``, 2 epochs), a linear warm-up then linear decay (``onecycle``) from
lr 0.1, an exponential moving average of the weights (``ema_decay``), no weight decay on
BatchNorm weights and biases.

For each network at its default width, the new recipe is run at its default budget (``--fractions``
adds smaller ones); the old recipe then gets the same seconds (its epoch count set from a timed first epoch,
so its time matches to within about one epoch). One ablation row (ResNet18, new recipe without the
weight average) shows what the average adds. Every run is one thread in its own process, two runs
at a time (as the zoo trains); accuracy on 2,000 class-balanced test images with a 95%
Clopper-Pearson interval. ``sem_zoo_clean_accuracy`` is read from the default profile's run
(``results/sem_table1/tables/models.csv``, clean accuracy of every unsmoothed SEM network, Table
1's test images) when it exists.

Run: ``.venv/bin/python benchmarks/train_recipe.py`` -> ``benchmarks/results/train_recipe.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]

OLD = {"epochs": 1, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
       "schedule": "cosine", "augment": True, "checkpoint_every": 0}
OLD_IMAGES = 2500





def _run(spec: dict) -> dict:
    """One training run in this (one-thread) process: ``spec`` names the network, images, config."""
    import torch

    torch.set_num_threads(1)
    from paperlib.data import class_balanced_subset, load_split
    from paperlib.models import build
    from paperlib.seeding import make_generator
    from paperlib.train import TrainConfig, evaluate, train
    from paperlib.zoo.accuracy import proportion_interval

    x, y = load_split("cifar10", "train", root=str(REPO / "data"))
    xt, yt = load_split("cifar10", "test", root=str(REPO / "data"))
    ti = class_balanced_subset(yt, 2000, make_generator(0, "bench", "test"))
    idx = class_balanced_subset(y, spec["images"], make_generator(0, "bench", "train"))
    net = build(spec["arch"], 10, width=spec["width"], seed=0, **spec.get("options", {}))
    cfg = TrainConfig(**spec["config"])
    t0 = time.perf_counter()
    hist = train(net, x[idx], y[idx], cfg, seed=0, progress=False)
    seconds = time.perf_counter() - t0
    correct = int((torch.cat([net.eval()(xt[ti][i:i + 500].float() / 255).argmax(1) for i in range(0, 2000, 500)])
                   == yt[ti]).sum())
    lo, hi = proportion_interval(correct, 2000)
    return {**spec, "seconds": round(seconds, 1), "epoch_seconds": [round(s, 2) for s in hist["wall_s"]],
            "accuracy": correct / 2000, "ci95": [round(lo, 4), round(hi, 4)],
            "precision": hist["config"]["precision"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", nargs="+", default=["resnet18", "vgg16", "densenet121", "mobilenetv2", "cw_cifar"])
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0])
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/train_recipe.json"))
    args = ap.parse_args()
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    zoo = params["sem"]["zoo"]
    t_start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")

    def net_of(arch):
        if arch == "cw_cifar":  # Liang & Samavi's CIFAR-10 member at T = 1: params.yaml liang.ensembles.cifar10
            ens = params["liang"]["ensembles"]["cifar10"]
            return {"arch": arch, "width": ens["width"], "options": {}}, dict(ens["train"]), ens["train_images"]
        m = zoo["models"][arch]
        new = {k: v for k, v in {**zoo["train"], **m.get("train", {})}.items()}
        return ({"arch": arch, "width": m["width"], "options": m.get("options", {})}, new,
                m.get("train_images") or params["sem"]["train_subset"])

    # 1. The new recipe at each budget, and the old recipe's one-epoch time (to set its epochs).
    news, probes = [], []
    for arch in args.archs:
        net, new, images = net_of(arch)
        for f in args.fractions:
            news.append({**net, "recipe": "new", "images": int(images * f), "config": new})
        probes.append({**net, "recipe": "old-probe", "images": OLD_IMAGES,
                       "config": {**OLD, "precision": new["precision"], "channels_last": new.get("channels_last", False)}})
    news.append({**net_of("resnet18")[0], "recipe": "new-without-ema", "images": net_of("resnet18")[2],
                 "config": {**net_of("resnet18")[1], "ema_decay": 0.0}})
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        new_rows = list(pool.map(_run, news))
        probe_rows = list(pool.map(_run, probes))
    epoch_s = {r["arch"]: statistics.median(r["epoch_seconds"]) for r in probe_rows}
    # 2. The old recipe given the same seconds as each new run.
    olds = []
    for r in new_rows:
        if r["recipe"] != "new":
            continue
        epochs = max(1, round(r["seconds"] / epoch_s[r["arch"]]))
        cfg = {**OLD, "epochs": epochs, "precision": r["config"]["precision"],
               "channels_last": r["config"].get("channels_last", False)}
        olds.append({k: r[k] for k in ("arch", "width", "options")} | {"recipe": "old", "images": OLD_IMAGES,
                                                                         "config": cfg, "matched_to_seconds": r["seconds"]})
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        old_rows = list(pool.map(_run, olds))

    rows = new_rows + old_rows
    pairs = []
    for n in (r for r in new_rows if r["recipe"] == "new"):
        o = next(r for r in old_rows if r["arch"] == n["arch"] and r["matched_to_seconds"] == n["seconds"])
        pairs.append({"arch": n["arch"], "new_seconds": n["seconds"], "new_accuracy": n["accuracy"],
                      "new_images_x_epochs": f"{n['images']} x {n['config']['epochs']}",
                      "old_seconds": o["seconds"], "old_accuracy": o["accuracy"],
                      "old_images_x_epochs": f"{OLD_IMAGES} x {o['config']['epochs']}",
                      "gain_points": round(100 * (n["accuracy"] - o["accuracy"]), 1)})
    table1 = REPO / "results/sem_table1/tables/models.csv"
    zoo_acc = None
    if table1.is_file():
        import pandas as pd

        t = pd.read_csv(table1)
        clean = t[t.sigma == 0]
        zoo_acc = {r.arch: round(float(r.accuracy), 4) for r in clean.itertuples()}
    result = {
        "benchmark": "train_recipe", "cpu": cpu_model(), "threads_per_run": 1, "runs_at_a_time": 2,
        "what": __doc__.split("\n\n")[0],
        "old_recipe": {**OLD, "images": OLD_IMAGES, "epochs": "set to match the new run's seconds"},
        "new_recipe": "params.yaml sem.zoo.train with each architecture's train_images (cw_cifar: liang.ensembles.cifar10.train)",
        "test_images": 2000, "pairs_at_equal_time": pairs, "runs": rows,
        "sem_zoo_clean_accuracy": zoo_acc,
        "sem_zoo_clean_accuracy_source": "results/sem_table1/tables/models.csv (sigma 0 rows, Table 1's 200 test images)"
        if zoo_acc else "not available: run the default profile first",
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    if zoo_acc:
        accs = sorted(zoo_acc.values())
        result["sem_zoo_median"] = statistics.median(accs)
        result["sem_zoo_min"] = accs[0]
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(pairs, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
