"""ASR-vs-distortion curves by optimal budget search (SEM section 4.1, after Dong et al. 2019,
"Benchmarking Adversarial Robustness on Image Classification").

For every image the search finds the smallest budget at which the attack succeeds:

1. the clean image is judged first (already misclassified: budget 0, no attack call);
2. exponential search: budgets ``eps_init * 2^j``, ``j = 0 .. search_steps - 1``, until the
   first success (none: the image is settled as never broken, budget ``inf``);
3. binary search: ``binary_steps`` bisections between the last failing and the first
   succeeding budget (an image stops early once ``hi - lo <= rtol * hi``).

SEM's setting: ``search_steps=10``, ``binary_steps=20``. Success is whatever ``judge`` says; for
a stochastic defense pass the Monte Carlo rule (:func:`sem_attack_success` on
:func:`monte_carlo_counts`). All images still searching are attacked together, each at its own
budget (attacks accept one budget per image), and settled images drop out.

The curve ``ASR(d)`` is the share of images whose smallest successful budget is ``<= d``.

Besides the budget, the table records the *realized* distortion of each image: the ``norm``
(L-inf or L2) of ``x_adv - x`` for the adversarial example the attack returned at the budget
that became ``min_eps`` (0 for an image misclassified clean, NaN for one never broken). A
projected attack realizes at most its budget; one that stops early realizes less, one that is
not projected onto the budget may realize more, and the budget alone hides both. Only the norms
are kept, never the images.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch


def _linf(delta: torch.Tensor) -> torch.Tensor:
    return delta.flatten(1).abs().amax(dim=1)


def _l2(delta: torch.Tensor) -> torch.Tensor:
    return delta.flatten(1).norm(p=2, dim=1)


_NORMS = {"linf": _linf, "l2": _l2}

AttackFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
JudgeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SearchResult:
    """table: one row per image (columns ``index, label, clean_success, min_eps, lo, success,
    attack_calls, judge_calls, realized``); curve: ``distortion, asr`` (step function over
    ``min_eps``, DVC plots data)."""

    table: pd.DataFrame
    curve: pd.DataFrame


def asr_distortion_search(attack: AttackFn, judge: JudgeFn, x: torch.Tensor, y: torch.Tensor, *,
                          eps_init: float, search_steps: int = 10, binary_steps: int = 20,
                          rtol: float = 0.0, batch_size: int | None = None,
                          progress: bool = False, norm: str = "linf") -> SearchResult:
    """Per-image smallest successful budget; see the module docstring.

    Args:
        attack: ``attack(x, y, eps) -> x_adv`` with ``eps`` a ``(B,)`` tensor of budgets.
        judge: ``judge(x_adv, y) -> (B,) bool`` attack success (receives the clean images at
            the start).
        x, y: ``(B, C, H, W)`` images in [0, 1] and their labels (targets for a targeted attack;
            ``judge`` decides what success means).
        eps_init: first budget of the exponential search (pixel units of the attack's norm).
        rtol: relative width at which a bisection counts as settled (0: all ``binary_steps``).
        batch_size: images per attack call (``None``: all active images at once).
        norm: ``"linf"`` or ``"l2"``: the norm of the ``realized`` column (``||x_adv - x||``
            per image, of the attack's output at the budget that became ``min_eps``).
    """
    if not eps_init > 0:
        raise ValueError(f"eps_init must be > 0, got {eps_init!r}")
    for name, v in (("search_steps", search_steps), ("binary_steps", binary_steps)):
        if not isinstance(v, int) or v < (1 if name == "search_steps" else 0):
            raise ValueError(f"{name} must be a non-negative int (search_steps >= 1), got {v!r}")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {tuple(_NORMS)}, got {norm!r}")
    distance = _NORMS[norm]
    b = x.shape[0]
    dev = x.device
    attack_calls = torch.zeros(b, dtype=torch.long)
    judge_calls = torch.ones(b, dtype=torch.long)
    step = batch_size or b
    clean = torch.cat([torch.as_tensor(judge(x[s:s + step], y[s:s + step])).bool().cpu()
                       for s in range(0, b, step)])
    lo = torch.zeros(b, dtype=torch.float64)
    hi = torch.full((b,), float("inf"), dtype=torch.float64)
    hi[clean] = 0.0
    # Realized ||x_adv - x|| at the current hi: 0 for clean successes, NaN until first success.
    realized = torch.full((b,), float("nan"), dtype=torch.float64)
    realized[clean] = 0.0

    def run(idx_cpu: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attack and judge images ``idx_cpu`` at budgets ``eps``: ``(ok (n,) bool, realized
        distortion (n,) float64)``, both on the CPU."""
        idx = idx_cpu.to(dev)
        e = eps.to(device=dev, dtype=x.dtype)
        step = batch_size or idx.numel()
        oks, dists = [], []
        for s in range(0, idx.numel(), step):
            part = idx[s:s + step]
            x_adv = attack(x[part], y[part], e[s:s + step])
            oks.append(torch.as_tensor(judge(x_adv, y[part])).bool().cpu())
            with torch.no_grad():  # float64: the difference of two float32 images is exact
                dists.append(distance(x_adv.detach().double() - x[part].double()).cpu())
        attack_calls[idx_cpu] += 1
        judge_calls[idx_cpu] += 1
        return torch.cat(oks), torch.cat(dists)

    # Exponential search.
    searching = ~clean
    eps = torch.full((b,), float(eps_init), dtype=torch.float64)
    prev = torch.zeros(b, dtype=torch.float64)
    steps = range(search_steps)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="exponential search")
    for _ in steps:
        idx = searching.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        ok, dist = run(idx, eps[idx])
        won = idx[ok]
        hi[won] = eps[won]
        realized[won] = dist[ok]
        lo[won] = prev[won]
        searching[won] = False
        prev[idx] = eps[idx]
        eps[idx] = eps[idx] * 2
    # Images still searching were never broken: hi stays inf.
    rounds = range(binary_steps)
    if progress:
        from tqdm.auto import tqdm
        rounds = tqdm(rounds, desc="binary search")
    for _ in rounds:
        open_ = torch.isfinite(hi) & (hi > 0) & ((hi - lo) > rtol * hi)
        idx = open_.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        mid = (lo[idx] + hi[idx]) / 2
        ok, dist = run(idx, mid)
        hi[idx[ok]] = mid[ok]
        realized[idx[ok]] = dist[ok]
        lo[idx[~ok]] = mid[~ok]
    table = pd.DataFrame({
        "index": np.arange(b),
        "label": y.cpu().numpy(),
        "clean_success": clean.numpy(),
        "min_eps": hi.numpy(),
        "lo": lo.numpy(),
        "success": torch.isfinite(hi).numpy(),
        "attack_calls": attack_calls.numpy(),
        "judge_calls": judge_calls.numpy(),
        "realized": realized.numpy(),
    })
    return SearchResult(table=table, curve=asr_curve(table))


def asr_curve(table: pd.DataFrame, grid=None, column: str = "min_eps") -> pd.DataFrame:
    """``ASR(d) = mean(min_eps <= d)`` at the distortions ``grid`` (default: 0 and every finite
    ``min_eps``, which gives the exact step function). Columns ``distortion, asr``.

    ``column="realized"`` gives the curve over the realized distortion instead (never-broken
    images, NaN there, count as failures at every ``d``, as ``inf`` budgets do)."""
    if column not in ("min_eps", "realized"):
        raise ValueError(f"column must be 'min_eps' or 'realized', got {column!r}")
    m = table[column].to_numpy(dtype=np.float64)
    if grid is None:
        grid = np.unique(np.concatenate([[0.0], m[np.isfinite(m)]]))
    grid = np.asarray(grid, dtype=np.float64)
    asr = (m[None, :] <= grid[:, None]).mean(1) if m.size else np.zeros_like(grid)
    return pd.DataFrame({"distortion": grid, "asr": asr})


def write_csv_atomic(df: pd.DataFrame, path) -> Path:
    """Write ``df`` to ``path`` as CSV through a temporary file and a rename (no partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            df.to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def plot_asr_curves(curves: dict, ax=None, title: str | None = None):
    """Seaborn step plot of several curves ``{label: curve DataFrame}``; returns the axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    frames = [c.assign(method=name) for name, c in curves.items()]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["distortion", "asr", "method"])
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    sns.lineplot(data=data, x="distortion", y="asr", hue="method", drawstyle="steps-post", ax=ax)
    ax.set_xlabel("distortion (budget)")
    ax.set_ylabel("attack success rate")
    ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    return ax
