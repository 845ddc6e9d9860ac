"""SEM Algorithm 1's attribute draw (``StochasticEnsemble.membership``): the architecture-family
table, the closed-form membership probabilities of ``hierarchy="family"`` (K distinct families,
a depth variant uniform within each, a sigma uniform within each architecture), the structural
invariants of every draw, bit-identity of ``hierarchy="architecture"`` with the pre-family code,
``restricted()``, and the validation messages."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter

import pytest
import torch
from scipy.stats import binomtest, chisquare
from torch import nn

from paperlib.config.architectures import ARCHITECTURE_FAMILIES, ARCHITECTURE_NAMES, family_of
from paperlib.defenses import Member, SEMDistribution, StochasticEnsemble
from paperlib.seeding import make_generator

torch.set_num_threads(2)

# SEM Table 1's 17 rows under the names of the SEM params (sem.zoo.models).
SEM_TABLE1 = ("densenet100", "densenet121", "densenet161", "densenet169", "wrn", "resnet18", "resnet34",
              "resnet50", "vgg11", "vgg13", "vgg16", "vgg19", "alexnet", "inceptionv3", "mobilenetv2",
              "resnext", "googlenet")
# 4 DenseNets, 1 WRN, 2 ResNets (the brief's worked example); two sigmas each.
ARCHS = ("densenet100", "densenet121", "densenet161", "densenet169", "wrn", "resnet18", "resnet50")
SIGMAS = (0.0, 0.25)
N = 12000


def collection(archs=ARCHS, sigmas=SIGMAS, families=True):
    """Members (identity models: membership never runs them), ``family`` from the registry
    table, or left empty (each architecture its own family) with ``families=False``."""
    return [Member(f"{a}@{s:g}", a, s, nn.Identity(), family_of(a) if families else "")
            for a in archs for s in sigmas]


def arch_indicators(sem, mask):
    """``(n, A)`` number of members of each architecture a draw uses."""
    return torch.stack([mask[:, [i for i, m in enumerate(sem.members) if m.arch == a]].sum(1)
                        for a in sem.archs], 1)


def family_indicators(sem, mask):
    """``(n, F)`` number of members of each family a draw uses."""
    return torch.stack([mask[:, [i for i, m in enumerate(sem.members) if m.family == f]].sum(1)
                        for f in sem.families], 1)


def old_membership(members, distribution, n, generator):
    """The membership draw before architecture families (paperlib/defenses/ensemble.py, as it was),
    copied as the reference of ``hierarchy="architecture"``."""
    dev = generator.device
    d = distribution
    archs = tuple(dict.fromkeys(m.arch for m in members))
    arch_of = torch.tensor([archs.index(m.arch) for m in members])

    def normalized(weights, k):
        if weights is None:
            return torch.full((k,), 1.0 / k, device=dev)
        w = torch.as_tensor(weights, dtype=torch.float64)
        return (w / w.sum()).float().to(dev)

    q = normalized(d.quantity_weights, len(d.quantities))
    k = torch.tensor(d.quantities, device=dev)[torch.multinomial(q.expand(n, -1), 1, generator=generator).squeeze(1)]
    aw = None if d.arch_weights is None else [dict(d.arch_weights)[a] for a in archs]
    wa = normalized(aw, len(archs))
    u = torch.rand((n, len(archs)), generator=generator, device=dev)
    keys = -torch.log(u.clamp_min(1e-30)) / wa.clamp_min(1e-30)
    keys = keys.masked_fill(wa == 0, float("inf"))
    rank = keys.argsort(1).argsort(1)
    arch_chosen = rank < k[:, None]
    mask = torch.zeros((n, len(members)), dtype=torch.bool, device=dev)
    for a in range(len(archs)):
        idx = (arch_of.to(dev) == a).nonzero().squeeze(1)
        pick = torch.randint(0, idx.numel(), (n,), generator=generator, device=dev)
        mask[torch.arange(n, device=dev), idx[pick]] = arch_chosen[:, a]
    return mask


# --- the family table -------------------------------------------------------------------------

def test_every_registry_architecture_has_a_family():
    assert set(ARCHITECTURE_FAMILIES) == set(ARCHITECTURE_NAMES)
    for a in ARCHITECTURE_NAMES:
        assert isinstance(family_of(a), str) and family_of(a)
    with pytest.raises(ValueError, match="resnet1000"):
        family_of("resnet1000")


def test_table1_has_nine_families_over_seventeen_depth_variants():
    counts = Counter(family_of(a) for a in SEM_TABLE1)
    assert len(SEM_TABLE1) == 17
    assert counts == {"densenet": 4, "wrn": 1, "resnet": 3, "vgg": 4, "alexnet": 1, "inceptionv3": 1,
                      "mobilenetv2": 1, "resnext": 1, "googlenet": 1}
    assert family_of("wrn28_10") == "wrn" and family_of("resnext29_8x64d") == "resnext"


def test_family_table_imports_without_torch():
    code = "import sys, paperlib.config.architectures as a; a.family_of('vgg16'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_member_family_defaults_to_arch_and_positional_construction_works():
    m = Member("a@0", "densenet121", 0.0, nn.Identity())
    assert m.family == "densenet121"
    assert Member("a@0", "densenet121", 0.0, nn.Identity(), "densenet").family == "densenet"
    assert Member("a@0", "densenet121", 0.0, nn.Identity(), family="densenet").family == "densenet"
    with pytest.raises(TypeError, match="family"):
        Member("a@0", "densenet121", 0.0, nn.Identity(), family=3)


# --- closed-form frequencies, hierarchy="family" ----------------------------------------------

def test_quantity_one_family_then_depth_then_sigma_closed_form():
    """K = 1: each family 1/3; each DenseNet 1/12 (each of its sigmas 1/24), WRN 1/3, each ResNet
    1/6. The architecture-level draw would give every architecture 1/7 (DenseNet 4/7)."""
    sem = StochasticEnsemble(collection(), SEMDistribution((1,)))
    assert sem.families == ("densenet", "wrn", "resnet")
    mask = sem.membership(N, make_generator(0, "sem-dist", "k1"))
    assert bool((mask.sum(1) == 1).all())
    p_arch = {a: {"densenet": 1 / 12, "wrn": 1 / 3, "resnet": 1 / 6}[family_of(a)] for a in ARCHS}
    expected = [N * p_arch[m.arch] / len(SIGMAS) for m in sem.members]
    assert chisquare(mask.sum(0).numpy(), expected).pvalue > 1e-3
    fam = family_indicators(sem, mask).sum(0).numpy()
    assert chisquare(fam).pvalue > 1e-3  # 1/3 each
    # the same seed and collection with every architecture its own family: 1/7 each, which the
    # family closed form rejects
    flat = StochasticEnsemble(collection(), SEMDistribution((1,), hierarchy="architecture"))
    mask = flat.membership(N, make_generator(0, "sem-dist", "k1"))
    per_arch = arch_indicators(flat, mask).sum(0).numpy()
    assert chisquare(per_arch).pvalue > 1e-3
    assert chisquare(per_arch, [N * p_arch[a] for a in flat.archs]).pvalue < 1e-12


def test_quantity_two_pairwise_inclusion_closed_form():
    """K = 2: the family pair is uniform over the 3 pairs, then a depth variant of each:
    P(DenseNet_i, WRN) = 1/12, P(DenseNet_i, ResNet_j) = 1/24, P(WRN, ResNet_j) = 1/6, and two
    architectures of one family never."""
    sem = StochasticEnsemble(collection(), SEMDistribution((2,)))
    mask = sem.membership(N, make_generator(1, "sem-dist", "k2"))
    ind = arch_indicators(sem, mask)
    assert bool((ind.sum(1) == 2).all())
    within = {"densenet": 1 / 4, "wrn": 1.0, "resnet": 1 / 2}
    pairs = list(itertools.combinations(range(len(ARCHS)), 2))
    observed, expected = [], []
    for i, j in pairs:
        fi, fj = family_of(ARCHS[i]), family_of(ARCHS[j])
        p = 0.0 if fi == fj else within[fi] * within[fj] / 3
        count = int((ind[:, i].bool() & ind[:, j].bool()).sum())
        if p == 0:
            assert count == 0, (ARCHS[i], ARCHS[j])
        else:
            observed.append(count)
            expected.append(N * p)
    assert abs(sum(expected) - N) < 1e-6
    assert chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_mixed_quantities_marginals(seed):
    """K uniform on (1, 2, 3) over 3 families: P(family) = E[K]/3 = 2/3, so P(DenseNet_i) = 1/6,
    P(WRN) = 2/3, P(ResNet_j) = 1/3; P(two given families) = E[K(K-1)]/6 = 4/9; K uniform."""
    sem = StochasticEnsemble(collection(), SEMDistribution((1, 2, 3)))
    mask = sem.membership(N, make_generator(seed, "sem-dist", "k123"))
    fam = family_indicators(sem, mask)
    assert chisquare(torch.bincount(fam.sum(1), minlength=4)[1:].numpy()).pvalue > 1e-3
    ind = arch_indicators(sem, mask)
    for i, a in enumerate(ARCHS):
        p = {"densenet": 1 / 6, "wrn": 2 / 3, "resnet": 1 / 3}[family_of(a)]
        assert binomtest(int(ind[:, i].sum()), N, p).pvalue > 1e-3, a
    both = int((fam[:, 0].bool() & fam[:, 2].bool()).sum())  # DenseNet and ResNet
    assert binomtest(both, N, 4 / 9).pvalue > 1e-3
    # the sigma of a chosen architecture: uniform over its two members
    for a in ARCHS:
        cols = [i for i, m in enumerate(sem.members) if m.arch == a]
        assert chisquare(mask[:, cols].sum(0).numpy()).pvalue > 1e-3, a


def test_family_weights():
    d = SEMDistribution((1,), family_weights=(("densenet", 2.0), ("wrn", 1.0), ("resnet", 0.0)))
    sem = StochasticEnsemble(collection(), d)
    fam = family_indicators(sem, sem.membership(N, make_generator(2, "sem-dist", "fw")))
    assert int(fam[:, 2].sum()) == 0
    assert binomtest(int(fam[:, 0].sum()), N, 2 / 3).pvalue > 1e-3
    d2 = SEMDistribution((2,), family_weights=(("densenet", 2.0), ("wrn", 1.0), ("resnet", 0.0)))
    fam = family_indicators(sem, StochasticEnsemble(collection(), d2).membership(500, make_generator(3, "w")))
    assert bool((fam[:, 0] == 1).all() and (fam[:, 1] == 1).all() and (fam[:, 2] == 0).all())


# --- invariants of every draw -----------------------------------------------------------------

@pytest.mark.parametrize("quantities", [(1, 2, 3), (3,)])
def test_every_draw_one_variant_per_family_one_member_per_architecture(quantities):
    sem = StochasticEnsemble(collection(sigmas=(0.0, 0.25, 0.5)), SEMDistribution(quantities))
    g = make_generator(4, "sem-dist", "invariants")
    g_copy = torch.Generator()
    g_copy.set_state(g.get_state())
    mask = sem.membership(4000, g)
    fam = family_indicators(sem, mask)
    assert fam.max() <= 1  # never two depth variants (or two sigmas) of one family
    assert set(fam.sum(1).tolist()) <= set(quantities)  # K families
    ind = arch_indicators(sem, mask)
    assert ind.max() <= 1  # exactly one member (one sigma) for each chosen architecture
    assert torch.equal(mask, sem.membership(4000, g_copy))  # one generator decides everything


def test_single_architecture_members_are_their_own_families():
    """Figures 7-8: ``Member(name, name, sigma, model)`` (family left empty) makes each smoothed
    WRN its own family, so K distinct members are drawn, exactly as with hierarchy="architecture"."""
    wrns = [Member(f"wrn@{s:g}", f"wrn@{s:g}", s, nn.Identity())
            for s in (0.12, 0.15, 0.25, 0.5, 0.75, 1.0, 1.25)]
    fam = StochasticEnsemble(wrns, SEMDistribution((1, 2, 3, 4)))
    arch = StochasticEnsemble(wrns, SEMDistribution((1, 2, 3, 4), hierarchy="architecture"))
    assert len(fam.families) == 7
    a = fam.membership(3000, make_generator(5, "single"))
    assert torch.equal(a, arch.membership(3000, make_generator(5, "single")))
    assert chisquare(torch.bincount(a.sum(1), minlength=5)[1:].numpy()).pvalue > 1e-3
    # the registry family instead would make the seven one family: K up to 4 impossible
    with pytest.raises(ValueError, match="quantities"):
        StochasticEnsemble([Member(m.name, m.arch, m.sigma, m.model, "wrn") for m in wrns],
                           SEMDistribution((1, 2, 3, 4)))


# --- hierarchy="architecture" is the old code -------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dist", [
    SEMDistribution((1, 2, 3, 4), hierarchy="architecture"),
    SEMDistribution((2, 5), (0.3, 0.7), hierarchy="architecture"),
    SEMDistribution((1, 3), arch_weights=tuple((a, float(i % 3)) for i, a in enumerate(ARCHS)),
                    hierarchy="architecture"),
])
def test_architecture_hierarchy_is_bit_identical_to_the_old_code(seed, dist):
    members = collection(sigmas=(0.0, 0.25, 0.5))
    new = StochasticEnsemble(members, dist).membership(777, make_generator(seed, "old-new"))
    old = old_membership(members, dist, 777, make_generator(seed, "old-new"))
    assert new.dtype == torch.bool and torch.equal(new, old)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_architecture_families_draw_as_the_old_code(seed):
    """Members with no family (each architecture its own): the family draw is bit-identical to
    the architecture draw, so existing collections keep their seeded results."""
    members = collection(families=False)
    for dist in (SEMDistribution((1, 2, 3)), SEMDistribution((1, 2), arch_weights=tuple(
            (a, 1.0 + i) for i, a in enumerate(ARCHS)))):
        new = StochasticEnsemble(members, dist).membership(500, make_generator(seed, "flat"))
        assert torch.equal(new, old_membership(members, dist, 500, make_generator(seed, "flat")))


# --- restricted() -------------------------------------------------------------------------------

def test_restricted_in_both_hierarchies():
    names = [m.name for m in collection() if m.arch in ("densenet100", "densenet121", "wrn")]
    sem = StochasticEnsemble(collection(), SEMDistribution((1, 2, 3), hierarchy="family",
                                                           family_weights=(("densenet", 1.0), ("wrn", 3.0),
                                                                           ("resnet", 1.0))))
    sub = sem.restricted(names)
    assert sub.distribution.hierarchy == "family" and sub.distribution.quantities == (1, 2)
    assert sub.distribution.family_weights == (("densenet", 1.0), ("wrn", 3.0))
    assert set(m.family for m in sub.members) == {"densenet", "wrn"}
    mask = sub.membership(N, make_generator(6, "restricted"))
    fam = family_indicators(sub, mask)
    assert fam.max() <= 1
    # K = 1 (prob. 1/2): wrn 3/4 of the time; K = 2: always both. P(densenet) = 1/2*1/4 + 1/2.
    assert binomtest(int(fam[:, 0].sum()), N, 5 / 8).pvalue > 1e-3
    flat = StochasticEnsemble(collection(), SEMDistribution((1, 2, 3), hierarchy="architecture"))
    sub = flat.restricted(names)
    assert sub.distribution.hierarchy == "architecture" and sub.distribution.quantities == (1, 2, 3)
    with pytest.raises(ValueError, match="families"):
        StochasticEnsemble(collection(), SEMDistribution((2,))).restricted(names[:2])


# --- validation ---------------------------------------------------------------------------------

def test_errors_name_the_setting():
    with pytest.raises(ValueError, match="SEMDistribution.quantities .* 3 architecture families"):
        StochasticEnsemble(collection(), SEMDistribution((1, 4)))
    StochasticEnsemble(collection(), SEMDistribution((1, 4), hierarchy="architecture"))  # 7 archs: fine
    with pytest.raises(ValueError, match="SEMDistribution.quantities .* 7 architectures"):
        StochasticEnsemble(collection(), SEMDistribution((8,), hierarchy="architecture"))
    with pytest.raises(ValueError, match="SEMDistribution.hierarchy"):
        SEMDistribution(hierarchy="depth")
    with pytest.raises(ValueError, match="SEMDistribution.family_weights"):
        SEMDistribution(hierarchy="architecture", family_weights=(("densenet", 1.0),))
    with pytest.raises(ValueError, match="SEMDistribution.arch_weights .*family_weights"):
        StochasticEnsemble(collection(), SEMDistribution((1,), arch_weights=tuple((a, 1.0) for a in ARCHS)))
    with pytest.raises(ValueError, match="SEMDistribution.family_weights must name"):
        StochasticEnsemble(collection(), SEMDistribution((1,), family_weights=(("densenet", 1.0),)))
    with pytest.raises(ValueError, match="not both"):
        SEMDistribution(arch_weights=(("a", 1.0),), family_weights=(("a", 1.0),))
    with pytest.raises(ValueError, match="family"):
        StochasticEnsemble([Member("a", "densenet100", 0.0, nn.Identity(), "densenet"),
                            Member("b", "densenet100", 0.25, nn.Identity(), "other")])
