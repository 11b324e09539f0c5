"""What the kernel caches stays correct.

- What is written through the mount is seen at once, through the mount and
  in DIR.
- A change made directly in DIR (a new file, new content, a removed file) is
  seen through the mount within site_timeout.
- A base file replaced in place is seen within base_timeout (an option).
No timing is asserted: each change is polled for, bounded well past its timeout.
"""

import os
import shutil

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


def test_direct_changes_in_dir_are_seen_within_site_timeout(any_base, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    timeout = 0.5
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base,
                 extra_args=["-o", "site_timeout=%g" % timeout]) as m:
        sp = site_path(m, any_base)
        # the kernel caches the listing, the entry and the pages first
        assert "direct.py" not in os.listdir(sp)
        assert read(os.path.join(sp, "direct.py")) is None
        # a new file
        (site / "direct.py").write_bytes(b"A = 1\n")
        assert poll(lambda: "direct.py" in os.listdir(sp), timeout + 5)
        assert poll(lambda: read(os.path.join(sp, "direct.py")) == b"A = 1\n", timeout + 5)
        # new content of the same size (its pages were cached)
        old = os.stat(str(site / "direct.py")).st_mtime_ns
        (site / "direct.py").write_bytes(b"A = 2\n")
        os.utime(str(site / "direct.py"), ns=(old + 10**9, old + 10**9))
        assert poll(lambda: read(os.path.join(sp, "direct.py")) == b"A = 2\n", timeout + 5)
        # removed
        (site / "direct.py").unlink()
        assert poll(lambda: read(os.path.join(sp, "direct.py")) is None
                    and "direct.py" not in os.listdir(sp), timeout + 5)


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
    timeout = 0.5
    with mounted(base, mnt(tmp_path), tmp_path / "site",
                 extra_args=["-o", "base_timeout=%g" % timeout]) as m:
        seen = os.path.join(m.mnt, "lib", "python" + b.xy, "textwrap.py")
        before = read(seen)
        assert before and b"def dedent" in before
        # the upgrade: a new file replaces the old one (as a package manager does)
        tmp = target + ".new"
        with open(tmp, "wb") as f:
            f.write(b"# upgraded\n" + before)
        os.rename(tmp, target)
        assert poll(lambda: read(seen) == b"# upgraded\n" + before, timeout + 5)
    shutil.rmtree(base)


def test_direct_changes_behind_a_view_directory_are_seen(any_base, tmp_path):
    """M/bin shows the base's interpreter and the env's own scripts: a script
    put straight into DIR's area for them shows in M/bin's listing, and goes
    when removed, within site_timeout."""
    site = tmp_path / "site"
    timeout = 0.5
    with mounted(any_base.prefix, mnt(tmp_path), site, base=any_base,
                 extra_args=["-o", "site_timeout=%g" % timeout]) as m:
        binm = os.path.join(m.mnt, "bin")
        assert "direct-tool" not in os.listdir(binm)
        upper_bin = site / ".pyenvfs" / "upper" / "bin"
        upper_bin.mkdir(parents=True, exist_ok=True)
        (upper_bin / "direct-tool").write_bytes(b"#!/bin/sh\necho hi\n")
        assert poll(lambda: "direct-tool" in os.listdir(binm), timeout + 5)
        assert "python3" in os.listdir(binm)
        (upper_bin / "direct-tool").unlink()
        assert poll(lambda: "direct-tool" not in os.listdir(binm), timeout + 5)


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
        assert poll(lambda: "tool" in os.listdir(binm) and read(os.path.join(binm, "tool")) == b"#!/bin/sh\n", 2)
        os.unlink(os.path.join(binm, "tool"))
        assert poll(lambda: "tool" not in os.listdir(lbin) and read(os.path.join(lbin, "tool")) is None, 2)
