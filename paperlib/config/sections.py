"""The params sections of the package. One dataclass per section; a paper adds its own.

Value checks that go beyond types live in ``validate(self, key)`` so that errors carry the
dotted key of the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paperlib.config.checks import check_dataset
from paperlib.config.schema import require
from paperlib.config.sem import SemParams
from paperlib.config.slice import SliceParams

PROFILES = ("smoke", "default", "paper")


@dataclass(frozen=True)
class DataParams:
    """``data``: which datasets the ``data`` stage prepares."""

    datasets: list[str]

    def validate(self, key: str) -> None:
        require(len(self.datasets) > 0, f"{key}.datasets", "list at least one dataset")
        require(len(set(self.datasets)) == len(self.datasets), f"{key}.datasets", "duplicate entries")
        for i, name in enumerate(self.datasets):
            check_dataset(name, f"{key}.datasets[{i}]")


@dataclass(frozen=True)
class ReportParams:
    """``report``: the final stage's title and the result sections it gathers, in order."""

    title: str
    sections: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Params:
    """The whole params file. ``profile`` is recorded in every output."""

    profile: Literal["smoke", "default", "paper"]
    seed: int
    data: DataParams
    slice: SliceParams
    sem: SemParams
    report: ReportParams

    def validate(self, key: str) -> None:
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        require(self.slice.dataset in self.data.datasets, "slice.dataset", f"{self.slice.dataset!r} is not prepared by data.datasets {self.data.datasets}")
        require(self.sem.dataset in self.data.datasets, "sem.dataset", f"{self.sem.dataset!r} is not prepared by data.datasets {self.data.datasets}")
