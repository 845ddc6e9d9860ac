"""Training one architecture of SEM's collection (section 3.2): the unsmoothed network, then one
smoothed model per sigma fine-tuned from it with Gaussian input noise (Cohen et al.'s training;
the preprint: smoothing "through a pre-trained model").

The fine-tunes are independent of each other, so :func:`finetune_smoothed` runs them in worker
processes (:mod:`paperlib.parallel`); each model's seed names its architecture and sigma, so the
result does not depend on which worker trains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..config.schema import from_mapping
from ..config.sem import ZooModel
from ..parallel import map_jobs
from ..seeding import derive_seed
from ..train import TrainConfig, train as train_model
from .collection import build_zoo_model, sigma_tag


@dataclass(frozen=True)
class SmoothedJob:
    """One smoothed model: its sigma and where it is written."""

    sigma: float
    checkpoint_dir: str

    def __str__(self) -> str:
        return f"sigma {self.sigma:g}"


_WORKER: dict = {}


def _init_finetune_worker(arch: str, zoo_model: ZooModel, num_classes: int, in_channels: int,
                          base_state: dict, x: torch.Tensor, y: torch.Tensor, finetune: dict, seed: int) -> None:
    _WORKER.clear()
    _WORKER.update(arch=arch, zoo_model=zoo_model, num_classes=num_classes, in_channels=in_channels,
                   base_state=base_state, x=x, y=y, finetune=finetune, seed=seed)


def _finetune_one(job: SmoothedJob) -> dict:
    w = _WORKER
    cfg = from_mapping(TrainConfig, {**w["finetune"], "input_noise_sigma": job.sigma}, "sem.zoo.finetune")
    net = build_zoo_model(w["arch"], w["zoo_model"], w["num_classes"], w["in_channels"])
    net.load_state_dict(w["base_state"])
    return train_model(net, w["x"], w["y"], cfg, seed=derive_seed(w["seed"], "sem", w["arch"], job.sigma),
                       checkpoint_dir=job.checkpoint_dir, progress=False)


def finetune_smoothed(base: torch.nn.Module, arch: str, zoo_model: ZooModel, sigmas: Sequence[float],
                      x: torch.Tensor, y: torch.Tensor, finetune: dict, *, num_classes: int, in_channels: int,
                      seed: int, out_dir: str | Path, workers: int = 1) -> dict[float, dict]:
    """Fine-tune one smoothed model per sigma from the trained unsmoothed ``base`` (under
    ``out_dir/sigma_<s>``); returns ``{sigma: training history}``. ``finetune``: the
    ``sem.zoo.finetune`` mapping (a TrainConfig without the noise, which each sigma sets)."""
    base_state = {k: v.detach().cpu().clone() for k, v in base.state_dict().items()}
    jobs = [SmoothedJob(float(s), str(Path(out_dir) / sigma_tag(s))) for s in sigmas]
    histories = map_jobs(_finetune_one, jobs, workers=workers, initializer=_init_finetune_worker,
                         initargs=(arch, zoo_model, num_classes, in_channels, base_state, x, y, dict(finetune), seed),
                         describe=lambda j: f"{arch} {j}")
    return {j.sigma: h for j, h in zip(jobs, histories)}
