"""The SEM reproduction's experiment code (Qin et al. 2023): the trained collection and its
selection (:mod:`.collection`), Table 1 (:mod:`.table1`), the curves of Figures 3-8
(:mod:`.curves`) and the checks of the paper's statements on them (:mod:`.verdicts`).
Notebooks under ``notebooks/sem_*.ipynb`` call these; the defenses, attacks, scenarios and
metrics they combine live in the shared packages."""
