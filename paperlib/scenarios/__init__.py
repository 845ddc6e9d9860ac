"""Attacker-knowledge models: views that decide which realization an attack sees and when it
changes (:mod:`.views`), SEM's attackers A-E and contrasts F-M with Table 2 as data
(:mod:`.sem`), CLM's random-submodel protocol (:mod:`.clm`), and Liang & Samavi's single-network
and superimposition attacks (:mod:`.liang`)."""

from .clm import clm_random_submodel_attack, x_adv_of
from .liang import craft_per_network, greedy_superimposition, perturbation_ratio, superimpose
from .sem import (TABLE2, AttackerKnowledge, ScenarioSpec, contrast, known_half, sem_attacker,
                  spec, table2_rows)
from .views import PeriodicView, expectation_view, frozen_view, query_view

__all__ = ["PeriodicView", "frozen_view", "expectation_view", "query_view", "TABLE2",
           "ScenarioSpec", "AttackerKnowledge", "table2_rows", "spec", "known_half",
           "sem_attacker", "contrast", "clm_random_submodel_attack", "x_adv_of",
           "craft_per_network", "perturbation_ratio", "superimpose", "greedy_superimposition"]
