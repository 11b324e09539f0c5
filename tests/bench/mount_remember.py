#!/usr/bin/env python3
"""The cost at mount of what a DIR remembers (issue 20): a mount reads
DIR/.pyenvfs/env and .pyenvfs/mounts (and on a Debian-patched base checks
DIR's pyenvfs-venv.pth), and writes them only when they change. Mount +
unmount of /usr over the same DIR, this binary against a baseline binary,
interleaved, each mount after the previous daemon has exited. Root.

    sudo python3 tests/bench/mount_remember.py --baseline OLD/build/pyenvfs [--runs 60]

Prints the medians and minimums of the time `pyenvfs BASE M --site DIR`
takes to return (the mount is up then), and their ratio.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, help="the pyenvfs binary to compare with")
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "..", "build", "pyenvfs"))
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--runs", type=int, default=60)
    a = ap.parse_args()
    bins = {"baseline": os.path.abspath(a.baseline), "this": os.path.abspath(a.binary)}
    d = tempfile.mkdtemp(prefix="pyenvfs-bench-remember-")
    res = {k: [] for k in bins}
    try:
        for k, b in bins.items():
            m, s = os.path.join(d, k, "m"), os.path.join(d, k, "D")
            os.makedirs(m)
            once(b, a.base, m, s)       # DIR made, layout cached, record written
        for i in range(a.runs):
            for k in (list(bins) if i % 2 == 0 else list(bins)[::-1]):
                res[k].append(once(bins[k], a.base, os.path.join(d, k, "m"), os.path.join(d, k, "D")))
    finally:
        for k in bins:
            subprocess.run(["fusermount3", "-uz", os.path.join(d, k, "m")], stderr=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)
    for k, v in res.items():
        print("%-9s median %.2f ms  min %.2f ms  (n=%d)" % (k, statistics.median(v) * 1e3, min(v) * 1e3, len(v)))
    print("this/baseline: medians %.2f, minimums %.2f" % (
        statistics.median(res["this"]) / statistics.median(res["baseline"]), min(res["this"]) / min(res["baseline"])))


def once(binary, base, m, s):
    t0 = time.perf_counter()
    subprocess.run([binary, base, m, "--site", s], check=True)
    took = time.perf_counter() - t0
    info = os.getxattr(m, "user.pyenvfs.info").decode()
    pid = int([l.split()[1] for l in info.splitlines() if l.startswith("pid ")][0])
    subprocess.run(["fusermount3", "-u", m], check=True)
    while os.path.exists("/proc/%d" % pid):     # gone before the next mount at m
        time.sleep(0.002)
    return took


if __name__ == "__main__":
    main()
