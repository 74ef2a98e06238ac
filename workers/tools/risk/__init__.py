"""The risk model (issue 9): synthetic labelled data and training for ``paysaga risk train``.

Scoring lives in ``activities.risk.model`` (the worker loads the saved model once).
"""
