"""The two vocabularies of RSE's networks: the zoo's (``rse.settings.<s>.defenses``, params keys)
and the model names ``claims/rse.yaml`` judges (Table 2's rows, the figures' curves).

The zoo names a network by the defense that trains it (``none``, ``adv_fgsm``, ``madry``); the
claims name it by the paper's row (``no_defense``, "Adv retraining", "Adversarial training (II)").
Every other name (``rse``, ``distill``, ``robust_opt_brelu``, Figure 2's ``train_noise_only`` /
``test_noise_only``, Figure 3's ``noise_<init>_<inner>``) is the same in both.
"""

from __future__ import annotations

ZOO_TO_CLAIMS = {"none": "no_defense", "adv_fgsm": "adv_retraining", "madry": "madry_pgd"}
CLAIMS_TO_ZOO = {v: k for k, v in ZOO_TO_CLAIMS.items()}

# How the paper's tables and figures label each model (Table 2's rows; Table 3's rows differ a little).
LABELS = {"rse": "RSE (ours)", "adv_retraining": "Adv retraining", "robust_opt_brelu": "Robust Opt+BReLU",
          "distill": "Distill", "no_defense": "No defense", "madry_pgd": "Madry (PGD)",
          "train_noise_only": "Train noise only", "test_noise_only": "Test noise only"}


def claim_model(zoo_name: str) -> str:
    """The claims' name of the zoo's network ``zoo_name``."""
    return ZOO_TO_CLAIMS.get(zoo_name, zoo_name)


def label(model: str) -> str:
    """A figure label for a claims model name (a noise level ``noise_a_b`` -> ``sigma = (a, b)``)."""
    if model.startswith("noise_"):
        a, b = model[len("noise_"):].split("_")
        return f"sigma = ({a}, {b})"
    return LABELS.get(model, model)
