"""A module that calls sys.exit while it is imported (a misplaced CLI entry point)."""

import sys

sys.exit("configuration missing")
