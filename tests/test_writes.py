"""Writes through a pyenvfs mount.

- DIR (the site dir) is a full POSIX passthrough through every path that
  shows it; what a call wrote is in DIR when the call returns.
- Files install schemes put outside site-packages (bin/, share/, include/site/)
  land in DIR/.pyenvfs/upper/<path>; the name .pyenvfs is reserved and hidden.
- Everything from the base, or generated, is EROFS for every modification.
- Ownership with allow_other, remounting the same DIR, deleting DIR.
- --system-site-packages: the base's site dirs, read-only, after DIR.
"""

import errno
import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

import pkgs
import pythons
from conftest import CMD_TIMEOUT, isolated_env, mounted, run, without_venv_pth

RESERVED = ".pyenvfs"


class W:
    """A mounted env: M, DIR and the site paths that show DIR."""

    def __init__(self, m, b):
        self.m = m
        self.b = b
        self.mnt = m.mnt
        self.site = m.site
        self.upper = os.path.join(m.site, RESERVED, "upper")
        self.sp = os.path.join(m.mnt, b.stdlib_rel, "site-packages")
        self.site_paths = [self.sp]
        if b.debian_patched:
            self.site_paths.append(os.path.join(m.mnt, "local", "lib", "python" + b.xy,
                                                "dist-packages"))
        self.stdlib = os.path.join(m.mnt, b.stdlib_rel)


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    d = tmp_path_factory.mktemp("writes-" + b.id)
    (d / "mnt").mkdir()
    with mounted(b.prefix, d / "mnt", d / "site", pythons.python_args(b), base=b) as m:
        yield W(m, b)


