"""Training a zoo: many networks, each with a chain of runs, shared among worker processes.

Every paper trains a set of registry networks on a class-balanced subset of one dataset: SEM
trains 17 architectures and fine-tunes smoothed copies of each; Liang & Samavi train one network
per temperature; CLM and RSE train ensembles. :func:`train_networks` does it for all of them.

Why one stage and worker processes, not one DVC item per network: every notebook stage pays a
fixed cost before it does any work (runner, kernel start, imports: 3-6 s here,
``benchmarks/results/stage_overhead.json``), paid once per zoo instead of once per network, and
the narrow networks leave a second core idle in one process (two one-thread processes do 1.95-2.2x the work of one two-thread process,
``benchmarks/results/parallel_workers.json``). The networks of a zoo are independent, so they
are jobs of :func:`paperlib.zoo.workers.map_shared`.

Why results do not depend on the schedule: a network's subset, initialization and every run's
streams are named by the job (``NetworkJob.seeds``), and the job order, which fixes the thread
count of the last jobs (:mod:`paperlib.parallel`), is a deterministic function of the jobs
(:func:`schedule`), never of timing. A rerun gives byte-identical ``model.pt`` and
``history.json`` files: wall times are returned, never written (see ``paperlib.train.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..config.schema import from_mapping
from ..data import class_balanced_subset
from ..models import count_parameters
from ..seeding import derive_seed, make_generator
from ..train import TrainConfig, predict_logits, train
from ..train.config import AdvTrainConfig
from .store import build_model
from .workers import map_shared


@dataclass(frozen=True)
class Run:
    """One training run of a network, written to ``<NetworkJob.out_dir>/<tag>``.

    ``config``: a :class:`~paperlib.train.TrainConfig` mapping (``key`` names it in errors).
    ``images``: class-balanced training images (0 = the whole split). Subsets of one job are
    drawn from one stream, so a smaller subset is contained in a larger one.
    ``start_from``: the ``tag`` of an earlier run of the same job whose weights this run starts
    from (a fine-tune); ``None`` starts from the job's initialization.
    ``adversarial``: an :class:`~paperlib.train.config.AdvTrainConfig` set on the run's config
    (adversarial training: RSE's FGSM retraining and Madry et al.'s PGD training). A params
    mapping cannot hold it (its attack is a function), so it travels beside the mapping; with
    ``workers > 1`` its attack must pickle (a module-level class instance, not a closure:
    :mod:`paperlib.rse.zoo` has two). An attack may say how many forward-backward passes it makes
    per example (attribute ``passes``, default 1) so that :func:`estimated_cost` orders the jobs
    by what they cost.
    ``soft_labels``: the ``tag`` of an earlier run of the same job whose network labels this run's
    training images: the labels become ``softmax(logits / T)`` of that network (eval mode, one
    forward pass per image, before any augmentation), ``T`` this run's ``temperature``: defensive
    distillation's student (Papernot et al. 2016), trained on its teacher's soft labels at the
    teacher's temperature. Why a run option here rather than code in a paper's package:
    :func:`train_networks` shares one label tensor among all jobs, so per-network labels cannot be
    passed in, and computing them before the call would need the teacher trained in an earlier
    call (two passes over the zoo, the worker pool idle in between). As a run of the same job the
    student is trained right after its teacher, in the worker that holds the teacher's weights,
    on the same subset, with its streams named like every other run; any paper's distilled network
    (Liang & Samavi's temperatures too) is one more run.
    """

    tag: str
    config: Mapping[str, Any]
    images: int = 0
    start_from: str | None = None
    key: str = "train"
    adversarial: AdvTrainConfig | None = None
    soft_labels: str | None = None
    partition: tuple[int, int] | None = None


def partition_indices(y: torch.Tensor, size: int, part: int, parts: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of partition ``part`` of ``parts`` disjoint partitions of ``size`` training images
    each (Liang & Samavi's MNIST members, "50 training subsets (1100 samples each)").

    The ``parts * size`` images are one class-balanced subset (:func:`paperlib.data.class_balanced_subset`,
    in its random order) cut into consecutive chunks: partitions are disjoint by construction and
    balanced in expectation. Raises ValueError when the split holds fewer than ``parts * size`` images."""
    if not (isinstance(parts, int) and isinstance(part, int) and 0 <= part < parts):
        raise ValueError(f"partition must be (part, parts) with 0 <= part < parts, got ({part!r}, {parts!r})")
    if not (isinstance(size, int) and size >= 1):
        raise ValueError(f"a partition needs a size of at least 1 image, got {size!r}")
    if parts * size > len(y):
        raise ValueError(f"{parts} disjoint partitions of {size} images need {parts * size} training images; "
                         f"the split holds {len(y)}")
    idx = class_balanced_subset(y, parts * size, generator)
    return idx[part * size:(part + 1) * size]


@dataclass(frozen=True)
class NetworkJob:
    """A registry network (``arch`` at ``width`` with family ``options``) and its runs, in order.

    ``seeds``: the names of the job's streams below the base seed (e.g. ``("sem", "resnet18")``):
    initialization ``(*seeds)``, each run ``(*seeds, tag)``, the subset ``(*seeds[:1],
    "train-subset")`` -- one subset stream per paper, so networks of a zoo see the same images.
    """

    name: str
    arch: str
    width: float
    runs: tuple[Run, ...]
    out_dir: str
    seeds: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _configs(job: NetworkJob) -> list[TrainConfig]:
    cfgs = [from_mapping(TrainConfig, dict(r.config), r.key) for r in job.runs]
    for i, r in enumerate(job.runs):
        if r.adversarial is not None:
            if not isinstance(r.adversarial, AdvTrainConfig):
                raise ValueError(f"{job.name}: run {r.tag!r}: adversarial must be an AdvTrainConfig, "
                                 f"got {type(r.adversarial).__name__}")
            cfgs[i] = replace(cfgs[i], adversarial=r.adversarial)
    return cfgs


def _check_runs(job: NetworkJob) -> None:
    """Every run's config builds, tags are unique, and ``start_from`` / ``soft_labels`` name an
    earlier run of the job (checked before any training starts)."""
    _configs(job)
    seen: list[str] = []
    for r in job.runs:
        if r.tag in seen:
            raise ValueError(f"{job.name}: run tags must be unique, got {[x.tag for x in job.runs]}")
        for what, ref in (("starts from", r.start_from), ("takes soft labels from", r.soft_labels)):
            if ref is not None and ref not in seen:
                raise ValueError(f"{job.name}: run {r.tag!r} {what} {ref!r}, which is not an earlier run of "
                                 f"this network (earlier: {seen})")
        seen.append(r.tag)


def _passes(cfg: TrainConfig) -> float:
    """Forward-backward passes per training image: 1, plus the adversarial attack's passes on the
    fraction of images it makes (its ``passes`` attribute, default 1)."""
    adv = cfg.adversarial
    if adv is None:
        return 1.0
    return 1.0 + adv.ratio * float(getattr(adv.attack, "passes", 1))


def estimated_cost(job: NetworkJob, num_classes: int, in_channels: int, n_images: int) -> float:
    """Relative cost of a job: training images seen x (layers + parameters / 10,000).

    The default profile's narrow networks are bound by per-operator overhead (so cost grows with
    the number of layers) and the wide ones by arithmetic (parameters). Deterministic on purpose:
    it orders the jobs, and the order fixes thread counts, so it must not come from a timing."""
    net = build_model(job.arch, num_classes, in_channels=in_channels, width=job.width, options=job.options,
                      device="meta")
    layers = sum(1 for m in net.modules() if not list(m.children()))
    per_image = layers + count_parameters(net) / 1e4
    seen = sum((r.images or n_images) * c.epochs * _passes(c) for r, c in zip(job.runs, _configs(job)))
    return seen * per_image


def schedule(jobs: Sequence[NetworkJob], num_classes: int, in_channels: int, n_images: int) -> list[NetworkJob]:
    """``jobs`` longest first by :func:`estimated_cost` (ties by name), so workers finish together."""
    return sorted(jobs, key=lambda j: (-estimated_cost(j, num_classes, in_channels, n_images), j.name))


@dataclass(frozen=True)
class _Shared:
    x: torch.Tensor
    y: torch.Tensor
    seed: int
    num_classes: int
    in_channels: int


def _shared(x: torch.Tensor, y: torch.Tensor, seed: int, num_classes: int, in_channels: int) -> _Shared:
    return _Shared(x, y, seed, num_classes, in_channels)


def _train_job(shared: _Shared, job: NetworkJob) -> dict[str, dict]:
    cfgs = _configs(job)
    histories: dict[str, dict] = {}
    weights: dict[str, dict] = {}
    net: nn.Module = build_model(job.arch, shared.num_classes, in_channels=shared.in_channels, width=job.width,
                                 options=job.options, seed=derive_seed(shared.seed, *job.seeds))
    init_state = {k: v.clone() for k, v in net.state_dict().items()}
    for run, cfg in zip(job.runs, cfgs):
        for ref in (run.start_from, run.soft_labels):
            if ref is not None and ref not in weights:
                raise ValueError(f"{job.name}: run {run.tag!r} needs {ref!r}, which is not an earlier run of "
                                 f"this network")
        gen = make_generator(shared.seed, job.seeds[0], "train-subset")
        if run.partition is not None:
            idx = partition_indices(shared.y, run.images, *run.partition, gen)
        else:
            idx = class_balanced_subset(shared.y, run.images, gen)
        x_run, y_run = shared.x[idx], shared.y[idx]
        if run.soft_labels is not None:
            y_run = soft_labels(net, weights[run.soft_labels], x_run, cfg.temperature)
        net.load_state_dict(weights[run.start_from] if run.start_from is not None else init_state)
        net = net.to(memory_format=torch.contiguous_format).train().requires_grad_(True)
        histories[run.tag] = train(net, x_run, y_run, cfg,
                                   seed=derive_seed(shared.seed, *job.seeds, run.tag),
                                   checkpoint_dir=Path(job.out_dir) / run.tag, progress=False)
        histories[run.tag]["images"] = int(len(idx))
        if run.soft_labels is not None:
            histories[run.tag]["soft_labels_from"] = run.soft_labels
        weights[run.tag] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return histories


def soft_labels(net: nn.Module, state: Mapping[str, torch.Tensor], x: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """``softmax(logits / temperature)`` ``[N, K]`` float32 of ``net`` with weights ``state``
    (loaded into ``net`` in place) on ``x`` (uint8 ``[N, C, H, W]``), in eval mode: the labels a
    distillation teacher gives its student (Papernot et al. 2016, eq. 1 at temperature ``T``).
    A network with noise layers (RSE) labels with one draw of its own noise."""
    net.load_state_dict(state)
    logits = predict_logits(net, x)
    return (logits / float(temperature)).softmax(1).cpu()


def train_networks(jobs: Sequence[NetworkJob], x: torch.Tensor, y: torch.Tensor, *, seed: int, num_classes: int,
                   in_channels: int, workers: int = 1) -> dict[str, dict[str, dict]]:
    """Train every run of every job; ``{job name: {run tag: history}}`` in the order of ``jobs``.

    ``x`` uint8 ``[N, C, H, W]``, ``y`` int64 ``[N]``: the whole training split (each run takes
    its class-balanced subset). Runs already finished on disk with the same config and seed are
    loaded, not retrained (:func:`paperlib.train.train`); a run's ``soft_labels`` are recorded in
    its returned history (``soft_labels_from``), not in the files. Histories carry the wall times
    (``total_wall_s``) and ``images``; the files on disk carry no times. Every config is validated
    before any training starts (errors name the run's ``key``).
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    for j in jobs:
        _check_runs(j)
        for r in j.runs:
            if r.partition is not None:
                if not (isinstance(r.partition, tuple) and len(r.partition) == 2
                        and all(isinstance(v, int) for v in r.partition) and 0 <= r.partition[0] < r.partition[1]):
                    raise ValueError(f"{j.name}: run {r.tag!r}: partition must be (part, parts) with "
                                     f"0 <= part < parts, got {r.partition!r} ({r.key})")
                part, parts = r.partition
                if r.images * parts > len(y) or r.images < 1:
                    raise ValueError(f"{j.name}: run {r.tag!r}: {parts} disjoint partitions of {r.images} images "
                                     f"need {r.images * parts} training images; the split holds {len(y)} ({r.key})")
    order = schedule(jobs, num_classes, in_channels, len(y))
    out = map_shared(_train_job, order, _shared, (x, y, seed, num_classes, in_channels), workers=workers,
                     describe=str)
    by_name = {j.name: h for j, h in zip(order, out)}
    return {n: by_name[n] for n in names}
