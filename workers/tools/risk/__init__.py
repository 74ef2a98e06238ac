"""The risk model's training: synthetic labelled data, stored labels and the fit for
``paysaga risk train`` (``cli``, ``run``).

Scoring lives in ``activities.risk.model`` (the worker loads the saved model once).
"""

# What a training run uses unless told otherwise (``paysaga risk train``, the stack's first
# start); here rather than in ``run`` so that ``paysaga --help`` does not import scikit-learn.
DEFAULT_SAMPLES = 50_000
DEFAULT_SEED = 7