@pytest.fixture
def sub(w, request):
    """A fresh directory in DIR for one test: (path through the mount, real path)."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    real = os.path.join(w.site, name)
    if os.path.lexists(real):
        shutil.rmtree(real)
    os.mkdir(os.path.join(w.sp, name))
    return os.path.join(w.sp, name), real


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def write(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def assert_errno(expected, func, *args, **kw):
    if isinstance(expected, int):
        expected = (expected,)
    with pytest.raises(OSError) as ei:
        func(*args, **kw)
    assert ei.value.errno in expected, "%s%r: %s, expected %s" % (
        func.__name__, args, ei.value, "/".join(errno.errorcode[e] for e in expected))


# ---------------------------------------------------------------------------
# DIR: POSIX passthrough

def test_create_write_read(w, sub):
    m, real = sub
    data = os.urandom(300000)
    write(os.path.join(m, "f.bin"), data)
    assert read(os.path.join(real, "f.bin")) == data
    assert read(os.path.join(m, "f.bin")) == data
    assert os.stat(os.path.join(m, "f.bin")).st_size == len(data)
    assert "f.bin" in os.listdir(m)
    # O_EXCL on an existing name
    assert_errno(errno.EEXIST, os.open, os.path.join(m, "f.bin"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    # append
    write(os.path.join(m, "f.bin"), b"tail", "ab")
    assert read(os.path.join(real, "f.bin")) == data + b"tail"
    os.unlink(os.path.join(m, "f.bin"))
    assert not os.path.lexists(os.path.join(real, "f.bin"))
    assert_errno(errno.ENOENT, os.stat, os.path.join(m, "f.bin"))


def test_write_visible_in_dir_when_call_returns(w, sub):
    m, real = sub
    fd = os.open(os.path.join(m, "live.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert os.path.exists(os.path.join(real, "live.txt"))
        os.write(fd, b"first")
        assert read(os.path.join(real, "live.txt")) == b"first"
        os.write(fd, b" second")
        assert read(os.path.join(real, "live.txt")) == b"first second"
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"FIRST")
        assert read(os.path.join(real, "live.txt")) == b"FIRST second"
    finally:
        os.close(fd)
    # and the other way: DIR written directly shows through the mount
    write(os.path.join(real, "direct.txt"), b"direct")
    assert read(os.path.join(m, "direct.txt")) == b"direct"


def test_truncate(w, sub):
    m, real = sub
    p, r = os.path.join(m, "t.txt"), os.path.join(real, "t.txt")
    write(p, b"0123456789")
    os.truncate(p, 4)
    assert read(r) == b"0123"
    with open(p, "r+b") as f:
        f.truncate(2)
        f.flush()
        assert read(r) == b"01"
        os.ftruncate(f.fileno(), 6)
    assert read(r) == b"01\0\0\0\0"
    # O_TRUNC on an existing file
    write(p, b"new")
    assert read(r) == b"new"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert read(r) == b""
    assert os.stat(p).st_size == 0


def test_rename(w, sub):
    m, real = sub
    write(os.path.join(m, "a"), b"A")
    os.rename(os.path.join(m, "a"), os.path.join(m, "b"))
    assert sorted(os.listdir(real)) == ["b"]
    assert read(os.path.join(m, "b")) == b"A"
    # over an existing file
    write(os.path.join(m, "c"), b"C")
    os.replace(os.path.join(m, "c"), os.path.join(m, "b"))
    assert read(os.path.join(real, "b")) == b"C"
    assert sorted(os.listdir(m)) == ["b"]
    # directories, with content, and into another directory
    os.makedirs(os.path.join(m, "d1", "inner"))
    write(os.path.join(m, "d1", "inner", "f"), b"F")
    os.mkdir(os.path.join(m, "target"))
    os.rename(os.path.join(m, "d1"), os.path.join(m, "target", "d2"))
    assert read(os.path.join(real, "target", "d2", "inner", "f")) == b"F"
    assert read(os.path.join(m, "target", "d2", "inner", "f")) == b"F"
    assert not os.path.exists(os.path.join(m, "d1"))
    assert not os.path.exists(os.path.join(real, "d1"))
    # a file moved between directories
    os.rename(os.path.join(m, "b"), os.path.join(m, "target", "d2", "b"))
    assert read(os.path.join(real, "target", "d2", "b")) == b"C"
    # onto a non-empty directory fails as it does natively
    os.mkdir(os.path.join(m, "e"))
    assert_errno((errno.ENOTEMPTY, errno.EEXIST), os.rename,
                 os.path.join(m, "e"), os.path.join(m, "target"))


def test_hard_links(w, sub):
    m, real = sub
    write(os.path.join(m, "orig"), b"shared")
    os.link(os.path.join(m, "orig"), os.path.join(m, "link"))
    assert os.stat(os.path.join(m, "orig")).st_nlink == 2
    assert os.stat(os.path.join(m, "link")).st_nlink == 2
    assert os.stat(os.path.join(real, "orig")).st_ino == os.stat(os.path.join(real, "link")).st_ino
    assert os.stat(os.path.join(m, "orig")).st_ino == os.stat(os.path.join(m, "link")).st_ino
    write(os.path.join(m, "link"), b"changed")
    assert read(os.path.join(m, "orig")) == b"changed"
    os.unlink(os.path.join(m, "orig"))
    assert os.stat(os.path.join(m, "link")).st_nlink == 1
    assert os.stat(os.path.join(real, "link")).st_nlink == 1


def test_symlinks(w, sub):
    m, real = sub
    write(os.path.join(m, "target.txt"), b"T")
    os.symlink("target.txt", os.path.join(m, "ln"))
    assert os.readlink(os.path.join(m, "ln")) == "target.txt"
    assert os.readlink(os.path.join(real, "ln")) == "target.txt"
    assert stat.S_ISLNK(os.lstat(os.path.join(m, "ln")).st_mode)
    assert read(os.path.join(m, "ln")) == b"T"
    os.symlink("/nonexistent/dangling", os.path.join(m, "dangling"))
    assert os.readlink(os.path.join(m, "dangling")) == "/nonexistent/dangling"
    assert not os.path.exists(os.path.join(m, "dangling"))
    os.unlink(os.path.join(m, "ln"))
    assert not os.path.lexists(os.path.join(real, "ln"))
    assert os.path.exists(os.path.join(real, "target.txt"))


def test_mkdir_rmdir(w, sub):
    m, real = sub
    os.mkdir(os.path.join(m, "d"), 0o750)
    assert os.path.isdir(os.path.join(real, "d"))
    assert stat.S_IMODE(os.stat(os.path.join(real, "d")).st_mode) == 0o750 & ~_umask()
    write(os.path.join(m, "d", "f"), b"")
    assert_errno(errno.ENOTEMPTY, os.rmdir, os.path.join(m, "d"))
    os.unlink(os.path.join(m, "d", "f"))
    os.rmdir(os.path.join(m, "d"))
    assert not os.path.exists(os.path.join(real, "d"))
    assert_errno(errno.ENOENT, os.rmdir, os.path.join(m, "d"))
    os.makedirs(os.path.join(m, "x", "y", "z"))
    assert os.path.isdir(os.path.join(real, "x", "y", "z"))
    shutil.rmtree(os.path.join(m, "x"))
    assert os.listdir(real) == []


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_chmod_and_utime(w, sub):
    m, real = sub
    p, r = os.path.join(m, "f"), os.path.join(real, "f")
    write(p, b"x")
    os.chmod(p, 0o640)
    assert stat.S_IMODE(os.stat(r).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    os.chmod(p, 0o755)
    assert stat.S_IMODE(os.stat(r).st_mode) == 0o755
    assert os.access(p, os.X_OK)
    os.utime(p, (1000000000, 1500000000))
    assert os.stat(r).st_mtime == 1500000000
    assert os.stat(r).st_atime == 1000000000
    assert os.stat(p).st_mtime == 1500000000
    os.utime(p, ns=(1000000000123456789, 1500000000987654321))
    assert os.stat(r).st_mtime_ns == 1500000000987654321
    assert os.stat(p).st_mtime_ns == 1500000000987654321
    os.utime(p)  # now
    assert os.stat(r).st_mtime > 1500000000
    # a directory too
    os.mkdir(os.path.join(m, "d"))
    os.chmod(os.path.join(m, "d"), 0o700)
    assert stat.S_IMODE(os.stat(os.path.join(real, "d")).st_mode) == 0o700
    os.utime(os.path.join(m, "d"), (5, 6))
    assert os.stat(os.path.join(real, "d")).st_mtime == 6


def _xattr_supported(path):
    probe = os.path.join(path, ".xattr-probe")
    write(probe, b"")
    try:
        os.setxattr(probe, "user.pyenvfs_probe", b"1")
        return True
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise
    finally:
        os.unlink(probe)


def test_xattrs(w, sub):
    m, real = sub
    if not _xattr_supported(real):
        pytest.skip("the file system under DIR has no user xattrs")
    p, r = os.path.join(m, "f"), os.path.join(real, "f")
    write(p, b"x")
    os.setxattr(p, "user.pyenvfs", b"value-1")
    assert os.getxattr(r, "user.pyenvfs") == b"value-1"
    assert os.getxattr(p, "user.pyenvfs") == b"value-1"
    assert "user.pyenvfs" in os.listxattr(p)
    os.setxattr(r, "user.direct", b"d")
    assert os.getxattr(p, "user.direct") == b"d"
    os.removexattr(p, "user.pyenvfs")
    assert "user.pyenvfs" not in os.listxattr(r)
    assert_errno(getattr(errno, "ENODATA", 61), os.getxattr, p, "user.pyenvfs")


def test_fsync(w, sub):
    m, real = sub
    fd = os.open(os.path.join(m, "f"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"synced")
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    assert read(os.path.join(real, "f")) == b"synced"
    dfd = os.open(m, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


LOCK_CHILD = r"""
import fcntl, os, sys
kind, path = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
try:
    if kind == "posix":
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError as e:
    print("busy")
