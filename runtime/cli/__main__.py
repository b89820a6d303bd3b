"""`python -m runtime.cli`: see `runtime.cli.main`."""

import sys

from runtime.cli.main import main

sys.exit(main())
