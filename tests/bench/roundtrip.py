#!/usr/bin/python3
"""What one request to the daemon costs: the isatty ioctl Python makes on
every file it opens, timed through a pyenvfs mount and natively.

    sudo /usr/bin/python3 tests/bench/roundtrip.py [--n 20000] [--base /usr]

The daemon is pinned with taskset to CPU 0 and the caller runs first on CPU 0
(the kernel hands the request over on one CPU: no wake-up of another CPU),
then on CPU 1 (each request wakes the daemon's CPU and each reply the
caller's), then unpinned, as Python runs.  Prints medians of 21 batches in
microseconds.  Every mount is unmounted at the end, also on failure.

    sudo /usr/bin/python3 tests/bench/roundtrip.py --compare BIN1 BIN2 ...

compares pyenvfs binaries (builds against different libfuses) instead: one
mount each, their daemons and the caller all on CPU 0, batches interleaved
(BIN1 BIN2 ..., then reversed), medians of --rounds batches per binary.
"""
import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import termios
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from procinfo import daemon_pids_for  # noqa: E402
PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")


def per_call_us(path, n, batches=21):
    fd = os.open(path, os.O_RDONLY)
    buf = bytearray(64)
    try:
        out = []
        for _ in range(batches):
            t = time.perf_counter_ns()
            for _ in range(n // batches):
                try:
                    fcntl.ioctl(fd, termios.TCGETS, buf)
                except OSError:
                    pass
            out.append((time.perf_counter_ns() - t) / (n // batches) / 1000)
        return statistics.median(out)
    finally:
        os.close(fd)


def placements(pid, through, native, n):
    """[(placement, µs through the mount, µs native)] for the daemon pid."""
    rows = []
    cpus = set(range(os.cpu_count()))
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], check=True, stdout=subprocess.DEVNULL)
    try:
        for cpu in (0, 1):
            os.sched_setaffinity(0, {cpu})
            rows.append(("daemon on CPU 0, caller on CPU %d" % cpu,
                         per_call_us(through, n), per_call_us(native, n)))
    finally:
        os.sched_setaffinity(0, cpus)
        subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(pid)],
                       check=True, stdout=subprocess.DEVNULL)
    rows.append(("neither pinned (as Python runs)", per_call_us(through, n), per_call_us(native, n)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=21000)
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--compare", nargs="+", metavar="BIN", help="pyenvfs binaries to compare")
    ap.add_argument("--rounds", type=int, default=21, help="with --compare: batches per binary")
    a = ap.parse_args()
    if a.compare:
        return compare(a)
    if os.cpu_count() < 2:
        sys.exit("roundtrip.py: needs 2 CPUs")
    work = tempfile.mkdtemp(prefix="pyenvfs-rt-")
    mnt, site = os.path.join(work, "m"), os.path.join(work, "s")
    os.mkdir(mnt)
    subprocess.run([PYENVFS, a.base, mnt, "--site", site], check=True)
    try:
        pids = daemon_pids_for(mnt)
        pid = pids[0] if pids else None
        if pid is None:
            sys.exit("roundtrip.py: the daemon of %s not found" % mnt)
        target = os.path.join(site, "f")
        with open(target, "w") as f:
            f.write("x")
        through = os.path.join(_site_in_view(mnt), "f")
        print("| placement | ioctl through pyenvfs | ioctl native |")
        print("|---|---|---|")
        for name, fuse_us, native_us in placements(pid, through, target, a.n):
            print("| %s | %.1f us | %.2f us |" % (name, fuse_us, native_us))
    finally:
        if subprocess.run(["fusermount3", "-u", mnt]).returncode:
            subprocess.run(["fusermount3", "-uz", mnt])
        subprocess.run(["rm", "-rf", work])


def compare(a):
    work = tempfile.mkdtemp(prefix="pyenvfs-rt-")
    mounts = []
    try:
        for i, binary in enumerate(a.compare):
            mnt, site = os.path.join(work, "m%d" % i), os.path.join(work, "s%d" % i)
            os.mkdir(mnt)
            subprocess.run([binary, a.base, mnt, "--site", site], check=True)
            mounts.append(mnt)
            with open(os.path.join(site, "f"), "w") as f:
                f.write("x")
            for pid in daemon_pids_for(mnt):
                subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], check=True,
                               stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, {0})
        paths = [os.path.join(_site_in_view(m), "f") for m in mounts]
        res = [[] for _ in paths]
        for r in range(a.rounds):
            order = range(len(paths)) if r % 2 == 0 else reversed(range(len(paths)))
            for i in order:
                res[i].append(per_call_us(paths[i], a.n // a.rounds, batches=1))
        print("| binary | version | ioctl through pyenvfs, daemon and caller on CPU 0 |")
        print("|---|---|---|")
        for binary, us in zip(a.compare, res):
            v = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
            print("| %s | %s | %.1f us |" % (binary, v, statistics.median(us)))
    finally:
        for mnt in mounts:
            if subprocess.run(["fusermount3", "-u", mnt]).returncode:
                subprocess.run(["fusermount3", "-uz", mnt])
        subprocess.run(["rm", "-rf", work])


def _site_in_view(mnt):
    import glob
    for p in sorted(glob.glob(os.path.join(mnt, "lib", "python*", "site-packages"))):
        if os.path.isdir(p):
            return p
    sys.exit("roundtrip.py: no site-packages in the view")


if __name__ == "__main__":
    main()
