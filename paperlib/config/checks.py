"""Value checks shared by params sections (registries are imported late, when a value is checked)."""

from __future__ import annotations

from paperlib.config.schema import from_mapping, require


def check_architecture(arch: str, key: str) -> None:
    # the torch-free name list: validating params must not import torch (paperlib.config.architectures.py)
    from paperlib.config.architectures import ARCHITECTURE_NAMES

    require(arch in ARCHITECTURE_NAMES, key, f"unknown architecture {arch!r}; registered: {sorted(ARCHITECTURE_NAMES)}")


def check_dataset(name: str, key: str) -> None:
    from paperlib.data.registry import DATASETS

    require(name in DATASETS, key, f"unknown dataset {name!r}; registered: {sorted(DATASETS)}")


def check_train_config(values: dict, key: str) -> None:
    """``values`` must build a valid :class:`paperlib.train.TrainConfig` (unknown keys, types, ranges)."""
    from paperlib.train.config import TrainConfig

    from_mapping(TrainConfig, values, key)
