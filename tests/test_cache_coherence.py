"""What the kernel caches stays correct.

- What is written through the mount is seen at once, through the mount and
  in DIR.
- A change made directly in DIR (a new file, new content, a removed file) is
  seen through the mount within site_timeout where no change notification
  can be had (-o watch=off here; tests/test_watch.py has the notified ones).
- A base file replaced in place is seen within base_timeout (an option).
No duration is asserted.  Where a timeout is the subject, the test waits
until it has certainly passed since the kernel last cached (the kernel
compares an absolute expiry with the time of each access, so a loaded machine
cannot make this flaky) and then looks once: what the cache kept must be gone.
With site_timeout=3600 a change made directly in DIR must still be hidden.
"""

import os
import shutil
import time

import pytest

from conftest import mounted, run
from procinfo import poll


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def mnt(tmp_path):
    p = tmp_path / "m"
    p.mkdir()
    return p


def site_path(m, b):
    return os.path.join(m.mnt, "lib", "python" + b.xy, "site-packages")


def test_writes_through_the_mount_are_seen_at_once(any_base, tmp_path):
    site = tmp_path / "site"
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base) as m:
        sp = site_path(m, any_base)
        p = os.path.join(sp, "now.txt")
        for i in range(20):
            data = ("version %d\n" % i).encode() * (i + 1)
            with open(p, "wb") as f:
                f.write(data)
            assert read(p) == data                         # through the mount
            assert read(str(site / "now.txt")) == data     # in DIR
        os.unlink(p)
        assert read(p) is None
        assert "now.txt" not in os.listdir(sp)


# The kernel keeps an expiry in jiffies (at most 10 ms each) rounded up:
# waiting this much past the timeout is past the expiry, whatever the load.
JIFFY_MARGIN = 0.1


def wait_past(cached_at, timeout):
    """Sleep until `timeout` has passed since cached_at (a time.monotonic()
    taken after the last access through the mount returned)."""
    left = cached_at + timeout + JIFFY_MARGIN - time.monotonic()
    if left > 0:
        time.sleep(left)


def test_direct_changes_in_dir_are_seen_once_site_timeout_passed(any_base, tmp_path):
    """Each change made directly in DIR is seen by the first look after
    site_timeout has passed since the kernel cached the old state: no
    polling, so a timeout not honoured (entries, attributes or pages kept
    longer) fails."""
    site = tmp_path / "site"
    site.mkdir()
    timeout = 1.0
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base,
                 extra_args=["-o", "site_timeout=%g,watch=off" % timeout]) as m:
        sp = site_path(m, any_base)
        p = os.path.join(sp, "direct.py")
        # the kernel caches the listing, the (negative) entry and the pages first
        assert "direct.py" not in os.listdir(sp)
        assert read(p) is None
        cached_at = time.monotonic()
        # a new file
        (site / "direct.py").write_bytes(b"A = 1\n")
        wait_past(cached_at, timeout)
        assert "direct.py" in os.listdir(sp)
        assert read(p) == b"A = 1\n"
        cached_at = time.monotonic()
        # new content of the same size (its pages were cached)
        old = os.stat(str(site / "direct.py")).st_mtime_ns
        (site / "direct.py").write_bytes(b"A = 2\n")
        os.utime(str(site / "direct.py"), ns=(old + 10**9, old + 10**9))
        wait_past(cached_at, timeout)
        assert read(p) == b"A = 2\n"
        cached_at = time.monotonic()
        # removed
        (site / "direct.py").unlink()
        wait_past(cached_at, timeout)
        assert read(p) is None
        assert "direct.py" not in os.listdir(sp)


def forgets(mnt):
    """The daemon's FORGET count (user.pyenvfs.stats): the kernel evicting
    inodes, as a drop_caches by another process does; expiry sends none."""
    for line in os.getxattr(mnt, "user.pyenvfs.stats").decode().splitlines():
        k, _, v = line.partition(" ")
        if k == "forget":
            return int(v)
    return 0


def test_a_long_site_timeout_is_honoured(any_base, tmp_path):
    """site_timeout=3600 without notifications (-o watch=off): a file's
    attributes changed directly in DIR stay hidden behind what the kernel
    cached, also after the default timeout (1 s) has passed: the daemon gave
    the kernel the timeout asked for.
    Then, on a mount with the default timeout, the same change is seen: the
    check is not vacuous.  (Changes made through M show at once: see above.)"""
    site = tmp_path / "site"
    site.mkdir()
    kept = site / "kept.py"
    kept.write_bytes(b"K = 1\n")
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base,
                 extra_args=["-o", "site_timeout=3600,watch=off"]) as m:
        p = os.path.join(site_path(m, any_base), "kept.py")
        for attempt in range(3):
            st = os.stat(p)
            before = forgets(m.mnt)
            cached_at = time.monotonic()
            old = os.stat(str(kept))
            os.utime(str(kept), ns=(old.st_atime_ns, old.st_mtime_ns + 10**9))
            wait_past(cached_at, 1.0)
            again = os.stat(p)
            if forgets(m.mnt) == before:
                break
            # Something evicted the kernel's inodes meanwhile (another
            # process's drop_caches): this attempt proves nothing, again.
        else:
            pytest.fail("the kernel's cache was evicted in each of 3 attempts")
        assert again.st_mtime_ns == st.st_mtime_ns, \
            "the attributes cached for 3600 s were not kept (mtime changed)"
    m2 = tmp_path / "m2"
    m2.mkdir()
    with mounted(any_base.prefix, m2, site, base=any_base, extra_args=["-o", "watch=off"]) as m:
        p = os.path.join(site_path(m, any_base), "kept.py")
        st = os.stat(p)
        cached_at = time.monotonic()
        os.chmod(str(kept), 0o600)
        wait_past(cached_at, 1.0)
        assert os.stat(p).st_mode == (st.st_mode & ~0o777) | 0o600


