"""The ``data`` stage: turn a dataset source into compact uint8 arrays plus a manifest.

Usage (what ``dvc.yaml`` runs)::

    python -m paperlib.data.prepare cifar10 --out data/cifar10

Source: the offline mirror when ``PAPERLIB_DATA_MIRROR`` is set (checksums verified), else a
torchvision download (into ``--download-root``). Output folder::

    train_x.npy  uint8 (N, C, H, W)     train_y.npy  int64 (N,)
    test_x.npy   uint8 (M, C, H, W)     test_y.npy   int64 (M,)
    manifest.json  source, source files with SHA-256, counts, full set or subset, array hashes

Everything is written into a temporary sibling folder and renamed into place at the end, so a
failure leaves no partial output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from paperlib.data.mirror import DataSourceError, read_idx, read_jpeg_archive, verified_path
from paperlib.data.registry import DatasetSpec, get_spec

MIRROR_ENV = "PAPERLIB_DATA_MIRROR"


def _from_mirror(spec: DatasetSpec, root: Path) -> tuple[dict, list[dict], str]:
    if not spec.mirror:
        raise DataSourceError(
            f"{spec.name}: not in the offline mirror ({root}); it can only be downloaded. Unset "
            f"{MIRROR_ENV} on a machine with internet access, or drop '{spec.name}' from data.datasets."
        )
    paths = {role: verified_path(root, entry) for role, entry in spec.mirror.items()}
    files = [{"path": entry.path, "sha256": entry.sha256} for entry in spec.mirror.values()]
    if "archive" in paths:
        splits = read_jpeg_archive(paths["archive"], spec)
        splits = {k: (x.transpose(0, 3, 1, 2), y) for k, (x, y) in splits.items()}
    else:
        splits = {}
        for split in ("train", "test"):
            x = read_idx(paths[f"{split}_images"])
            y = read_idx(paths[f"{split}_labels"]).astype(np.int64)
            if len(x) != len(y):
                raise DataSourceError(f"{paths[f'{split}_labels']}: {len(y)} labels for {len(x)} images")
            splits[split] = (x[:, None, :, :] if x.ndim == 3 else x, y)
    note = ""
    if spec.mirror_train_size is not None:
        note = (
            f"offline mirror: training split is a {spec.mirror_train_size}-image subset of the "
            f"{spec.train_size}-image {spec.name} training set"
        )
    return splits, files, note


def _from_torchvision(spec: DatasetSpec, download_root: Path) -> tuple[dict, list[dict], str]:
    import torchvision.datasets as tvd  # imported here: the mirror path never needs it

    cls = getattr(tvd, spec.torchvision_class)
    splits = {}
    for split, train in (("train", True), ("test", False)):
        try:
            if spec.name == "stl10":
                ds = cls(str(download_root), split="train" if train else "test", download=True)
                x, y = np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.labels, dtype=np.int64)
            else:
                ds = cls(str(download_root), train=train, download=True)
                x = np.asarray(ds.data, dtype=np.uint8)
                y = np.asarray(ds.targets, dtype=np.int64)
                x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        except Exception as err:  # torchvision raises RuntimeError/URLError/OSError
            raise DataSourceError(
                f"{spec.name}: torchvision download into {download_root} failed ({err}). Without "
                f"internet access, set {MIRROR_ENV} to the offline mirror (here: ../shared/data)."
            ) from err
        splits[split] = (np.ascontiguousarray(x), y)
    files = [{"path": f"torchvision:{spec.torchvision_class}", "sha256": None}]
    return splits, files, ""


def _array_sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def prepare(name: str, out: Path, *, mirror: Path | None, download_root: Path) -> dict:
    """Prepare dataset ``name`` into folder ``out``; return the manifest."""
    spec = get_spec(name)
    if mirror is not None:
        splits, files, note = _from_mirror(spec, mirror)
        source = "mirror"
    else:
        splits, files, note = _from_torchvision(spec, download_root)
        source = "torchvision"
    for split, (x, y) in splits.items():
        if tuple(x.shape[1:]) != spec.shape:
            raise DataSourceError(f"{spec.name}/{split}: image shape {x.shape[1:]}, expected {spec.shape}")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise DataSourceError(f"{spec.name}/{split}: labels outside 0..{spec.num_classes - 1}")
    n_train = len(splits["train"][1])
    manifest = {
        "dataset": spec.name,
        "source": source,
        "source_files": files,
        "classes": list(spec.classes),
        "shape": list(spec.shape),
        "counts": {split: int(len(y)) for split, (_, y) in splits.items()},
        "class_counts": {
            split: np.bincount(y, minlength=spec.num_classes).tolist() for split, (_, y) in splits.items()
        },
        "train_full": n_train == spec.train_size,
        "test_full": len(splits["test"][1]) == spec.test_size,
        "note": note,
        "arrays": {},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(staging, 0o755)
    try:
        for split, (x, y) in splits.items():
            for suffix, arr in (("x", np.ascontiguousarray(x, dtype=np.uint8)), ("y", y.astype(np.int64))):
                fname = f"{split}_{suffix}.npy"
                np.save(staging / fname, arr, allow_pickle=False)
                manifest["arrays"][fname] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "sha256": _array_sha256(arr)}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="registered dataset name (cifar10, mnist, stl10)")
    parser.add_argument("--out", required=True, type=Path, help="output folder, e.g. data/cifar10")
    parser.add_argument("--download-root", type=Path, default=Path.home() / ".cache" / "paperlib" / "downloads")
    args = parser.parse_args(argv)
    mirror_env = os.environ.get(MIRROR_ENV)
    mirror = Path(mirror_env) if mirror_env else None
    try:
        manifest = prepare(args.dataset, args.out, mirror=mirror, download_root=args.download_root)
    except (DataSourceError, KeyError) as err:
        print(f"data stage failed: {err.args[0]}", file=sys.stderr)
        return 1
    print(f"{args.out}: {manifest['counts']} from {manifest['source']}" + (f" ({manifest['note']})" if manifest["note"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
