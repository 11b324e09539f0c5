#!/usr/bin/python3
"""Heavy, opt-in run of the concurrency test (tests/test_concurrency.py).

    /usr/bin/python3 tests/stress/concurrency.py                       # 300 s, 16 importers, default + no_open
    /usr/bin/python3 tests/stress/concurrency.py --seconds 60 --importers 8 --modes default
    PYENVFS=build-asan/pyenvfs /usr/bin/python3 tests/stress/concurrency.py --seconds 120

Root only (drop_caches).  For each mode it mounts the preferred base with
pyenvfs and runs the same load as the CI test for longer and with more
importer processes: importers in venv and PYTHONHOME mode re-importing the
standard library and DIR's modules, pip installing and uninstalling a wheel
in a loop, a renamer moving DIR's files and directories through the mount
and directly.  Then it checks that every process finished without an error
that is not a legitimate race, and that the daemon's nodes and descriptors
come back to the idle count after drop_caches.  Everything it mounts is
unmounted again, also on failure (conftest.mounted()).
Exit status: 0 all modes passed, 1 a mode failed.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from test_concurrency import run_load  # noqa: E402

MODES = {"default": [], "no_open": ["-o", "no_open"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the load per mode")
    ap.add_argument("--importers", type=int, default=16, help="importer processes at once")
    ap.add_argument("--modes", default="default,no_open", help="comma-separated: %s"
                    % ",".join(MODES))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("tests/stress/concurrency.py: needs root (drop_caches)")
    failed = False
    for mode in a.modes.split(","):
        work = tempfile.mkdtemp(prefix="pyenvfs-conc-")
        t0 = time.monotonic()
        try:
            res = run_load(work, a.seconds, a.importers, MODES[mode], out=sys.stdout)
            print("[%s] passed in %.0f s: %s" % (mode, time.monotonic() - t0, res))
        except BaseException as e:       # pytest's Failed/Skipped are BaseExceptions
            if isinstance(e, KeyboardInterrupt):
                raise
            failed = True
            print("[%s] FAILED after %.0f s: %s: %s" % (mode, time.monotonic() - t0,
                                                       type(e).__name__, e))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        sys.stdout.flush()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
