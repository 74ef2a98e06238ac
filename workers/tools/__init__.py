"""Tools that drive a running stack: bench, chaos, risk training, verification.

``bench``, ``chaos`` and ``risk`` each declare their ``paysaga`` subcommand in their ``cli``
(``arguments`` holds what their options share).
"""
