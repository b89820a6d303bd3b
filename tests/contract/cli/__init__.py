"""Schemathesis' CLI against the running platform, through its gateway (`make test-api`)."""
