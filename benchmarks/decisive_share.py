"""How the share of decisive SEM figure verdicts grows with the images attacked per curve (issue 13,
item 11), from the default profile's own searches.

A verdict is decisive when it is "holds" or "does not hold". Its power grows with the number of
images per curve, whose cost is linear (every search attacks every image). Rather than re-running
the figures at several sizes, this resamples the per-image search results of the last run: for
each size ``n`` it draws ``n`` images with replacement (the same images for every curve of a
figure, so comparisons stay paired), evaluates every figure claim with the rules of
``paperlib/sem/verdicts.py`` and counts the decisive claim-level verdicts. Sizes above the run's
own are the bootstrap's estimate of what more images would give (the per-image differences'
distribution stays that of the run). The cost of a size is the run's measured figure seconds
scaled linearly in images.

Run after ``dvc repro``: ``.venv/bin/python benchmarks/decisive_share.py`` ->
``benchmarks/results/decisive_share.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from paperlib.claims import load_claims  # noqa: E402
from paperlib.config import load_params  # noqa: E402
from paperlib.sem.verdicts import evaluate_curve_claims, figure_claims  # noqa: E402

FIGURES = ("fig3", "fig4", "fig5", "fig6", "fig7", "fig8")
MULTIPLES = (0.5, 1.0, 2.0, 4.0)
RESAMPLES = 40


def decisive(rows: list[dict]) -> tuple[int, int]:
    claims = [r for r in rows if r["level"] == "claim"]
    return sum(r["verdict"] != "inconclusive" for r in claims), len(claims)


def main() -> int:
    params = load_params(REPO / "params.yaml")
    atk = params.sem.attack
    claims = load_claims("sem")
    tables, seconds = {}, {}
    for fig in FIGURES:
        per_image = REPO / f"results/sem_{fig}/tables/per_image.csv"
        timing = REPO / f"results/sem_{fig}/tables/timings.csv"
        tables[fig] = pd.read_csv(per_image)
        seconds[fig] = float(pd.read_csv(timing).seconds.sum()) / params.sem.workers
    n_run = int(tables["fig4"]["index"].nunique())
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    observed = {fig: decisive(evaluate_curve_claims(figure_claims(claims, fig), tables[fig], atk, profile="default",
                                                    deviations="", source="")) for fig in FIGURES}
    sizes = sorted({max(4, int(round(m * n_run))) for m in MULTIPLES})
    grid = []
    for n in sizes:
        shares = []
        for _ in range(RESAMPLES):
            dec = tot = 0
            for fig in FIGURES:
                t = tables[fig]
                pick = rng.integers(0, n_run, n)
                parts = []
                for _, part in t.groupby(["curve", "attack", "targeted"], sort=False):
                    part = part.sort_values("index").iloc[pick].copy()
                    part["index"] = np.arange(n)
                    parts.append(part)
                d, k = decisive(evaluate_curve_claims(figure_claims(claims, fig), pd.concat(parts, ignore_index=True),
                                                      atk, profile="default", deviations="", source=""))
                dec, tot = dec + d, tot + k
            shares.append(dec / tot)
        grid.append({"images_per_curve": n, "decisive_share_mean": round(float(np.mean(shares)), 3),
                     "decisive_share_p10_p90": [round(float(np.quantile(shares, q)), 3) for q in (0.1, 0.9)],
                     "figure_minutes_estimated": round(sum(seconds.values()) * n / n_run / 60, 1)})
    dec = sum(d for d, _ in observed.values())
    tot = sum(k for _, k in observed.values())
    result = {
        "benchmark": "decisive_share", "cpu": cpu_model(), "profile": "default",
        "images_per_curve_in_run": n_run, "resamples": RESAMPLES,
        "observed": {"decisive": dec, "claims": tot, "share": round(dec / tot, 3),
                     "per_figure": {f: {"decisive": d, "claims": k} for f, (d, k) in observed.items()}},
        "figure_seconds_in_run": {f: round(s, 1) for f, s in seconds.items()},
        "grid": grid, "analysis_seconds": round(time.perf_counter() - t0, 1),
        "method": "bootstrap resampling of the run's per-image searches (paired across curves), claim-level verdicts",
    }
    out = REPO / "benchmarks/results/decisive_share.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
