"""Schemathesis CLI hooks (`SCHEMATHESIS_HOOKS`, or `hooks` in its configuration file).

Importing the in-process suite's checks registers them with Schemathesis, so `--checks all`
runs `positive_data_passes_validation` too.
"""

from tests.contract.support.fuzz import positive_data_passes_validation

__all__ = ["positive_data_passes_validation"]
