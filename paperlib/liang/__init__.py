"""Liang & Samavi, Noisy Logit + Ensemble Voting + Rank Verification (``../shared/papers/004``):
the transfer statistics of the single-network and superimposition attacks, eq. 14-18 and the
breakdowns of Tables 2, 4 and 5 (:mod:`.transfer`). The attacks' crafting and superimposition
live in :mod:`paperlib.scenarios.liang`; the defenses in :mod:`paperlib.defenses`."""
