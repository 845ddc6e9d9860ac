"""SEM Table 1: clean accuracy of every unsmoothed model and approximated certified accuracy
(ACA) of every smoothed one, beside the paper's printed cells.

ACA is computed one of two ways (:mod:`paperlib.metrics.aca`), chosen by ``sem.table1.aca_method``:
``"predict"`` (the default): Cohen et al.'s PREDICT on ``mc_draws`` Monte Carlo draws at level
``predict_alpha`` (an abstention counts as an error); ``"certify"``: Cohen et al.'s certified
accuracy at radius 0 from CERTIFY with ``certify_n0`` selection draws, ``certify_n`` estimation
draws and level ``certify_alpha`` (Cohen et al.: 100, 100,000, 0.001). The paper prints neither
its method, its draws nor its level. The transcribed cells live in ``claims/sem.yaml``
(``table1``); :func:`paper_table1` reads them and :func:`table1_claims` turns each cell into a
claim with the rule stored there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..claims import CLAIMS_DIR, Claim, load_claims_file, make_claim
from ..config.sem import Table1Params, ZooParams
from ..defenses.ensemble import Member
from ..metrics.aca import ACA_METHODS
from ..seeding import make_generator
from ..zoo.accuracy import model_accuracy
from ..zoo.workers import map_shared
from .collection import load_member, member_name


def member_accuracy(member: Member, x: torch.Tensor, y: torch.Tensor, *, mc_draws: int, alpha: float,
                    chunk: int, generator: torch.Generator, num_classes: int = 10, method: str = "predict",
                    certify_n0: int | None = None, certify_n: int | None = None,
                    certify_alpha: float | None = None) -> tuple[dict, torch.Tensor]:
    """Clean accuracy (sigma 0) or ACA (sigma > 0) of one member with a 95% Clopper-Pearson
    interval, and the per-image correctness ``(B,) bool``: :func:`paperlib.zoo.accuracy.model_accuracy`
    with the member's ``arch`` and ``sigma`` in front of the row (``arch, sigma, accuracy, ci_low,
    ci_high, correct, n, abstained``; the same columns for both methods). ``x`` float in [0, 1]
    or uint8.

    ``method="predict"``: PREDICT with ``mc_draws`` draws, abstention level ``alpha``.
    ``method="certify"``: certified accuracy at radius 0 from CERTIFY with ``certify_n0``,
    ``certify_n`` draws at level ``certify_alpha`` (``mc_draws`` and ``alpha`` unused);
    ``abstained`` then counts the images CERTIFY could not certify."""
    noise = member.sigma if member.noise_std is None else member.noise_std  # the noise the member adds
    row, ok = model_accuracy(member.model, x, y, sigma=noise, mc_draws=mc_draws, predict_alpha=alpha,
                             generator=generator, chunk=chunk, num_classes=num_classes, method=method,
                             certify_n0=certify_n0, certify_n=certify_n, certify_alpha=certify_alpha)
    return {"arch": member.arch, "sigma": member.sigma, **row}, ok


def aca_settings(t1: Table1Params, key: str = "sem.table1") -> dict:
    """The ACA method and its settings from ``t1`` as keyword arguments of :func:`member_accuracy`
    (``method``, ``certify_n0``, ``certify_n``, ``certify_alpha``).

    Reads ``aca_method`` (default ``"predict"`` where ``t1`` has no such field) and, for
    ``"certify"``, ``certify_n0``, ``certify_n`` and ``certify_alpha``, which must then all be
    set: a missing or impossible one stops with a message naming ``<key>.<field>``."""
    method = getattr(t1, "aca_method", "predict")
    if method not in ACA_METHODS:
        raise ValueError(f"{key}.aca_method must be one of {ACA_METHODS}, got {method!r}")
    out = {"method": method, "certify_n0": None, "certify_n": None, "certify_alpha": None}
    if method == "predict":
        return out
    for name in ("certify_n0", "certify_n"):
        v = getattr(t1, name, None)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key}.{name} must be an int >= 1 when aca_method is 'certify', got {v!r}")
        out[name] = v
    a = getattr(t1, "certify_alpha", None)
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < 1:
        raise ValueError(f"{key}.certify_alpha must lie in (0, 1) when aca_method is 'certify', got {a!r}")
    out["certify_alpha"] = float(a)
    return out


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 as rows ``arch, sigma, paper`` (sigma 0: the clean accuracy)."""
    t = load_claims_file("sem")["table1"]
    rows = [{"arch": a, "sigma": 0.0, "paper": float(v)} for a, v in t["clean"].items()]
    for arch, cells in t["aca"].items():
        rows += [{"arch": arch, "sigma": float(s), "paper": float(v)} for s, v in zip(t["sigmas"], cells)]
    return pd.DataFrame(rows)


def table1_claims() -> dict[tuple[str, float], Claim]:
    """One claim per Table 1 cell, built through the validating loader
    (:func:`paperlib.claims.make_claim`): the rule, tolerance and its reason are those of
    ``claims/sem.yaml`` (``table1``), the same for every cell."""
    data = load_claims_file("sem")
    t = data["table1"]
    path = CLAIMS_DIR / "sem.yaml"
    out = {}
    for r in paper_table1().itertuples():
        what = "clean accuracy (unsmoothed)" if r.sigma == 0 else f"ACA at sigma {r.sigma:g}"
        entry = {"statement": f"{r.arch}: {what} = {r.paper:.4f}", "where": t["where"], "paper_value": r.paper,
                 "rule": t["rule"], "paper_setting": {"train": "full CIFAR-10, full width"}}
        for key in ("tolerance", "reason"):
            if key in t:
                entry[key] = t[key]
        out[(r.arch, r.sigma)] = make_claim("sem", f"table1_{r.arch}_sigma{r.sigma:g}", entry, f"{path} (table1)")
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
    member = load_member(w.models_root, arch, sigma, w.zoo.models[arch], w.num_classes, w.in_channels,
                         noise_space=w.zoo.noise_space)
    t1 = w.t1
    return member_accuracy(member, w.x, w.y, mc_draws=t1.mc_draws, alpha=t1.predict_alpha, chunk=t1.chunk,
                           generator=make_generator(w.seed, "sem", "table1", arch, sigma), num_classes=w.num_classes,
                           **aca_settings(t1))


def evaluate_collection(models_root: str | Path, zoo: ZooParams, t1: Table1Params, x: torch.Tensor, y: torch.Tensor,
                        *, num_classes: int, in_channels: int, seed: int,
                        workers: int = 1) -> dict[tuple[str, float], tuple[dict, torch.Tensor]]:
    """:func:`member_accuracy` of every model of the collection (``{(arch, sigma): (row, ok)}``,
    in ``zoo`` order), the models shared among ``workers`` processes, each drawing from a stream
    named by its architecture and sigma; the ACA method from ``t1`` (:func:`aca_settings`)."""
    aca_settings(t1)  # a bad method or CERTIFY setting stops here, before any model is loaded
    keys = [(a, float(s)) for a in zoo.models for s in [0.0] + zoo.sigmas_of(a)]
    out = map_shared(_evaluate_one, keys, _Table1State,
                     (str(models_root), zoo, t1, x, y, num_classes, in_channels, seed), workers=workers,
                     describe=lambda k: member_name(*k), log=None)
    return dict(zip(keys, out))
