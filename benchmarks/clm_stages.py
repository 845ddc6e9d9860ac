"""The CLM stages' cost on this machine, per stage, from the executed notebooks of the last run.

Reads papermill's duration of every ``results/notebooks/clm_*.ipynb`` (the notebook's own wall
time; DVC's hashing and the runner add a few seconds per stage, ``benchmarks/stage_overhead.py``),
each population's clean MRA and training seconds from its notebook's output, and writes
``benchmarks/results/clm_stages_<profile>.json`` with the CPU model and the 10-minute target of
issue 14 (the smoke profile's: 1 minute).

    .venv/bin/python benchmarks/clm_stages.py [--wall-seconds S]   # S: the `dvc repro` wall time, if measured

The target is judged on the wall time of the cold ``dvc repro`` when it is given (what issue 14
sets), else on the notebooks' total, which leaves out DVC's and the runner's share.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402  benchmarks/machine.py

TARGET_S = {"default": 600.0, "smoke": 60.0}


def _text(nb: dict) -> str:
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")))
    return "\n".join(out)


def main() -> int:
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("--wall-seconds", type=float, default=None, help="wall time of the whole cold `dvc repro` of the CLM stages")
    args = ap.parse_args()
    profile = yaml.safe_load((ROOT / "params.yaml").read_text())["profile"]
    stages = {}
    for path in sorted((ROOT / "results" / "notebooks").glob("clm_*.ipynb")):
        nb = json.loads(path.read_text())
        name = path.stem.replace("clm_population@", "clm_population:").replace("clm_table@", "clm_table:")
        row = {"seconds": round(float(nb["metadata"]["papermill"]["duration"]), 1)}
        text = _text(nb)
        if m := re.search(r"trained in (\d+) s on (\d+) images", text):
            row.update(train_seconds=int(m.group(1)), images=int(m.group(2)))
        if m := re.search(r"MRA on clean test images: ([0-9.]+)", text):
            row["clean_mra"] = float(m.group(1))
        stages[name] = row
    if not stages:
        raise SystemExit("no executed CLM notebooks under results/notebooks: run `dvc repro clm_table clm_figures` first")
    total = sum(r["seconds"] for r in stages.values())
    judged = args.wall_seconds if args.wall_seconds is not None else total
    out = {"benchmark": "clm_stages", "cpu": cpu_model(), "profile": profile, "stages": stages,
           "notebook_seconds_total": round(total, 1), "dvc_repro_wall_seconds": args.wall_seconds,
           "target_seconds": TARGET_S.get(profile), "target_met": judged <= TARGET_S.get(profile, float("inf")),
           "note": "papermill's duration of each executed notebook; DVC's hashing and the runner's validation add "
                   "a few seconds per stage (16 CLM stages)"}
    path = ROOT / "benchmarks" / "results" / f"clm_stages_{profile}.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: out[k] for k in ("cpu", "profile", "notebook_seconds_total", "target_met")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
