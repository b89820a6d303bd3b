"""`python -m a4co.cli`: see `a4co.cli.main`."""

import sys

from a4co.cli.main import main

sys.exit(main())
