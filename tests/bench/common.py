"""Shared pieces of the benchmark: running commands, the interleaved timer,
mounts that are always undone, the machine's description.

Nothing here asserts a time.  Every measurement is a list of whole-process
wall times (perf_counter around spawn + wait), taken in rounds that alternate
the candidates (A B, B A, A B, ...) so that a slow moment of a shared machine
falls on both sides.
"""

import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from procinfo import mount_count  # noqa: E402  (tests/procinfo.py)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"
CMD_TIMEOUT = 300          # seconds for any one command
IS_ROOT = os.geteuid() == 0


class BenchError(RuntimeError):
    pass


class Skip(Exception):
    """A workload (or part of one) that cannot run here; the message says why."""


def as_user(user):
    """A preexec_fn that makes the child user (a bench.User), or None."""
    if user is None:
        return None

    def drop():
        os.setgroups([])
        os.setgid(user.gid)
        os.setuid(user.uid)
    return drop


def sh(args, env=None, check=True, timeout=CMD_TIMEOUT, cwd=None, user=None):
    """Run a command (as user, if given), capture its output; raise with its
    stderr if it fails."""
    r = subprocess.run([str(a) for a in args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, preexec_fn=as_user(user))
    if check and r.returncode != 0:
        raise BenchError("%s failed (%d):\n%s%s" % (" ".join(str(a) for a in args), r.returncode,
                                                    r.stdout[-3000:], r.stderr[-3000:]))
    return r


class Cmd:
    """A command to time: argv, environment, working directory, and the user
    it runs as (None: the bench's own)."""

    def __init__(self, argv, env=None, cwd=None, user=None):
        self.argv = [str(a) for a in argv]
        self.env = env
        self.cwd = cwd
        self.user = user

    def start(self, errfile):
        return subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errfile, preexec_fn=as_user(self.user))

    def __repr__(self):
        return " ".join(self.argv)


def _watchdog(procs, timeout):
    """Kill the processes we started if they outlive timeout (a wait without
    a timeout blocks in waitpid, without the polling of Popen.wait(timeout))."""
    def kill():
        for p in procs:
            if p.poll() is None:
                p.kill()
    t = threading.Timer(timeout, kill)
    t.daemon = True
    t.start()
    return t


def _err_text(errfile):
    errfile.flush()
    errfile.seek(0)
    return errfile.read().decode("utf-8", "replace")[-3000:]


_ERR = []


def _errfile():
    """One file for the stderr of timed commands, emptied before each."""
    if not _ERR:
        import tempfile
        _ERR.append(tempfile.TemporaryFile())
    f = _ERR[0]
    f.seek(0)
    f.truncate()
    return f


def time_cmd(cmd, parallel=1, timeout=CMD_TIMEOUT):
    """Wall time of cmd (or of `parallel` copies started together) until all exit."""
    err = _errfile()
    t0 = time.perf_counter()
    procs = [cmd.start(err) for _ in range(parallel)]
    wd = _watchdog(procs, timeout)
    codes = [p.wait() for p in procs]
    t = time.perf_counter() - t0
    wd.cancel()
    if any(codes):
        raise BenchError("%r exited %s:\n%s" % (cmd, codes, _err_text(err)))
    return t


def interleave(fns, runs, warmup=0):
    """Call each fn in fns once per round, the order reversed every other round
    (A B, B A, ...); returns one list of results per fn.  warmup rounds are
    run first and thrown away."""
    for _ in range(warmup):
        for f in fns:
            f()
    res = [[] for _ in fns]
    idx = list(range(len(fns)))
    for r in range(runs):
        order = idx if r % 2 == 0 else idx[::-1]
        for i in order:
            res[i].append(fns[i]())
    return res


def median(xs):
    return statistics.median(xs)


def pair_spread(a, b):
    """The quartiles of the per-round ratios a_i/b_i (how noisy the ratio is)."""
    rs = sorted(x / y for x, y in zip(a, b) if y > 0)
    if len(rs) < 4:
        return None
    q = statistics.quantiles(rs, n=4)
    return q[0], q[2]


OWN_DROPS = [0]     # how many times the bench itself dropped caches


STATS_XATTR = "user.pyenvfs.stats"


def stats(m):
    """The daemon's counters at mount point m (its user.pyenvfs.stats attribute)."""
    text = os.getxattr(m, STATS_XATTR).decode()
    return {k: int(v) for k, v in (ln.split() for ln in text.splitlines() if ln.strip())}


def stats_delta(m, fn):
    """What fn() made the daemon at m count: the counters that moved."""
    before = stats(m)
    fn()
    after = stats(m)
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def ratio(a, b):
    return median(a) / median(b)


