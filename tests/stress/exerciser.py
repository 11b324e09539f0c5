#!/usr/bin/python3
"""Heavy, opt-in run of the differential file-operation exerciser.

    /usr/bin/python3 tests/stress/exerciser.py                 # 100k ops x 3 seeds, default + no_open
    /usr/bin/python3 tests/stress/exerciser.py --ops 20000 --seeds 1,2,3 --modes no_open
    /usr/bin/python3 tests/stress/exerciser.py --shrink        # on failure, minimise (<= --shrink-time s)
    /usr/bin/python3 tests/stress/exerciser.py --replay FILE   # replay a printed OPS = [...] list
    /usr/bin/python3 tests/stress/exerciser.py --layers --ops 100000 --seeds 7
        # stacked site layers: 2-3 random lower layers per seed, pyenvfs and
        # overlayfs against the union's model (tests/exerciser_layers.py);
        # --no-overlay without root; --check-every/--full-every as below

Needs /dev/fuse, fusermount3 and build/pyenvfs (or $PYENVFS); run as any
user that can mount FUSE.  For each mode it mounts a base Python (Debian /usr
3.11 preferred) with pyenvfs, runs every seed in a fresh directory inside the
mounted site-packages (A) and a native directory (B), and prints one summary
line per seed.  Everything it mounts is unmounted again, also on failure or
Ctrl-C (conftest.mounted(): fusermount3 -u, then -uz, then the daemon's PID).
Exit status: 0 all seeds passed, 1 a seed failed.  The full default run
takes well over 10 min per seed and mode (tree compared after every op;
file contents re-hashed in full every --full-every steps).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from procinfo import unwind_on_term  # noqa: E402
import exerciser  # noqa: E402
from conftest import mounted  # noqa: E402
import pythons  # noqa: E402
from test_exerciser import Dirs  # noqa: E402

MODES = {"default": [], "no_open": ["-o", "no_open"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=100000)
    ap.add_argument("--seeds", default="101,102,103")
    ap.add_argument("--modes", default="default,no_open")
    ap.add_argument("--check-every", type=int, default=1,
                    help="compare the trees every N steps (outcomes: always)")
    ap.add_argument("--full-every", type=int, default=25,
                    help="re-hash every file's contents every N steps; in between only "
                         "files whose size/mtime/ctime changed (1: always)")
    ap.add_argument("--shrink", action="store_true")
    ap.add_argument("--shrink-time", type=float, default=300.0)
    ap.add_argument("--replay", metavar="FILE")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--layers", action="store_true",
                    help="the stacked-layers exerciser (tests/exerciser_layers.py) instead")
    ap.add_argument("--no-overlay", action="store_true",
                    help="with --layers: without the overlayfs oracle (it needs root)")
    ap.add_argument("--epoch", type=int, default=2000,
                    help="with --layers: fresh layers (and mounts) every N ops of a seed, so "
                         "that a long run keeps meeting the layers (sub-seeds SEED*1000+k)")
    args = ap.parse_args()
    unwind_on_term()        # SIGTERM/SIGHUP unwind like Ctrl-C: mounts are undone
    if args.layers:
        return main_layers(args)

    b = pythons.preferred_base()
    if b is None:
        print("no Python 3 base found", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.replace(",", " ").split()]
    failed = 0
    top = tempfile.mkdtemp(prefix="pyenvfs-exerciser-")
    print("base %s (%s), temp %s" % (b.id, b.prefix, top), flush=True)
    try:
        for mode in args.modes.split(","):
            d = os.path.join(top, mode)
            os.makedirs(os.path.join(d, "mnt"))
            with mounted(b.prefix, os.path.join(d, "mnt"), os.path.join(d, "site"),
                         pythons.python_args(b) + MODES[mode], base=b) as m:
                dirs = Dirs(m, b, os.path.join(d, "native"))
                os.makedirs(dirs.native_root)
                if args.replay:
                    import ast
                    import re
                    text = open(args.replay).read()
                    ops = ast.literal_eval(re.search(r"\[.*?^\]", text, re.S | re.M).group(0))
                    a, bd, backing = dirs()
                    try:
                        exerciser.run_ops(ops, a, bd, log=sys.stdout, dir_a_backing=backing)
                        print("[%s] replay: no difference" % mode)
                    except AssertionError as e:
                        failed += 1
                        print("[%s] replay: FAIL\n%s" % (mode, e))
                    continue
                for seed in seeds:
                    a, bd, backing = dirs()
                    t0 = time.monotonic()
                    try:
                        st = exerciser.run(seed, args.ops, a, bd, dir_a_backing=backing,
                                           check_every=args.check_every,
                                           full_every=args.full_every)
                    except AssertionError as e:
                        failed += 1
                        print("[%s] seed %d: FAIL after %.1f s\n%s"
                              % (mode, seed, time.monotonic() - t0, e), flush=True)
                        if args.shrink:
                            exerciser.shrink(seed, args.ops, dirs, time_budget=args.shrink_time)
                        continue
                    finally:
                        for p in (backing, bd):
                            shutil.rmtree(p, ignore_errors=True)
                    print("[%s] seed %d: ok  %d ops (%d ok, %d errno) max %d entries  %.1f s"
                          % (mode, seed, st["ops"], st["ok"], st["err"], st["entries_max"],
                             time.monotonic() - t0), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    print("SUMMARY: %d failure(s)" % failed)
    return 1 if failed else 0


def main_layers(args):
    from test_exerciser_layers import run_seed, summary
    b = pythons.preferred_base()
    if b is None:
        print("no Python 3 base found", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.replace(",", " ").split()]
    failed = 0
    top = tempfile.mkdtemp(prefix="pyenvfs-exerciser-layers-")
    print("base %s (%s), temp %s, overlayfs oracle %s" % (b.id, b.prefix, top, not args.no_overlay),
          flush=True)
    try:
        for seed in seeds:
            total = {"ops": 0, "ok": 0, "err": 0, "exdev": 0, "excluded": 0}
            t_seed = time.monotonic()
            left, k = args.ops, 0
            while left > 0:
                n = min(left, args.epoch) if args.epoch > 0 else left
                sub = seed if n == args.ops else seed * 1000 + k
                left -= n
                k += 1
                t0 = time.monotonic()
                work = os.path.join(top, "seed%d" % sub)
                try:
                    st, stack = run_seed(b, work, sub, n, overlay=not args.no_overlay,
                                         check_every=args.check_every, full_every=args.full_every)
                except AssertionError as e:
                    failed += 1
                    print("[layers] seed %d: FAIL after %.1f s\n%s" % (sub, time.monotonic() - t0, e),
                          flush=True)
                    continue
                finally:
                    if not args.keep:
                        shutil.rmtree(work, ignore_errors=True)
                for key in ("ops", "ok", "err", "exdev"):
                    total[key] += st[key]
                total["excluded"] += sum(st["overlay_excluded"].values())
                print("[layers] %s  %.1f s" % (summary(sub, st, stack), time.monotonic() - t0), flush=True)
                print("           by op (ok, errno): %s" % " ".join(
                    "%s=%d/%d" % (kk, v[0], v[1]) for kk, v in sorted(st["by_op"].items())), flush=True)
            print("[layers] seed %d total: %d ops (%d ok, %d errno, %d EXDEV, %d not applied to overlayfs), "
                  "%.1f s" % (seed, total["ops"], total["ok"], total["err"], total["exdev"], total["excluded"],
                              time.monotonic() - t_seed), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    print("SUMMARY: %d failure(s)" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
