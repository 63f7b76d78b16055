"""Match-quality evaluation: how good are the matches a batch delivers, and do scores predict real outcomes?

- ``population``: evaluation of one daily batch run from what storage holds (coverage, exposure
  fairness, caps, preference checks).
- ``report``: the self-contained HTML run report (matplotlib plots embedded as PNG).
- ``speed_dating``: the Columbia speed-dating experiment (ROC AUC of the score for mutual ``match``
  and each side's ``dec``, with baselines and bootstrap confidence intervals).
- ``auc``: ROC AUC with a two-way participant bootstrap, reciprocal precision@k.
"""
