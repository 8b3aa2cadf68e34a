"""``python -m workerlife top ...``: the command line (see ``workerlife.top``)."""

from __future__ import annotations

import sys

from .top import main

if len(sys.argv) < 2 or sys.argv[1] != "top":
    print("usage: python -m workerlife top SOURCE [--once] [--interval SECONDS]", file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[2:]))
