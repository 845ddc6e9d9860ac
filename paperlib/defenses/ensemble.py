"""Ensemble defenses: the SEM stochastic ensemble (Qin et al. 2023, Algorithm 1), fixed
(smoothed) ensembles, CLM's random submodel (Jasser & Garibay) and ensemble voting (Liang &
Samavi 2021, eq. 10).

A collection is a sequence of :class:`Member` (a trained model with its architecture name, its
architecture family, and the smoothing sigma it was trained for; sigma 0 = an unsmoothed model,
which SEM also allows).
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
from ..models.noise_space import add_gaussian_noise


@dataclass(frozen=True)
class Member:
    """One trained model of a collection. ``sigma``: its smoothing sigma as the paper names it (a
label: member names, Table 1's columns, the sigmas SEM draws from).

``noise_std``: the noise actually added to its input, per channel in pixel units, when that is
not ``sigma`` itself (SEM's sigmas are in normalized-input units: ``sigma * std_c`` in pixels,
:func:`paperlib.models.noise_space.pixel_noise_std`); ``None``: ``sigma`` in pixel units.

    ``family``: the architecture family SEM's Algorithm 1 draws first (e.g. ``"densenet"`` for
    ``arch="densenet121"``; :func:`paperlib.config.architectures.family_of` gives the registry's);
    empty (the default) means the architecture is a family of its own, and is stored as ``arch``.
    """

    name: str
    arch: str
    sigma: float
    model: nn.Module
    family: str = ""
    noise_std: tuple[float, ...] | None = None

    def __post_init__(self):
        if not isinstance(self.sigma, (int, float)) or self.sigma < 0:
            raise ValueError(f"Member {self.name!r}: sigma must be >= 0, got {self.sigma!r}")
        if self.noise_std is not None:
            std = tuple(float(s) for s in self.noise_std)
            if not std or any(s < 0 for s in std) or (self.sigma == 0) != all(s == 0 for s in std):
                raise ValueError(f"Member {self.name!r}: noise_std must be per-channel stds >= 0, zero exactly when "
                                 f"sigma is 0, got {self.noise_std!r} for sigma {self.sigma!r}")
            object.__setattr__(self, "noise_std", std)
        if not isinstance(self.family, str):
            raise TypeError(f"Member {self.name!r}: family must be a str, got {self.family!r}")
        if not self.family:
            object.__setattr__(self, "family", self.arch)


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
        # float or per-channel std; a zero std draws nothing (as the scalar code did)
        xi = add_gaussian_noise(xi, member.sigma if member.noise_std is None else member.noise_std, generator)
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


HIERARCHIES = ("family", "architecture")


def _efraimidis_spirakis(k: torch.Tensor, w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(n, len(w))`` bool: ``k[i]`` distinct items per row, drawn without replacement with
    weights ``w`` (Efraimidis & Spirakis: the ``k[i]`` smallest keys ``-log(u) / w``)."""
    u = torch.rand((k.shape[0], w.shape[0]), generator=generator, device=w.device)
    keys = -torch.log(u.clamp_min(1e-30)) / w.clamp_min(1e-30)
    keys = keys.masked_fill(w == 0, float("inf"))
    rank = keys.argsort(1).argsort(1)
    return rank < k[:, None]


@dataclass(frozen=True)
class SEMDistribution:
    """Distribution of SEM's ensemble attributes (Algorithm 1 lines 2-4).

    quantities: the possible ensemble sizes K (the journal: 1-4).
    quantity_weights: probabilities of those sizes (``None``: uniform).
    hierarchy: what K counts.
        ``"family"`` (Algorithm 1 as written): K distinct architecture families
        (``Member.family``, e.g. Table 1's DenseNet, WRN, ResNet, VGG, ...), then for each a depth
        variant uniform among the collection's architectures of that family, then a sigma
        uniform among that architecture's members. A collection whose families each hold one
        architecture (every ``Member.family`` left empty) draws exactly as ``"architecture"``,
        bit for bit under the same generator.
        ``"architecture"``: every architecture is its own family (K distinct architectures,
        then a sigma of each): each depth variant weighs as much as a family, e.g. DenseNet
        4/17 of a draw in the 17-architecture collection.
    family_weights: ``(family, weight)`` pairs for choosing the K families without replacement
        (``"family"`` only; ``None``: uniform over the collection's families).
    arch_weights: ``(arch, weight)`` pairs for choosing the K architectures without replacement
        (``None``: uniform over the collection's architectures). In ``"family"`` mode only for a
        collection whose families each hold one architecture (then they are the family weights);
        use ``family_weights`` otherwise.
    """

    quantities: tuple[int, ...] = (1, 2, 3, 4)
    quantity_weights: tuple[float, ...] | None = None
    arch_weights: tuple[tuple[str, float], ...] | None = None
    hierarchy: str = "family"
    family_weights: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self):
        if not self.quantities or any(not isinstance(k, int) or k < 1 for k in self.quantities):
            raise ValueError(f"SEMDistribution.quantities must be ints >= 1, got {self.quantities!r}")
        if self.quantity_weights is not None and len(self.quantity_weights) != len(self.quantities):
            raise ValueError("SEMDistribution.quantity_weights must have one weight per quantity")
        if self.hierarchy not in HIERARCHIES:
            raise ValueError(f"SEMDistribution.hierarchy must be one of {HIERARCHIES}, got {self.hierarchy!r}")
        if self.family_weights is not None:
            if self.hierarchy != "family":
                raise ValueError("SEMDistribution.family_weights needs hierarchy='family'; with "
                                 "hierarchy='architecture' use arch_weights")
            if self.arch_weights is not None:
                raise ValueError("SEMDistribution: give family_weights or arch_weights, not both")


