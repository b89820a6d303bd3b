"""Helpers of the contract tests that run services: bundling, hosting, fuzzing, observing."""
