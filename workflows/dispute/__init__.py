"""DisputeWorkflow: a provider dispute on a payment, from its first event to its close."""
