"""Saving a customer's payment method through the provider's setup flow."""
