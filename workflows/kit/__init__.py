"""The vocabulary every saga shares: the compensation stack, how failures read, timeouts
and retry policies, search attributes, metrics."""