else:
    print("got")
"""


@pytest.mark.parametrize("kind", ["posix", "flock"])
def test_locks(w, sub, kind):
    m, real = sub
    p = os.path.join(m, "lockfile")
    write(p, b"lock")

    def child():
        r = run([sys.executable, "-c", LOCK_CHILD, kind, p], timeout=CMD_TIMEOUT)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    fd = os.open(p, os.O_RDWR)
    try:
        if kind == "posix":
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert child() == "busy"
        if kind == "posix":
            fcntl.lockf(fd, fcntl.LOCK_UN)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        assert child() == "got"
    finally:
        os.close(fd)


def test_mmap_write(w, sub):
    import mmap
    m, real = sub
    p = os.path.join(m, "mm")
    write(p, b"\0" * 8192)
    with open(p, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 8192)
        mm[0:5] = b"hello"
        mm.flush()
        mm.close()
    assert read(os.path.join(real, "mm"))[:5] == b"hello"


def test_both_site_paths_show_same_dir(w, sub):
    if len(w.site_paths) < 2:
        pytest.skip("one site path only (not a Debian-patched Python)")
    name = os.path.basename(sub[0])
    a, b = [os.path.join(sp, name) for sp in w.site_paths]
    write(os.path.join(a, "x.txt"), b"via lib")
    assert read(os.path.join(b, "x.txt")) == b"via lib"
    write(os.path.join(b, "x.txt"), b"via local")
    assert read(os.path.join(a, "x.txt")) == b"via local"
    assert read(os.path.join(sub[1], "x.txt")) == b"via local"
    # directories looked up alternately through both places (one dentry per inode)
    os.makedirs(os.path.join(a, "pkg", "sub"))
    for _ in range(3):
        for sp in w.site_paths:
            assert os.listdir(os.path.join(sp, name, "pkg")) == ["sub"]
            assert os.path.isdir(os.path.join(sp, name, "pkg", "sub"))
            os.stat(os.path.join(sp, name))
    write(os.path.join(b, "pkg", "sub", "m.py"), b"X = 1\n")
    assert read(os.path.join(a, "pkg", "sub", "m.py")) == b"X = 1\n"
    # a rename from one place to the other is a rename within DIR
    os.rename(os.path.join(a, "x.txt"), os.path.join(b, "y.txt"))
    assert sorted(os.listdir(sub[1])) == ["pkg", "y.txt"]
    assert sorted(os.listdir(a)) == ["pkg", "y.txt"]
    for sp in w.site_paths:
        assert RESERVED not in os.listdir(sp)


# ---------------------------------------------------------------------------
# the upper dir: scheme paths outside site-packages

def test_share_file_lands_in_upper(w):
    p = os.path.join(w.mnt, "share", "x", "y.txt")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    write(p, b"shared data")
    real = os.path.join(w.upper, "share", "x", "y.txt")
    assert read(real) == b"shared data"
    assert read(p) == b"shared data"
    os.unlink(p)
    os.rmdir(os.path.dirname(p))
    assert not os.path.exists(os.path.dirname(real))


def test_include_site_lands_in_upper(w):
    p = os.path.join(w.mnt, "include", "site", "python" + w.b.xy, "pkg", "h.h")
    os.makedirs(os.path.dirname(p))
    write(p, b"#define X 1\n")
    assert read(os.path.join(w.upper, "include", "site", "python" + w.b.xy, "pkg", "h.h")) \
        == b"#define X 1\n"
    shutil.rmtree(os.path.join(w.mnt, "include", "site"))
    assert not os.path.exists(os.path.join(w.upper, "include", "site"))
    # B's headers are still there
    assert os.path.isfile(os.path.join(w.mnt, w.b.include_rel, "Python.h"))


def test_bin_script_lands_in_upper(w, tmp_path):
    p = os.path.join(w.mnt, "bin", "my-tool")
    write(p, b"#!/bin/sh\necho my-tool-ran\n")
    os.chmod(p, 0o755)
    assert os.path.isfile(os.path.join(w.upper, "bin", "my-tool"))
    r = run(["sh", "-c", "my-tool"], env=isolated_env(tmp_path, {
        "PATH": os.path.join(w.mnt, "bin") + ":/usr/bin:/bin"}))
    assert r.stdout.strip() == "my-tool-ran", r.stderr
    if w.b.debian_patched:
        # local/bin shows the env's scripts too
        assert read(os.path.join(w.mnt, "local", "bin", "my-tool")).startswith(b"#!/bin/sh")
    os.unlink(p)
    assert not os.path.lexists(os.path.join(w.upper, "bin", "my-tool"))
    assert os.path.isfile(os.path.join(w.mnt, "bin", "python3"))


# ---------------------------------------------------------------------------
# the reserved name

def test_reserved_name_hidden(w):
    assert os.path.isdir(os.path.join(w.site, RESERVED))
    for sp in w.site_paths:
        assert RESERVED not in os.listdir(sp)
        assert_errno(errno.ENOENT, os.stat, os.path.join(sp, RESERVED))
        assert_errno(errno.ENOENT, os.lstat, os.path.join(sp, RESERVED, "upper"))
        assert not os.path.lexists(os.path.join(sp, RESERVED))


def test_reserved_name_cannot_be_created(w):
    before = pkgs.walk_names(os.path.join(w.site, RESERVED))
    for sp in w.site_paths:
        p = os.path.join(sp, RESERVED)
        with pytest.raises(OSError):
            write(p, b"x")
        with pytest.raises(OSError):
            os.mkdir(p)
        with pytest.raises(OSError):
            os.symlink("/tmp", p)
        write(os.path.join(sp, "to-rename"), b"r")
        with pytest.raises(OSError):
            os.rename(os.path.join(sp, "to-rename"), p)
        os.unlink(os.path.join(sp, "to-rename"))
        assert RESERVED not in os.listdir(sp)
    assert os.path.isdir(os.path.join(w.site, RESERVED, "upper"))
    assert pkgs.walk_names(os.path.join(w.site, RESERVED)) == before


def test_reserved_name_only_at_top(w, sub):
    m, real = sub
    write(os.path.join(m, RESERVED), b"fine below the top")
    assert read(os.path.join(real, RESERVED)) == b"fine below the top"
    assert RESERVED in os.listdir(m)


# ---------------------------------------------------------------------------
# EROFS for the base and generated files

def test_erofs_stdlib(w):
    osfile = os.path.join(w.stdlib, "os.py")
    real = os.path.join(w.b.stdlib, "os.py")
    before = hashlib.sha256(read(real)).hexdigest()
    st = os.stat(real)
    assert_errno(errno.EROFS, open, osfile, "r+b")
    assert_errno(errno.EROFS, open, osfile, "ab")
    assert_errno(errno.EROFS, open, osfile, "wb")
    assert_errno(errno.EROFS, os.truncate, osfile, 0)
    assert_errno(errno.EROFS, os.chmod, osfile, 0o777)
    assert_errno(errno.EROFS, os.utime, osfile, (1, 2))
    assert_errno(errno.EROFS, os.utime, osfile, None)
    assert_errno(errno.EROFS, os.unlink, osfile)
    assert_errno(errno.EROFS, os.rename, osfile, os.path.join(w.stdlib, "os2.py"))
    assert_errno((errno.EROFS, errno.EXDEV), os.rename, osfile, os.path.join(w.sp, "os.py"))
    assert_errno((errno.EROFS, errno.EXDEV), os.link, osfile, os.path.join(w.sp, "oslink.py"))
    assert_errno(errno.EROFS, open, os.path.join(w.stdlib, "newfile"), "w")
    assert_errno(errno.EROFS, os.mkdir, os.path.join(w.stdlib, "newdir"))
    assert_errno(errno.EROFS, os.symlink, "os.py", os.path.join(w.stdlib, "newlink"))
    assert_errno(errno.EROFS, os.rmdir, os.path.join(w.stdlib, "json"))
    assert_errno(errno.EROFS, os.rename, os.path.join(w.stdlib, "json"),
                 os.path.join(w.stdlib, "json2"))
    assert_errno((errno.EROFS, errno.ENOTSUP), os.setxattr, osfile, "user.x", b"1")
    # a file moved from DIR onto a base name
    write(os.path.join(w.sp, "mine.py"), b"")
    assert_errno((errno.EROFS, errno.EXDEV), os.rename, os.path.join(w.sp, "mine.py"), osfile)
    os.unlink(os.path.join(w.sp, "mine.py"))
    # nothing changed, nothing appeared
    assert hashlib.sha256(read(real)).hexdigest() == before
    st2 = os.stat(real)
    assert (st2.st_mode, st2.st_mtime_ns, st2.st_uid) == (st.st_mode, st.st_mtime_ns, st.st_uid)
    for n in ("newfile", "newdir", "newlink", "os2.py", "json2"):
        assert not os.path.lexists(os.path.join(w.stdlib, n))
        assert not os.path.lexists(os.path.join(w.b.stdlib, n))
    assert not os.path.lexists(os.path.join(w.site, "os.py"))
    assert not os.path.lexists(os.path.join(w.site, "oslink.py"))


def test_erofs_generated_and_bin(w):
    cfg = os.path.join(w.mnt, "pyvenv.cfg")
    text = read(cfg)
    assert_errno(errno.EROFS, open, cfg, "wb")
    assert_errno(errno.EROFS, open, cfg, "ab")
    assert_errno(errno.EROFS, os.unlink, cfg)
    assert_errno(errno.EROFS, os.chmod, cfg, 0o666)
    assert_errno(errno.EROFS, os.rename, cfg, os.path.join(w.mnt, "pyvenv.old"))
    assert read(cfg) == text
    py = os.path.join(w.mnt, "bin", "python3")
    assert_errno(errno.EROFS, open, py, "r+b")
    assert_errno(errno.EROFS, os.unlink, py)
    assert_errno(errno.EROFS, os.chmod, py, 0o777)
    assert_errno(errno.EROFS, os.rename, py, os.path.join(w.mnt, "bin", "python3.old"))
    # a script of the env may not replace the interpreter either
    write(os.path.join(w.mnt, "bin", "fake"), b"#!/bin/sh\n")
    assert_errno(errno.EROFS, os.rename, os.path.join(w.mnt, "bin", "fake"), py)
    os.unlink(os.path.join(w.mnt, "bin", "fake"))
    assert os.access(py, os.X_OK)
    act = os.path.join(w.mnt, "bin", "activate")
    if os.path.exists(act):
        assert_errno(errno.EROFS, open, act, "ab")
    # The headers directory takes the env's own headers (the prefix scheme
    # installs a package's there); they land in DIR, never in the base, and
    # the base's headers stay read-only.
    inc = os.path.join(w.mnt, w.b.include_rel)
    os.mkdir(os.path.join(inc, "x"))
    write(os.path.join(inc, "x.h"), b"/* env */\n")
    upper_inc = os.path.join(w.site, ".pyenvfs", "upper", w.b.include_rel)
    assert os.path.isdir(os.path.join(upper_inc, "x"))
    assert os.path.isfile(os.path.join(upper_inc, "x.h"))
    os.unlink(os.path.join(inc, "x.h"))
    os.rmdir(os.path.join(inc, "x"))
    assert_errno(errno.EROFS, open, os.path.join(inc, "Python.h"), "ab")
    assert_errno(errno.EROFS, os.unlink, os.path.join(inc, "Python.h"))
    assert not os.path.lexists(os.path.join(w.b.prefix, w.b.include_rel, "x"))
    assert not os.path.lexists(os.path.join(w.b.prefix, w.b.include_rel, "x.h"))


# ---------------------------------------------------------------------------
# ownership with allow_other

OWNER_CHILD = r"""
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "by-nobody.txt"), "w") as f:
    f.write("nobody was here")
