"""Runtime setup every process shares: settings, logs and their redaction, tracing, the
payload codec and the one way to connect to Temporal."""
