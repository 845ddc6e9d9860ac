"""Ensemble defenses: the SEM stochastic ensemble (Qin et al. 2023, Algorithm 1), fixed
(smoothed) ensembles, CLM's random submodel (Jasser & Garibay) and ensemble voting (Liang &
Samavi 2021, eq. 10).

A collection is a sequence of :class:`Member` (a trained model with its architecture name and
the smoothing sigma it was trained for; sigma 0 = an unsmoothed model, which SEM also allows).
Draws are per row of the batch (see :mod:`paperlib.defenses.base`); the members a row uses are
found with a membership mask, and each member runs once on all the rows that use it (a loop over
members, never over images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .base import StochasticDefense, call_module


@dataclass(frozen=True)
class Member:
    """One trained model of a collection. ``sigma``: its input-noise std in pixel units."""

    name: str
    arch: str
    sigma: float
    model: nn.Module

    def __post_init__(self):
        if not isinstance(self.sigma, (int, float)) or self.sigma < 0:
            raise ValueError(f"Member {self.name!r}: sigma must be >= 0, got {self.sigma!r}")


def _check_members(members: Sequence[Member]) -> tuple[Member, ...]:
    members = tuple(members)
    if not members:
        raise ValueError("members must not be empty")
    for m in members:
        if not isinstance(m, Member):
            raise TypeError(f"members must be paperlib.defenses.Member, got {type(m).__name__}")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    return members


def _routed_sum(x: torch.Tensor, mask: torch.Tensor, members: Sequence[Member],
                modules: nn.ModuleList, generator: torch.Generator) -> torch.Tensor:
    """``out[i] = sum_{m : mask[i, m]} model_m(x_i + sigma_m * noise)``; ``(B, K)``.

    SEM Algorithm 1 lines 5-9 (sum of the members' pre-softmax outputs), batched by member.
    """
    out = None
    for j, member in enumerate(members):
        rows = mask[:, j].nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        xi = x.index_select(0, rows)
        if member.sigma > 0:
            xi = xi + member.sigma * torch.randn(xi.shape, generator=generator, device=x.device,
                                                 dtype=x.dtype)
        z = call_module(modules[j], xi, generator)
        if out is None:
            out = z.new_zeros((x.shape[0], z.shape[1]))
        out = out.index_add(0, rows, z)
    if out is None:
        raise RuntimeError("no member was selected for any row")
    return out


class SmoothedEnsemble(StochasticDefense):
    """A fixed ensemble: ``sum_k f_k(x + delta_k)`` over all ``members`` (SEM eq. 2 with the
    smoothing noise of each member; SWEEN with equal weights, eq. 3). With every sigma 0 it is a
    plain deterministic ensemble (SEM contrast H, attacker D's surrogate)."""

    def __init__(self, members: Sequence[Member], generator: torch.Generator | None = None):
        super().__init__(generator)
        self.members = _check_members(members)
        self.models = nn.ModuleList([m.model for m in self.members])

    def sample(self, x, generator):
        mask = torch.ones((x.shape[0], len(self.members)), dtype=torch.bool, device=x.device)
        return _routed_sum(x, mask, self.members, self.models, generator)


def _normalized(weights, n: int, name: str, device) -> torch.Tensor:
    if weights is None:
        return torch.full((n,), 1.0 / n, device=device)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (n,) or bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ValueError(f"{name} must be {n} non-negative weights with a positive sum, got {weights!r}")
    return (w / w.sum()).float().to(device)


@dataclass(frozen=True)
class SEMDistribution:
    """Distribution of SEM's ensemble attributes (Algorithm 1 lines 2-4).

    quantities: the possible ensemble sizes K (the journal: 1-4).
    quantity_weights: probabilities of those sizes (``None``: uniform).
    arch_weights: ``(arch, weight)`` pairs for choosing the K architectures without replacement
        (``None``: uniform over the collection's architectures).
    The smoothing sigma of each chosen architecture is uniform over the sigmas available for it
    in the collection.
    """

    quantities: tuple[int, ...] = (1, 2, 3, 4)
    quantity_weights: tuple[float, ...] | None = None
    arch_weights: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self):
        if not self.quantities or any(not isinstance(k, int) or k < 1 for k in self.quantities):
            raise ValueError(f"SEMDistribution.quantities must be ints >= 1, got {self.quantities!r}")
        if self.quantity_weights is not None and len(self.quantity_weights) != len(self.quantities):
            raise ValueError("SEMDistribution.quantity_weights must have one weight per quantity")


class StochasticEnsemble(StochasticDefense):
    """SEM, the stochastic ensemble with variable attributes (Qin et al. 2023, Algorithm 1).

    Every query (every row): draw the quantity K; draw K distinct architectures; draw a smoothing
    sigma for each from the sigmas the collection has for it; answer with the sum of the chosen
    members' logits on their own noisy inputs ``f_k(x + delta_k)``, ``delta_k ~ N(0, sigma_k^2)``
    (softmax of that sum = ``probs``).
    """

    def __init__(self, members: Sequence[Member], distribution: SEMDistribution = SEMDistribution(),
                 generator: torch.Generator | None = None):
        super().__init__(generator)
        self.members = _check_members(members)
        self.models = nn.ModuleList([m.model for m in self.members])
        self.distribution = distribution
        self.archs = tuple(dict.fromkeys(m.arch for m in self.members))
        if max(distribution.quantities) > len(self.archs):
            raise ValueError(f"SEMDistribution.quantities {distribution.quantities} exceed the "
                             f"{len(self.archs)} architectures of the collection")
        if distribution.arch_weights is not None:
            names = [a for a, _ in distribution.arch_weights]
            if sorted(names) != sorted(self.archs):
                raise ValueError(f"SEMDistribution.arch_weights must name exactly the "
                                 f"architectures {self.archs}, got {names}")
        # member index -> architecture index
        self.register_buffer("_arch_of", torch.tensor([self.archs.index(m.arch) for m in self.members]),
                             persistent=False)

    def membership(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, M)`` bool: which members each of ``n`` independent draws uses."""
        dev = generator.device
        d = self.distribution
        q = _normalized(d.quantity_weights, len(d.quantities), "SEMDistribution.quantity_weights", dev)
        k = torch.tensor(d.quantities, device=dev)[torch.multinomial(q.expand(n, -1), 1, generator=generator).squeeze(1)]
        aw = None if d.arch_weights is None else [dict(d.arch_weights)[a] for a in self.archs]
        wa = _normalized(aw, len(self.archs), "SEMDistribution.arch_weights", dev)
        # Weighted sampling without replacement (Efraimidis & Spirakis): the K smallest keys.
        u = torch.rand((n, len(self.archs)), generator=generator, device=dev)
        keys = -torch.log(u.clamp_min(1e-30)) / wa.clamp_min(1e-30)
        keys = keys.masked_fill(wa == 0, float("inf"))
        rank = keys.argsort(1).argsort(1)
        arch_chosen = rank < k[:, None]  # (n, A)
        mask = torch.zeros((n, len(self.members)), dtype=torch.bool, device=dev)
        for a in range(len(self.archs)):  # loop over architectures, not images
            idx = (self._arch_of.to(dev) == a).nonzero().squeeze(1)
            pick = torch.randint(0, idx.numel(), (n,), generator=generator, device=dev)
            mask[torch.arange(n, device=dev), idx[pick]] = arch_chosen[:, a]
        return mask

    def sample(self, x, generator):
        mask = self.membership(x.shape[0], generator).to(x.device)
        return _routed_sum(x, mask, self.members, self.models, generator)

    def condition(self, generator=None):
        """The ensemble of one attribute draw: a :class:`SmoothedEnsemble` of the chosen members
        (noise still random)."""
        g = self._gen(generator)
        row = self.membership(1, g)[0].cpu()
        chosen = [m for m, used in zip(self.members, row.tolist()) if used]
        return SmoothedEnsemble(chosen, generator=self.generator)

    def restricted(self, names: Sequence[str]) -> "StochasticEnsemble":
        """The same strategy over a sub-collection (SEM attacker C's surrogate). Quantities larger
        than the sub-collection's architecture count are dropped."""
        sub = [m for m in self.members if m.name in set(names)]
        archs = set(m.arch for m in sub)
        d = self.distribution
        keep = [i for i, k in enumerate(d.quantities) if k <= len(archs)]
        if not keep:
            raise ValueError("the sub-collection has too few architectures for any quantity")
        qw = None if d.quantity_weights is None else tuple(d.quantity_weights[i] for i in keep)
        aw = None if d.arch_weights is None else tuple((a, w) for a, w in d.arch_weights if a in archs)
        return StochasticEnsemble(sub, SEMDistribution(tuple(d.quantities[i] for i in keep), qw, aw),
                                  generator=self.generator)


class RandomSubmodel(StochasticDefense):
    """CLM's population model (Jasser & Garibay, section 2): every query is answered by one
    submodel drawn uniformly (or with ``weights``) from ``models``; the answer is its logits."""

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float] | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(generator)
        if len(models) == 0:
            raise ValueError("models must not be empty")
        self.models = nn.ModuleList(models)
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        _normalized(self.weights, len(self.models), "RandomSubmodel.weights", "cpu")
        self._members = tuple(Member(f"m{i}", f"m{i}", 0.0, m) for i, m in enumerate(self.models))

    def choose(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n,)`` indices of the submodels answering ``n`` queries."""
        w = _normalized(self.weights, len(self.models), "RandomSubmodel.weights", generator.device)
        return torch.multinomial(w.expand(n, -1), 1, generator=generator).squeeze(1)

    def sample(self, x, generator):
        idx = self.choose(x.shape[0], generator).to(x.device)
        mask = torch.nn.functional.one_hot(idx, len(self.models)).bool()
        return _routed_sum(x, mask, self._members, self.models, generator)

    def condition(self, generator=None):
        """The submodel of one draw (as a deterministic one-member ensemble)."""
        i = int(self.choose(1, self._gen(generator))[0])
        return SmoothedEnsemble([self._members[i]], generator=self.generator)


class EnsembleVote(StochasticDefense):
    """Ensemble voting (Liang & Samavi eq. 10): each member votes for its argmax class; the
    output is the vote count per class ``(B, K)`` (float; argmax = ``F*``, ties to the lowest
    class index). Members may be stochastic (e.g. :class:`NoisyLogit`); not differentiable.
    ``probs`` returns the vote shares. Pair with :func:`paperlib.metrics.rank_verification`."""

    def __init__(self, members: Sequence[nn.Module], generator: torch.Generator | None = None):
        super().__init__(generator)
        if len(members) == 0:
            raise ValueError("members must not be empty")
        self.voters = nn.ModuleList(members)

    def sample(self, x, generator):
        votes = None
        for m in self.voters:
            z = call_module(m, x, generator)
            v = torch.nn.functional.one_hot(z.argmax(1), z.shape[1]).to(x.dtype)
            votes = v if votes is None else votes + v
        return votes

    def probs(self, x, n=1, generator=None, chunk=None):
        g = self._gen(generator)
        b = x.shape[0]
        stacked = x.repeat(n, *([1] * (x.dim() - 1)))
        chunk = chunk or stacked.shape[0]
        v = torch.cat([self.sample(c, g) for c in stacked.split(chunk)])
        return (v / len(self.voters)).view(n, b, -1).mean(0)
