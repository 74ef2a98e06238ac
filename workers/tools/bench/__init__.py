"""``paysaga bench``: drive payments at a fixed arrival rate and tell the truth about speed.

- ``load``: the open-loop arrival schedule and the per-payment samples it collects,
- ``drivers``: one payment through the REST API, or one baseline workflow through the client,
- ``baseline`` / ``baseline_worker``: a no-op saga of the same shape on its own task queue,
- ``processes``: CPU seconds and peak RSS of the stack's processes over a window,
- ``stats``: percentiles and rates, ``report``: the rich table and the JSON document,
- ``find_max``: step the rate up until latency or errors give out,
- ``long_run``: one load held for minutes; its first and last windows' p99, RSS over it,
- ``runner``: the load run on a stack, and the ending of every mode that needs one,
- ``financial``, ``billing_day``, ``risk_scoring``: the other modes,
- ``cli``: the arguments, and which mode runs.
"""
