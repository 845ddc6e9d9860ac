"""RSE's zoo (Liu et al., ECCV 2018, Section 4, Table 1): per setting, one trained network per
defense, trained by the shared :func:`paperlib.zoo.training.train_networks`, and the loader that
hands them back ready to evaluate, with Figure 2's noise views.

Networks of a setting (``rse.settings.<name>``; all on one class-balanced training subset):

========================  ==========================================================  =========
name                      runs (``<out>/<name>/<tag>``; the last one is the network)  predicts
========================  ==========================================================  =========
``none``                  ``train``: the recipe                                       1 pass
``rse``                   ``train``, noise layers at ``rse.noise_init/noise_inner``   ensemble
``noise_<i>_<j>``         ``train``, noise at a further level of eq. 11 (Figure 3)    ensemble
``distill``               ``teacher`` at T; ``student`` at T on the teacher's soft    1 pass
                          labels (``Run.soft_labels``); deployed at T = 1
``adv_fgsm``              ``pretrain`` (the recipe), then ``retrain`` with FGSM at    1 pass
                          eps ~ U(low, high) on each batch with probability p
``madry``                 ``train`` with PGD (every example adversarial)              1 pass
``robust_opt_brelu``      ``train`` with Gaussian input noise, BReLU activations      1 pass
                          (ReLU with ``robust_opt_activation: relu``)
========================  ==========================================================  =========

Every network is the setting's architecture (``arch``, ``width``, ``options``); those without
RSE noise have noise levels (0, 0), whose noise layers are the identity, so every network of a
setting has the same ``state_dict`` keys: Figure 2's views load one network's weights into
another's architecture. Noise levels (eq. 11) equal to ``rse``'s or to (0, 0) are the ``rse`` and
``none`` networks themselves (same architecture, recipe and data), not trained twice. The runs of
a network start from its one initialization: the distilled student from the same weights its
teacher started from (the paper says only "same architecture").

Randomness: a network's initialization is the stream ``(seed, "rse", setting, name)``, each run's
streams ``(seed, "rse", setting, name, tag)`` (data order, augmentation, input noise, noise
layers, attack), the training subset ``(seed, "rse", "train-subset")`` and the test subset
``(seed, "rse", "test-subset")`` (:mod:`paperlib.zoo.training`): a rerun writes the same bytes.

The loader (:func:`load_rse_zoo`) returns :class:`ZooNetwork` objects: each trained network, an
alias per noise level of Figure 3, and the views of Figure 2 (Section 3.2):

* ``train_noise_only``: the ``rse`` network predicting without noise: built with noise levels
  (0, 0) and its noise layers disabled (so wrapping it in an ensemble cannot turn noise back on);
* ``test_noise_only``: the ``none`` network with RSE's noise layers (``rse.noise_init``,
  ``rse.noise_inner``) added at test time, predicting with the ensemble.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..config.rse import RseParams, SettingParams
from ..config.schema import require
from ..data import class_balanced_subset, get_spec
from ..defenses import RSEEnsemble
from ..models.noise import noise_layers, set_noise_enabled
from ..seeding import make_generator
from ..train.adversarial import fgsm_training_attack, pgd_linf_training_attack
from ..train.config import AdvTrainConfig
from ..zoo.accuracy import accuracy_row, model_accuracy
from ..zoo.store import build_model, describe_arch, load_weights, read_record
from ..zoo.training import NetworkJob, Run, train_networks

VIEWS = ("train_noise_only", "test_noise_only")
# Names the claims (claims/rse.yaml) give the zoo's networks.
CLAIMS_NAMES = {"none": "no_defense", "rse": "rse", "distill": "distill", "adv_fgsm": "adv_retraining",
                "madry": "madry_pgd", "robust_opt_brelu": "robust_opt_brelu",
                "train_noise_only": "train_noise_only", "test_noise_only": "test_noise_only"}


# ------------------------------------------------------------------ training attacks (picklable)


@dataclass(frozen=True)
class UniformFGSM:
    """FGSM with a random budget, RSE's "Adversarial training (I)" (Table 1: eps ~ U(0.1, 0.3)).

    ``attack(model, x, y, generator) -> x_adv`` (the :class:`~paperlib.train.config.AdvTrainConfig`
    signature): draws ``eps ~ U(eps_low, eps_high)`` once per call (per batch, as RSE's public code
    ``main_adv.py`` does) from ``generator``, then one FGSM step of ``eps`` (pixel units; ``x`` in
    [0, 1], ``[B, C, H, W]``), clipped to [0, 1]. A module-level class, so the run's config pickles
    into spawn workers (a closure would not)."""

    eps_low: float
    eps_high: float
    passes = 1  # forward-backward passes per example (paperlib.zoo.training.estimated_cost)

    @property
    def __name__(self) -> str:  # how the engine records the attack in history.json
        return f"fgsm_uniform_training_attack(eps=U({self.eps_low},{self.eps_high}))"

    def draw_eps(self, generator: torch.Generator | None, device) -> float:
        u = torch.rand((), generator=generator, device=device).item()
        return self.eps_low + (self.eps_high - self.eps_low) * u

    def __call__(self, model, x, y, generator=None):
        return fgsm_training_attack(self.draw_eps(generator, x.device))(model, x, y, generator)


@dataclass(frozen=True)
class PGDLinf:
    """Madry et al.'s L-inf PGD training adversary (:func:`~paperlib.train.adversarial.pgd_linf_training_attack`:
    uniform random start, ``steps`` signed steps of ``step_size``, pixel units) as a picklable object."""

    eps: float
    step_size: float
    steps: int

    @property
    def passes(self) -> int:
        return self.steps

    @property
    def __name__(self) -> str:
        return f"pgd_linf_training_attack(eps={self.eps},step_size={self.step_size},steps={self.steps})"

    def __call__(self, model, x, y, generator=None):
        return pgd_linf_training_attack(self.eps, self.step_size, self.steps)(model, x, y, generator)


# ------------------------------------------------------------------ the networks of a setting


def noise_level_name(level: Sequence[float]) -> str:
    """``noise_<sigma_init>_<sigma_inner>`` (``%g``): the name of a Figure 3 noise level."""
    return f"noise_{float(level[0]):g}_{float(level[1]):g}"


@dataclass(frozen=True)
class NetworkSpec:
    """One trained network of a setting: its name, the defense it implements, the family options
    it is built with, its runs (the last is the network), whether it predicts with an ensemble
    over its noise and with how many passes."""

    name: str
    defense: str
    options: Mapping[str, Any]
    runs: tuple[Run, ...]
    noisy: bool
    ensemble: int

    @property
    def final_tag(self) -> str:
        return self.runs[-1].tag


def _setting(section: RseParams, name: str, *, enabled: bool = True) -> SettingParams:
    s = section.setting(name)
    if enabled:
        require(s.enabled, f"rse.settings.{name}.enabled", "the setting is disabled in this profile")
    return s


def level_network(setting: SettingParams, level: Sequence[float]) -> str:
    """The network that provides noise ``level`` (``[sigma_init, sigma_inner]``) of Figure 3:
    ``rse`` at RSE's own level, ``none`` at (0, 0) (when those are trained), else its own."""
    lv = (float(level[0]), float(level[1]))
    if "rse" in setting.defenses and lv == (setting.rse.noise_init, setting.rse.noise_inner):
        return "rse"
    if "none" in setting.defenses and lv == (0.0, 0.0):
        return "none"
    return noise_level_name(lv)


