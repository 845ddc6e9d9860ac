"""The paper's settings (Jasser & Garibay, sections 1, 4, 4.1) and how a profile deviates from them.

Every table and figure lists :func:`deviations` of the datasets it uses, so a reader sees what a
scaled-down run changed. Settings the paper does not print are marked as taken from its public
code (JaySquare87/resilience_from_diversity) or from torchattacks' defaults.
"""

from __future__ import annotations

from ..config.clm import AttackParams, DatasetParams

PAPER = {
    "mnist": {"arch": "lenet5", "width": 1.0, "members": 10, "train_images": 60000, "test_images": 10000,
              "adv_eps": 0.3, "adv_step": 0.01, "adv_steps": 100, "alpha": 0.1, "delta": 0.1,
              "alpha_adv": 0.01, "delta_adv": 5e-3, "retrain_lr": 1e-4, "retrain_epochs": 5, "pgd_steps": 40,
              "pgd_step": 0.01},
    "cifar10": {"arch": "resnet18", "width": 1.0, "members": 10, "train_images": 50000, "test_images": 10000,
                "adv_eps": 8 / 255, "adv_step": 2 / 255, "adv_steps": 20, "alpha": 0.5, "delta": 0.1,
                "alpha_adv": 0.1, "delta_adv": 0.05, "retrain_lr": 1e-2, "retrain_epochs": 150, "pgd_steps": 40,
                "pgd_step": 2 / 255},
}


def deviations(ds: DatasetParams, dataset: str, attack: AttackParams) -> list[str]:
    """What ``ds`` and ``attack`` change from the paper's setting of ``dataset``, one line each."""
    p = PAPER[dataset]
    out = []
    if ds.width != p["width"]:
        out.append(f"{dataset}: {ds.arch} at width {ds.width:g} (paper: full width)")
    if ds.members != p["members"]:
        out.append(f"{dataset}: {ds.members} submodels per population (paper: {p['members']})")
    if ds.train_images and ds.train_images < p["train_images"]:
        out.append(f"{dataset}: {ds.train_images} training images (paper: {p['train_images']})")
    if ds.adv_images and ds.adv_images < p["train_images"]:
        out.append(f"{dataset}: adversarial populations on {ds.adv_images} training images (paper: {p['train_images']})")
    if ds.test_images and ds.test_images < p["test_images"]:
        out.append(f"{dataset}: MRA on {ds.test_images} class-balanced test images (paper: {p['test_images']})")
    a = ds.adversarial
    if (a.steps, round(a.step_size, 6)) != (p["adv_steps"], round(p["adv_step"], 6)):
        out.append(f"{dataset}: PGD adversarial training with {a.steps} steps of {a.step_size:.4g} "
                   f"(paper: {p['adv_steps']} steps of {p['adv_step']:.4g})")
    for name, link, pa, pd in (("link", ds.link, p["alpha"], p["delta"]), ("link_adv", ds.link_adv, p["alpha_adv"], p["delta_adv"])):
        if (link.alpha, link.delta) != (pa, pd):
            out.append(f"{dataset}: {name} alpha {link.alpha:g}, delta {link.delta:g} (paper: {pa:g}, {pd:g})")
    r = ds.retrain
    if r.get("lr") != p["retrain_lr"] or r.get("epochs") != p["retrain_epochs"]:
        out.append(f"{dataset}: CLM retrained {r.get('epochs')} epochs at SGD lr {r.get('lr')} (paper: {p['retrain_epochs']} "
                   f"epochs at {p['retrain_lr']:g}; its public code's optimizer for LeNet5 is Adam, ours is the engine's SGD)")
    out.append(f"{dataset}: ULM trained {ds.train.get('epochs')} epochs with the shared fast recipe "
               f"(schedule {ds.train.get('schedule')}, lr {ds.train.get('lr')}); the paper prints no training schedule")
    at = attack
    if at.autoattack != "standard":
        out.append(f"{dataset}: AutoAttack reduced to APGD-CE, {at.apgd_steps} steps (paper: torchattacks' standard "
                   f"AutoAttack; on CIFAR-10 the standard version took 94 s per population of 200 images here)")
    if (at.pgd_steps, round(at.pgd_step, 6)) != (p["pgd_steps"], round(p["pgd_step"], 6)):
        out.append(f"{dataset}: PGD {at.pgd_steps} steps of {at.pgd_step:.4g} (public code: {p['pgd_steps']} of {p['pgd_step']:.4g})")
    return out


def population_deviations(items) -> list[str]:
    """What the population layout changes: ULM-Adv fine-tuned from the ULM instead of trained
    adversarially from scratch. ``items``: ``{name: PopulationItem}``."""
    return [f"{name}: ULM-Adv adversarially fine-tuned from {item.base} (paper: adversarially trained, from scratch "
            f"as we read it; a short PGD training from scratch left LeNet5 at chance here)"
            for name, item in items.items() if item.kind == "ulm_adv" and item.base]
