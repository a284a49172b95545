"""``python -m chamberguard``: the same program as the ``chamberguard`` console script."""

import sys

from dashboard.main.cli import main

sys.exit(main())
