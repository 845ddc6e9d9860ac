"""Noise units of SEM's Table 1 (SEM issue item 6): is the paper's sigma in pixel units or in
normalized-input units?

SEM's Table 1 prints DenseNet100 at 83.56% approximated certified accuracy (ACA) for sigma = 1.5,
only 10.5 points below its 94.03% at sigma = 0.25 (a ratio of 0.89), far above what Gaussian noise
of std 1.5 on [0, 1] pixels allows. A likely reading: the sigma is meant after the per-channel
normalization ``(x - mean_c) / std_c``, i.e. pixel noise of std ``sigma * std_c`` (CIFAR-10:
std_c ~ 0.25, so sigma 1.5 is ~0.37 in pixels). :mod:`paperlib.models.noise_space` has both.

What is run, at the default profile's scale (``params.yaml``): for each member (default DenseNet100,
ResNet50, WRN), the pinned unsmoothed network ``models/sem/<arch>/sigma_0`` (read only) is
fine-tuned at each of Table 1's sigmas (0.25, 0.75, 1.5) in both readings with the zoo's own
recipe (``sem.zoo.finetune`` on ``sem.zoo.finetune_images`` class-balanced training images, the
zoo's subset stream and run seeds, ``input_noise_space`` the only difference), and its smoothed
accuracy is measured as Table 1 measures it: Cohen et al.'s PREDICT with ``sem.table1``'s draws and
level (abstention = error) on Table 1's ``sem.test_subset`` class-balanced test images, the Monte
Carlo stream of the Table 1 stage (so both readings see the same standard normal draws, scaled
differently). The pixel reading is the zoo's own fine-tune, so it also checks that the pixel
default is unchanged (``reproduces_pinned_model``: its weights against ``models/sem/<arch>/sigma_<s>``).

Reported per member and sigma: ACA in both readings with 95% Clopper-Pearson intervals and the
paper's cell; for each reading ACA(sigma)/ACA(0.25) (with a 95% bootstrap interval over the test
images) beside the paper's ratio; which reading the paper's ratios fit. Every member runs in its
own one-thread process, two at a time (as the zoo trains).

Run: ``.venv/bin/python benchmarks/noise_units.py`` -> ``benchmarks/results/noise_units.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
READINGS = ("pixel", "normalized")
BOOTSTRAP = 2000


def _member(spec: dict) -> dict:
    """Fine-tune and evaluate one member in both readings, in this (one-thread) process."""
    import os

    os.chdir(REPO)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    from paperlib.config.schema import from_mapping
    from paperlib.config.sem import ZooParams
    from paperlib.data import class_balanced_subset, load_split
    from paperlib.models.noise_space import pixel_noise_std
    from paperlib.sem.collection import build_zoo_model, load_member, member_dir, sigma_tag
    from paperlib.seeding import derive_seed, make_generator
    from paperlib.train import TrainConfig, load_checkpoint, train
    from paperlib.zoo.accuracy import model_accuracy
    from paperlib.zoo.store import freeze

    t_start = time.perf_counter()
    arch, seed, sem = spec["arch"], spec["seed"], spec["sem"]
    zoo = from_mapping(ZooParams, sem["zoo"], "sem.zoo")
    t1 = sem["table1"]
    zm = zoo.models[arch]
    x_train, y_train = load_split(sem["dataset"], "train", root=str(REPO / "data"))
    x_all, y_all = load_split(sem["dataset"], "test", root=str(REPO / "data"))
    test_idx = class_balanced_subset(y_all, sem["test_subset"], make_generator(seed, "sem", "table1-subset"))
    x_test, y_test = x_all[test_idx].float() / 255, y_all[test_idx]
    sub = class_balanced_subset(y_train, zoo.finetune_images or sem["train_subset"],
                                make_generator(seed, "sem", "train-subset"))
    in_channels = x_train.shape[1]

    base = load_member(spec["models_root"], arch, 0.0, zm, 10, in_channels)
    base_state = {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    t0 = time.perf_counter()
    clean, _ = model_accuracy(base.model, x_test, y_test, sigma=0.0, chunk=t1["chunk"])
    clean_s = time.perf_counter() - t0

    cells, correct = [], {}
    for s in spec["sigmas"]:
        for reading in READINGS:
            net = build_zoo_model(arch, zm, 10, in_channels, seed=derive_seed(seed, "sem", arch))
            net.load_state_dict(base_state)
            net = net.to(memory_format=torch.contiguous_format).train().requires_grad_(True)
            run = {**zoo.finetune, "input_noise_sigma": float(s), "input_noise_space": reading}
            cfg = from_mapping(TrainConfig, run, "sem.zoo.finetune")
            t0 = time.perf_counter()
            hist = train(net, x_train[sub], y_train[sub], cfg, seed=derive_seed(seed, "sem", arch, sigma_tag(s)),
                         progress=False)
            finetune_s = time.perf_counter() - t0
            freeze(net)
            std = pixel_noise_std(float(s), reading, net)
            t0 = time.perf_counter()
            # the Table 1 stage's stream for (arch, sigma): both readings see the same z
            row, ok = model_accuracy(net, x_test, y_test, sigma=std, mc_draws=t1["mc_draws"],
                                     predict_alpha=t1["predict_alpha"], chunk=t1["chunk"],
                                     generator=make_generator(seed, "sem", "table1", arch, float(s)))
            eval_s = time.perf_counter() - t0
            pinned = None
            if reading == "pixel":
                path = member_dir(spec["models_root"], arch, s) / "model.pt"
                if path.is_file():
                    ref = load_checkpoint(path)
                    mine = net.state_dict()
                    pinned = all(torch.equal(mine[k].contiguous(), ref[k].contiguous()) for k in ref)
            correct[(float(s), reading)] = ok.numpy()
            cells.append({"sigma": float(s), "reading": reading, "pixel_std": [round(v, 5) for v in std],
                          "accuracy": row["accuracy"], "ci95": [round(row["ci_low"], 4), round(row["ci_high"], 4)],
                          "correct": row["correct"], "n": row["n"], "abstained": row["abstained"],
                          "train_acc": round(hist["train_acc"][-1], 4), "precision": hist["config"]["precision"],
                          "reproduces_pinned_model": pinned,
                          "finetune_s": round(finetune_s, 1), "evaluate_s": round(eval_s, 1)})

    # ACA(sigma) / ACA(0.25) per reading, with a bootstrap interval over the test images (resampled
    # jointly: the same images enter every cell)
    rng = np.random.default_rng(derive_seed(seed, "bench", "noise-units", arch) % 2**32)
    n = len(y_test)
    boot = rng.integers(0, n, size=(BOOTSTRAP, n))
    s0 = min(spec["sigmas"])
    ratios = {}
    for reading in READINGS:
        low = correct[(s0, reading)]
        for s in spec["sigmas"]:
            high = correct[(float(s), reading)]
            est = high.mean() / low.mean() if low.any() else None
            num, den = high[boot].mean(1), low[boot].mean(1)
            r = num[den > 0] / den[den > 0]
            ratios[f"{reading}@{s:g}"] = {"ratio": None if est is None else round(float(est), 3),
                                          "ci95": [round(float(np.quantile(r, 0.025)), 3),
                                                   round(float(np.quantile(r, 0.975)), 3)]}
    return {"arch": arch, "width": zm.width, "options": dict(zm.options),
            "clean": {"accuracy": clean["accuracy"], "ci95": [round(clean["ci_low"], 4), round(clean["ci_high"], 4)],
                      "evaluate_s": round(clean_s, 1)},
            "cells": cells, "ratios": ratios, "seconds": round(time.perf_counter() - t_start, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", nargs="+", default=["densenet100", "resnet50", "wrn"])
    ap.add_argument("--workers", type=int, default=2, help="one-thread processes at a time")
    ap.add_argument("--models-root", default=str(REPO / "models/sem"))
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/noise_units.json"))
    args = ap.parse_args()
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    claims = yaml.safe_load((REPO / "claims/sem.yaml").read_text())["table1"]
    sem = params["sem"]
    sigmas = [float(s) for s in sem["zoo"]["sigmas"]]
    specs = [{"arch": a, "seed": params["seed"], "sem": sem, "sigmas": sigmas, "models_root": args.models_root}
             for a in args.archs]
    t_start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        members = list(pool.map(_member, specs))
    wall = time.perf_counter() - t_start

    paper_sigmas = [float(s) for s in claims["sigmas"]]
    table, fit, fit_clean = [], {r: [] for r in READINGS}, {r: [] for r in READINGS}
    for m in members:
        paper = dict(zip(paper_sigmas, claims["aca"][m["arch"]]))
        paper_clean = claims["clean"][m["arch"]]
        by = {(c["sigma"], c["reading"]): c for c in m["cells"]}
        s0 = min(sigmas)
        for s in sigmas:
            row = {"arch": m["arch"], "sigma": s, "paper": paper.get(s),
                   "paper_ratio_to_0.25": round(paper[s] / paper[s0], 3) if s in paper else None,
                   "paper_ratio_to_clean": round(paper[s] / paper_clean, 3) if s in paper else None,
                   "clean": m["clean"]["accuracy"]}
            for reading in READINGS:
                c = by[(s, reading)]
                ratio = m["ratios"][f"{reading}@{s:g}"]
                to_clean = round(c["accuracy"] / m["clean"]["accuracy"], 3) if m["clean"]["accuracy"] else None
                row[reading] = {"aca": c["accuracy"], "ci95": c["ci95"], "abstained": c["abstained"],
                                "pixel_std": c["pixel_std"], "ratio_to_0.25": ratio["ratio"],
                                "ratio_ci95": ratio["ci95"], "ratio_to_clean": to_clean}
                if row["paper_ratio_to_clean"] is not None and to_clean is not None:
                    fit_clean[reading].append(abs(to_clean - row["paper_ratio_to_clean"]))
                if s != s0 and row["paper_ratio_to_0.25"] is not None and ratio["ratio"] is not None:
                    fit[reading].append(abs(ratio["ratio"] - row["paper_ratio_to_0.25"]))
            table.append(row)
    gap = {r: round(sum(v) / len(v), 3) if v else None for r, v in fit.items()}
    gap_clean = {r: round(sum(v) / len(v), 3) if v else None for r, v in fit_clean.items()}
    inside = {r: sum(1 for row in table if row["sigma"] != min(sigmas) and row["paper_ratio_to_0.25"] is not None
                     and row[r]["ratio_ci95"][0] <= row["paper_ratio_to_0.25"] <= row[r]["ratio_ci95"][1])
              for r in READINGS}
    best = min((r for r in READINGS if gap[r] is not None), key=lambda r: gap[r], default=None)
    compared = [row for row in table if row["sigma"] != min(sigmas) and row["paper_ratio_to_0.25"] is not None]
    closer = {r: sum(1 for row in compared if abs(row[r]["ratio_to_0.25"] - row["paper_ratio_to_0.25"])
                     < abs(row[other]["ratio_to_0.25"] - row["paper_ratio_to_0.25"]))
              for r, other in zip(READINGS, READINGS[::-1])}
    top = [row for row in compared if row["sigma"] == max(sigmas)]
    first = [row for row in table if row["sigma"] == min(sigmas) and row["paper"] is not None]
    why = (f"ACA(sigma)/ACA({min(sigmas):g}) at sigma {max(sigmas):g}: paper "
           + ", ".join(f"{row['arch']} {row['paper_ratio_to_0.25']}" for row in top)
           + "; ours pixel " + ", ".join(f"{row['arch']} {row['pixel']['ratio_to_0.25']}" for row in top)
           + "; ours normalized " + ", ".join(f"{row['arch']} {row['normalized']['ratio_to_0.25']}" for row in top)
           + f". The {best} reading is closer to the paper's ratio in {closer.get(best, 0)} of {len(compared)} "
             f"(member, sigma) cells (mean |gap| pixel {gap['pixel']}, normalized {gap['normalized']}); the paper's "
             f"ratio lies inside our 95% bootstrap interval in {inside['pixel']} (pixel) and {inside['normalized']} "
             f"(normalized) of {len(compared)} cells. At this scale (narrow networks, 1-epoch fine-tunes on "
             f"{sem['zoo']['finetune_images']} images, {sem['table1']['mc_draws']} Monte Carlo draws) every model "
             "loses more to noise than the paper's, so even the normalized reading falls below the paper's ratios; "
             "the pixel reading falls far below them. ACA(0.25)/clean: paper "
           + ", ".join(f"{row['arch']} {row['paper_ratio_to_clean']}" for row in first)
           + "; ours pixel " + ", ".join(f"{row['arch']} {row['pixel']['ratio_to_clean']}" for row in first)
           + "; ours normalized " + ", ".join(f"{row['arch']} {row['normalized']['ratio_to_clean']}" for row in first)
           + ".")
    result = {
        "benchmark": "noise_units", "cpu": cpu_model(), "threads_per_member": 1, "members_at_a_time": args.workers,
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "profile": "default (params.yaml)",
        "recipe": {"finetune": sem["zoo"]["finetune"], "finetune_images": sem["zoo"]["finetune_images"],
                   "start_from": "models/sem/<arch>/sigma_0 (pinned, read only)",
                   "aca": {"method": "Cohen PREDICT, abstention = error", "mc_draws": sem["table1"]["mc_draws"],
                           "predict_alpha": sem["table1"]["predict_alpha"], "test_images": sem["test_subset"]}},
        "readings": {"pixel": "noise N(0, sigma^2) on [0, 1] pixels (Cohen et al.; this package's default)",
                     "normalized": "sigma after the model's per-channel normalization = pixel std sigma * std_c "
                                   "(CIFAR-10 std_c = 0.2470, 0.2435, 0.2616)"},
        "table": table,
        "fit": {"mean_abs_gap_of_ratio_to_paper": gap,
                "paper_ratio_inside_our_95ci": {r: f"{inside[r]} of {len(fit[r])}" for r in READINGS},
                "mean_abs_gap_of_aca_over_clean_to_paper": gap_clean,
                "closer_reading": best, "closer_cells": closer, "why": why},
        "cohen_reference": "Cohen et al. (2019) report about 47% certified accuracy at radius 0 for pixel "
                           "sigma = 1.0 on CIFAR-10, as the issue states (their paper is not among "
                           "/work/shared/papers).",
        "members": members,
        "wall_s": round(wall, 1),
        "cpu_s_total": round(sum(m["seconds"] for m in members), 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(args.out)
    for row in table:
        cells = "  ".join(f"{r}: {100 * row[r]['aca']:.1f} [{100 * row[r]['ci95'][0]:.0f}, "
                          f"{100 * row[r]['ci95'][1]:.0f}] ratio {row[r]['ratio_to_0.25']}" for r in READINGS)
        print(f"{row['arch']:12s} sigma {row['sigma']:<5g} paper {100 * row['paper']:.2f} "
              f"(ratio {row['paper_ratio_to_0.25']})  {cells}")
    print(json.dumps(result["fit"]), f"wall {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
