"""SEM Table 1: clean accuracy of every unsmoothed model and approximated certified accuracy
(ACA) of every smoothed one, beside the paper's printed cells.

ACA is Cohen et al.'s PREDICT on ``N`` Monte Carlo draws (an abstention counts as an error), as
:mod:`paperlib.metrics.aca` explains; the paper does not print its ``N``. The transcribed cells
live in ``claims/sem.yaml`` (``table1``); :func:`paper_table1` reads them and
:func:`table1_claims` turns each cell into a claim with the rule stored there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from statsmodels.stats.proportion import proportion_confint

from ..claims import Claim, load_claims_file
from ..config.sem import Table1Params, ZooParams
from ..defenses.ensemble import Member
from ..metrics import Smooth, approximate_certified_accuracy
from ..parallel import map_jobs
from ..seeding import make_generator
from ..train import predict_logits
from .collection import load_member, member_name


def member_accuracy(member: Member, x: torch.Tensor, y: torch.Tensor, *, mc_draws: int, alpha: float,
                    chunk: int, generator: torch.Generator, num_classes: int = 10) -> tuple[dict, torch.Tensor]:
    """Clean accuracy (sigma 0) or ACA (sigma > 0) of one member with a 95% Clopper-Pearson
    interval, and the per-image correctness ``(B,) bool``. ``x`` float in [0, 1] or uint8."""
    xf = x.float() / 255 if x.dtype == torch.uint8 else x
    if member.sigma == 0:
        pred = predict_logits(member.model, xf, chunk).argmax(1)
        abstain = 0
    else:
        pred = Smooth(member.model, num_classes, member.sigma).predict(xf, mc_draws, alpha, generator, batch_size=chunk)
        abstain = int((pred < 0).sum())
    ok = pred.cpu() == y.cpu()  # an abstention (-1) is never a class
    acc = approximate_certified_accuracy(pred.cpu(), y.cpu())
    correct = int(ok.sum())
    lo, hi = proportion_confint(correct, len(y), alpha=0.05, method="beta")
    return {"arch": member.arch, "sigma": member.sigma, "accuracy": acc, "ci_low": float(lo),
            "ci_high": float(hi), "correct": correct, "n": int(len(y)), "abstained": abstain}, ok


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 as rows ``arch, sigma, paper`` (sigma 0: the clean accuracy)."""
    t = load_claims_file("sem")["table1"]
    rows = [{"arch": a, "sigma": 0.0, "paper": float(v)} for a, v in t["clean"].items()]
    for arch, cells in t["aca"].items():
        rows += [{"arch": arch, "sigma": float(s), "paper": float(v)} for s, v in zip(t["sigmas"], cells)]
    return pd.DataFrame(rows)


def table1_claims(tolerance: float) -> dict[tuple[str, float], Claim]:
    """One claim per Table 1 cell: ours equivalent to the printed value within ``tolerance``."""
    t = load_claims_file("sem")["table1"]
    out = {}
    for r in paper_table1().itertuples():
        what = "clean accuracy (unsmoothed)" if r.sigma == 0 else f"ACA at sigma {r.sigma:g}"
        out[(r.arch, r.sigma)] = Claim(
            paper="sem", claim_id=f"table1_{r.arch}_sigma{r.sigma:g}", statement=f"{r.arch}: {what} = {r.paper:.4f}",
            where=t["where"], paper_value=r.paper, rule=t["rule"], tolerance=tolerance,
            paper_setting={"train": "full CIFAR-10, full width"})
    return out


_WORKER: dict = {}


def _init_table1_worker(models_root: str, zoo: ZooParams, t1: Table1Params, x: torch.Tensor, y: torch.Tensor,
                        num_classes: int, in_channels: int, seed: int) -> None:
    _WORKER.clear()
    _WORKER.update(models_root=models_root, zoo=zoo, t1=t1, x=x, y=y, num_classes=num_classes,
                   in_channels=in_channels, seed=seed)


def _evaluate_one(key: tuple[str, float]) -> tuple[dict, torch.Tensor]:
    w = _WORKER
    arch, sigma = key
    member = load_member(w["models_root"], arch, sigma, w["zoo"].models[arch], w["num_classes"], w["in_channels"])
    t1 = w["t1"]
    return member_accuracy(member, w["x"], w["y"], mc_draws=t1.mc_draws, alpha=t1.predict_alpha, chunk=t1.chunk,
                           generator=make_generator(w["seed"], "sem", "table1", arch, sigma),
                           num_classes=w["num_classes"])


def evaluate_collection(models_root: str | Path, zoo: ZooParams, t1: Table1Params, x: torch.Tensor, y: torch.Tensor,
                        *, num_classes: int, in_channels: int, seed: int,
                        workers: int = 1) -> dict[tuple[str, float], tuple[dict, torch.Tensor]]:
    """:func:`member_accuracy` of every model of the collection (``{(arch, sigma): (row, ok)}``,
    in ``zoo`` order), the models shared among ``workers`` processes, each drawing from a stream
    named by its architecture and sigma."""
    keys = [(a, float(s)) for a in zoo.models for s in [0.0] + zoo.sigmas_of(a)]
    out = map_jobs(_evaluate_one, keys, workers=workers, initializer=_init_table1_worker,
                   initargs=(str(models_root), zoo, t1, x, y, num_classes, in_channels, seed),
                   describe=lambda k: member_name(*k), log=None)
    return dict(zip(keys, out))
