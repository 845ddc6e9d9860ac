"""What the Liang & Samavi stages share besides the attacks: which test images play which role,
each member's accuracy, and the deviations of a profile from the paper's setting (Table 1, Table 3)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..config.liang import AttackParams, EnsembleParams
from ..data import class_balanced_subset
from ..seeding import make_generator

PAPER_MEMBERS = 50
PAPER = {"mnist": {"partition": 1100, "epochs": 3000, "sigma": 0.5, "validation": 5000},
         "cifar10": {"train_images": 45000, "epochs": 150, "sigma": 0.03, "validation": 5000}}


def split_indices(y_test: torch.Tensor, ens: EnsembleParams, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(validation, rest)``: ``ens.validation`` class-balanced test images that measure the
    members (never attacked), and the other test images, from which attacks draw their inputs."""
    val = class_balanced_subset(y_test, ens.validation, make_generator(seed, "liang", ens.dataset, "validation"))
    mask = torch.ones(len(y_test), dtype=torch.bool)
    mask[val] = False
    return val, mask.nonzero().squeeze(1)


def draw_inputs(y_test: torch.Tensor, rest: torch.Tensor, n: int, seed: int, dataset: str, role: str) -> torch.Tensor:
    """``n`` class-balanced test indices among ``rest`` (stream ``("liang", dataset, role)``)."""
    pick = class_balanced_subset(y_test[rest], n, make_generator(seed, "liang", dataset, role))
    return rest[pick[:n]]


def member_accuracy_table(pred: torch.Tensor, y: torch.Tensor, ens: EnsembleParams,
                          histories: Mapping[str, dict]) -> pd.DataFrame:
    """One row per member: temperature, validation accuracy with its Clopper-Pearson interval,
    training images and seconds."""
    from .ensemble import member_name
    rows = []
    for i, t in enumerate(ens.temperatures):
        correct = int((pred[i] == y).sum())
        n = len(y)
        lo = stats.beta.ppf(0.025, correct, n - correct + 1) if correct > 0 else 0.0
        hi = stats.beta.ppf(0.975, correct + 1, n - correct) if correct < n else 1.0
        h = histories[member_name(i)]
        rows.append({"member": member_name(i), "temperature": t, "accuracy": correct / n, "ci_low": float(lo),
                     "ci_high": float(hi), "correct": correct, "validation": n, "train_images": h["images"],
                     "train_seconds": round(float(h.get("total_wall_s", float("nan"))), 1)})
    return pd.DataFrame(rows)


def members_interval(accuracies, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean member accuracy and its Student-t interval across members (what varies)."""
    a = np.asarray(accuracies, dtype=float)
    m = float(a.mean())
    if len(a) < 2:
        return m, float("nan"), float("nan")
    sd = a.std(ddof=1)
    sd = 0.0 if sd < 1e-12 else sd       # equal accuracies: a point interval (no evidence of spread)
    h = float(stats.t.ppf((1 + confidence) / 2, len(a) - 1) * sd / np.sqrt(len(a)))
    return m, m - h, m + h


def zoo_deviations(ens: EnsembleParams, manifest: Mapping) -> list[str]:
    """How this ensemble differs from the paper's Table 1 column."""
    paper = PAPER[ens.dataset]
    out = []
    if ens.members != PAPER_MEMBERS:
        out.append(f"{ens.members} members (paper: 50, T_l = 10 l for l = 1..50)")
    if ens.width != 1.0:
        out.append(f"{ens.arch} at width x{ens.width:g} (paper: full width)")
    if ens.dataset == "mnist" and ens.partition != paper["partition"]:
        out.append(f"disjoint partitions of {ens.partition} images per member (paper: 1,100)")
    if ens.dataset == "cifar10" and ens.train_images not in (0, paper["train_images"]):
        out.append(f"{ens.train_images} shared training images (paper: 45,000)")
    epochs = ens.train.get("epochs")
    if epochs != paper["epochs"]:
        out.append(f"{epochs} epochs (paper: {paper['epochs']:,})")
    if ens.logit_scale == "temperature":
        out.append("each member's logits times its T inside the network, so a short run at T learns at the T = 1 pace "
                   "(paper: the plain network at T); the members then differ by initialization, data order and "
                   "(MNIST) partition, not by the temperature's effect on training")
    recipe = {"lr": 0.01, "momentum": 0.9, "batch_size": 128}
    changed = [f"{k} {ens.train.get(k)} (paper: {v})" for k, v in recipe.items() if ens.train.get(k) != v]
    if changed or ens.train.get("schedule") != "inverse_time":
        out.append("recipe: " + ", ".join(changed + [f"schedule {ens.train.get('schedule')} (paper: SGD decay 1e-6)"]))
    if ens.validation != paper["validation"]:
        out.append(f"member accuracy on {ens.validation} class-balanced test images (paper: 5,000 validation images)")
    if not manifest.get("train_full", True):
        out.append(str(manifest.get("note", "a subset of the training split")))
    if manifest.get("source") == "mirror" and ens.dataset == "cifar10":
        out.append("CIFAR-10 from the JPEG mirror (about 1 point below the original pixels)")
    return out


def attack_deviations(atk: AttackParams, certify_n: int, certify_alpha: float) -> list[str]:
    """How the attack settings differ from the paper's (15 / 30 / 20 inputs, 9 targets, C&W)."""
    out = []
    for name, paper in (("sn_inputs", 15), ("si2_inputs", 30), ("si3_inputs", 20)):
        if getattr(atk, name) != paper:
            out.append(f"{getattr(atk, name)} {name.split('_')[0].upper()} inputs (paper: {paper})")
    if atk.targets != 9:
        out.append(f"{atk.targets} targets per input (paper: 9)")
    cw = atk.cw
    out.append(f"C&W L2 targeted: {cw.binary_steps} binary-search rounds x at most {cw.steps} Adam steps of rate {cw.lr:g} "
               f"(Carlini's code: 9 x 10,000 of 0.01; the paper does not say)")
    if certify_n != 10000:
        out.append(f"certification with n = {certify_n} draws (paper: 10,000)")
    if certify_alpha != 0.05:
        out.append(f"certification alpha {certify_alpha} (paper: 0.05)")
    out.append("reading: an SI test is one (input, target) pair, so SI2 has inputs x 9 and SI3 inputs x 9 tests; Table 3 "
               "prints 180 SI2 and 270 SI3 tests, swapped (Table 4c's shares are multiples of 1/270, Table 5c's of 1/180)")
    out.append("SN, SI2 and SI3 share their inputs (the first k of one class-balanced draw); the paper does not say "
               "whether its 15, 30 and 20 inputs overlap")
    return out
