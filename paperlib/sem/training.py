"""Training SEM's collection (section 3.2, Table 1): per architecture the unsmoothed network,
then one smoothed model per sigma fine-tuned from it with Gaussian input noise (Cohen et al.'s
training; the preprint: smoothing "through a pre-trained model").

The whole collection is one set of :class:`~paperlib.zoo.training.NetworkJob` objects trained by
:func:`paperlib.zoo.training.train_networks` (one job per architecture, shared among worker
processes); this module only says which runs SEM needs and where they go
(``<root>/<arch>/sigma_<s>``, :mod:`paperlib.sem.collection`).
"""

from __future__ import annotations

from pathlib import Path

from ..config.sem import ZooParams
from ..zoo.training import NetworkJob, Run
from .collection import sigma_tag


def zoo_jobs(zoo: ZooParams, train_subset: int, out_root: str | Path) -> list[NetworkJob]:
    """One job per architecture of ``zoo``: ``sigma_0`` trained from scratch on the
    architecture's ``train_images`` (or ``train_subset``) with ``sem.zoo.train`` and its
    overrides; every smoothed sigma fine-tuned from ``sigma_0`` on ``finetune_images`` (or
    ``train_subset``) with ``sem.zoo.finetune``, ``input_noise_sigma = sigma`` and
    ``input_noise_space = sem.zoo.noise_space``."""
    jobs = []
    for arch, model in zoo.models.items():
        runs = [Run(sigma_tag(0.0), zoo.train_of(arch), model.train_images or train_subset,
                    key=f"sem.zoo.models.{arch}.train")]
        runs += [Run(sigma_tag(s), {**zoo.finetune, "input_noise_sigma": float(s), "input_noise_space": zoo.noise_space},
                     zoo.finetune_images or train_subset, start_from=sigma_tag(0.0), key="sem.zoo.finetune")
                 for s in zoo.sigmas_of(arch)]
        jobs.append(NetworkJob(name=arch, arch=arch, width=model.width, options=dict(model.options),
                               runs=tuple(runs), out_dir=str(Path(out_root) / arch), seeds=("sem", arch)))
    return jobs
