"""The apps of apps.py, but the boot numbered WL_HANG_BOOT hangs in import
(a replacement that never becomes ready). Boots are counted in the file
WL_BOOT_COUNT."""

import fcntl
import os
import time

with open(os.environ["WL_BOOT_COUNT"], "a+") as _f:
    fcntl.flock(_f, fcntl.LOCK_EX)
    _f.seek(0)
    _boot = len(_f.read()) + 1
    _f.write("x")
if _boot == int(os.environ.get("WL_HANG_BOOT", "0")):
    time.sleep(3600)

from apps import app  # noqa: E402,F401  (after the hang, on purpose)