os.mkdir(os.path.join(d, "nobody-dir"))
st = os.stat(os.path.join(d, "by-nobody.txt"))
print(st.st_uid, st.st_gid)
"""


def _drop_to_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def test_ownership_allow_other():
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no base")
    # the mount point must be reachable by uid 65534: not under pytest's 0700 temp dir
    top = tempfile.mkdtemp(prefix="pyenvfs-owner-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        mnt, site = os.path.join(top, "mnt"), os.path.join(top, "site")
        os.mkdir(mnt)
        with mounted(b.prefix, mnt, site, pythons.python_args(b) + ["-o", "allow_other"], base=b) as m:
            sp = os.path.join(m.mnt, b.stdlib_rel, "site-packages")
            shared = os.path.join(sp, "shared")
            os.mkdir(shared)
            os.chmod(shared, 0o777)
            r = subprocess.run(["/usr/bin/python3", "-c", OWNER_CHILD, shared],
                               preexec_fn=_drop_to_nobody, cwd="/", timeout=CMD_TIMEOUT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, env={"PATH": "/usr/bin:/bin"})
            assert r.returncode == 0, r.stderr
            assert r.stdout.split() == ["65534", "65534"], r.stdout
            for n in ("by-nobody.txt", "nobody-dir"):
                st = os.stat(os.path.join(site, "shared", n))
                assert (st.st_uid, st.st_gid) == (65534, 65534), n
            assert read(os.path.join(site, "shared", "by-nobody.txt")) == b"nobody was here"
            # and root's files are root's
            write(os.path.join(shared, "by-root.txt"), b"")
            assert os.stat(os.path.join(site, "shared", "by-root.txt")).st_uid == 0
            # the unprivileged user cannot write the base (EROFS, not a silent success)
            r = subprocess.run(["/usr/bin/python3", "-c",
                                "open(%r, 'w')" % os.path.join(sp, "..", "newfile")],
                               preexec_fn=_drop_to_nobody, cwd="/", timeout=CMD_TIMEOUT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, env={"PATH": "/usr/bin:/bin"})
            assert r.returncode != 0
            assert "Read-only file system" in r.stderr or "Permission denied" in r.stderr, r.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---------------------------------------------------------------------------
# remount, delete DIR

def _base_snapshot(b):
    """Names (and mtimes) of the places an env's files could leak into in B."""
    snap = {}
    places = [os.path.join(b.prefix, "bin"), os.path.join(b.prefix, "share"),
              os.path.join(b.prefix, "include"), b.stdlib,
              os.path.join(b.stdlib, "site-packages"), os.path.join(b.prefix, "lib")]
    if b.kind == "usr":
        places += ["/usr/lib/python3/dist-packages", "/usr/local/bin", "/usr/local/share",
                   "/usr/local/lib/python%s/dist-packages" % b.xy]
    for p in places:
        try:
            snap[p] = sorted((n, os.lstat(os.path.join(p, n)).st_mtime_ns) for n in os.listdir(p))
        except OSError:
            snap[p] = None
    return snap


