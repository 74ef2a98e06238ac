"""The vocabulary every saga shares: the compensation stack (``saga``), the step history
(``step_log``), how a step ends a saga early (``outcomes``), how failures read, timeouts and
retry policies, waits, the ``workflow.patched`` ids, search attributes, metrics."""
