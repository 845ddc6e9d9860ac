"""The Liang & Samavi stages' cost on this machine, per stage, from the executed notebooks of the last run.

Reads papermill's duration of every ``results/notebooks/liang_*.ipynb`` (the notebook's own wall
time; DVC's hashing and the runner add a few seconds per stage), the per-member training seconds
(``results/timings/liang_zoo@<dataset>.json``), the attack stage's parts
(``results/timings/liang_attack@<dataset>.json``) and each member's validation accuracy
(``models/liang/<dataset>/zoo.json``), and writes ``benchmarks/results/liang_stages_<profile>.json``
with the CPU model and issue 16's targets (10 minutes cold for the default profile, 1 minute added
by the smoke profile).

    .venv/bin/python benchmarks/liang_stages.py [--wall-seconds S]   # S: the `dvc repro` wall time, if measured
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--wall-seconds", type=float, default=None, help="wall time of the whole `dvc repro` of the Liang stages")
    args = ap.parse_args()
    profile = yaml.safe_load((ROOT / "params.yaml").read_text())["profile"]
    stages = {}
    for path in sorted((ROOT / "results" / "notebooks").glob("liang_*.ipynb")):
        nb = json.loads(path.read_text())
        stages[path.stem] = round(float(nb["metadata"]["papermill"]["duration"]), 1)
    if not stages:
        print("no executed Liang notebooks under results/notebooks: run `dvc repro liang_tables` first", file=sys.stderr)
        return 1
    parts, members = {}, {}
    for path in sorted((ROOT / "results" / "timings").glob("liang_*.json")):
        parts[path.stem] = json.loads(path.read_text())
    for zoo in sorted((ROOT / "models" / "liang").glob("*/zoo.json")):
        z = json.loads(zoo.read_text())
        members[zoo.parent.name] = {m["member"]: round(m["accuracy"], 4) for m in z["members"]}
    total = round(sum(stages.values()), 1)
    out = {"benchmark": "liang_stages", "cpu": cpu_model(), "profile": profile,
           "what": "papermill wall time per Liang & Samavi stage (notebook only), the parts of each, member accuracies",
           "stages_s": stages, "notebooks_total_s": total, "dvc_repro_wall_s": args.wall_seconds,
           "target_s": TARGET_S.get(profile), "parts_s": parts, "member_accuracy": members}
    dest = ROOT / "benchmarks" / "results" / f"liang_stages_{profile}.json"
    dest.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: out[k] for k in ("cpu", "stages_s", "notebooks_total_s", "dvc_repro_wall_s", "target_s")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