def _pip_wheel_for(b):
    if b.kind == "usr":
        return pkgs.debian_pip_wheel()
    ws = sorted(p for p in os.listdir(os.path.join(b.stdlib, "ensurepip", "_bundled"))
                if p.startswith("pip-"))
    return os.path.join(b.stdlib, "ensurepip", "_bundled", ws[-1]) if ws else None


def test_remount_and_delete_dir(tmp_path):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no base")
    pipwhl = _pip_wheel_for(b)
    if not pipwhl:
        pytest.skip("no pip wheel for %s" % b.id)
    before = _base_snapshot(b)
    mnt, site, work = tmp_path / "mnt", tmp_path / "site", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    wheel = pkgs.demo_wheel(str(work))
    env = pkgs.pip_env(work, str(mnt))
    py = os.path.join(str(mnt), "bin", "python3")
    listing_parent = sorted(os.listdir(str(tmp_path)))
    with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b):
        pkgs.run_checked([py, os.path.join(pipwhl, "pip"), "install", "--no-index", wheel], env)
        r = pkgs.run_checked(["sh", "-c", pkgs.DEMO_SCRIPT], env)
        assert r.stdout.strip() == pkgs.DEMO_OUTPUT
    assert os.listdir(str(mnt)) == []
    assert os.path.isfile(os.path.join(str(site), pkgs.DEMO_NAME, "__init__.py"))
    # the same DIR at the same M: all back
    with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
        r = pkgs.run_checked(["sh", "-c", pkgs.DEMO_SCRIPT], env)
        assert r.stdout.strip() == pkgs.DEMO_OUTPUT
        r = pkgs.run_checked([py, "-c", "import %s as d; print(d.VALUE)" % pkgs.DEMO_NAME], env)
        assert r.stdout.strip() == "pyenvfs-demo-value"
        with open(os.path.join(m.mnt, pkgs.DEMO_DATA_REL)) as f:
            assert f.read() == pkgs.DEMO_DATA_TEXT
    # delete DIR: nothing of the env remains anywhere
    shutil.rmtree(str(site))
    assert os.listdir(str(mnt)) == []
    after_parent = sorted(n for n in os.listdir(str(tmp_path)) if not n.endswith(".log"))
    assert after_parent == sorted(n for n in listing_parent if n != "site"), after_parent
    assert _base_snapshot(b) == before
    for p in ("bin/" + pkgs.DEMO_SCRIPT, pkgs.DEMO_DATA_REL, "local/bin/" + pkgs.DEMO_SCRIPT,
              "local/" + pkgs.DEMO_DATA_REL):
        assert not os.path.lexists(os.path.join(b.prefix, p)), p
    # and a fresh mount over a new DIR shows none of it
    with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
        assert not os.path.lexists(os.path.join(m.mnt, "bin", pkgs.DEMO_SCRIPT))
        assert not os.path.lexists(os.path.join(m.mnt, pkgs.DEMO_DATA_REL))
        assert without_venv_pth(os.listdir(os.path.join(m.mnt, b.stdlib_rel, "site-packages"))) == []


