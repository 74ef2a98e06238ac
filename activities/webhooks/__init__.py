"""Webhooks pushed to tenants' endpoints: the signed POST (``sender``)."""
