"""SEM Table 1: clean accuracy of every unsmoothed model and approximated certified accuracy
(ACA) of every smoothed one, beside the paper's printed cells.

ACA is Cohen et al.'s PREDICT on ``N`` Monte Carlo draws (an abstention counts as an error), as
:mod:`paperlib.metrics.aca` explains; the paper does not print its ``N``. The transcribed cells
live in ``claims/sem.yaml`` (``table1``); :func:`paper_table1` reads them and
:func:`table1_claims` turns each cell into a claim with the rule stored there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..claims import Claim, load_claims_file
from ..config.sem import Table1Params, ZooParams
from ..defenses.ensemble import Member
from ..seeding import make_generator
from ..zoo.accuracy import model_accuracy
from ..zoo.workers import map_shared
from .collection import load_member, member_name


def member_accuracy(member: Member, x: torch.Tensor, y: torch.Tensor, *, mc_draws: int, alpha: float,
                    chunk: int, generator: torch.Generator, num_classes: int = 10) -> tuple[dict, torch.Tensor]:
    """Clean accuracy (sigma 0) or ACA (sigma > 0, PREDICT abstention level ``alpha``) of one
    member with a 95% Clopper-Pearson interval, and the per-image correctness ``(B,) bool``:
    :func:`paperlib.zoo.accuracy.model_accuracy` with the member's ``arch`` and ``sigma`` in front
    of the row (``arch, sigma, accuracy, ci_low, ci_high, correct, n, abstained``). ``x`` float
    in [0, 1] or uint8."""
    row, ok = model_accuracy(member.model, x, y, sigma=member.sigma, mc_draws=mc_draws, predict_alpha=alpha,
                             generator=generator, chunk=chunk, num_classes=num_classes)
    return {"arch": member.arch, "sigma": member.sigma, **row}, ok


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


@dataclass(frozen=True)
class _Table1State:
    """What every Table 1 job reads (built once per worker; members are loaded per job)."""

    models_root: str
    zoo: ZooParams
    t1: Table1Params
    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    in_channels: int
    seed: int


def _evaluate_one(w: _Table1State, key: tuple[str, float]) -> tuple[dict, torch.Tensor]:
    arch, sigma = key
    member = load_member(w.models_root, arch, sigma, w.zoo.models[arch], w.num_classes, w.in_channels)
    t1 = w.t1
    return member_accuracy(member, w.x, w.y, mc_draws=t1.mc_draws, alpha=t1.predict_alpha, chunk=t1.chunk,
                           generator=make_generator(w.seed, "sem", "table1", arch, sigma), num_classes=w.num_classes)


def evaluate_collection(models_root: str | Path, zoo: ZooParams, t1: Table1Params, x: torch.Tensor, y: torch.Tensor,
                        *, num_classes: int, in_channels: int, seed: int,
                        workers: int = 1) -> dict[tuple[str, float], tuple[dict, torch.Tensor]]:
    """:func:`member_accuracy` of every model of the collection (``{(arch, sigma): (row, ok)}``,
    in ``zoo`` order), the models shared among ``workers`` processes, each drawing from a stream
    named by its architecture and sigma."""
    keys = [(a, float(s)) for a in zoo.models for s in [0.0] + zoo.sigmas_of(a)]
    out = map_shared(_evaluate_one, keys, _Table1State,
                     (str(models_root), zoo, t1, x, y, num_classes, in_channels, seed), workers=workers,
                     describe=lambda k: member_name(*k), log=None)
    return dict(zip(keys, out))
