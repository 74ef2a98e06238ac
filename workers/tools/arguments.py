"""What the commands' options share (argparse only, so ``paysaga --help`` stays fast)."""

import argparse
from collections.abc import Callable
from typing import Any


def positive_int(value: str) -> int:
    """``1000``, ``1_000``; not 0 nor negative."""
    number = int(value.replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def add_with_default(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    type_: Callable[[str], Any],
    default: Any,
    what: str = "",
    **options: Any,
) -> None:
    """An option taking one ``type_`` value whose help, ``what``, ends with its default."""
    shown = "default: %(default)s"
    help_text = f"{what} ({shown})" if what else shown
    parser.add_argument(flag, type=type_, default=default, help=help_text, **options)
