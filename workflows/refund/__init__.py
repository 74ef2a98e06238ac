"""RefundWorkflow: reserve → provider refund → ledger."""
