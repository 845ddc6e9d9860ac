"""The dataset registry: what each dataset is, where it comes from, how it is checked.

Two sources per dataset: torchvision's downloader (online machines) and the offline mirror
(``PAPERLIB_DATA_MIRROR``, see ``../shared/data/README.md``), whose files are verified by
SHA-256 before use. A dataset with no mirror entry (STL-10) is download-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MirrorFile:
    """One file of the offline mirror: path relative to the mirror root and its SHA-256."""

    path: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the papers use.

    ``shape`` is (C, H, W) of one image; ``train_size``/``test_size`` are the full sizes;
    ``mirror`` maps a role (``archive``, ``train_images``...) to its mirror file, empty when the
    dataset is not mirrored; ``mirror_train_size`` is the size of the mirror's training split
    when it is a subset of the full one (MNIST: 5,000 of 60,000).
    """

    name: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    train_size: int
    test_size: int
    torchvision_class: str
    mirror: dict[str, MirrorFile] = field(default_factory=dict)
    mirror_train_size: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


CIFAR10 = DatasetSpec(
    name="cifar10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    shape=(3, 32, 32),
    train_size=50_000,
    test_size=10_000,
    torchvision_class="CIFAR10",
    mirror={
        "archive": MirrorFile(
            "cifar10-jpeg.tar.gz", "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
        )
    },
)

MNIST = DatasetSpec(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    shape=(1, 28, 28),
    train_size=60_000,
    test_size=10_000,
    torchvision_class="MNIST",
    mirror={
        "train_images": MirrorFile(
            "mnist/train-5k-images-idx3-ubyte.gz", "5eb5a55b9b127e1bbeed6e0c1dcd0cbe8e2e8ef3fffe1f6f586a9c66a10bfa27"
        ),
        "train_labels": MirrorFile(
            "mnist/train-5k-labels-idx1-ubyte.gz", "c4212cb8cf5b3856dc6a93954d0a71e872869a3ed569561ef5993f6e5a0b3bec"
        ),
        "test_images": MirrorFile(
            "mnist/t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "test_labels": MirrorFile(
            "mnist/t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    mirror_train_size=5_000,
)

STL10 = DatasetSpec(
    name="stl10",
    classes=("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
    shape=(3, 96, 96),
    train_size=5_000,
    test_size=8_000,
    torchvision_class="STL10",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (CIFAR10, MNIST, STL10)}


def get_spec(name: str) -> DatasetSpec:
    """The registered dataset ``name``; a ``KeyError`` listing the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; registered: {sorted(DATASETS)}") from None
