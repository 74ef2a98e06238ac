"""The sandbox gateway, spoken to over HTTP like any real provider."""