def network_specs(section: RseParams, setting_name: str) -> dict[str, NetworkSpec]:
    """The networks setting ``setting_name`` trains, by name (defenses in the order listed, then
    the noise levels that are not ``rse`` or ``none``)."""
    s = _setting(section, setting_name, enabled=False)
    d = section.defenses
    key = f"rse.settings.{setting_name}"
    base = {**dict(s.options), "noise_init": 0.0, "noise_inner": 0.0}
    train = dict(s.train)

    def plain(tag="train", config=None, **kw):
        return Run(tag, dict(config if config is not None else train), s.train_images, key=f"{key}.train", **kw)

    specs: dict[str, NetworkSpec] = {}
    for name in s.defenses:
        options, noisy, ensemble = dict(base), False, 1
        if name == "none":
            runs = (plain(),)
        elif name == "rse":
            options.update(noise_init=s.rse.noise_init, noise_inner=s.rse.noise_inner)
            noisy, ensemble = s.rse.noise_init > 0 or s.rse.noise_inner > 0, s.rse.ensemble
            runs = (plain(),)
        elif name == "distill":
            options["logit_scale"] = d.distill.logit_scale
            at_t = {**train, "temperature": d.distill.temperature}
            runs = (plain("teacher", at_t), plain("student", at_t, soft_labels="teacher"))
        elif name == "adv_fgsm":
            adv = AdvTrainConfig(attack=UniformFGSM(d.adv_fgsm.eps_low, d.adv_fgsm.eps_high),
                                 ratio=d.adv_fgsm.probability, mode="per_batch")
            runs = (plain("pretrain"),
                    Run("retrain", dict(s.retrain), s.train_images, start_from="pretrain", key=f"{key}.retrain",
                        adversarial=adv))
        elif name == "madry":
            adv = AdvTrainConfig(attack=PGDLinf(d.madry.eps, d.madry.step_size, d.madry.steps), ratio=1.0,
                                 mode="per_example")
            runs = (plain(adversarial=adv),)
        elif name == "robust_opt_brelu":
            if s.robust_opt_activation == "brelu":
                options.update(activation="brelu", brelu_threshold=d.robust_opt_brelu.threshold)
            runs = (plain(config={**train, "input_noise_sigma": d.robust_opt_brelu.sigma}),)
        else:  # the params section refuses unknown names; a caller's hand-made one lands here
            raise ValueError(f"{key}.defenses: unknown defense {name!r}")
        specs[name] = NetworkSpec(name, name, options, runs, noisy, ensemble)
    for level in s.noise_levels:
        name = level_network(s, level)
        if name in specs:
            continue
        options = {**base, "noise_init": float(level[0]), "noise_inner": float(level[1])}
        noisy = level[0] > 0 or level[1] > 0
        specs[name] = NetworkSpec(name, "rse", options, (plain(),), noisy, s.rse.ensemble if noisy else 1)
    return specs