# ---------------------------------------------------------------------------
# --system-site-packages (Debian /usr)

SYS_MODULE = "yaml"          # from /usr/lib/python3/dist-packages (python3-yaml)
SHADOWED = "distro"          # a base package DIR replaces


@pytest.fixture(scope="module")
def sysenv(tmp_path_factory):
    b = pythons.find("usr-3.11") or next(
        (x for x in pythons.discover().values() if x.kind == "usr"), None)
    if b is None:
        pytest.skip("no Python in /usr")
    dp = "/usr/lib/python3/dist-packages"
    for mod in (SYS_MODULE, SHADOWED):
        if not os.path.exists(os.path.join(dp, mod)):
            pytest.skip("%s not in %s" % (mod, dp))
    d = tmp_path_factory.mktemp("sysenv")
    (d / "mnt").mkdir()
    site = d / "site"
    site.mkdir()
    (site / (SHADOWED + ".py")).write_text("FROM = 'DIR'\n")
    with mounted(b.prefix, d / "mnt", site, pythons.python_args(b) + ["--system-site-packages"],
                 base=b) as m:
        yield W(m, b), d


def _sys_probe(w, home, mode):
    code = ("import sys, %s, %s; sys.stdout.write(%s.__file__ + '|' + %s.__file__ + '|' + "
            "%s.FROM)" % (SYS_MODULE, SHADOWED, SYS_MODULE, SHADOWED, SHADOWED))
    extra = {"PATH": os.path.join(w.mnt, "bin") + ":/usr/bin:/bin"}
    if mode == "home":
        extra["PYTHONHOME"] = w.mnt
    r = run([os.path.join(w.mnt, "bin", "python3"), "-c", code], cwd="/",
            env=isolated_env(home, extra))
    assert r.returncode == 0, r.stderr
    return r.stdout.split("|")


