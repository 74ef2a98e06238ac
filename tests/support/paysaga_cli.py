"""The ``paysaga`` command as the tests run it in a subprocess."""

import sys
from pathlib import Path


def paysaga_command() -> list[str]:
    """The installed ``paysaga`` script next to this interpreter, else ``python -m workers.cli``."""
    script = Path(sys.executable).parent / "paysaga"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workers.cli"]
