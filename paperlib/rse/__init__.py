"""The RSE reproduction's experiment code (Liu et al., ECCV 2018, "Towards Robust Neural Networks via
Random Self-ensemble"): the zoo of Table 1's defenses per setting, its training and its loader with
Figure 2's train-only / test-only noise views (:mod:`.zoo`). Notebooks under
``notebooks/rse_*.ipynb`` call these; the networks, the engine, the shared zoo layer, the RSE
ensemble defense and the attacks they combine live in the shared packages. Nothing is imported
here (import the sub-module you need), so that a stage depends only on the files it runs.
"""
