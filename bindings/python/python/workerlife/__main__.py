"""``python -m workerlife top ...`` and ``python -m workerlife advise ...``:
the command line (see ``workerlife.top`` and ``workerlife.advise``);
``--version`` prints the version, as ``workerlife --version`` does."""

from __future__ import annotations

import sys

from . import __version__
from . import advise, top


def run(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(f"workerlife {__version__}")
        return 0
    if argv[:1] == ["advise"]:
        return advise.main(argv[1:])
    if not argv or argv[0] != "top":
        print(
            "usage: python -m workerlife top SOURCE [--once] [--interval SECONDS]"
            " | advise (--pool FILE | --metrics HOST:PORT | --series FILE) [...] | --version",
            file=sys.stderr,
        )
        return 2
    return top.main(argv[1:])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