def spread(a, b):
    """The quartiles of the per-round ratios a/b, as a table cell."""
    q = pair_spread(a, b)
    return "%.2f–%.2f" % q if q else "—"


def ms(t):
    return "%.1f ms" % (t * 1e3) if t < 10 else "%.2f s" % t


def vmstat_drops():
    """How many times anyone has dropped caches since boot (/proc/vmstat)."""
    n = 0
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                k, v = line.split()
                if k in ("drop_pagecache", "drop_slab"):
                    n += int(v)
    except (OSError, ValueError):
        pass
    return n


def drop_caches():
    """sync; echo 3 > /proc/sys/vm/drop_caches (root only)."""
    OWN_DROPS[0] += 2           # counted by the kernel as drop_pagecache and drop_slab
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def drop_dentries():
    """echo 2: dentries and inodes, which makes the kernel FORGET FUSE nodes."""
    OWN_DROPS[0] += 1
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


# ---------------------------------------------------------------------------
# mounts, always undone

class Mounts:
    """Every mount the bench makes, and every daemon it keeps as a child.
    undo_all() unmounts them (umount as root, else fusermount3; then lazily)
    and ends the children; it is called in a finally and on SIGTERM/SIGINT."""

    def __init__(self):
        self.points = []     # mount points, in mount order
        self.children = []   # Popen of daemons run in the foreground

    def add(self, mnt):
        self.points.append(os.path.realpath(mnt))

    def add_child(self, proc):
        self.children.append(proc)

    def unmount(self, mnt, child=None):
        mnt = os.path.realpath(mnt)
        for attempt in range(4):
            if mount_count(mnt) == 0:
                break
            lazy = attempt >= 1
            if IS_ROOT:
                args = ["umount"] + (["-l"] if lazy else []) + [mnt]
            else:
                args = [FUSERMOUNT, "-uz" if lazy else "-u", mnt]
            try:
                sh(args, check=False, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if mount_count(mnt):
                time.sleep(0.1)
        if mnt in self.points:
            self.points.remove(mnt)
        if child is not None:
            stop_child(child)
            if child in self.children:
                self.children.remove(child)

    def undo_all(self):
        for mnt in reversed(list(self.points)):
            self.unmount(mnt)
        for p in list(self.children):
            stop_child(p)
        self.children = []


def stop_child(proc):
    """Wait for a daemon we started to exit; SIGTERM, then SIGKILL, that PID only."""
    try:
        proc.wait(timeout=5)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_mounted(mnt, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(mnt):
            return
        if proc is not None and proc.poll() is not None:
            raise BenchError("the daemon for %s exited with %d before mounting" % (mnt, proc.returncode))
        time.sleep(0.005)
    raise BenchError("%s not mounted after %.0f s" % (mnt, timeout))


# ---------------------------------------------------------------------------
# the machine

def machine(base, exe):
    u = os.uname()
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB RAM" % (int(f.readline().split()[1]) / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        pyver = sh([exe, "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()
    except Exception:
        pyver = "?"
    osname = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    fstype = sh(["stat", "-f", "-c", "%T", "/tmp"], check=False).stdout.strip()
    return {
        "uname": " ".join([u.sysname, u.nodename and "<host>", u.release, u.version, u.machine]),
        "kernel": u.release,
        "os": osname or platform.platform(terse=True),
        "cores": os.cpu_count() or 0,
        "cpu": cpu,
        "mem": mem,
        "base": "%s (Python %s, %s)" % (base, pyver, exe),
        "fs": fstype,
        "load": open("/proc/loadavg").read().split()[:3],
    }


# ---------------------------------------------------------------------------
# sections of docs/PERFORMANCE.md that other scripts write

def block_markers(name="passthrough.py"):
    return "<!-- tests/bench/%s: begin -->" % name, "<!-- tests/bench/%s: end -->" % name


BLOCK_BEGIN, BLOCK_END = block_markers()
BLOCK_BEFORE = "## Where the time goes"
KEPT_BLOCKS = ("store.py", "engine.py")    # the sections other benchmarks write, which tests/bench/run keeps


def block_of(text, name="passthrough.py"):
    """The block that tests/bench/NAME writes in text (markers included), or None."""
    begin, end = block_markers(name)
    i, j = text.find(begin), text.find(end)
    return text[i:j + len(end)] if 0 <= i < j else None


def with_block(text, block, name="passthrough.py"):
    """text with its NAME block replaced by block, or block put before the
    hand-written analysis (or at the end)."""
    old = block_of(text, name)
    if old is not None:
        return text.replace(old, block)
    k = text.find(BLOCK_BEFORE)
    if k < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[:k] + block + "\n\n" + text[k:]
