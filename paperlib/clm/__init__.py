"""Jasser & Garibay, Counter-Linked Models (``../shared/papers/002``): counter-linking
(:mod:`.counter_linking`), the five populations (:mod:`.populations`), the attack tables under the
random-submodel protocol (:mod:`.evaluation`), Figures 3-6 (:mod:`.figures`) and the claims
(:mod:`.verdicts`)."""
