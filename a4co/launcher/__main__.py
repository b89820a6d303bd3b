"""`python -m a4co.launcher`: see `a4co.launcher.cli`."""

import sys

from a4co.launcher.cli import main

sys.exit(main())
