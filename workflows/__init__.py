"""Deterministic payment sagas. No I/O here: side effects live in activities.

``workflows.WORKFLOWS`` lists every workflow class. It is imported on first use only: the
sandbox imports this package again for every workflow run, which must not import every saga.
"""


def __getattr__(name: str):
    if name == "WORKFLOWS":
        from workflows.registry import WORKFLOWS

        return WORKFLOWS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
