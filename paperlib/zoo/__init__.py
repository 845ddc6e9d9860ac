"""The shared zoo layer: what every paper (SEM, CLM, RSE, Liang & Samavi) does with a trained
registry network, so that a paper package only says which networks, on which data, with which
options.

* :mod:`paperlib.zoo.store` -- where a trained network lives (``model.pt`` + ``history.json``
  [+ ``train_info.json``]), building and loading it (eval mode, frozen, channels_last) with its
  record.
* :mod:`paperlib.zoo.accuracy` -- clean accuracy and Monte Carlo smoothed accuracy (Cohen et
  al.'s PREDICT) with 95% Clopper-Pearson intervals; accuracy pooled over networks.
* :mod:`paperlib.zoo.attack_names` -- the attack names and their kind (torch-free, so params
  validation can use them); :mod:`paperlib.zoo.attacks` -- the registry and :func:`run_attack`.
* :mod:`paperlib.zoo.workers` -- shared state (models, data) for :func:`paperlib.parallel.map_jobs`.

Nothing is imported here: ``paperlib.config`` reads :mod:`~paperlib.zoo.attack_names` without
loading torch, so import the sub-module you need.
"""
