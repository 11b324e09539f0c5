#!/usr/bin/python3
"""Opt-in memory and fd run: the daemon's RSS and open descriptors idle, at
peak and after the kernel forgets (sync; echo 3 > /proc/sys/vm/drop_caches).

    /usr/bin/python3 tests/stress/memory.py                    # 1M lookups (about 1-3 min)
    /usr/bin/python3 tests/stress/memory.py --lookups 200000 --files 5000
    PYENVFS=build-asan/pyenvfs /usr/bin/python3 tests/stress/memory.py --lookups 50000

Needs root (drop_caches), /dev/fuse, fusermount3 and build/pyenvfs (or
$PYENVFS).  Three mounts of the preferred base (Debian's /usr Python):

1. "lookups": -o site_timeout=0,base_timeout=0, so that every path walk asks
   the daemon.  N files in nested directories of DIR (made natively), then
   rounds of: stat every file through site-packages, stat as many names that
   do not exist, stat every file of the standard library through the mount
   (PYTHONHOME mode's view), until --lookups LOOKUP requests have reached the
   daemon (counted by the daemon itself, user.pyenvfs.stats).
2. "100k distinct": default options; 100k distinct lookups (files of DIR and
   the stdlib, each stat'ed once), the issue-5 figure "RSS after 100k
   lookups with forgets".
3. "over RLIMIT_NOFILE": default options; more distinct files than the
   daemon's descriptor limit, stat'ed once each while the kernel keeps them:
   counts the lookups that fail (each live node holds an O_PATH descriptor).

Prints a table per mount: RSS (VmRSS), peak RSS (VmHWM), open fds and the
daemon's lookup/forget counters at each point.  Everything it mounts is
unmounted (conftest.mounted()).  Exit status 0 unless the run itself failed:
the numbers are for a person to read (RELIABILITY.md), not a timing test.
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pythons  # noqa: E402
from conftest import mounted  # noqa: E402
from procinfo import fds_without_pipes, unwind_on_term  # noqa: E402

MiB = 1024.0 * 1024.0


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0]) * (1024 if k != "Threads" else 1)
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def daemon_stats(mnt):
    text = os.getxattr(mnt, "user.pyenvfs.stats").decode()
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        out[k] = int(v)
    return out


TRIM_PROBE = False


def trim_probe(t, pid):
    """--trim-probe: have the daemon call malloc_trim(0) (through gdb) and add a
    row: what RSS it gives back is memory malloc kept after the nodes were
    freed, not memory still in use."""
    if not TRIM_PROBE:
        return
    gdb = shutil.which("gdb")
    if not gdb:
        print("--trim-probe: gdb not found")
        return
    import subprocess
    subprocess.run([gdb, "-p", str(pid), "-batch", "-ex",
                    "call ((int(*)(unsigned long))malloc_trim)(0)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    t.point("after malloc_trim(0) in the daemon (gdb)")


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def wait_settled(pid, mnt, timeout=15.0):
    """After drop_caches the kernel sends FORGETs asynchronously: wait until
    the daemon's fd count stops changing (bounded)."""
    deadline = time.monotonic() + timeout
    last = fd_count(pid)
    stable = 0
    while time.monotonic() < deadline and stable < 5:
        time.sleep(0.1)
        n = fd_count(pid)
        stable = stable + 1 if n == last else 0
        last = n
    return last


class Sampler(threading.Thread):
    """Samples the daemon's RSS and fd count every few ms; keeps the maxima."""

    def __init__(self, pid, every=0.02):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.max_rss = self.max_fds = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                self.max_rss = max(self.max_rss, proc_status(self.pid)["VmRSS"])
                self.max_fds = max(self.max_fds, fd_count(self.pid))
            except (OSError, KeyError):
                pass
            self._halt.wait(self.every)

    def stop(self):
        self._halt.set()
        self.join()


