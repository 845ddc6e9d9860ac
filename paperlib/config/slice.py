"""``slice``: params of the vertical slice (the frame's end-to-end example)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paperlib.config.checks import check_architecture, check_dataset, check_train_config
from paperlib.config.schema import require


@dataclass(frozen=True)
class SliceModel:
    """One model of the vertical slice's zoo (one DVC stage item each)."""

    arch: str
    width: float = 1.0
    temperature: float = 1.0
    logit_scale: float = 1.0   # the network's logits times this (set to T: see paperlib.models.ImageClassifier)

    def validate(self, key: str) -> None:
        require(self.logit_scale > 0, f"{key}.logit_scale", f"must be > 0, got {self.logit_scale}")
        check_architecture(self.arch, f"{key}.arch")
        require(self.width > 0, f"{key}.width", f"must be > 0, got {self.width}")
        require(self.temperature > 0, f"{key}.temperature", f"must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class SliceEval:
    """How the slice's models are evaluated: clean, under Gaussian input noise, under FGSM."""

    batch_size: int
    noise_sigmas: list[float]
    fgsm_eps: list[float]

    def validate(self, key: str) -> None:
        require(self.batch_size >= 1, f"{key}.batch_size", f"must be >= 1, got {self.batch_size}")
        for i, s in enumerate(self.noise_sigmas):
            require(s >= 0, f"{key}.noise_sigmas[{i}]", f"sigma must be >= 0, got {s}")
        for i, e in enumerate(self.fgsm_eps):
            require(0 <= e <= 1, f"{key}.fgsm_eps[{i}]", f"epsilon is in pixel units and must lie in [0, 1], got {e}")


@dataclass(frozen=True)
class SliceParams:
    """``slice``: the vertical slice (Liang & Samavi's Carlini-Wagner CIFAR-10 network, trained at
    temperatures T_l = 10 l, evaluated, reported beside the paper's 72.42% average accuracy)."""

    dataset: str
    train_subset: int
    test_subset: int
    models: dict[str, SliceModel]
    train: dict[str, Any]
    eval: SliceEval
    workers: int = 1           # processes sharing the networks' training (paperlib.zoo.training)

    def validate(self, key: str) -> None:
        check_dataset(self.dataset, f"{key}.dataset")
        require(self.train_subset >= 0, f"{key}.train_subset", "must be >= 0 (0 = the whole split)")
        require(self.test_subset >= 0, f"{key}.test_subset", "must be >= 0 (0 = the whole split)")
        require(len(self.models) > 0, f"{key}.models", "name at least one model")
        for name in self.models:
            require(name.replace("_", "").isalnum(), f"{key}.models.{name}", "model names use letters, digits and _ only")
        check_train_config(self.train, f"{key}.train")
        require(self.workers >= 1, f"{key}.workers", f"must be >= 1, got {self.workers}")


SECTION = SliceParams
