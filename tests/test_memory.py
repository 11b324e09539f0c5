"""The daemon gives back what the kernel forgets: after some 20k lookups
(files of DIR, names that do not exist, the standard library) and
`drop_caches`, its descriptors come back to the idle count.

A node holds an O_PATH descriptor while the kernel remembers it, so the
descriptor count is an exact view of the node table; it is a count, not a
timing.  RSS is printed, not asserted (malloc keeps freed memory).  The big
run is tests/stress/memory.py.
"""

import os
import time

import pytest

import pythons
from conftest import mounted
from procinfo import fds_without_pipes

LOOKUPS = 20000
FILES = 1500


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stat_of(mnt, key):
    """A counter from the daemon's user.pyenvfs.stats (None if absent)."""
    for line in os.getxattr(mnt, "user.pyenvfs.stats").decode().splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return None


def lookups(mnt):
    return stat_of(mnt, "lookup") or 0


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


@pytest.fixture
def can_drop_caches():
    if os.geteuid() != 0:
        pytest.skip("drop_caches needs root")
    if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        pytest.skip("/proc/sys/vm/drop_caches is not writable here")


def test_fds_come_back_after_forget(tmp_path, can_drop_caches):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    site = tmp_path / "site"
    rels = []
    for i in range(FILES):
        d = "pkg%02d/sub%02d" % (i // 500, (i // 50) % 10)
        if i % 50 == 0:
            os.makedirs(str(site / d))
        rels.append("%s/m%04d.py" % (d, i))
        (site / rels[-1]).write_bytes(b"")
    (tmp_path / "mnt").mkdir()
    with mounted(b.prefix, tmp_path / "mnt", site,
                 pythons.python_args(b) + ["-o", "site_timeout=0,base_timeout=0,watch=off"], base=b) as m:
        pid = m.proc.pid
        idle, idle_rss = fds_without_pipes(pid), rss_kib(pid)
        idle_nodes = stat_of(m.mnt, "nodes")
        sp = m.path(b.stdlib_rel, "site-packages")
        files = [os.path.join(sp, r) for r in rels]
        missing = [os.path.join(sp, os.path.dirname(r), "nope%d" % i) for i, r in enumerate(rels)]
        std = []
        for dp, dns, fns in os.walk(m.path(b.stdlib_rel)):
            dns[:] = [d for d in dns if d not in ("site-packages", "dist-packages", "__pycache__")]
            std.extend(os.path.join(dp, n) for n in fns)
        peak = 0
        deadline = time.monotonic() + 60
        while lookups(m.mnt) < LOOKUPS and time.monotonic() < deadline:
            for p in files:
                os.stat(p)
            peak = max(peak, fds_without_pipes(pid))
            for p in std:
                os.stat(p)
            for p in missing:
                assert not os.path.exists(p)
            peak = max(peak, fds_without_pipes(pid))
        n_lookups = lookups(m.mnt)
        assert n_lookups >= LOOKUPS, "only %d lookups reached the daemon" % n_lookups
        # A file the kernel knows holds a node (and its descriptor): the
        # count did go up (not by exactly FILES: anyone's drop_caches, or
        # memory pressure, may have the kernel forget some meanwhile).
        assert peak >= idle + 100, (idle, peak)
        # The kernel forgets (FORGET arrives asynchronously): poll, bounded.
        now = peak
        for _ in range(3):
            drop_caches()
            end = time.monotonic() + 10
            while time.monotonic() < end:
                now = fds_without_pipes(pid)
                if now <= idle + 2:
                    break
                time.sleep(0.1)
            if now <= idle + 2:
                break
        print("\nlookups %d; descriptors idle %d, peak %d, after drop_caches %d; RSS KiB idle %d, "
              "now %d" % (n_lookups, idle, peak, now, idle_rss, rss_kib(pid)))
        assert now <= idle + 2, "the daemon kept %d descriptors after the kernel forgot (idle %d)" % (
            now, idle)
        if idle_nodes is not None:
            nodes = stat_of(m.mnt, "nodes")
            assert nodes <= idle_nodes + 2, "nodes: idle %d, after drop_caches %d" % (idle_nodes, nodes)
