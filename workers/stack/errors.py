"""The one error the embedded stack raises, whatever part of it failed."""


class StackError(RuntimeError):
    """The stack could not start (a child failed or did not become ready in time)."""
