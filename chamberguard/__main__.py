"""``python -m chamberguard``: the same program as the ``chamberguard`` console script."""

import sys

from chamberguard.cli import main

sys.exit(main())
