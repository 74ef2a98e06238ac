"""``paysaga chaos``: payments through the REST API while processes die and the gateway fails.

- ``config``: what a run does (``ChaosConfig``) and the payment plans drawn from the seed,
- ``client``: the REST client that retries with the same Idempotency-Key,
- ``traffic``: one coroutine per payment (create, capture, 3-D Secure, wait until final),
- ``monkey``: the chaos (worker SIGKILLs, a dev server SIGKILL and restart, gateway faults),
- ``report``: the result, the summary table and the JSON file,
- ``runner``: starts the embedded stack, runs the above, verifies, always stops the stack,
- ``cli``: the command's arguments, and what it prints and returns.
"""
