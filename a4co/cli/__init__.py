"""The `a4co` command: `up`, `demo`, `status` and `dlq` on the platform `a4co.launcher` runs.

`a4co up` writes `<data_dir>/urls.json`; the other commands read it to find the platform.
"""

from a4co.cli.main import main

__all__ = ["main"]
