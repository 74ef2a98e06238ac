"""Argument types the tools' options share (argparse only, so ``paysaga --help`` stays fast)."""

import argparse


def positive_int(value: str) -> int:
    """``1000``, ``1_000``; not 0 nor negative."""
    number = int(value.replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number
