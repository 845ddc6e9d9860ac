"""What the SEM stages cost here, stage by stage, and what the paper profile would cost.

Reads a finished run of the pipeline (default: this checkout) and writes
``benchmarks/results/sem_cost.json``:

* measured on this machine, per stage: wall time of every ``sem_*`` stage (from the executed
  notebooks' papermill metadata, kernel start included), training seconds and images/s per
  architecture, search seconds and attack calls per curve;
* the paper profile's work relative to the measured run: training image-steps x FLOP ratio
  (parameter-count ratio of the full-width network to the run's narrow one, a proxy: convolution
  FLOPs and parameters both scale with width squared), and the curves' cost scaled by images,
  iterations, EOT draws, Monte Carlo draws, search steps and queries;
* an estimated GPU time = the scaled CPU time divided by an assumed GPU speed-up over these 2
  cores (``--gpu-speedup``, default 300: an H100 in bf16 against the 2 cores the run was measured
  on, which train full-width ResNet18 at 68 img/s in fp32 and 221 img/s in bf16 on an AMX Xeon
  (``benchmarks/results/train_throughput.json``); a planning number, not a measurement). When a GPU is lent, replace
  the assumption by ``benchmarks/train_throughput.py`` run on it.

Usage: ``python benchmarks/sem_cost.py [--run-dir .] [--gpu-speedup 300]``.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import pandas as pd

from paperlib.config import load_params
from paperlib.models import count_parameters
from paperlib.sem.collection import build_zoo_model
from paperlib.train.checkpoint import write_json_atomic

REPO = Path(__file__).resolve().parents[1]


def stage_seconds(run: Path) -> dict[str, float]:
    """Wall time of each executed SEM notebook (papermill's own record)."""
    out = {}
    for nb in sorted((run / "results" / "notebooks").glob("sem_*.ipynb")):
        meta = json.loads(nb.read_text())["metadata"].get("papermill", {})
        if "duration" in meta:
            out[nb.stem] = round(float(meta["duration"]), 1)
    return out


def curve_scale(run_attack, paper_attack, query: bool) -> float:
    """Paper/run ratio of one curve's passes: images x search calls x (iterations x EOT draws, or
    queries) + the Monte Carlo judgement."""
    calls = (paper_attack.search_steps + paper_attack.binary_steps) / (run_attack.search_steps + run_attack.binary_steps)
    images = paper_attack.test_subset / run_attack.test_subset
    inner = (paper_attack.max_queries / run_attack.max_queries) if query else \
        (paper_attack.iterations * paper_attack.eot_draws) / (run_attack.iterations * run_attack.eot_draws)
    return images * calls * inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, default=REPO)
    parser.add_argument("--gpu-speedup", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sem_cost.json")
    args = parser.parse_args()
    run = args.run_dir
    run_params = load_params(run / "params.yaml")
    paper = load_params(REPO / "profiles" / "paper.yaml").sem
    sem = run_params.sem
    stages = stage_seconds(run)

    training, paper_train_s = [], 0.0
    n_run = sem.train_subset or 50000
    n_paper = paper.train_subset or 50000
    for arch, zm in sem.zoo.models.items():
        info = json.loads((run / "models" / "sem" / arch / "train_info.json").read_text())
        seconds = sum(info["wall_s"].values())
        epochs_run = sem.zoo.train["epochs"] + sem.zoo.finetune["epochs"] * len(sem.zoo.sigmas_of(arch))
        pz = paper.zoo.models[arch]
        epochs_paper = paper.zoo.train["epochs"] + paper.zoo.finetune["epochs"] * len(paper.zoo.sigmas_of(arch))
        flop_ratio = (count_parameters(build_zoo_model(arch, pz, 10, 3, device="meta"))
                      / count_parameters(build_zoo_model(arch, zm, 10, 3, device="meta")))
        scale = (n_paper * epochs_paper) / (n_run * epochs_run) * flop_ratio
        paper_train_s += seconds * scale
        training.append({"arch": arch, "seconds_here": round(seconds, 1), "epochs_here": epochs_run,
                         "epochs_paper": epochs_paper, "flop_ratio_proxy": round(flop_ratio, 1),
                         "paper_cpu_seconds_estimate": round(seconds * scale)})

    # Curves attack full-width members in the paper profile: scale by the zoo's mean FLOP ratio.
    flop_mean = sum(r["flop_ratio_proxy"] for r in training) / max(1, len(training))
    curves, paper_curve_s = [], 0.0
    for name, fig in sem.figures.items():
        path = run / "results" / f"sem_{name}" / "tables" / "timings.csv"
        if not path.is_file():
            continue
        t = pd.read_csv(path)
        pfig = paper.figures[name]
        query = any(a in ("nes", "spsa") for a in fig.attacks)
        scale = curve_scale(sem.attack, paper.attack, query)
        # the paper's figure has more attacks (and the same curves): scale by the count too
        scale *= (len(pfig.attacks) * len(pfig.targeted)) / (len(fig.attacks) * len(fig.targeted))
        seconds = float(t.seconds.sum())
        paper_curve_s += seconds * scale * flop_mean
        curves.append({"figure": name, "curves": len(t), "seconds_here": round(seconds, 1),
                       "attack_calls_here": int(t.attack_calls.sum()), "paper_scale_factor": round(scale, 1)})
    measured = {c["figure"] for c in curves}
    # Figures not measured in the run: gradient-attack figures have the shape of Figure 4 (same
    # curve count and attacks), so they are extrapolated from it; query figures are not.
    extrapolated = []
    if "fig4" in measured:
        per_fig4 = next(c for c in curves if c["figure"] == "fig4")
        fig4_paper_s = per_fig4["seconds_here"] * per_fig4["paper_scale_factor"] * flop_mean
        for name, fig in sem.figures.items():
            if name not in measured and all(a in ("bim", "mim", "pgd") for a in fig.attacks):
                paper_curve_s += fig4_paper_s
                extrapolated.append(name)
    result = {
        "benchmark": "sem_cost", "machine": platform.processor() or platform.machine(), "profile_measured": run_params.profile,
        "stage_wall_seconds_here": stages, "sem_stages_total_seconds_here": round(sum(stages.values()), 1),
        "training": training, "curves": curves,
        "paper_profile_estimate": {
            "assumed_gpu_speedup_over_these_2_cpu_cores": args.gpu_speedup,
            "mean_flop_ratio_proxy": round(flop_mean, 1),
            "training_cpu_hours": round(paper_train_s / 3600, 1),
            "curves_cpu_hours": round(paper_curve_s / 3600, 1),
            "figures_measured": sorted(measured), "figures_extrapolated_from_fig4": extrapolated,
            "figures_not_estimated": sorted(set(sem.figures) - measured - set(extrapolated)),
            "training_gpu_hours": round(paper_train_s / 3600 / args.gpu_speedup, 1),
            "curves_gpu_hours": round(paper_curve_s / 3600 / args.gpu_speedup, 1),
            "note": ("scaled from this run's measured seconds by work ratios (images, epochs, iterations, draws, "
                     "queries, search steps) and a parameter-count FLOP proxy; the GPU speed-up is an assumption"),
        },
    }
    write_json_atomic(result, args.out)
    print(json.dumps(result["paper_profile_estimate"], indent=2))
    print(f"SEM stages here: {result['sem_stages_total_seconds_here']} s")


if __name__ == "__main__":
    main()
