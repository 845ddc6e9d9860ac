"""Liang & Samavi's transfer statistics (paperlib/liang/transfer.py): the 40 perturbation bins and
the per-bin means of eq. 15-16 against numpy's histogram and scipy's binned_statistic; the counts
of eq. 15-18 and the correct/target/other breakdown of Tables 2, 4 and 5 against hand-counted
cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binned_statistic

from paperlib.liang.transfer import (N_BINS, binned_frequency, binned_mean, breakdown, networks_changed,
                                     outcome, perturbation_bins, vote_changed)


def test_bins_match_numpy_histogram_and_keep_the_top_edge():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(1000, generator=g) * 0.3 + 0.02
    bins = perturbation_bins(p)
    counts, edges = np.histogram(p.double().numpy(), bins=N_BINS)
    assert torch.bincount(bins.index, minlength=N_BINS).tolist() == counts.tolist()
    assert np.allclose(bins.edges.numpy(), edges)
    assert np.allclose(bins.midpoints.numpy(), (edges[:-1] + edges[1:]) / 2)
    assert int(bins.index[p.argmax()]) == N_BINS - 1 and int(bins.index[p.argmin()]) == 0


def test_binned_mean_matches_scipy_binned_statistic_with_empty_bins_nan():
    g = torch.Generator().manual_seed(1)
    p = torch.cat([torch.rand(300, generator=g) * 0.1, torch.rand(50, generator=g) * 0.1 + 0.3])  # a gap: empty bins
    counts = torch.randint(0, 50, (350,), generator=g)
    bins = perturbation_bins(p, low=0.0, high=0.4)
    ours = binned_mean(counts, bins).numpy()
    ref = binned_statistic(p.double().numpy(), counts.double().numpy(), statistic="mean", bins=N_BINS, range=(0.0, 0.4))
    assert np.array_equal(np.isnan(ours), np.isnan(ref.statistic)) and np.isnan(ours).any()
    assert np.allclose(ours[~np.isnan(ours)], ref.statistic[~np.isnan(ref.statistic)])


def test_shared_range_and_bad_input():
    p = torch.tensor([0.1, 0.2])
    assert perturbation_bins(p, low=0.0, high=0.4).index.tolist() == [10, 20]
    with pytest.raises(ValueError, match="outside"):
        perturbation_bins(p, low=0.15, high=0.4)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        perturbation_bins(torch.tensor([]))
    with pytest.raises(ValueError, match="n_bins"):
        perturbation_bins(p, n_bins=0)
    assert perturbation_bins(torch.tensor([0.2, 0.2])).index.tolist() == [0, 0]   # one value: one bin


def test_networks_changed_counts_eq15_and_eq16_by_hand():
    # 3 networks x 4 examples; targets 7, 7, 2, 5
    pred_s = torch.tensor([[1, 1, 2, 3], [1, 4, 2, 3], [1, 1, 0, 5]])
    pred_a = torch.tensor([[7, 1, 2, 6], [1, 7, 9, 5], [7, 9, 2, 5]])
    target = torch.tensor([7, 7, 2, 5])
    to_target, to_other = networks_changed(pred_s, pred_a, target)
    # ex 0: nets 0, 2 -> 7 (target); ex 1: net 1 -> 7, net 2 -> 9; ex 2: net 1 -> 9, net 2: 0 -> 2 (target);
    # ex 3: net 0 -> 6 (other), net 1 -> 5 (target), net 2 already 5 (unchanged, not counted)
    assert to_target.tolist() == [2, 1, 1, 1]
    assert to_other.tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="same shape"):
        networks_changed(pred_s, pred_a[:, :3], target)


def test_vote_changes_and_eq17_frequency_normalized_by_all_examples():
    vote_s = torch.tensor([3, 3, 1, 1, 2])
    vote_a = torch.tensor([7, 3, 4, 1, 9])
    target = torch.tensor([7, 7, 4, 7, 7])
    to_t, to_o = vote_changed(vote_s, vote_a, target)
    assert to_t.tolist() == [True, False, True, False, False] and to_o.tolist() == [False] * 4 + [True]
    p = torch.tensor([0.0, 0.1, 0.1, 0.2, 0.4])
    bins = perturbation_bins(p, n_bins=4, low=0.0, high=0.4)
    # bins: [0, .1) [.1, .2) [.2, .3) [.3, .4]; changed-to-target examples sit in bins 0 and 1
    assert binned_frequency(to_t, bins).tolist() == [0.2, 0.2, 0.0, 0.0]
    assert binned_frequency(to_t, bins, total=10).tolist() == [0.1, 0.1, 0.0, 0.0]
    assert math.isclose(float(binned_frequency(to_t, bins).sum()), float(to_t.double().mean()))


def test_breakdown_shares_and_perturbations_by_hand():
    label = torch.tensor([0, 1, 2, 3, 4, 5])
    target = torch.tensor([9, 9, 9, 9, 5, 5])   # the last: target == label counts as correct
    vote_a = torch.tensor([0, 9, 9, 7, 4, 5])
    assert outcome(vote_a, label, target).tolist() == [0, 1, 1, 2, 0, 0]
    p = torch.tensor([0.1, 0.2, 0.4, 0.3, 0.2, 0.3])
    b = breakdown(vote_a, label, target, p)
    assert b["share"] == pytest.approx({"correct": 0.5, "target": 1 / 3, "other": 1 / 6})
    assert b["perturbation"] == pytest.approx({"correct": 0.2, "target": 0.3, "other": 0.3})
    only_correct = breakdown(label, label, target, p)
    assert only_correct["share"]["correct"] == 1.0 and math.isnan(only_correct["perturbation"]["target"])