INVALIDATION_BOUND = 60


def small_base(src_base, dest):
    """A writable copy of a base that is cheap to make: the interpreter and
    the stdlib as symlinks (cp -rs), so that a test can replace one file."""
    xy = src_base.xy
    os.makedirs(os.path.join(dest, "bin"))
    os.makedirs(os.path.join(dest, "lib"))
    exe = os.path.realpath(os.path.join(src_base.prefix, "bin", "python" + xy))
    os.symlink(exe, os.path.join(dest, "bin", "python" + xy))
    r = run(["cp", "-rs", os.path.join(src_base.prefix, "lib", "python" + xy),
             os.path.join(dest, "lib", "python" + xy)], timeout=120)
    assert r.returncode == 0, r.stderr
    return dest


def test_a_base_upgraded_in_place_is_seen_within_base_timeout(tmp_path):
    import pythons
    b = pythons.find("pyenv-3.12") or pythons.find("pyenv-3.11") or pythons.find("usr-3.11")
    if b is None:
        pytest.skip("no Python base to copy")
    base = small_base(b, str(tmp_path / "base"))
    target = os.path.join(base, "lib", "python" + b.xy, "textwrap.py")
    timeout = 1.0
    with mounted(base, mnt(tmp_path), tmp_path / "site",
                 extra_args=["-o", "base_timeout=%g" % timeout]) as m:
        seen = os.path.join(m.mnt, "lib", "python" + b.xy, "textwrap.py")
        before = read(seen)
        cached_at = time.monotonic()
        assert before and b"def dedent" in before
        # the upgrade: a new file replaces the old one (as a package manager does)
        tmp = target + ".new"
        with open(tmp, "wb") as f:
            f.write(b"# upgraded\n" + before)
        os.rename(tmp, target)
        wait_past(cached_at, timeout)
        assert read(seen) == b"# upgraded\n" + before
    shutil.rmtree(base)


def test_direct_changes_behind_a_view_directory_are_seen(any_base, tmp_path):
    """M/bin shows the base's interpreter and the env's own scripts: a script
    put straight into DIR's area for them shows in M/bin's listing, and goes
    when removed, within site_timeout."""
    site = tmp_path / "site"
    timeout = 1.0
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base,
                 extra_args=["-o", "site_timeout=%g,watch=off" % timeout]) as m:
        binm = os.path.join(m.mnt, "bin")
        assert "direct-tool" not in os.listdir(binm)
        cached_at = time.monotonic()
        upper_bin = site / ".pyenvfs" / "upper" / "bin"
        upper_bin.mkdir(parents=True, exist_ok=True)
        (upper_bin / "direct-tool").write_bytes(b"#!/bin/sh\necho hi\n")
        wait_past(cached_at, timeout)
        assert "direct-tool" in os.listdir(binm)
        assert "python3" in os.listdir(binm)
        cached_at = time.monotonic()
        (upper_bin / "direct-tool").unlink()
        wait_past(cached_at, timeout)
        assert "direct-tool" not in os.listdir(binm)


def test_bin_and_local_bin_agree_at_once(usr_base, tmp_path):
    """Debian's local/bin is the env's bin: a script made or removed through
    one shows through the other at once (site_timeout=3600: only the daemon's
    invalidation can make them agree)."""
    if not usr_base.debian_patched:
        pytest.skip("only Debian-patched Pythons have local/bin")
    with mounted(usr_base.prefix, mnt(tmp_path), tmp_path / "site", base=usr_base,
                 extra_args=["-o", "site_timeout=3600"]) as m:
        binm, lbin = os.path.join(m.mnt, "bin"), os.path.join(m.mnt, "local", "bin")
        for d in (binm, lbin):      # both cached, without the script
            assert "tool" not in os.listdir(d)
            assert read(os.path.join(d, "tool")) is None
        with open(os.path.join(lbin, "tool"), "wb") as f:
            f.write(b"#!/bin/sh\n")
        # The daemon's invalidation runs on its own thread: poll for it, with
        # a bound far below the 3600 s that would be the kernel's timeout (so
        # it is the invalidation that is seen) and far above any scheduling
        # delay of a loaded machine under ASan.
        assert poll(lambda: "tool" in os.listdir(binm) and read(os.path.join(binm, "tool")) == b"#!/bin/sh\n",
                    INVALIDATION_BOUND)
        os.unlink(os.path.join(binm, "tool"))
        assert poll(lambda: "tool" not in os.listdir(lbin) and read(os.path.join(lbin, "tool")) is None,
                    INVALIDATION_BOUND)
