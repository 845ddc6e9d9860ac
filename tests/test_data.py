"""The data stage: mirror checksums, safe archive reading, all-or-nothing output, subsets."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import torch

from paperlib.data import class_balanced_subset, load_split
from paperlib.data.mirror import DataSourceError, read_jpeg_archive, safe_members
from paperlib.data.prepare import main, prepare
from paperlib.data.registry import CIFAR10, MNIST, get_spec
from paperlib.seeding import make_generator


def copy_mnist_mirror(mirror, tmp_path):
    root = tmp_path / "mirror"
    (root / "mnist").mkdir(parents=True)
    for entry in MNIST.mirror.values():
        shutil.copyfile(mirror / entry.path, root / entry.path)
    return root


def test_mnist_from_mirror_records_the_subset(mirror, tmp_path):
    manifest = prepare("mnist", tmp_path / "out" / "mnist", mirror=mirror, download_root=tmp_path)
    assert manifest["counts"] == {"train": 5000, "test": 10000}
    assert manifest["train_full"] is False and manifest["test_full"] is True
    assert "5000-image subset" in manifest["note"]
    assert manifest["class_counts"]["train"] == [500] * 10  # the mirror's README: 500 per digit
    assert {f["sha256"] for f in manifest["source_files"]} == {e.sha256 for e in MNIST.mirror.values()}
    on_disk = json.loads((tmp_path / "out" / "mnist" / "manifest.json").read_text())
    assert on_disk == manifest
    x, y = load_split("mnist", "test", root=tmp_path / "out")
    assert x.dtype == torch.uint8 and x.shape == (10000, 1, 28, 28) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == manifest["class_counts"]["test"]


def test_corrupted_mirror_file_is_named_and_nothing_is_written(mirror, tmp_path):
    root = copy_mnist_mirror(mirror, tmp_path)
    target = root / MNIST.mirror["test_labels"].path
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    out = tmp_path / "out" / "mnist"
    with pytest.raises(DataSourceError) as info:
        prepare("mnist", out, mirror=root, download_root=tmp_path)
    assert str(target) in str(info.value) and "SHA-256" in str(info.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_missing_mirror_file_is_named_with_the_fix(mirror, tmp_path, capsys, monkeypatch):
    root = copy_mnist_mirror(mirror, tmp_path)
    (root / MNIST.mirror["train_images"].path).unlink()
    monkeypatch.setenv("PAPERLIB_DATA_MIRROR", str(root))
    assert main(["mnist", "--out", str(tmp_path / "out" / "mnist")]) == 1
    err = capsys.readouterr().err
    assert "train-5k-images-idx3-ubyte.gz" in err and "PAPERLIB_DATA_MIRROR" in err
    assert not (tmp_path / "out" / "mnist").exists()


def test_stl10_is_download_only(tmp_path, mirror):
    with pytest.raises(DataSourceError, match="not in the offline mirror"):
        prepare("stl10", tmp_path / "stl10", mirror=mirror, download_root=tmp_path)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown dataset 'svhn'"):
        get_spec("svhn")


def _tar_with(tmp_path, add) -> tarfile.TarFile:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add(tar)
    return path


def _add_file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "add, words",
    [
        (lambda t: _add_file(t, "../escape.jpg"), "unsafe member path"),
        (lambda t: _add_file(t, "/etc/passwd"), "unsafe member path"),
        (lambda t: t.addfile(_link("train/cat/link.jpg", tarfile.SYMTYPE, "/etc/passwd")), "is a link"),
        (lambda t: t.addfile(_link("train/cat/hard.jpg", tarfile.LNKTYPE, "train/cat/0.jpg")), "is a link"),
        (lambda t: t.addfile(_link("train/cat/fifo", tarfile.FIFOTYPE, "")), "not a regular file"),
    ],
)
def test_unsafe_archives_are_refused(tmp_path, add, words):
    archive = _tar_with(tmp_path, add)
    with tarfile.open(archive) as tar, pytest.raises(DataSourceError, match=words):
        safe_members(tar, archive)
    with pytest.raises(DataSourceError, match=words):
        read_jpeg_archive(archive, CIFAR10)


def _link(name, kind, target):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_jpeg_archive_is_decoded_in_class_order(tmp_path):
    from PIL import Image

    def add(tar):
        for split in ("train", "test"):
            for label, cls in enumerate(CIFAR10.classes[:3]):
                buf = io.BytesIO()
                Image.fromarray(np.full((32, 32, 3), 40 * label, dtype=np.uint8)).save(buf, format="JPEG", quality=95)
                _add_file(tar, f"cifar10/{split}/{cls}/0001.jpg", buf.getvalue())

    splits = read_jpeg_archive(_tar_with(tmp_path, add), CIFAR10)
    x, y = splits["train"]
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [0, 1, 2]
    assert np.abs(x.reshape(3, -1).mean(1) - np.array([0, 40, 80])).max() < 2


def test_class_balanced_subset_is_balanced_reproducible_and_random():
    y = torch.arange(10).repeat_interleave(100)[torch.randperm(1000, generator=make_generator(1, "shuffle"))]
    a = class_balanced_subset(y, 200, make_generator(0, "subset"))
    b = class_balanced_subset(y, 200, make_generator(0, "subset"))
    c = class_balanced_subset(y, 200, make_generator(1, "subset"))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a) == 200 and len(set(a.tolist())) == 200
    assert torch.bincount(y[a], minlength=10).tolist() == [20] * 10
    assert sorted(class_balanced_subset(y, 0, make_generator(0, "s")).tolist()) == list(range(1000))


# ------------------------------------------- the tests' own data: mirror where there is one, else download


def _write_idx(path, arr: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes (what torchvision leaves in ``MNIST/raw``)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def test_tiny_models_data_without_a_mirror_comes_from_the_download(mirror, tmp_path, monkeypatch):
    """``PAPERLIB_DATA_MIRROR`` naming an empty folder hides the mirror: the tests' loader then
    takes the data stage's torchvision path. The download is faked offline: it writes the
    torchvision layout from the mirror's files, with a 6,000-image training set (the mirror's
    5,000 plus 1,000 test images) from which the loader must pick 500 images per digit."""
    import torchvision.datasets as tvd
    from _tiny_models import load_mnist, prepare_mnist

    from paperlib.data.mirror import read_idx

    files = {role: read_idx(mirror / entry.path) for role, entry in MNIST.mirror.items()}
    fake_train_x = np.concatenate([files["train_images"], files["test_images"][:1000]])
    fake_train_y = np.concatenate([files["train_labels"], files["test_labels"][:1000]])
    downloads = []

    def fake_download(self):
        raw = tmp_path / "downloads" / "MNIST" / "raw"
        assert self.raw_folder == str(raw)
        raw.mkdir(parents=True, exist_ok=True)
        for stem, x, y in (("train", fake_train_x, fake_train_y), ("t10k", files["test_images"], files["test_labels"])):
            _write_idx(raw / f"{stem}-images-idx3-ubyte", x)
            _write_idx(raw / f"{stem}-labels-idx1-ubyte", y)
        downloads.append(self.train)

    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PAPERLIB_DATA_MIRROR", str(tmp_path / "empty"))
    monkeypatch.setattr(tvd.MNIST, "download", fake_download)
    folder = prepare_mnist(tmp_path / "prepared", download_root=tmp_path / "downloads")
    assert downloads == [True, False]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == "torchvision" and manifest["counts"] == {"train": 6000, "test": 10000}

    data = load_mnist(tmp_path / "prepared")
    x, y = data["train5k"]
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.bincount(y).tolist() == [500] * 10 and torch.equal(y, torch.sort(y).values)
    pool = {img.tobytes(): label for img, label in zip(fake_train_x, fake_train_y)}
    as_bytes = (x * 255).round().to(torch.uint8).numpy()
    assert all(pool[img.tobytes()] == label for img, label in zip(as_bytes, y.tolist()))
    assert torch.equal(load_mnist(tmp_path / "prepared")["train5k"][0], x)  # the same subset every time
    tx, ty = data["test"]
    assert torch.equal(ty, torch.from_numpy(files["test_labels"].astype(np.int64)))
    assert torch.equal((tx * 255).round().to(torch.uint8).squeeze(1), torch.from_numpy(files["test_images"].copy()))


def test_tiny_models_data_with_the_mirror_is_the_mirror_itself(mirror):
    """With the mirror, the tests train on its 5,000-image subset exactly (their numbers unchanged)."""
    from _tiny_models import mnist

    from paperlib.data.mirror import read_idx

    x, y = mnist("train5k")
    assert torch.equal(y, torch.from_numpy(read_idx(mirror / MNIST.mirror["train_labels"].path).astype(np.int64)))
    assert torch.equal((x * 255).round().to(torch.uint8).squeeze(1),
                       torch.from_numpy(read_idx(mirror / MNIST.mirror["train_images"].path).copy()))
