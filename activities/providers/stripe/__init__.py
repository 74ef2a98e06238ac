"""Stripe: PaymentIntents, Refunds, Connect, balance transactions, signed webhooks."""