def test_system_site_pyvenv_cfg(sysenv):
    w, _ = sysenv
    cfg = read(os.path.join(w.mnt, "pyvenv.cfg"), "r")
    assert "include-system-site-packages = true" in cfg, cfg


@pytest.mark.parametrize("mode", ["home", "venv"])
def test_system_site_imports(sysenv, mode):
    w, d = sysenv
    sysmod, shadow, frm = _sys_probe(w, d, mode)
    assert os.path.basename(os.path.dirname(sysmod)) == SYS_MODULE
    if mode == "home":
        assert sysmod.startswith(w.mnt + "/"), sysmod
    assert frm == "DIR"
    assert shadow.startswith(w.mnt + "/"), shadow


def test_system_site_read_only(sysenv):
    w, _ = sysenv
    dp = os.path.join(w.mnt, "lib", "python3", "dist-packages")
    assert os.path.isdir(os.path.join(dp, SYS_MODULE))
    assert_errno(errno.EROFS, open, os.path.join(dp, "newfile.py"), "w")
    assert_errno(errno.EROFS, os.mkdir, os.path.join(dp, "newdir"))
    assert_errno(errno.EROFS, os.unlink, os.path.join(dp, SYS_MODULE, "__init__.py"))
    assert_errno(errno.EROFS, os.rename, os.path.join(dp, SYS_MODULE),
                 os.path.join(dp, SYS_MODULE + "2"))
    assert not os.path.exists("/usr/lib/python3/dist-packages/newfile.py")
    # DIR is still writable and comes first
    write(os.path.join(w.sp, "sysenv_w.py"), b"")
    assert os.path.isfile(os.path.join(w.site, "sysenv_w.py"))
