"""The RSE stages' cost on this machine, per stage, from the executed notebooks of the last run.

Reads papermill's duration of every ``results/notebooks/rse_*.ipynb`` (the notebook's own wall
time; DVC's hashing and the runner add a few seconds per stage), each setting's per-network
training seconds and clean accuracy (``models/rse/<setting>/timings.json``) and per-attack
seconds (``results/rse_<setting>/timings.csv``), and writes
``benchmarks/results/rse_stages_<profile>.json`` with the CPU model and issue 15's target (10
minutes cold for the default profile, 1 minute added by the smoke profile).

    .venv/bin/python benchmarks/rse_stages.py [--wall-seconds S]   # S: the `dvc repro` wall time, if measured
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402  benchmarks/machine.py

TARGET_S = {"default": 600.0, "smoke": 60.0}


def main() -> int:
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("--wall-seconds", type=float, default=None, help="wall time of the whole `dvc repro` of the RSE stages")
    args = ap.parse_args()
    profile = yaml.safe_load((ROOT / "params.yaml").read_text())["profile"]
    stages, networks, attacks = {}, {}, {}
    for path in sorted((ROOT / "results" / "notebooks").glob("rse_*.ipynb")):
        nb = json.loads(path.read_text())
        stages[path.stem] = round(float(nb["metadata"]["papermill"]["duration"]), 1)
    if not stages:
        raise SystemExit("no executed RSE notebooks under results/notebooks: run `dvc repro rse_figures` first")
    for timing in sorted((ROOT / "models" / "rse").glob("*/timings.json")):
        t = json.loads(timing.read_text())
        networks[timing.parent.name] = {
            name: {"train_seconds": round(r.get("train_seconds", 0.0), 1), "clean_accuracy": r.get("accuracy"),
                   "kind": r.get("kind")} for name, r in t["networks"].items()}
    for timing in sorted((ROOT / "results").glob("rse_*/timings.csv")):
        with timing.open() as f:
            attacks[timing.parent.name] = {row["what"]: round(float(row["seconds"]), 1) for row in csv.DictReader(f)}
    total = sum(stages.values())
    out = {"benchmark": "rse_stages", "cpu": cpu_model(), "profile": profile, "stage_seconds": stages,
           "notebook_seconds_total": round(total, 1), "dvc_repro_wall_seconds": args.wall_seconds,
           "networks": networks, "attack_seconds": attacks,
           "target_seconds": TARGET_S.get(profile),
           "target_met": (args.wall_seconds if args.wall_seconds is not None else total) <= TARGET_S.get(profile, float("inf")),
           "note": "papermill's duration of each executed notebook; the wall time of `dvc repro` adds the runner's "
                   "validation and DVC's hashing (7 RSE stages)"}
    path = ROOT / "benchmarks" / "results" / f"rse_stages_{profile}.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: out[k] for k in ("cpu", "profile", "notebook_seconds_total", "dvc_repro_wall_seconds",
                                          "target_met")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