def _weights_for(pairs, names: tuple[str, ...], key: str, what: str) -> list[float] | None:
    """``pairs`` ``((name, weight), ...)`` in the order of ``names``; ValueError (naming ``key``)
    unless they name exactly ``names``."""
    if pairs is None:
        return None
    given = [a for a, _ in pairs]
    if sorted(given) != sorted(names):
        raise ValueError(f"{key} must name exactly the {what} {names}, got {given}")
    return [dict(pairs)[a] for a in names]


class StochasticEnsemble(StochasticDefense):
    """SEM, the stochastic ensemble with variable attributes (Qin et al. 2023, Algorithm 1).

    Every query (every row): draw the quantity K; draw K distinct architecture families (or
    architectures, ``SEMDistribution.hierarchy``); a depth variant of each family; a smoothing
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
        d = distribution
        self.archs = tuple(dict.fromkeys(m.arch for m in self.members))
        fam_of_arch: dict[str, str] = {}
        for m in self.members:
            if fam_of_arch.setdefault(m.arch, m.family) != m.family:
                raise ValueError(f"Member {m.name!r}: architecture {m.arch!r} is in family "
                                 f"{fam_of_arch[m.arch]!r} for another member, {m.family!r} here")
        self.families = tuple(dict.fromkeys(fam_of_arch[a] for a in self.archs))
        # family index -> its architectures' indices, in collection order
        self._archs_of_family = tuple(tuple(i for i, a in enumerate(self.archs) if fam_of_arch[a] == f)
                                      for f in self.families)
        if d.hierarchy == "architecture":
            if max(d.quantities) > len(self.archs):
                raise ValueError(f"SEMDistribution.quantities {d.quantities} exceed the "
                                 f"{len(self.archs)} architectures of the collection")
            self._arch_w = _weights_for(d.arch_weights, self.archs, "SEMDistribution.arch_weights",
                                        "architectures")
            self._family_w = None
        else:
            if max(d.quantities) > len(self.families):
                raise ValueError(f"SEMDistribution.quantities {d.quantities} exceed the "
                                 f"{len(self.families)} architecture families of the collection "
                                 f"{self.families} (SEMDistribution.hierarchy='family' counts families; "
                                 f"'architecture' counts the {len(self.archs)} architectures)")
            if d.arch_weights is not None:
                multi = {f: [self.archs[i] for i in idx] for f, idx in zip(self.families, self._archs_of_family)
                         if len(idx) > 1}
                if multi:
                    raise ValueError(f"SEMDistribution.arch_weights with hierarchy='family' needs one "
                                     f"architecture per family, but {multi} share families: give "
                                     f"family_weights, or hierarchy='architecture'")
                aw = _weights_for(d.arch_weights, self.archs, "SEMDistribution.arch_weights", "architectures")
                # one architecture per family, families in first-appearance order = archs' order
                self._family_w = [aw[idx[0]] for idx in self._archs_of_family]
            else:
                self._family_w = _weights_for(d.family_weights, self.families,
                                              "SEMDistribution.family_weights", "families")
            self._arch_w = None
        # member index -> architecture index
        self.register_buffer("_arch_of", torch.tensor([self.archs.index(m.arch) for m in self.members]),
                             persistent=False)

    def membership(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, M)`` bool: which members each of ``n`` independent draws uses (Algorithm 1
        lines 2-4; one ``generator``, batched over the draws)."""
        dev = generator.device
        d = self.distribution
        q = _normalized(d.quantity_weights, len(d.quantities), "SEMDistribution.quantity_weights", dev)
        k = torch.tensor(d.quantities, device=dev)[torch.multinomial(q.expand(n, -1), 1, generator=generator).squeeze(1)]
        if d.hierarchy == "architecture":
            wa = _normalized(self._arch_w, len(self.archs), "SEMDistribution.arch_weights", dev)
            arch_chosen = _efraimidis_spirakis(k, wa, generator)  # (n, A)
        else:
            wf = _normalized(self._family_w, len(self.families), "SEMDistribution.family_weights", dev)
            fam_chosen = _efraimidis_spirakis(k, wf, generator)  # (n, F)
            arch_chosen = torch.zeros((n, len(self.archs)), dtype=torch.bool, device=dev)
            rows = torch.arange(n, device=dev)
            for f, idx in enumerate(self._archs_of_family):  # loop over families, not images
                if len(idx) == 1:  # no draw: keeps one-architecture families bit-identical
                    arch_chosen[:, idx[0]] = fam_chosen[:, f]
                    continue
                pick = torch.randint(0, len(idx), (n,), generator=generator, device=dev)
                arch_chosen[rows, torch.tensor(idx, device=dev)[pick]] = fam_chosen[:, f]
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
        than the sub-collection's family count (architecture count with
        ``hierarchy="architecture"``) are dropped, and so are the weights of the families or
        architectures it lacks."""
        sub = [m for m in self.members if m.name in set(names)]
        archs = set(m.arch for m in sub)
        families = set(m.family for m in sub)
        d = self.distribution
        unit = len(archs) if d.hierarchy == "architecture" else len(families)
        keep = [i for i, k in enumerate(d.quantities) if k <= unit]
        if not keep:
            what = "architectures" if d.hierarchy == "architecture" else "architecture families"
            raise ValueError(f"the sub-collection has too few {what} ({unit}) for any of "
                             f"SEMDistribution.quantities {d.quantities}")
        qw = None if d.quantity_weights is None else tuple(d.quantity_weights[i] for i in keep)
        aw = None if d.arch_weights is None else tuple((a, w) for a, w in d.arch_weights if a in archs)
        fw = None if d.family_weights is None else tuple((f, w) for f, w in d.family_weights if f in families)
        return StochasticEnsemble(sub, SEMDistribution(tuple(d.quantities[i] for i in keep), qw, aw,
                                                       hierarchy=d.hierarchy, family_weights=fw),
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
