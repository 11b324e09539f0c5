"""FUSE passthrough (libfuse >= 3.17, Linux >= 6.9, a root daemon): reads,
writes and mmap of files opened through the mount go to the backing file.

Passthrough is shown to be in use by the daemon's own counters (the stats
xattr): with it, reads and writes never reach the daemon.  Data is checked
against the backing files in DIR, in the env's own area and in the base;
generated files stay served by the daemon; -o passthrough=off, -o no_open and
an unprivileged daemon fall back to the daemon serving every read and write.
"""
import mmap
import os
import re
import subprocess
import threading

import pytest

from conftest import PYENVFS, MARKER_FILE, make_site_with_marker, mount_count, mounted
from helpers_env import (dev_fuse_mode, is_root, remove_tree, run_as, throwaway_users, wait_unmounted,
                         world_tmpdir)

PT_XATTR = "user.pyenvfs.passthrough"


def version_line():
    return subprocess.run([PYENVFS, "--version"], capture_output=True, text=True,
                          check=True).stdout


def built_with_passthrough():
    m = re.search(r"libfuse (\d+)\.(\d+)", version_line())
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (3, 17)


def stats(mnt):
    text = os.getxattr(mnt, "user.pyenvfs.stats").decode()
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


def state(mnt):
    return os.getxattr(mnt, PT_XATTR).decode()


def native_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_version_says_whether_built():
    out = version_line()
    if built_with_passthrough():
        assert "passthrough: available" in out, out
    else:
        assert "passthrough: not built" in out, out


def _mount_dirs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    make_site_with_marker(site)
    return mnt, site


@pytest.fixture
def pt_mount(tmp_path, usr_base):
    """/usr mounted by this (root) daemon, passthrough on; skipped where the
    build, the daemon or the kernel cannot have it."""
    if not built_with_passthrough():
        pytest.skip("built with libfuse < 3.17: no passthrough")
    if not is_root():
        pytest.skip("passthrough needs a root daemon")
    if "no_open" in os.environ.get("PYENVFS_TEST_EXTRA_ARGS", "") or \
            "passthrough=off" in os.environ.get("PYENVFS_TEST_EXTRA_ARGS", ""):
        pytest.skip("PYENVFS_TEST_EXTRA_ARGS turns passthrough off")
    mnt, site = _mount_dirs(tmp_path)
    with mounted(usr_base.prefix, mnt, site, base=usr_base) as m:
        if state(m.mnt).startswith("off: the kernel"):
            pytest.skip("the kernel does not offer FUSE passthrough")
        yield m


def site_rel(m):
    return os.path.join("lib", "python" + m.base.xy, "site-packages")


def test_on_and_said(pt_mount):
    assert state(pt_mount.mnt) == "on"
    assert stats(pt_mount.mnt)["passthrough"] == 1


def test_reads_from_every_layer_bypass_the_daemon(pt_mount):
    m = pt_mount
    xy = m.base.xy
    # the env's own area (DIR/.pyenvfs/upper): a file made through the mount
    os.makedirs(m.path("share", "pt"), exist_ok=True)
    with open(m.path("share", "pt", "data.bin"), "wb") as f:
        f.write(os.urandom(100000))
    cases = [
        (m.path("lib", "python" + xy, "os.py"), os.path.join(m.base.prefix, "lib", "python" + xy, "os.py")),
        (m.path(site_rel(m), MARKER_FILE), os.path.join(m.site, MARKER_FILE)),
        (m.path("share", "pt", "data.bin"), None),
    ]
    before = stats(m.mnt)
    for through, native in cases:
        data = native_bytes(through)
        assert data
        if native:
            assert data == native_bytes(native), through
    after = stats(m.mnt)
    assert after["passthrough_opens"] - before["passthrough_opens"] >= len(cases)
    assert after.get("read", 0) == before.get("read", 0), "reads reached the daemon"
    assert after["backing_files"] == 0, "backing files kept after the last close"


def test_write_read_mmap_in_dir_and_env_area(pt_mount):
    m = pt_mount
    os.makedirs(m.path("share", "pt"), exist_ok=True)
    places = [(m.path(site_rel(m), "pt.bin"), os.path.join(m.site, "pt.bin")),
              (m.path("share", "pt", "pt.bin"), None)]
    before = stats(m.mnt)
    for through, native in places:
        payload = os.urandom(3 * 4096 + 17)
        with open(through, "wb") as f:
            f.write(payload)
        assert os.stat(through).st_size == len(payload)
        if native:
            assert native_bytes(native) == payload
        # a shared writable mapping: its stores land in the backing file
        with open(through, "r+b") as f:
            with mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
                assert mm[:len(payload)] == payload
                mm[4096:4101] = b"HELLO"
                mm.flush()
        expect = payload[:4096] + b"HELLO" + payload[4101:]
        assert native_bytes(through) == expect
        if native:
            assert native_bytes(native) == expect
        # append, truncate, pwrite at an offset
        with open(through, "ab") as f:
            f.write(b"tail")
        with open(through, "r+b") as f:
            f.truncate(10)
            os.pwrite(f.fileno(), b"XY", 2)
        assert native_bytes(through) == expect[:2] + b"XY" + expect[4:10]
        assert os.stat(through).st_size == 10
        os.unlink(through)
    after = stats(m.mnt)
    assert after.get("write", 0) == before.get("write", 0), "writes reached the daemon"
    assert after.get("read", 0) == before.get("read", 0), "reads reached the daemon"
    assert after["backing_files"] == 0


