"""Small helpers shared by the tests, the stress runs and the benchmark:
what /proc says about mounts and descriptors, bounded polling, the sha256
of a file, and the difference of two tree digests.

No pytest here: tests/bench and tests/stress import this module too.
"""

import hashlib
import os
import signal
import time


def mount_count(path):
    """How many mounts are stacked at path (from /proc/self/mountinfo)."""
    path = os.path.realpath(str(path))
    n = 0
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == path:
                n += 1
    return n


def daemon_pids_for(mnt):
    """PIDs of pyenvfs processes whose command line names mnt."""
    mnt = str(mnt).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"pyenvfs" and mnt in argv:
            pids.append(int(d))
    return pids


def pids_of_exe(exe):
    """PIDs of the processes running the executable exe (readlink of
    /proc/PID/exe; processes of other users that cannot be read are left out)."""
    want = os.path.realpath(str(exe))
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/exe" % d) == want:
                pids.append(int(d))
        except OSError:
            continue
    return pids


def fd_targets(pid):
    """What each open descriptor of process pid points to (readlink of
    /proc/PID/fd/N); descriptors closed while listing are left out."""
    d = "/proc/%d/fd" % pid
    out = []
    for fd in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    return out


def is_pipe(target):
    return target.startswith("pipe:")


def fds_without_pipes(pid):
    """Open descriptors of pid other than pipes (libfuse keeps a splice pipe
    pair per worker thread that has spliced, which comes and goes with the
    threads, not with the nodes)."""
    return sum(1 for t in fd_targets(pid) if not is_pipe(t))


def poll(cond, limit, step=0.05):
    """True once cond() holds; False if it still does not after `limit` seconds."""
    end = time.monotonic() + limit
    while True:
        if cond():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


def file_sha256(path):
    """The sha256 of a file's content, as hex (read in 1 MiB pieces)."""
    h = hashlib.sha256()
    with open(str(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_diff(before, after, limit=None):
    """Lines naming what differs between two digests (path -> anything
    comparable): removed, created, changed; the first `limit` of them, or
    all if limit is None."""
    lines = []
    for p in sorted(set(before) | set(after)):
        if p not in after:
            lines.append("removed %s" % p)
        elif p not in before:
            lines.append("created %s" % p)
        elif before[p] != after[p]:
            lines.append("changed %s: %r -> %r" % (p, before[p], after[p]))
    return lines[:limit]


def unwind_on_term():
    """SIGTERM and SIGHUP (timeout(1), a closed terminal) unwind like Ctrl-C,
    so that the `finally`s unmount what was mounted."""
    def _term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)
