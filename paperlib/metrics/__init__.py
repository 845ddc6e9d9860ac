"""Metrics: Monte Carlo prediction with SEM's abstention rule, binomial tests, ASR-vs-distortion
search, certification (Cohen et al.; Liang & Samavi), rank verification, approximated certified
accuracy, MRA and saliency similarity (CLM)."""

from .aca import approximate_certified_accuracy, certified_accuracy
from .asr_search import (SearchResult, asr_curve, asr_distortion_search, plot_asr_curves,
                         write_csv_atomic)
from .certify import ABSTAIN, Smooth, clopper_pearson_lower, rank_verification
from .curve_compare import broken_share, mean_asr, paired_difference, paired_mean_interval, window_broken_share
from .pooled import difference_to_pooled_networks
from .montecarlo import (auto_chunk, binomial_test, monte_carlo_counts, sem_attack_success,
                         success_pvalue, top_class)
from .mra import mra
from .saliency import pairwise_cosine_similarity, saliency_map

__all__ = ["monte_carlo_counts", "top_class", "sem_attack_success", "binomial_test",
           "success_pvalue", "auto_chunk", "asr_distortion_search", "asr_curve",
           "SearchResult", "plot_asr_curves", "write_csv_atomic", "Smooth", "ABSTAIN",
           "clopper_pearson_lower", "rank_verification", "approximate_certified_accuracy",
           "certified_accuracy", "broken_share", "mean_asr", "paired_difference",
           "paired_mean_interval", "window_broken_share", "difference_to_pooled_networks", "mra", "saliency_map", "pairwise_cosine_similarity"]