def test_base_refuses_writes_mmap_reads_through(pt_mount):
    m = pt_mount
    rel = os.path.join("lib", "python" + m.base.xy, "os.py")
    through = m.path(rel)
    native = os.path.join(m.base.prefix, rel)
    with pytest.raises(OSError) as e:
        os.open(through, os.O_RDWR)
    assert e.value.errno == 30      # EROFS
    fd = os.open(through, os.O_RDONLY)
    try:
        with pytest.raises(OSError):     # EACCES: not open for writing
            mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        with mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
            assert mm[:] == native_bytes(native)
        # a private copy-on-write mapping may be written; the base is not
        with mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
            mm[0:1] = b"#"
    finally:
        os.close(fd)
    assert native_bytes(through) == native_bytes(native)


def test_generated_files_stay_served_by_the_daemon(pt_mount):
    m = pt_mount
    before = stats(m.mnt)
    cfg = native_bytes(m.path("pyvenv.cfg")).decode()
    assert "home = %s" % os.path.join(m.base.prefix, "bin") in cfg
    act = native_bytes(m.path("bin", "activate")).decode()
    assert m.mnt in act
    after = stats(m.mnt)
    assert after["read"] > before.get("read", 0), "generated content not read from the daemon"
    assert after["passthrough_opens"] == before["passthrough_opens"]


def test_concurrent_opens_of_one_inode(pt_mount):
    """Every open of an inode open in passthrough mode must name the same
    backing file, or the kernel fails the open with EIO."""
    m = pt_mount
    path = m.path(site_rel(m), "shared.bin")
    payload = os.urandom(65536)
    with open(path, "wb") as f:
        f.write(payload)
    errors = []

    def worker():
        try:
            for _ in range(50):
                with open(path, "rb") as f:
                    assert f.read() == payload
        except Exception as e:      # noqa: BLE001 -- reported below
            errors.append(e)

    keep = open(path, "rb")
    with mmap.mmap(keep.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert mm[:] == payload
        assert stats(m.mnt)["backing_files"] >= 1
    keep.close()
    assert not errors, errors
    assert stats(m.mnt)["backing_files"] == 0


def test_python_runs_with_passthrough(pt_mount):
    m = pt_mount
    exe = m.path("bin", "python" + m.base.xy)
    # PYTHONHOME mode: the standard library too is read through the mount
    env = {"PYTHONHOME": m.mnt, "PATH": m.path("bin") + ":/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    r = subprocess.run([exe, "-c", "import json, email, decimal, pyenvfs_marker; print(pyenvfs_marker.MARK)"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "pyenvfs-site-marker" in r.stdout
    assert stats(m.mnt)["passthrough_opens"] > 5


@pytest.mark.parametrize("opt,why", [("passthrough=off", "off: -o passthrough=off"),
                                     ("no_open", "off: -o no_open")])
def test_off_by_option(tmp_path, usr_base, opt, why):
    mnt, site = _mount_dirs(tmp_path)
    with mounted(usr_base.prefix, mnt, site, ["-o", opt], base=usr_base) as m:
        if not built_with_passthrough():
            assert state(m.mnt).startswith("off: this build")
            return
        assert state(m.mnt).startswith(why)
        before = stats(m.mnt)
        rel = os.path.join("lib", "python" + usr_base.xy, "os.py")
        assert native_bytes(m.path(rel)) == native_bytes(os.path.join(usr_base.prefix, rel))
        after = stats(m.mnt)
        assert after["passthrough"] == 0
        assert after["passthrough_opens"] == 0
        assert after["read"] > before.get("read", 0), "the daemon served no read"


def test_unknown_passthrough_value_refused(tmp_path, usr_base):
    mnt, site = _mount_dirs(tmp_path)
    r = subprocess.run([PYENVFS, usr_base.prefix, str(mnt), "--site", str(site), "-o", "passthrough=maybe"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "passthrough" in r.stderr, r.stderr
    assert mount_count(str(mnt)) == 0


PROBE = r"""
import os, sys
m = sys.argv[1]
print(os.getxattr(m, "user.pyenvfs.passthrough").decode())
st = dict(l.split() for l in os.getxattr(m, "user.pyenvfs.stats").decode().splitlines())
data = open(os.path.join(m, sys.argv[2]), "rb").read()
print(st["passthrough"], st["passthrough_opens"], len(data))
"""


@pytest.mark.skipif(not is_root(), reason="needs root (a throwaway user)")
def test_unprivileged_daemon_falls_back(usr_base):
    with throwaway_users(1) as (user,), dev_fuse_mode(0o666):
        work = world_tmpdir("pyenvfs-pt-")
        mnt, site = os.path.join(work, "mnt"), os.path.join(work, "site")
        try:
            for d in (mnt, site):
                os.mkdir(d, 0o755)
                os.chown(d, user.uid, user.gid)
            r = run_as(user, [PYENVFS, usr_base.prefix, mnt, "--site", site], timeout=30)
            assert r.returncode == 0, r.stderr
            rel = os.path.join("lib", "python" + usr_base.xy, "os.py")
            p = run_as(user, ["/usr/bin/python3", "-c", PROBE, mnt, rel], timeout=60)
            assert p.returncode == 0, p.stderr
            lines = p.stdout.splitlines()
            if built_with_passthrough():
                assert lines[0].startswith("off: the daemon lacks CAP_SYS_ADMIN"), lines
            assert lines[1].split()[:2] == ["0", "0"], lines
            assert int(lines[1].split()[2]) == os.path.getsize(os.path.join(usr_base.prefix, rel))
            r = run_as(user, ["fusermount3", "-u", mnt])
            assert r.returncode == 0, r.stderr
            assert wait_unmounted(mnt)
        finally:
            remove_tree(work)
