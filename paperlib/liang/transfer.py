"""How adversarial examples crafted on one network transfer across a voting ensemble
(Liang & Samavi, "Random Single Network Attack" and "Superimposition Attacks").

Every function takes the predictions of the attack's examples as tensors, no loop over examples:

* ``pred_s``, ``pred_a``: ``(L, E)`` labels that each of the ``L`` networks gives to the original
  input ``s`` and to the adversarial example ``a`` of each of the ``E`` examples;
* ``vote_s``, ``vote_a``: ``(E,)`` the ensemble's aggregate output ``F*`` (its vote) on them;
* ``target``: ``(E,)`` the attack's target ``t``; ``label``: ``(E,)`` the true class;
* ``p``: ``(E,)`` the perturbation ratio of eq. 14 (:func:`paperlib.scenarios.liang.perturbation_ratio`).

Figures 1-5 bucket the perturbations into 40 equally spaced bins and plot, per bin: the mean
number of networks changed to the target (eq. 15) or to another label (eq. 16); the frequency
(over all ``N`` examples) of votes changed to the target (eq. 17) or to another label (eq. 18);
and the ensemble's accuracy (Figure 5). Tables 2(b)/(c), 4(c)/(d) and 5(c)/(d) break the
ensemble's classifications of the examples into correct / target / other, with the mean
perturbation of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

N_BINS = 40  # "We bucket the range of perturbations into 40 equally spaced bins"
OUTCOMES = ("correct", "target", "other")


@dataclass(frozen=True)
class Bins:
    """Equally spaced bins over ``[low, high]``: each example's bin and the bins' mid-points."""

    index: torch.Tensor      # (E,) long, in [0, n)
    midpoints: torch.Tensor  # (n,)
    edges: torch.Tensor      # (n + 1,)


def perturbation_bins(p: torch.Tensor, n_bins: int = N_BINS, low: float | None = None,
                      high: float | None = None) -> Bins:
    """Bucket ``p`` into ``n_bins`` equal bins over ``[low, high]`` (default: the observed range,
    the paper's "range of perturbations"); the top edge belongs to the last bin. Pass the same
    ``low``/``high`` to compare two sets of examples (with and without Noisy Logit) bin by bin."""
    if p.dim() != 1 or p.numel() == 0:
        raise ValueError(f"p must be a non-empty 1-D tensor of perturbation ratios, got shape {tuple(p.shape)}")
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    # the range check in p's own precision: 0.4 given for float32 data means float32's 0.4
    if (low is not None and bool(p.min() < torch.tensor(low, dtype=p.dtype))) or \
            (high is not None and bool(p.max() > torch.tensor(high, dtype=p.dtype))):
        raise ValueError(f"perturbations outside [low, high] = [{low}, {high}]: "
                         f"observed [{float(p.min())}, {float(p.max())}]")
    p = p.double()
    lo = float(p.min()) if low is None else float(low)
    hi = float(p.max()) if high is None else float(high)
    if not hi > lo:
        hi = lo + 1e-12  # all perturbations equal: one occupied bin
    edges = torch.linspace(lo, hi, n_bins + 1, dtype=torch.float64)
    index = ((p - lo) / (hi - lo) * n_bins).floor().long().clamp_(0, n_bins - 1)
    return Bins(index=index, midpoints=(edges[:-1] + edges[1:]) / 2, edges=edges)


def networks_changed(pred_s: torch.Tensor, pred_a: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example, the number of networks whose classification changed to the target (the set
    of eq. 15) and to another label (eq. 16): two ``(E,)`` long tensors."""
    _same_shape(pred_s, pred_a, "pred_s", "pred_a")
    if target.shape != pred_a.shape[1:]:
        raise ValueError(f"target must be (E,) = {tuple(pred_a.shape[1:])}, got {tuple(target.shape)}")
    changed = pred_a != pred_s
    to_target = changed & (pred_a == target[None])
    return to_target.sum(0), (changed & ~to_target).sum(0)


def vote_changed(vote_s: torch.Tensor, vote_a: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example, whether the ensemble's vote changed to the target (eq. 17's set) or to
    another label (eq. 18's): two ``(E,)`` bool tensors."""
    _same_shape(vote_s, vote_a, "vote_s", "vote_a")
    _same_shape(vote_a, target, "vote_a", "target")
    changed = vote_a != vote_s
    return changed & (vote_a == target), changed & (vote_a != target)


def binned_mean(values: torch.Tensor, bins: Bins) -> torch.Tensor:
    """``y_b = (1/|x_b|) sum_{x in x_b} values(x)`` (eq. 15-16, Figure 5): ``(n_bins,)``, NaN
    for an empty bin."""
    n = bins.midpoints.numel()
    total = torch.zeros(n, dtype=torch.float64).index_add_(0, bins.index, values.double())
    count = torch.bincount(bins.index, minlength=n).double()
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


def binned_frequency(indicator: torch.Tensor, bins: Bins, total: int | None = None) -> torch.Tensor:
    """``y_b = (1/N) |{x in x_b : indicator(x)}|`` (eq. 17-18): normalized by all ``N`` examples
    (default: the number of examples binned; the paper's N = 6,750), not by the bin's size."""
    n = total if total is not None else indicator.numel()
    if n < 1:
        raise ValueError("total must be >= 1")
    counts = torch.zeros(bins.midpoints.numel(), dtype=torch.float64).index_add_(0, bins.index, indicator.double())
    return counts / n


def outcome(vote_a: torch.Tensor, label: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each example's outcome for the ensemble: 0 correct (the true class), 1 target, 2 other
    (Tables 2b, 4c, 5c). A target equal to the true class counts as correct."""
    _same_shape(vote_a, label, "vote_a", "label")
    _same_shape(vote_a, target, "vote_a", "target")
    out = torch.full_like(vote_a, 2)
    out[vote_a == target] = 1
    out[vote_a == label] = 0
    return out


def breakdown(vote_a: torch.Tensor, label: torch.Tensor, target: torch.Tensor,
              p: torch.Tensor | None = None) -> dict[str, dict[str, float]]:
    """Table 2(b)/(c) (and 4, 5 (c)/(d)): the share of examples the ensemble classifies as the
    true class, the target, or another label, and the mean eq. 14 perturbation of each group
    (NaN for an empty group)."""
    o = outcome(vote_a, label, target)
    n = o.numel()
    if n == 0:
        raise ValueError("no examples")
    share = {name: float((o == k).sum()) / n for k, name in enumerate(OUTCOMES)}
    out = {"share": share}
    if p is not None:
        _same_shape(p, o, "p", "vote_a")
        out["perturbation"] = {name: float(p[o == k].double().mean()) if bool((o == k).any()) else float("nan")
                               for k, name in enumerate(OUTCOMES)}
    return out


def _same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")
