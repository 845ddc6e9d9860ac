"""Training throughput of the paperlib engine against a bare reference loop, same run, same machine.

Reference loop: the usual CIFAR recipe: a ``torch.utils.data.DataLoader`` over a Dataset that
applies torchvision transforms per image (RandomCrop(32, padding=4), RandomHorizontalFlip,
conversion to float), fp32, contiguous memory format, SGD step; nothing else. It runs in a
spawned process with ``PAPERLIB_CPU_RUNTIME=off``, so it does not get the process settings of
:mod:`paperlib.cpu_runtime` (flushed denormals, glibc allocator tuning) that every paperlib
process gets: those are part of what the engine brings.
Engine: :func:`paperlib.train.train` with the data as uint8 tensors and augmentation on whole
batches, in fp32, fp32 + ``channels_last`` and bf16 autocast + ``channels_last`` (bf16 only at
the small width when the CPU lacks native bf16 kernels: it is then far slower, see
:func:`paperlib.train.bf16_is_fast`). Both train ResNet18 (CIFAR form) at full width, at width 1/4 (the issue's
example) and at the default profile's SEM width 1/8, batch 128, on synthetic 32x32 images (throughput does not depend on the
pixel values).

Writes ``benchmarks/results/train_throughput.json``: images/s per workload (median over
``--repeats`` timed windows), the speed-up over the reference, and the machine (CPU, threads,
torch version, load average before and after: other processes on the machine slow every
number, so a run with a load average above the thread count should be repeated).

Usage: ``python benchmarks/train_throughput.py [--repeats 3] [--out PATH]`` (about 3-4 minutes
on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.transforms.v2 as T

from paperlib.cpu_runtime import ENV_SWITCH
from paperlib.models import build, count_parameters
from paperlib.train import TrainConfig, bf16_is_fast, train
from paperlib.train.checkpoint import write_json_atomic

BATCH = 128


class _UInt8Images(torch.utils.data.Dataset):
    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


def reference_images_per_s(width: float, x, y, steps: int, repeats: int) -> float:
    """Bare loop: DataLoader + per-image torchvision transforms, fp32, SGD(momentum 0.9)."""
    model = build("resnet18", 10, width=width, seed=0).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                           T.ToDtype(torch.float32, scale=True)])
    loader = torch.utils.data.DataLoader(_UInt8Images(x, y, transform), batch_size=BATCH, shuffle=True,
                                         drop_last=True, num_workers=0,
                                         generator=torch.Generator().manual_seed(0))
    rates = []
    it = iter(loader)

    def step():
        nonlocal it
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: oneDNN primitive creation
        step()
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * BATCH / (time.perf_counter() - t0))
    return statistics.median(rates)


def _bare_reference(width: float, x, y, steps: int, repeats: int, threads: int) -> tuple[float, bool]:
    torch.set_num_threads(threads)
    flushed = float(torch.tensor([1e-40]) * 1.0) == 0.0
    return reference_images_per_s(width, x, y, steps, repeats), flushed


def bare_reference_images_per_s(width: float, x, y, steps: int, repeats: int) -> float:
    """:func:`reference_images_per_s` in a fresh spawned process without paperlib's CPU settings."""
    os.environ[ENV_SWITCH] = "off"
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            rate, flushed = pool.apply(_bare_reference, (width, x, y, steps, repeats, torch.get_num_threads()))
    finally:
        del os.environ[ENV_SWITCH]
    if flushed:
        raise RuntimeError("the reference process flushed denormals: paperlib.cpu_runtime was applied")
    return rate


def engine_images_per_s(width: float, x, y, steps: int, repeats: int, precision: str,
                        channels_last: bool, arch: str = "resnet18", options: dict | None = None) -> float:
    """paperlib.train.train on ``steps`` batches per epoch; images/s as the engine reports it
    (median of ``repeats`` epochs after a warm-up). ``arch``/``options``: any registry network
    (``benchmarks/sem_zoo_formats.py`` times the default SEM zoo with it)."""
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=0.05, augment=True, precision=precision,
                      channels_last=channels_last, schedule="constant", checkpoint_every=0)
    model = build(arch, 10, width=width, seed=0, **(options or {}))
    train(model, x[:2 * BATCH], y[:2 * BATCH], cfg, seed=0, progress=False)  # warm-up
    rates = []
    for r in range(repeats):
        hist = train(model, x[:steps * BATCH], y[:steps * BATCH], cfg, seed=r + 1, progress=False)
        rates.append(hist["images_per_s"][0])
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads; use fewer than the cores when other processes share the machine "
                             "(oversubscribed OpenMP threads make every number collapse)")
    parser.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 1.0],
                        help="ResNet18 widths (0.125: the default profile's SEM member; 0.25: the issue's example)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8 * BATCH, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (8 * BATCH,), generator=g)
    load_before = os.getloadavg()
    results = []
    fast_bf16 = bf16_is_fast("cpu")
    for width in args.widths:
        steps, repeats = (4, args.repeats) if width < 1 else (1, 2)
        n_params = count_parameters(build("resnet18", 10, width=width, device="meta"))
        t0 = time.perf_counter()
        ref = bare_reference_images_per_s(width, x, y, steps, repeats)
        row = {"model": "resnet18", "width": width, "parameters": n_params, "batch_size": BATCH,
               "reference_fp32_img_per_s": round(ref, 1)}
        variants = [("fp32", False), ("fp32", True)]
        if fast_bf16 or width == 0.25:  # bf16 without native kernels: measured once, at width 1/4
            variants.append(("bf16", True))
        for precision, cl in variants:
            name = f"engine_{precision}{'_channels_last' if cl else ''}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rate = engine_images_per_s(width, x, y, steps, repeats, precision, cl)
            row[f"{name}_img_per_s"] = round(rate, 1)
            row[f"speedup_{name}"] = round(rate / ref, 2)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(row))
        results.append(row)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {
        "benchmark": "train_throughput", "device": "cpu", "cpu": cpu, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "repeats": args.repeats, "statistic": "median images/s",
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_native_bf16": fast_bf16,
        "target": "engine >= 1.5x reference on CPU (issue 3)",
        "results": results,
    }
    write_json_atomic(out, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
