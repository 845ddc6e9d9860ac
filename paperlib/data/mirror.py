"""Reading the offline dataset mirror: checksums, safe archive reading, image decoding.

The mirror is read-only and may be shared, so nothing is extracted next to it: archive members
are validated (no absolute paths, no ``..``, no links or devices) and decoded from memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from paperlib.data.registry import DatasetSpec, MirrorFile


class DataSourceError(RuntimeError):
    """A dataset source is missing, corrupted or unsafe. The message names the file and the fix."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verified_path(root: Path, entry: MirrorFile) -> Path:
    """The mirror file ``entry`` under ``root`` after checking that it exists and its SHA-256."""
    path = Path(root) / entry.path
    if not path.is_file():
        raise DataSourceError(
            f"{path}: missing from the data mirror. Set PAPERLIB_DATA_MIRROR to the folder that "
            f"holds the mirror (here: ../shared/data), or unset it on a machine with internet access "
            f"to download with torchvision."
        )
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise DataSourceError(
            f"{path}: SHA-256 is {actual}, expected {entry.sha256}. The file is corrupted or not "
            f"the mirror's; restore it from the mirror (../shared/data) and re-run."
        )
    return path


def safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """All members of ``tar``, refusing absolute paths, ``..`` parts, links and special files."""
    members = []
    for member in tar.getmembers():
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise DataSourceError(f"{archive}: unsafe member path {member.name!r}; refusing to read the archive")
        if member.issym() or member.islnk():
            raise DataSourceError(f"{archive}: member {member.name!r} is a link; refusing to read the archive")
        if not (member.isfile() or member.isdir()):
            raise DataSourceError(f"{archive}: member {member.name!r} is not a regular file; refusing")
        members.append(member)
    return members


_JPEG_MEMBER = re.compile(r"(?:^|/)(train|test)/([^/]+)/[^/]+\.jpe?g$", re.IGNORECASE)


def read_jpeg_archive(archive: Path, spec: DatasetSpec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode ``split/<class>/*.jpg`` members of a tar.gz into uint8 arrays.

    Returns ``{"train": (x, y), "test": (x, y)}`` with ``x`` of shape (N, H, W, C) and ``y`` int64
    class indices in ``spec.classes`` order. Members are sorted by path so the order is the same
    on every machine.
    """
    from PIL import Image  # imported here: only the mirror path needs it

    class_index = {name: i for i, name in enumerate(spec.classes)}
    images: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = sorted((m for m in safe_members(tar, archive) if m.isfile()), key=lambda m: m.name)
            for member in members:
                match = _JPEG_MEMBER.search(member.name)
                if match is None:
                    continue
                split, cls = match.group(1).lower(), match.group(2)
                if cls not in class_index:
                    raise DataSourceError(f"{archive}: member {member.name!r} has unknown class {cls!r}")
                data = tar.extractfile(member).read()
                with Image.open(io.BytesIO(data)) as img:
                    arr = np.asarray(img.convert("RGB" if spec.shape[0] == 3 else "L"), dtype=np.uint8)
                if arr.ndim == 2:
                    arr = arr[:, :, None]
                images[split].append(arr)
                labels[split].append(class_index[cls])
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataSourceError(f"{archive}: cannot read the archive ({err}); restore it from the mirror") from err
    out = {}
    for split in ("train", "test"):
        if not images[split]:
            raise DataSourceError(f"{archive}: no {split}/<class>/*.jpg members found")
        out[split] = (np.stack(images[split]), np.asarray(labels[split], dtype=np.int64))
    return out


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes, as used by MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataSourceError(f"{path}: cannot read ({err}); restore it from the mirror") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataSourceError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DataSourceError(f"{path}: IDX header says {expected} values, file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)