def zoo_jobs(section: RseParams, setting_name: str, out_dir: str | Path) -> list[NetworkJob]:
    """One :class:`~paperlib.zoo.training.NetworkJob` per network of the setting, written to
    ``<out_dir>/<name>/<tag>``, its streams named ``("rse", setting_name, name)``."""
    s = _setting(section, setting_name, enabled=False)
    return [NetworkJob(name=spec.name, arch=s.arch, width=s.width, runs=spec.runs,
                       out_dir=str(Path(out_dir) / spec.name), seeds=("rse", setting_name, spec.name),
                       options=dict(spec.options))
            for spec in network_specs(section, setting_name).values()]


# ------------------------------------------------------------------ training and clean accuracy


def held_out_subset(y_test: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of the class-balanced held-out subset (``n`` images, 0 = all) every RSE table uses,
    drawn from the stream ``(seed, "rse", "test-subset")``."""
    return class_balanced_subset(y_test, n, make_generator(seed, "rse", "test-subset"))


def _check_images(x: torch.Tensor, y: torch.Tensor, setting: SettingParams, key: str, what: str) -> None:
    spec = get_spec(setting.dataset)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or tuple(x.shape[1:]) != tuple(spec.shape):
        raise ValueError(f"{key}: {what} images must be uint8 [N, {', '.join(map(str, spec.shape))}] "
                         f"({setting.dataset}), got {getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.shape != (x.shape[0],):
        raise ValueError(f"{key}: {what} labels must be int64 [{x.shape[0]}]")


def clean_accuracy(net: "ZooNetwork", x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, *,
                   chunk: int = 100) -> dict:
    """Clean accuracy of ``net`` as it predicts: the argmax of one pass, or, for a noisy network,
    of RSE's ensemble (eq. 4: the mean softmax of ``net.ensemble`` passes, each with fresh noise
    from ``generator``). ``x`` uint8 or float pixels ``[B, C, H, W]``, ``y`` ``[B]``. Returns
    :func:`paperlib.zoo.accuracy.accuracy_row`'s dict (accuracy, 95% Clopper-Pearson interval,
    correct, n) plus ``prediction`` and ``ensemble``."""
    if not net.noisy:
        row, _ = model_accuracy(net.model, x, y, num_classes=net.num_classes)
        return {**row, "prediction": "single pass", "ensemble": 1}
    defense = RSEEnsemble([net.model])
    xf = x.float() / 255 if x.dtype == torch.uint8 else x
    with torch.no_grad():
        pred = torch.cat([defense.probs(xb, net.ensemble, generator).argmax(1) for xb in xf.split(chunk)])
    row, _ = accuracy_row(pred, y)
    return {**row, "prediction": f"ensemble of {net.ensemble}", "ensemble": net.ensemble}


def train_rse_zoo(section: RseParams, setting_name: str, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
                  y_test: torch.Tensor, *, out_dir: str | Path, seed: int, workers: int | None = None,
                  device: torch.device | str = "cpu") -> list[dict]:
    """Train (or load, when finished on disk) every network of setting ``setting_name`` and score
    it clean on the held-out class-balanced test subset (:func:`held_out_subset`); one record per
    entry of :func:`load_rse_zoo`: trained networks (``kind`` ``"trained"``), Figure 2's views
    (``"view"``: the source network's runs and times, another prediction) and Figure 3's aliases
    (``"alias"``: a copy of the record of the network the level is).

    ``x``, ``y``: the whole training split (uint8 ``[N, C, H, W]``, int64 ``[N]``); ``x_test``,
    ``y_test``: the whole test split. ``workers``: processes (default ``section.workers``).
    Records: ``setting``, ``network``, ``kind``, ``defense`` (of the source), ``source`` (the
    trained network a view or alias is),
    ``arch``, ``width``, ``options``, ``runs`` (per tag: images, epochs, passes, seconds, loaded),
    ``train_seconds`` (wall time of the network's runs, 0 when loaded; per one-thread worker, the
    last ``workers - 1`` jobs with more threads: :mod:`paperlib.parallel`), ``images_seen``
    (images x epochs, summed over runs), ``seconds_per_image`` (the two divided: comparable across
    recipes and budgets, e.g. Madry's training against RSE's), and the clean accuracy
    (:func:`clean_accuracy`). Times are returned, never written: the files on disk are
    byte-identical on a rerun.
    """
    key = f"rse.settings.{setting_name}"
    s = _setting(section, setting_name)
    _check_images(x, y, s, key, "training")
    _check_images(x_test, y_test, s, key, "test")
    workers = section.workers if workers is None else workers
    num_classes = get_spec(s.dataset).num_classes
    jobs = zoo_jobs(section, setting_name, out_dir)
    histories = train_networks(jobs, x, y, seed=seed, num_classes=num_classes, in_channels=x.shape[1],
                               workers=workers)
    idx = held_out_subset(y_test, s.test_images, seed)
    xt, yt = x_test[idx].to(device), y_test[idx].to(device)
    zoo = load_rse_zoo(section, setting_name, out_dir, device=device)
    specs = network_specs(section, setting_name)
    records: dict[str, dict] = {}
    for name, net in zoo.items():
        spec = specs[net.source]
        if name != net.source and net is zoo[net.source]:  # a Figure 3 alias of a trained network
            records[name] = {**records[net.source], "network": name, "kind": "alias"}
            continue
        runs = {}
        for run in spec.runs:
            h = histories[net.source][run.tag]
            adv = h["config"].get("adversarial")
            passes = 1.0 if adv is None else 1.0 + adv["ratio"] * float(getattr(run.adversarial.attack, "passes", 1))
            runs[run.tag] = {"images": h["images"], "epochs": h["config"]["epochs"], "passes_per_image": passes,
                             "seconds": float(h.get("total_wall_s", 0.0)), "loaded": bool(h.get("loaded", False))}
        seconds = sum(r["seconds"] for r in runs.values())
        seen = sum(r["images"] * r["epochs"] for r in runs.values())
        gen = make_generator(seed, "rse", setting_name, name, "clean-accuracy")
        records[name] = {"setting": setting_name, "network": name, "kind": "trained" if name == net.source else "view",
                         "defense": spec.defense, "source": net.source, "arch": s.arch, "width": s.width,
                         "options": dict(net.options), "runs": runs, "train_seconds": seconds, "images_seen": seen,
                         "seconds_per_image": seconds / seen if seen else math.nan,
                         **clean_accuracy(net, xt, yt, gen)}
    return list(records.values())


# ------------------------------------------------------------------ loading


@dataclass
class ZooNetwork:
    """A trained network (or a view of one) ready to evaluate.

    ``model``: eval mode, frozen, channels_last weights (:func:`paperlib.zoo.store.load_weights`);
    pixels in [0, 1] ``[N, C, H, W]`` -> logits ``[N, K]``. Noise layers (if any) draw from their
    own generators unless given one (:class:`paperlib.defenses.RSEEnsemble` gives its own).
    ``noisy``: it predicts with RSE's ensemble over its noise (eq. 4) of ``ensemble`` passes;
    otherwise with one pass (``ensemble == 1``). ``source``: the trained network it was loaded
    from (``<root>/<source>/<source_tag>``). ``options``: the family options it was built with.
    """

    name: str
    model: nn.Module
    noisy: bool
    ensemble: int
    source: str
    directory: Path
    options: dict
    num_classes: int
    history: dict | None = None
    train_info: dict | None = field(default=None, repr=False)

    def defense(self, generator: torch.Generator | None = None) -> nn.Module:
        """What an attacker faces: :class:`~paperlib.defenses.RSEEnsemble` over the model's noise
        (one draw per query; ``probs(x, n)`` for the ensemble) for a noisy network, else the model."""
        return RSEEnsemble([self.model], generator) if self.noisy else self.model


def load_rse_zoo(section: RseParams, setting_name: str, root: str | Path, *,
                 device: torch.device | str = "cpu") -> dict[str, ZooNetwork]:
    """The trained networks of setting ``setting_name`` under ``root`` (:func:`train_rse_zoo`'s
    ``out_dir``), by name: every network of :func:`network_specs`, an alias per Figure 3 noise
    level (``noise_<i>_<j>``, the same object as ``rse`` / ``none`` where it is that network), and
    Figure 2's views ``train_noise_only`` (needs ``rse``) and ``test_noise_only`` (needs ``none``
    and ``rse``). ``distill`` is the student, deployed at T = 1 (its logits as they are; with
    ``logit_scale`` T they are T times the trained ones, as a network trained at T ends up).
    FileNotFoundError / ValueError name the missing or mismatching ``model.pt``."""
    s = _setting(section, setting_name, enabled=False)
    num_classes = get_spec(s.dataset).num_classes
    in_channels = get_spec(s.dataset).shape[0]
    specs = network_specs(section, setting_name)

    def load(name: str, source: NetworkSpec, options: Mapping[str, Any], noisy: bool, ensemble: int) -> ZooNetwork:
        directory = Path(root) / source.name / source.final_tag
        net = build_model(s.arch, num_classes, in_channels=in_channels, width=s.width, options=options)
        net = load_weights(net, directory, what=describe_arch(s.arch, s.width, options), device=device)
        history, info = read_record(directory)
        return ZooNetwork(name, net, noisy, ensemble, source.name, directory, dict(options), num_classes, history, info)

    out = {name: load(name, spec, spec.options, spec.noisy, spec.ensemble) for name, spec in specs.items()}
    for level in s.noise_levels:
        alias = noise_level_name(level)
        out.setdefault(alias, out[level_network(s, level)])
    if "rse" in specs:
        quiet = {**specs["rse"].options, "noise_init": 0.0, "noise_inner": 0.0}
        view = load("train_noise_only", specs["rse"], quiet, False, 1)
        set_noise_enabled(view.model, False)
        out["train_noise_only"] = view
        if "none" in specs:
            noisy = {**specs["none"].options, "noise_init": s.rse.noise_init, "noise_inner": s.rse.noise_inner}
            out["test_noise_only"] = load("test_noise_only", specs["none"], noisy, True, s.rse.ensemble)
    return out


def has_noise(model: nn.Module) -> bool:
    """Whether any noise layer of ``model`` is enabled with a positive sigma."""
    return any(layer.enabled and layer.sigma > 0 for layer in noise_layers(model))


# ------------------------------------------------------------------ the paper's setting


PAPER = {
    "cifar10_vgg16": {"width": 1.0, "train_images": 50000, "noise": (0.2, 0.1)},
    "cifar10_resnext": {"width": 1.0, "train_images": 50000, "noise": (0.1, 0.1)},
    "stl10_model_a": {"width": 1.0, "train_images": 5000, "noise": (0.2, 0.1)},
}
PAPER_ENSEMBLE = 50
PAPER_EPOCHS = 200  # RSE's public code: 80 + 60 + 40 + 20 epochs, lr 0.1 divided by 10 at each stage
PAPER_DEFENSES = {"temperature": 40.0, "eps": (0.1, 0.3), "probability": 0.5, "madry_eps": 8.0 / 256,
                  "madry_steps": 7, "brelu_sigma": 0.05, "brelu_threshold": 1.0}
FIG3_LEVELS = [(0.0, 0.0), (0.05, 0.02), (0.1, 0.05), (0.2, 0.1)]


def deviations(section: RseParams, setting_name: str) -> list[str]:
    """What setting ``setting_name`` of ``section`` changes from the paper's (Table 1, Section 4,
    RSE's public code where the paper is silent), one line each; readings of the paper's text
    that every profile shares come last."""
    s = _setting(section, setting_name, enabled=False)
    p = PAPER[setting_name]
    d = section.defenses
    out = []
    if s.width != p["width"]:
        out.append(f"{setting_name}: {s.arch} at width {s.width:g} (paper: full width)")
    if s.train_images and s.train_images < p["train_images"]:
        out.append(f"{setting_name}: {s.train_images} class-balanced training images (paper: {p['train_images']})")
    if s.test_images:
        out.append(f"{setting_name}: clean accuracy on {s.test_images} class-balanced test images "
                   f"(paper: the test split)")
    if (s.rse.noise_init, s.rse.noise_inner) != p["noise"]:
        out.append(f"{setting_name}: RSE noise ({s.rse.noise_init:g}, {s.rse.noise_inner:g}) (Table 1: {p['noise']})")
    if s.rse.ensemble != PAPER_ENSEMBLE:
        out.append(f"{setting_name}: RSE predicts with a {s.rse.ensemble}-ensemble (Table 1: {PAPER_ENSEMBLE})")
    if setting_name == "cifar10_vgg16" and sorted(map(tuple, s.noise_levels)) != sorted(FIG3_LEVELS):
        out.append(f"{setting_name}: Figure 3 noise levels {s.noise_levels} (eq. 11: {[list(v) for v in FIG3_LEVELS]})")
    if s.train.get("epochs") != PAPER_EPOCHS:
        out.append(f"{setting_name}: every network trained {s.train.get('epochs')} epochs with the shared recipe "
                   f"(schedule {s.train.get('schedule')}, lr {s.train.get('lr')}); the paper prints no schedule, its "
                   f"public code trains {PAPER_EPOCHS} epochs (lr 0.1, divided by 10 after 80, 140, 180)")
    if "distill" in s.defenses:
        if d.distill.temperature != PAPER_DEFENSES["temperature"]:
            out.append(f"distillation at T = {d.distill.temperature:g} (Table 1: 40)")
        if d.distill.logit_scale != 1.0:
            out.append(f"distillation networks' logits scaled by {d.distill.logit_scale:g} (a short run at T stays at "
                       f"chance without it); the deployed student's logits are part of the attacked model")
    if "adv_fgsm" in s.defenses:
        a = d.adv_fgsm
        if (a.eps_low, a.eps_high) != PAPER_DEFENSES["eps"] or a.probability != PAPER_DEFENSES["probability"]:
            out.append(f"FGSM retraining at eps ~ U({a.eps_low:g}, {a.eps_high:g}), adversarial batch probability "
                       f"{a.probability:g} (Table 1 and the text: U(0.1, 0.3), 1/2)")
        out.append(f"{setting_name}: FGSM retraining {s.retrain.get('epochs')} epochs after pre-training (the text: "
                   f"'until convergence'; the public code trains from scratch with FGSM, 300 epochs)")
    if "madry" in s.defenses:
        m = d.madry
        if abs(m.eps - PAPER_DEFENSES["madry_eps"]) > 1e-9 or m.steps != PAPER_DEFENSES["madry_steps"]:
            out.append(f"Madry et al.'s PGD training at eps {m.eps:.4g}, {m.steps} steps of {m.step_size:.4g} "
                       f"(Table 1: eps 8/256; Madry et al.: 7 steps of 2/255)")
    if "robust_opt_brelu" in s.defenses:
        b = d.robust_opt_brelu
        if (b.sigma, b.threshold) != (PAPER_DEFENSES["brelu_sigma"], PAPER_DEFENSES["brelu_threshold"]):
            out.append(f"Robust Opt. + BReLU with sigma {b.sigma:g}, t = {b.threshold:g} (the text: sigma 0.05; "
                       f"the public code: t = 1)")
        if s.robust_opt_activation == "relu":
            out.append(f"{setting_name}: Robust Opt. + BReLU keeps its ReLUs (Gaussian data augmentation only), as "
                       f"RSE's public code does for ResNeXt; the text replaces every ReLU by BReLU")
    out += [
        "readings: a defense's noise and eps are in pixel units of [0, 1] images (Section 4.1; RSE's public code "
        "feeds unnormalized pixels); FGSM examples are clipped to [0, 1] (the public code does not clip)",
        "readings: the distillation teacher is trained at T (the text; the public code trains it at T = 1 and its "
        "script uses T = 100); soft labels are the teacher's on the unaugmented training images (Papernot et al.)",
        "readings: Gaussian data augmentation only at training time (the text and [40]; the public code's input "
        "noise layer stays on at test time)",
        "readings: each network is the last epoch's (EMA) weights; the public code keeps the epoch best on the "
        "test set",
    ]
    return out
