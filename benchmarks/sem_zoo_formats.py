"""Training step speed of every default-profile SEM network under each precision and memory
format the engine offers: the measurement behind ``sem.zoo.train.channels_last`` and
``precision`` in ``params.yaml``.

Workload: :func:`paperlib.train.train` for one epoch of ``STEPS`` batches of 128 synthetic 32x32
images (speed does not depend on pixel values or weights) on each of the 17 architectures of
``profiles/default.yaml`` at the profile's width and options, with 1 thread (a fine-tune in a
worker process) and with every usable core (the unsmoothed model, trained in the notebook's
process). Variants: fp32 NCHW, fp32 channels_last, and bf16 autocast + channels_last where the CPU
has native bf16 kernels (:func:`paperlib.train.bf16_is_fast`). One warm-up epoch first
(oneDNN primitive creation); the median of ``--repeats`` epochs is kept. The timing loop is
``train_throughput.engine_images_per_s``.

Writes ``benchmarks/results/sem_zoo_formats.json``. Run: ``python benchmarks/sem_zoo_formats.py``
(about 4 minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paperlib.config import load_params  # noqa: E402
from paperlib.parallel import usable_cores  # noqa: E402
from paperlib.train import bf16_is_fast  # noqa: E402
from paperlib.train.checkpoint import write_json_atomic  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import BATCH, engine_images_per_s  # noqa: E402  (the one timing loop)

STEPS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sem_zoo_formats.json")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (STEPS * BATCH, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (STEPS * BATCH,), generator=g)
    variants = [("fp32", False), ("fp32", True)] + ([("bf16", True)] if bf16_is_fast("cpu") else [])
    zoo = load_params(ROOT / "profiles" / "default.yaml").sem.zoo.models
    rows, t_start = [], time.perf_counter()
    for threads in sorted({1, usable_cores()}):
        torch.set_num_threads(threads)
        for arch, m in zoo.items():
            row = {"arch": arch, "width": m.width, "options": dict(m.options), "threads": threads}
            for precision, cl in variants:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    rate = engine_images_per_s(m.width, x, y, STEPS, args.repeats, precision, cl,
                                               arch=arch, options=dict(m.options))
                row[f"{precision}{'_channels_last' if cl else ''}_img_per_s"] = round(rate, 1)
            row["best"] = max((k for k in row if k.endswith("_img_per_s")), key=row.get).removesuffix("_img_per_s")
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {}
    for threads in sorted({r["threads"] for r in rows}):
        part = [r for r in rows if r["threads"] == threads]
        # Time to push the same number of images through every network: the zoo's training cost.
        summary[f"threads_{threads}"] = {
            name: round(sum(1.0 / r[f"{name}_img_per_s"] for r in part) * 1000, 2)
            for name in [f"{p}{'_channels_last' if cl else ''}" for p, cl in variants]}
    out = {"benchmark": "sem_zoo_formats", "device": "cpu", "torch": torch.__version__,
           "cpu_native_bf16": bf16_is_fast("cpu"), "batch_size": BATCH, "steps": STEPS, "repeats": args.repeats,
           "statistic": "median images/s of one training epoch",
           "seconds_per_1000_images_through_every_network": summary,
           "load_average_after": [round(v, 2) for v in os.getloadavg()],
           "wall_s": round(time.perf_counter() - t_start, 1), "results": rows}
    write_json_atomic(out, args.out)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
