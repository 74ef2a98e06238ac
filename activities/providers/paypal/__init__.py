"""PayPal: Orders v2 and Payments v2 over httpx, verified webhooks."""
