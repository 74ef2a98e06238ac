"""SubscriptionWorkflow: periods, dunning, client actions as updates."""
