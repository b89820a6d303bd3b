"""The `a4co` command: `up`, `demo`, `status` and `dlq` on the platform `runtime.launcher` runs.

`a4co up` writes `<data_dir>/urls.json`; the other commands read it to find the platform.
"""

from runtime.cli.main import main

__all__ = ["main"]