class Table:
    def __init__(self, title, pid, mnt):
        self.title, self.pid, self.mnt = title, pid, mnt
        self.rows = []

    def point(self, label, rss=None, fds=None):
        st = proc_status(self.pid)
        s = daemon_stats(self.mnt)
        self.rows.append((label, rss if rss is not None else st["VmRSS"], st["VmHWM"],
                          st["RssAnon"], fds if fds is not None else fd_count(self.pid),
                          fds_without_pipes(self.pid), st["Threads"],
                          s.get("lookup", 0), s.get("forget", 0), s.get("nodes", -1)))

    def show(self):
        print("\n%s" % self.title)
        print("| point | RSS MiB | peak RSS (VmHWM) MiB | anon MiB | fds | fds w/o pipes (now) "
              "| threads | lookups | forget msgs | nodes (now) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, rss, hwm, anon, fds, pfds, thr, lk, fg, nodes in self.rows:
            print("| %s | %.2f | %.2f | %.2f | %d | %d | %d | %d | %d | %d |"
                  % (label, rss / MiB, hwm / MiB, anon / MiB, fds, pfds, thr, lk, fg, nodes))
        sys.stdout.flush()


def make_tree(root, nfiles, per_dir=200):
    """nfiles empty files in nested directories (a/bNN/fNNN.py), made natively."""
    paths = []
    for i in range(nfiles):
        d = os.path.join("pkg%03d" % (i // (per_dir * 20)), "sub%03d" % ((i // per_dir) % 20))
        if i % per_dir == 0:
            os.makedirs(os.path.join(root, d), exist_ok=True)
        rel = os.path.join(d, "m%05d.py" % i)
        with open(os.path.join(root, rel), "wb"):
            pass
        paths.append(rel)
    return paths


def stdlib_files(root):
    out = []
    for dp, dns, fns in os.walk(root):
        dns[:] = [d for d in dns if d not in ("site-packages", "dist-packages", "__pycache__")]
        for n in fns:
            out.append(os.path.join(dp, n))
    return out


def stat_all(paths):
    bad = {}
    for p in paths:
        try:
            os.stat(p)
        except FileNotFoundError:
            bad["ENOENT"] = bad.get("ENOENT", 0) + 1
        except OSError as e:
            bad[e.strerror] = bad.get(e.strerror, 0) + 1
    return bad


def run_lookups(b, top, args):
    mnt, site = os.path.join(top, "l", "mnt"), os.path.join(top, "l", "site")
    os.makedirs(mnt)
    os.makedirs(site)
    rels = make_tree(site, args.files)
    extra = pythons.python_args(b) + ["-o", "site_timeout=0,base_timeout=0"]
    with mounted(b.prefix, mnt, site, extra, base=b) as m:
        pid = m.proc.pid
        t = Table("1. %d lookups (site_timeout=0, base_timeout=0; %d files in DIR, %d missing "
                  "names, the stdlib)" % (args.lookups, args.files, args.files), pid, mnt)
        time.sleep(0.5)
        t.point("idle, after mount")
        sp = os.path.join(mnt, b.stdlib_rel, "site-packages")
        files = [os.path.join(sp, r) for r in rels]
        missing = [os.path.join(sp, os.path.dirname(r), "nope%05d.py" % i) for i, r in enumerate(rels)]
        std = stdlib_files(os.path.join(mnt, b.stdlib_rel))
        s = Sampler(pid)
        s.start()
        rounds = 0
        errors = {}
        t0 = time.monotonic()
        while daemon_stats(mnt)["lookup"] < args.lookups:
            for group, want_ok in ((files, True), (missing, False), (std, True)):
                for k, v in stat_all(group).items():
                    if want_ok or k != "ENOENT":
                        errors[k] = errors.get(k, 0) + v
            rounds += 1
            if rounds == 1:
                t.point("after round 1")
        dt = time.monotonic() - t0
        s.stop()
        t.point("peak during the run (sampled every 20 ms)", rss=s.max_rss, fds=s.max_fds)
        t.point("after %d rounds" % rounds)
        drop_caches()
        fds = wait_settled(pid, mnt)
        t.point("after drop_caches (FORGET)", fds=fds)
        drop_caches()
        fds = wait_settled(pid, mnt)
        t.point("after a second drop_caches", fds=fds)
        trim_probe(t, pid)
        t.show()
        print("rounds %d, %.1f s, %d stdlib files, errors %r" % (rounds, dt, len(std), errors))
    shutil.rmtree(os.path.join(top, "l"), ignore_errors=True)
    return not errors


def run_distinct(b, top, n_lookups=100000):
    mnt, site = os.path.join(top, "d", "mnt"), os.path.join(top, "d", "site")
    os.makedirs(mnt)
    os.makedirs(site)
    with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
        pid = m.proc.pid
        time.sleep(0.5)
        idle = Table("", pid, mnt)
        idle.point("idle, after mount")
        std = stdlib_files(os.path.join(mnt, b.stdlib_rel))
        # Distinct names, each stat'ed once: the stdlib's files, then files of
        # DIR, in batches that the kernel is made to forget (the daemon's fd
        # limit bounds how many can be live at once).
        soft = int(open("/proc/%d/limits" % pid).read().split("Max open files")[1].split()[0])
        batch = max(1000, min(10000, soft // 2))
        nfiles = max(0, n_lookups - len(std) - 2 * (n_lookups // 200))
        rels = make_tree(site, nfiles)
        t = Table("2. %d distinct lookups with forgets (default options; %d stdlib files, %d files "
                  "in DIR in batches of %d, drop_caches after each)" % (n_lookups, len(std), nfiles, batch),
                  pid, mnt)
        t.rows = idle.rows
        s = Sampler(pid)
        s.start()
        errors = stat_all(std)
        sp = os.path.join(mnt, b.stdlib_rel, "site-packages")
        for i in range(0, len(rels), batch):
            for k, v in stat_all([os.path.join(sp, r) for r in rels[i:i + batch]]).items():
                errors[k] = errors.get(k, 0) + v
            drop_caches()
            wait_settled(pid, mnt, timeout=5)
        s.stop()
        t.point("peak (sampled)", rss=s.max_rss, fds=s.max_fds)
        t.point("after the run")
        drop_caches()
        fds = wait_settled(pid, mnt)
        t.point("after drop_caches (FORGET)", fds=fds)
        trim_probe(t, pid)
        t.show()
        print("errors %r" % errors)
    shutil.rmtree(os.path.join(top, "d"), ignore_errors=True)
    return not errors


def run_over_limit(b, top, extra_files):
    mnt, site = os.path.join(top, "o", "mnt"), os.path.join(top, "o", "site")
    os.makedirs(mnt)
    os.makedirs(site)
    with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
        pid = m.proc.pid
        soft = int(open("/proc/%d/limits" % pid).read().split("Max open files")[1].split()[0])
        n = soft + extra_files
        rels = make_tree(site, n)
        t = Table("3. %d distinct files in DIR stat'ed once, daemon RLIMIT_NOFILE %d" % (n, soft),
                  pid, mnt)
        time.sleep(0.5)
        t.point("idle, after mount")
        sp = os.path.join(mnt, b.stdlib_rel, "site-packages")
        errors = stat_all([os.path.join(sp, r) for r in rels])
        t.point("after the stats")
        drop_caches()
        fds = wait_settled(pid, mnt)
        t.point("after drop_caches (FORGET)", fds=fds)
        again = stat_all([os.path.join(sp, r) for r in rels[-100:]])
        t.point("100 of the failed names again")
        drop_caches()
        fds = wait_settled(pid, mnt)
        t.show()
        print("lookups that failed while the kernel held every node: %r; "
              "the last 100 names again after drop_caches: %r" % (errors, again))
    shutil.rmtree(os.path.join(top, "o"), ignore_errors=True)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lookups", type=int, default=1000000)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--distinct", type=int, default=100000)
    ap.add_argument("--over-limit", type=int, default=2000,
                    help="files beyond the daemon's fd limit in part 3 (0: skip part 3)")
    ap.add_argument("--only", choices=["1", "2", "3"], help="run one part")
    ap.add_argument("--trim-probe", action="store_true",
                    help="at the end of parts 1 and 2, call malloc_trim(0) in the daemon through gdb")
    args = ap.parse_args()
    global TRIM_PROBE
    TRIM_PROBE = args.trim_probe
    if os.geteuid() != 0:
        print("needs root (drop_caches)", file=sys.stderr)
        return 2

    unwind_on_term()        # SIGTERM/SIGHUP unwind like Ctrl-C: mounts are undone
    b = pythons.preferred_base()
    if b is None:
        print("no Python 3 base found", file=sys.stderr)
        return 2
    top = tempfile.mkdtemp(prefix="pyenvfs-memory-")
    print("base %s (%s), pyenvfs %s, our RLIMIT_NOFILE %r"
          % (b.id, b.prefix, os.environ.get("PYENVFS") or "build/pyenvfs",
             resource.getrlimit(resource.RLIMIT_NOFILE)), flush=True)
    ok = True
    try:
        if args.only in (None, "1"):
            ok &= run_lookups(b, top, args)
        if args.only in (None, "2"):
            ok &= run_distinct(b, top, args.distinct)
        if args.only in (None, "3") and args.over_limit:
            ok &= run_over_limit(b, top, args.over_limit)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
