"""PayoutWorkflow and its schedule: reserve → transfer → pay out to the bank."""
