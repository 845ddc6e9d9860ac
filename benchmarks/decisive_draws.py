"""Do more Monte Carlo or EOT draws make SEM's figure verdicts more decisive? (issue 13, item 11)

``benchmarks/decisive_share.py`` measures the lever "images per curve" by resampling the pinned
run. Draws cannot be resampled, so this re-runs Figure 4 (27 searches, 14 claims: the figure with
the most claims) on the pinned default-profile collection and the pinned run's own attacked
images, with ``sem.attack`` changed one setting at a time:

* ``mc_draws`` 8 -> 16: the judge's Monte Carlo draws (and the screening's);
* ``eot_draws`` 1 -> 2 and ``strongest_eot_draws`` 2 -> 4: EOT draws per attack step.

For each setting it records the figure's wall time (2 one-thread workers), the decisive
claim-level verdicts and the mean half-width of the claims' 95% row intervals (a continuous
measure of precision: a verdict becomes decisive when its interval leaves the boundary). The
baseline is the pinned run itself (``results/sem_fig4``), whose settings and seeds are the same.

Run after ``dvc repro`` (about 10 minutes here): ``.venv/bin/python benchmarks/decisive_draws.py``
-> ``benchmarks/results/decisive_draws.json``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from decisive_share import decisive  # benchmarks/decisive_share.py
from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from paperlib.claims import load_claims  # noqa: E402
from paperlib.config import load_params  # noqa: E402
from paperlib.data import get_spec, load_split  # noqa: E402
from paperlib.sem.curves import CurveJob, run_curve_jobs, target_labels  # noqa: E402
from paperlib.sem.verdicts import evaluate_curve_claims, figure_claims  # noqa: E402
from paperlib.seeding import make_generator  # noqa: E402

FIGURE = "fig4"
SETTINGS = {"mc_draws_16": {"mc_draws": 16}, "eot_draws_2": {"eot_draws": 2, "strongest_eot_draws": 4}}


def precision(rows: list[dict]) -> dict:
    per_row = [r for r in rows if r["level"] == "row" and np.isfinite(r["ci_high"] - r["ci_low"])]
    n_decisive, n_claims = decisive(rows)
    return {"decisive": n_decisive, "claims": n_claims,
            "verdicts": {r["claim_id"]: r["verdict"] for r in rows if r["level"] == "claim"},
            "mean_row_half_width": round(float(np.mean([(r["ci_high"] - r["ci_low"]) / 2 for r in per_row])), 4),
            "mean_n": round(float(np.mean([r["n"] for r in per_row])), 1)}


def main() -> int:
    torch.use_deterministic_algorithms(True)
    params = load_params(REPO / "params.yaml")
    sem = params.sem
    fig = sem.figures[FIGURE]
    claims = figure_claims(load_claims("sem"), FIGURE)
    pinned = pd.read_csv(REPO / f"results/sem_{FIGURE}/tables/per_image.csv")
    timings = pd.read_csv(REPO / f"results/sem_{FIGURE}/tables/timings.csv")
    collection = json.loads((REPO / "results/sem_collection.json").read_text())
    sem_keys = [(m["arch"], float(m["sigma"])) for m in collection["members"]]
    spec = get_spec(sem.dataset)
    x_all, y_all = load_split(sem.dataset, "test", root=REPO / "data")
    first = pinned[(pinned.curve == fig.curves[0]) & (pinned.attack == fig.attacks[0])].sort_values("index")
    idx = torch.as_tensor(first.test_index.to_numpy())
    x, y = x_all[idx].float() / 255, y_all[idx]
    y_target = target_labels(y, spec.num_classes, make_generator(params.seed, "sem", "attack-targets"))
    jobs = [CurveJob(c, a, t) for t in fig.targeted for a in fig.attacks for c in fig.curves]
    results = {"pinned_run": {"settings": {"mc_draws": sem.attack.mc_draws, "eot_draws": sem.attack.eot_draws,
                                           "strongest_eot_draws": sem.attack.strongest_eot_draws},
                              "figure_seconds_summed": round(float(timings.seconds.sum()), 1),
                              **precision(evaluate_curve_claims(claims, pinned, sem.attack, profile="default",
                                                                deviations="", source=""))}}
    for name, change in SETTINGS.items():
        atk = dataclasses.replace(sem.attack, **change)
        loader = dict(models_root=str(REPO / "models/sem"), baselines_root=str(REPO / "models/sem_baselines"),
                      zoo=sem.zoo, strategy=sem.strategy, baselines=sem.baselines, attack=atk, sem_keys=sem_keys,
                      num_classes=spec.num_classes, in_channels=spec.shape[0], seed=params.seed, rse=False, adp=False)
        t0 = time.perf_counter()
        searched = run_curve_jobs(jobs, loader, x, y, y_target, seed=params.seed, stream=(FIGURE,), workers=sem.workers)
        wall = time.perf_counter() - t0
        tables = pd.concat([res.table.assign(curve=j.curve, attack=j.attack, targeted=j.targeted)
                            for j, (res, _) in zip(jobs, searched)], ignore_index=True)
        results[name] = {"settings": change, "wall_seconds": round(wall, 1),
                         "figure_seconds_summed": round(sum(s for _, s in searched), 1),
                         **precision(evaluate_curve_claims(claims, tables, atk, profile="default",
                                                           deviations="", source=""))}
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "verdicts"}), flush=True)
    out = {"benchmark": "decisive_draws", "cpu": cpu_model(), "profile": "default", "figure": FIGURE,
           "images_per_curve": int(len(idx)), "workers": sem.workers, "results": results}
    path = REPO / "benchmarks/results/decisive_draws.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
