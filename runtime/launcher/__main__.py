"""`python -m runtime.launcher`: see `runtime.launcher.cli`."""

import sys

from runtime.launcher.cli import main

sys.exit(main())
