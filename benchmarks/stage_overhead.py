"""Where a notebook stage's fixed cost goes, before and after this package's cuts.

A DVC stage here is ``bin/project-python -m paperlib.pipeline NOTEBOOK ...``: a Python process
that imports papermill and validates ``params.yaml``, a Jupyter kernel that starts and imports
what the notebook needs, the staged outputs moved into place, and DVC hashing dependencies and
caching outputs around it. This benchmark times each part in one run (median of ``--repeats``),
on this machine:

* ``runner_validate_now``: the runner's imports and params validation as they are now;
* ``runner_validate_before``: the same with ``import torch`` added, which is what params
  validation did before (checking architecture names imported the model registry, hence torch);
* ``kernel_start``: papermill executing a one-cell notebook (kernel start and shutdown);
* ``kernel_imports``: the imports every training/evaluation notebook makes (torch, paperlib's
  models and engine, pandas, matplotlib), in a fresh interpreter;
* ``pipeline_trivial_stage``: ``python -m paperlib.pipeline`` on a one-cell notebook that imports
  torch, end to end (runner, kernel, outputs moved into place);
* ``dvc_status_noop``: ``dvc status`` on the repository (hashing every stage's dependencies).

It then states the fixed cost of the training stages before (one stage per network: 17 SEM items
+ 2 slice items, each paying the runner with torch, a kernel and its imports) and after (one
stage per zoo, paying it once). Results: ``benchmarks/results/stage_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable




def seconds(cmd: list[str], repeats: int, **kw) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, **kw)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 2)


def notebook(path: Path, source: str) -> None:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {"tags": ["parameters"]},
                     "outputs": [], "source": ["x = 0"]},
                    {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                     "source": [source]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/stage_overhead.json"))
    args = ap.parse_args()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(PY).parent}:{os.environ.get('PATH', '')}"}
    validate = "import papermill; from paperlib.config import load_params; load_params('params.yaml')"
    parts = {
        "python_start": seconds([PY, "-c", "pass"], args.repeats),
        "runner_validate_now": seconds([PY, "-c", validate], args.repeats),
        "runner_validate_before": seconds([PY, "-c", "import torch; " + validate], args.repeats),
        "kernel_imports": seconds([PY, "-c", "import torch, pandas, matplotlib.pyplot; import paperlib.models; "
                                              "from paperlib.train import train"], args.repeats),
    }
    with tempfile.TemporaryDirectory(dir=REPO) as tmp:
        tmp = Path(tmp)
        notebook(tmp / "empty.ipynb", "pass")
        notebook(tmp / "torch.ipynb", "import torch, paperlib.models\nfrom paperlib.train import train")
        run = ("import papermill, sys; papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='python3', "
               "progress_bar=False)")
        parts["kernel_start"] = round(seconds([PY, "-c", run, str(tmp / "empty.ipynb"), str(tmp / "o.ipynb")],
                                              args.repeats) - parts["python_start"], 2)
        parts["pipeline_trivial_stage"] = seconds(
            [PY, "-m", "paperlib.pipeline", str((tmp / "torch.ipynb").relative_to(REPO)),
             "--executed", str((tmp / "done.ipynb").relative_to(REPO))], args.repeats, env=env)
    parts["dvc_status_noop"] = seconds([str(Path(PY).parent / "dvc"), "status"], args.repeats, env=env)
    fixed_before = parts["runner_validate_before"] + parts["kernel_start"] + parts["kernel_imports"]
    fixed_now = parts["pipeline_trivial_stage"]
    n_before, n_after = 17 + 2, 2
    result = {
        "benchmark": "stage_overhead", "cpu": cpu_model(), "python": platform.python_version(),
        "statistic": f"median of {args.repeats} runs, seconds", "parts_s": parts,
        "fixed_cost_per_stage_before_s": round(fixed_before, 2),
        "fixed_cost_per_stage_now_s": round(fixed_now, 2),
        "training_stages": {"before": {"stages": n_before, "fixed_s": round(n_before * fixed_before, 1),
                                       "what": "sem_train@<arch> x 17, slice_train@<name> x 2"},
                            "after": {"stages": n_after, "fixed_s": round(n_after * fixed_now, 1),
                                      "what": "sem_train, slice_train (every network of a zoo in one stage)"}},
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
