"""PaymentWorkflow: screen → authorize → (3-D Secure) → (review) → capture → ledger."""
