"""paperlib: shared code of the reproduction package for four papers on randomized and
ensemble defenses against adversarial examples (SEM, CLM, RSE, Liang & Samavi).

Sub-modules have one job each: ``config`` (typed, validated params), ``data`` (dataset
registry and prepared arrays), ``seeding`` (named, independent random streams),
``pipeline`` (papermill notebook runner used by DVC stages), ``claims`` and ``report``
(paper numbers beside ours), ``models``, ``train``, ``attacks``, ``defenses``,
``scenarios`` and ``metrics``.
"""

__version__ = "0.1.0"
