"""The training engine used by every paper (one loop; variants are config options or callbacks).

Data: ``x`` uint8 ``[N, C, H, W]`` and ``y`` int64 ``[N]`` (or float ``[N, K]`` soft labels)
are moved once to the model's device and stay there; every batch is indexed, augmented on the
uint8 tensor (:mod:`.augment`), converted to float ``x / 255`` on the device and fed to models
that normalize internally. No DataLoader, no per-image Python work.

Randomness: named streams ``make_generator(seed, "train", name)`` for the data order, the
augmentation, the input noise, the RSE noise layers and the adversarial attack, so enabling
one variant never shifts another's draws. Their states are saved in the resumable checkpoint:
a run killed and restarted ends with the same weights as an uninterrupted one (on CPU).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..models.noise_space import add_gaussian_noise, normalization_std, pixel_noise_std
from ..models.noise import attach_noise_generator, noise_layers
from ..seeding import make_generator
from . import checkpoint as ckpt
from .augment import crop_flip
from .callbacks import TrainState, call
from .config import TrainConfig
from .ema import WeightAverage
from .losses import cross_entropy
from .schedule import lr_at

_STREAMS = ("data-order", "augment", "input-noise", "noise-layers", "adversarial")
_FORMAT = 1
# Wall-clock records: returned by train() but never written to history.json, so that a rerun
# giving the same weights gives byte-identical files and DVC sees nothing changed downstream.
TIMING_KEYS = ("wall_s", "images_per_s", "total_wall_s")


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 autocast speeds training up on ``device``.

    CUDA: always (Ampere or newer assumed). CPU: only where oneDNN has native bf16 kernels
    (AVX-512-BF16 / AMX); elsewhere (e.g. AVX2-only CPUs) PyTorch falls back to slow reference
    convolutions and bf16 is ~10x *slower* than fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def recommended_precision(device: torch.device | str = "cpu") -> str:
    """``"bf16"`` where :func:`bf16_is_fast`, else ``"fp32"``: a default for callers that
    choose :attr:`TrainConfig.precision` per machine (record the choice with the results)."""
    return "bf16" if bf16_is_fast(device) else "fp32"


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def input_noise_std(models: nn.Module | Sequence[nn.Module], config: TrainConfig,
                    in_channels: int) -> float | tuple[float, ...]:
    """The pixel-unit std of the training input noise (what :func:`train` adds to every batch with
    :func:`paperlib.models.noise_space.add_gaussian_noise`): ``config.input_noise_sigma`` itself
    (a float) for ``input_noise_space="pixel"``; per channel ``sigma * std_c`` for
    ``"normalized"``, ``std_c`` from the models' ``Normalize`` layer (all models must agree; one
    without: :func:`~paperlib.models.normalization.default_stats` of ``in_channels``)."""
    sigma = config.input_noise_sigma
    if config.input_noise_space == "pixel":
        return sigma
    models = [models] if isinstance(models, nn.Module) else list(models)
    stds = {normalization_std(m) or tuple(pixel_noise_std(1.0, "normalized", in_channels)) for m in models}
    if len(stds) != 1:
        raise ValueError(f"input_noise_space='normalized' needs one input normalization for all members, "
                         f"got stds {sorted(stds)}")
    std = stds.pop()
    if len(std) != in_channels:
        raise ValueError(f"the model normalizes {len(std)} channels but the training images have {in_channels}")
    return pixel_noise_std(sigma, "normalized", std)


def _to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1]; float input is taken as already in [0, 1]."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


class _Ensemble(nn.Module):
    """``log(mean_i softmax(f_i(x)))``: the members' averaged prediction as logits."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, x):
        probs = torch.stack([m(x).float().softmax(-1) for m in self.members]).mean(0)
        return torch.log(probs.clamp_min(1e-30))


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 500, *,
                   precision: str = "fp32", channels_last: bool = False) -> torch.Tensor:
    """Logits ``[N, K]`` (float32, on the model's device) of ``model`` in ``eval()`` mode.

    ``x``: uint8 ``[N, C, H, W]`` (divided by 255 per batch on the device) or float in [0, 1].
    The model's train/eval mode is restored afterwards. Stochastic layers (RSE noise) stay
    active: one call is one draw.
    """
    device = _device_of(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = _to_float(x[i:i + batch_size].to(device, non_blocking=True))
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(device, precision):
                out.append(model(xb).float())
    finally:
        model.train(was_training)
    if not out:
        raise ValueError("predict_logits got an empty input")
    return torch.cat(out)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500, *,
             precision: str = "fp32", channels_last: bool = False) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` on ``(x, y)`` (``y`` int64 ``[N]``)."""
    logits = predict_logits(model, x, batch_size, precision=precision, channels_last=channels_last)
    return (logits.argmax(1).cpu() == y.cpu()).float().mean().item()


def _check_data(x, y, name_x, name_y):
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(f"{name_x} must be a uint8 tensor [N, C, H, W], got "
                         f"{getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
    if not isinstance(y, torch.Tensor) or y.shape[0] != x.shape[0]:
        raise ValueError(f"{name_y} must be a tensor with {x.shape[0]} rows like {name_x}")
    if not (y.dtype == torch.int64 and y.dim() == 1) and not (y.is_floating_point() and y.dim() == 2):
        raise ValueError(f"{name_y} must be int64 [N] labels or float [N, K] soft labels, "
                         f"got {y.dtype} {tuple(y.shape)}")


def train(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, config: TrainConfig, *,
          seed: int, checkpoint_dir: str | Path | None = None, x_val: torch.Tensor | None = None,
          y_val: torch.Tensor | None = None, callbacks: Sequence = (), progress: bool = True) -> dict:
    """Train ``model`` in place; return the history dict (also ``history.json`` in ``checkpoint_dir``).

    Args:
        model: an ``nn.Module`` taking pixels in [0, 1]; its device decides where training runs.
        x_train: uint8 ``[N, C, H, W]``; y_train: int64 ``[N]`` or float ``[N, K]`` soft labels
            (distillation).
        config: a :class:`TrainConfig`.
        seed: base seed of the run's random streams (data order, augmentation, noise, attack).
        checkpoint_dir: if given, ``checkpoint.pt`` (resumable) is written every
            ``config.checkpoint_every`` epochs, then ``model.pt`` (final ``state_dict``) and
            ``history.json``. A directory holding a finished run with the same config and seed
            is loaded instead of retrained; one holding a partial run is resumed; one holding a
            run with another config is an error.
        x_val, y_val: optional validation set (uint8 / int64), evaluated after every epoch.
        callbacks: objects with ``on_train_begin/on_step_end/on_epoch_end/on_train_end(state)``.
        progress: show a tqdm bar (one bar, ASCII, throttled: reads well in executed notebooks).

    Returns:
        ``{"epoch": [...], "loss": [...], "train_acc": [...], "val_acc": [...], "lr": [...],
        "wall_s": [...], "images_per_s": [...], "total_wall_s": float, "config": {...},
        "seed": int, "complete": True}``; ``train_acc`` is measured on the augmented training
        batches as they are trained on; ``wall_s`` is each epoch's time including validation.
    """
    return _fit([model], x_train, y_train, config, seed=seed, loss=None, checkpoint_dir=checkpoint_dir,
                x_val=x_val, y_val=y_val, callbacks=callbacks, progress=progress, joint=False)


def train_joint(models: Sequence[nn.Module], x_train: torch.Tensor, y_train: torch.Tensor,
                config: TrainConfig, *, seed: int, loss: Callable | None = None,
                checkpoint_dir: str | Path | None = None, x_val=None, y_val=None,
                callbacks: Sequence = (), progress: bool = True) -> dict:
    """Train several members together with one loss across them (same loop as :func:`train`).

    ``loss(logits_list, y) -> scalar`` (see :mod:`.losses`), e.g. :func:`~.losses.adp_loss`
    for ADP (Pang et al. 2019); default: the sum of the members' cross-entropies (independent
    members seeing the same batches). All members share one SGD optimizer. ``train_acc`` and
    ``val_acc`` are the ensemble's (mean of softmax); ``val_acc_members`` lists each member's.
    Adversarial examples, if configured, are crafted against the ensemble. ``model.pt`` holds
    the ``nn.ModuleList(models).state_dict()`` (keys ``"<i>.<name>"``).
    """
    if len(models) < 1:
        raise ValueError("train_joint needs at least one model")
    devices = {_device_of(m) for m in models}
    if len(devices) != 1:
        raise ValueError(f"all members must be on one device, got {devices}")
    return _fit(list(models), x_train, y_train, config, seed=seed, loss=loss,
                checkpoint_dir=checkpoint_dir, x_val=x_val, y_val=y_val, callbacks=callbacks,
                progress=progress, joint=True)


def _final_state(models, joint):
    return nn.ModuleList(models).state_dict() if joint else models[0].state_dict()


def _load_final(models, state, joint):
    if joint:
        nn.ModuleList(models).load_state_dict(state)
    else:
        models[0].load_state_dict(state)


def _fit(models, x_train, y_train, config: TrainConfig, *, seed, **kwargs) -> dict:
    """Run :func:`fit_epochs` to the end with torch's global RNG forked and seeded from the run's seed.

    ``nn.Dropout`` (CW networks, GoogLeNet, InceptionV3...) draws from the global RNG and takes
    no generator; forking gives it its own named stream (``(seed, "train", "dropout")``), so
    training is deterministic on CPU, and the caller's global RNG state is left untouched.
    """
    from ..seeding import derive_seed

    with torch.random.fork_rng(devices=[]):
        torch.random.manual_seed(derive_seed(seed, "train", "dropout"))
        return run_to_end(fit_epochs(models, x_train, y_train, config, seed=seed, **kwargs))


def run_to_end(run: Iterator[TrainState]) -> dict:
    """Drive a :func:`fit_epochs` run through all its epochs; return its history."""
    while True:
        try:
            next(run)
        except StopIteration as done:
            return done.value


def fit_epochs(models, x_train, y_train, config: TrainConfig, *, seed, loss=None, checkpoint_dir=None, x_val=None,
               y_val=None, callbacks=(), progress=False, joint=False) -> Generator[TrainState, None, dict]:
    """The training loop, one epoch per ``next()``: yields the run's state after each epoch but
    the last (its callbacks and checkpoint done); the last ``next()`` trains the last epoch,
    finishes the run (averaged weights, ``model.pt``) and returns the history
    (``StopIteration.value``).

    :func:`train` and :func:`train_joint` run it to the end; a caller that interleaves several
    runs epoch by epoch (CLM's Algorithm 1, :func:`paperlib.train.population.train_population`)
    drives one generator per member, without a second training loop. Draws from torch's global
    RNG (dropout) are the caller's to seed, as :func:`_fit` does.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_data(x_train, y_train, "x_train", "y_train")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together")
    if x_val is not None:
        _check_data(x_val, y_val, "x_val", "y_val")
    callbacks = list(callbacks)
    device = _device_of(models[0])
    soft = y_train.is_floating_point()
    if loss is None:
        loss = cross_entropy(config.label_smoothing)
    if config.precision == "auto":
        # Resolved before anything is recorded: history, checkpoints and resume checks carry the
        # precision actually used on this device.
        config = replace(config, precision=recommended_precision(device))
    if config.precision == "bf16" and not bf16_is_fast(device):
        warnings.warn(f"precision='bf16' on {device} without native bf16 kernels: expect training to be "
                      f"several times slower than fp32 (see paperlib.train.recommended_precision)",
                      RuntimeWarning, stacklevel=3)
    cfg_dict = config.to_dict()
    cfg_dict["loss"] = getattr(loss, "__name__", repr(loss))
    cfg_dict["members"] = len(models)

    run_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    # A finished run with the same config and seed: load it, do nothing else.
    if run_dir is not None and (run_dir / ckpt.HISTORY_NAME).is_file() and (run_dir / ckpt.MODEL_NAME).is_file():
        import json

        done = json.loads((run_dir / ckpt.HISTORY_NAME).read_text())
        if done.get("complete") and done.get("config") == cfg_dict and done.get("seed") == seed:
            _load_final(models, ckpt.load_checkpoint(run_dir / ckpt.MODEL_NAME, map_location=device), joint)
            for m in models:
                m.eval()
            done["total_wall_s"] = 0.0  # loaded, not trained: no time spent (timings are never saved)
            done["loaded"] = True
            return done
        if done.get("complete"):
            raise ValueError(f"checkpoint_dir {run_dir} holds a finished run with another config or "
                             f"seed; use a new directory or delete it")

    if config.channels_last:
        for m in models:
            m.to(memory_format=torch.channels_last)
    params = [p for m in models for p in m.parameters() if p.requires_grad]
    if config.decay_norm_and_bias:
        groups = [{"params": params, "weight_decay": config.weight_decay}]
    else:  # decay only convolution and linear weights (tensors of dim >= 2)
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov)
    noise_std = input_noise_std(models, config, x_train.shape[1]) if config.input_noise_sigma > 0 else 0.0
    bn_layers = [mod for m in models for mod in m.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    bn_momenta = [mod.momentum for mod in bn_layers]
    gens = {name: make_generator(seed, "train", name, device=device) for name in _STREAMS}

    x_train = x_train.to(device)
    y_train = y_train.to(device)
    if x_val is not None:
        x_val, y_val = x_val.to(device), y_val.to(device)
    n = x_train.shape[0]
    bs = min(config.batch_size, n)
    steps_per_epoch = n // bs if config.drop_last else math.ceil(n / bs)

    history = {"epoch": [], "loss": [], "train_acc": [], "val_acc": [], "lr": [], "wall_s": [],
               "images_per_s": []}
    if joint:
        history["val_acc_members"] = []
    start_epoch = 0
    ckpt_path = run_dir / ckpt.CHECKPOINT_NAME if run_dir is not None else None
    if ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state.get("config") != cfg_dict or state.get("seed") != seed:
            raise ValueError(f"checkpoint {ckpt_path} was written with another config or seed; "
                             f"use a new checkpoint_dir or delete it")
        for m, sd in zip(models, state["models"]):
            m.load_state_dict(sd)
        optimizer.load_state_dict(state["optimizer"])
        for name, g_state in state["generators"].items():
            gens[name].set_state(g_state.cpu())
        for cb, cb_state in zip(callbacks, state.get("callbacks", [])):
            if cb_state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(cb_state)
        history = state["history"]
        start_epoch = state["epoch"]
    average = WeightAverage(models, config.ema_decay) if config.ema_decay > 0 else None
    if average is not None and ckpt_path is not None and ckpt_path.is_file():
        average.load_state_dict(state["average"])

    for m in models:
        if config.noise_layers:
            attach_noise_generator(m, gens["noise-layers"])
        for layer in noise_layers(m):
            layer.enabled = config.noise_layers
    target = models[0] if not joint else _Ensemble(models)
    st = TrainState(models=models, optimizer=optimizer, config=config, seed=seed,
                    steps_per_epoch=steps_per_epoch, epoch=start_epoch,
                    global_step=start_epoch * steps_per_epoch, history=history)
    call(callbacks, "on_train_begin", st)
    bar = None
    if progress:
        bar = tqdm(total=config.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
                   desc="train", unit="step", ascii=True, ncols=100, mininterval=2.0, file=sys.stderr)
    autocast = _autocast(device, config.precision)
    adv = config.adversarial
    t_run = time.perf_counter()
    for mod in bn_layers:
        mod.momentum = config.bn_momentum
    try:
        for epoch in range(start_epoch, config.epochs):
            st.epoch = epoch
            t0 = time.perf_counter()
            for m in models:
                m.train()
            perm = torch.randperm(n, generator=gens["data-order"], device=device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            for step in range(steps_per_epoch):
                idx = perm[step * bs:(step + 1) * bs]
                xb, yb = x_train[idx], y_train[idx]
                if config.augment:
                    xb = crop_flip(xb, config.crop_padding, config.flip, gens["augment"])
                xb = _to_float(xb)
                if config.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                if adv is not None:
                    xb = _adversarial_batch(target, models, xb, yb, adv, gens["adversarial"], autocast, soft)
                xb = add_gaussian_noise(xb, noise_std, gens["input-noise"])  # std 0: no draw
                lr = lr_at(config, st.global_step, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    logits = [m(xb) for m in models]
                logits = [z.float() / config.temperature for z in logits]
                value = loss(logits, yb)
                value.backward()
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                if average is not None:
                    average.update(st.global_step)
                with torch.no_grad():
                    pred = (logits[0] if len(logits) == 1 else
                            torch.stack([z.softmax(-1) for z in logits]).mean(0)).argmax(1)
                    labels = yb.argmax(1) if soft else yb
                    correct += (pred == labels).sum()
                    loss_sum += value.detach() * idx.numel()
                seen += idx.numel()
                st.step, st.loss, st.x, st.y = step, value.detach(), xb, yb
                call(callbacks, "on_step_end", st)
                st.global_step += 1
                if bar is not None:
                    bar.update(1)
            train_s = time.perf_counter() - t0
            history["epoch"].append(epoch + 1)
            history["loss"].append(loss_sum.item() / max(seen, 1))
            history["train_acc"].append(correct.item() / max(seen, 1))
            history["lr"].append(lr)
            if x_val is not None:
                if average is not None:
                    average.swap()  # validate the model that will be saved
                if joint:
                    members = [evaluate(m, x_val, y_val, precision=config.precision,
                                        channels_last=config.channels_last) for m in models]
                    history["val_acc_members"].append(members)
                    history["val_acc"].append(evaluate(_Ensemble(models), x_val, y_val,
                                                       precision=config.precision,
                                                       channels_last=config.channels_last))
                else:
                    history["val_acc"].append(evaluate(models[0], x_val, y_val, precision=config.precision,
                                                       channels_last=config.channels_last))
                if average is not None:
                    average.swap()
            else:
                history["val_acc"].append(None)
            history["wall_s"].append(time.perf_counter() - t0)
            history["images_per_s"].append(seen / train_s if train_s > 0 else None)
            if bar is not None:
                post = {"loss": f"{history['loss'][-1]:.3f}", "acc": f"{history['train_acc'][-1]:.3f}"}
                if history["val_acc"][-1] is not None:
                    post["val"] = f"{history['val_acc'][-1]:.3f}"
                bar.set_postfix(post, refresh=True)
            call(callbacks, "on_epoch_end", st)
            last = epoch + 1 == config.epochs or st.stop
            if ckpt_path is not None and not last and config.checkpoint_every and \
                    (epoch + 1) % config.checkpoint_every == 0:
                ckpt.save_atomic({
                    "format": _FORMAT, "epoch": epoch + 1, "seed": seed, "config": cfg_dict,
                    "models": [m.state_dict() for m in models],
                    "optimizer": optimizer.state_dict(),
                    "generators": {k: g.get_state() for k, g in gens.items()},
                    "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None
                                  for cb in callbacks],
                    "average": average.state_dict() if average is not None else None,
                    "history": history,
                }, ckpt_path)
            if st.stop:
                break
            if epoch + 1 < config.epochs:
                yield st
    finally:
        if bar is not None:
            bar.close()
        for m in models:
            attach_noise_generator(m, None)
            for layer in noise_layers(m):
                layer.enabled = True
        for mod, momentum in zip(bn_layers, bn_momenta):
            mod.momentum = momentum
    if average is not None:
        average.swap()  # the run's result is the averaged model
    history["total_wall_s"] = history.get("total_wall_s", 0.0) + (time.perf_counter() - t_run)
    history["config"] = cfg_dict
    history["seed"] = seed
    history["complete"] = True
    history["device"] = str(device)
    history["torch"] = torch.__version__
    for m in models:
        m.eval()
    call(callbacks, "on_train_end", st)
    if run_dir is not None:
        ckpt.save_atomic(_final_state(models, joint), run_dir / ckpt.MODEL_NAME)
        ckpt.write_json_atomic({k: v for k, v in history.items() if k not in TIMING_KEYS},
                               run_dir / ckpt.HISTORY_NAME)
        if ckpt_path.exists():
            ckpt_path.unlink()
    return history


def _adversarial_batch(target, models, xb, yb, adv, generator, autocast, soft):
    """Replace part of the batch (or, per batch, all of it) by ``adv.attack``'s examples."""
    if soft:
        raise ValueError("adversarial training needs int64 labels, not soft labels")
    b = xb.shape[0]
    if adv.mode == "per_batch":
        u = torch.rand((), generator=generator, device=xb.device)
        k = b if u.item() < adv.ratio else 0
    else:
        k = int(round(adv.ratio * b))
    if k == 0:
        return xb
    if adv.eval_mode:
        for m in models:
            m.eval()
    try:
        with autocast:
            x_adv = adv.attack(target, xb[:k], yb[:k], generator)
    finally:
        for m in models:
            m.train()
    x_adv = x_adv.detach().to(xb.dtype)
    if k == b:
        return x_adv.contiguous(memory_format=torch.channels_last) if xb.is_contiguous(
            memory_format=torch.channels_last) and not xb.is_contiguous() else x_adv
    return torch.cat([x_adv, xb[k:]])
