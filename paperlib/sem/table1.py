"""SEM Table 1: clean accuracy of every unsmoothed model and approximated certified accuracy
(ACA) of every smoothed one, beside the paper's printed cells.

ACA is Cohen et al.'s PREDICT on ``N`` Monte Carlo draws (an abstention counts as an error), as
:mod:`paperlib.metrics.aca` explains; the paper does not print its ``N``. The transcribed cells
live in ``claims/sem.yaml`` (``table1``); :func:`paper_table1` reads them and
:func:`table1_claims` turns each cell into a claim with the rule stored there.
"""

from __future__ import annotations

import pandas as pd
import torch
from statsmodels.stats.proportion import proportion_confint

from ..claims import Claim, load_claims_file
from ..defenses.ensemble import Member
from ..metrics import Smooth, approximate_certified_accuracy
from ..train import predict_logits


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
