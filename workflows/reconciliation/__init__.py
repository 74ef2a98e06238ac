"""Reconciliation: settle unknown outcomes, and the daily ledger-vs-provider report."""
