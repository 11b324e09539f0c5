"""-o no_open (the default of an unprivileged daemon): the kernel opens files
itself, no request per file opened.

Everything an env is for still works (both modes, pip install and uninstall
with a console script, writes into DIR); the base is still never written: a
write to a base file fails with EROFS at the write (its open, as root, now
succeeds: the documented cost), a truncating open fails, a shared writable
mapping cannot reach it; and the requests a warm start-up costs drop to the
isatty ioctls.
"""

import errno
import json
import mmap
import os
import time

import pytest

import pkgs
import pythons
from conftest import PYENVFS, force_unmount, mounted, run
from helpers_env import dev_fuse_mode, remove_tree, run_as, throwaway_users, world_tmpdir


def usr_or_pyenv():
    b = pythons.find("usr-3.11") or pythons.find("pyenv-3.12") or pythons.find("pyenv-3.11")
    if b is None:
        pytest.skip("no Python 3 base")
    return b


@pytest.fixture
def env(tmp_path):
    b = usr_or_pyenv()
    mnt = tmp_path / "m"
    mnt.mkdir()
    with mounted(b.prefix, mnt, tmp_path / "site", extra_args=["-o", "no_open"], base=b) as m:
        yield b, m


def read(path):
    with open(path, "rb") as f:
        return f.read()


def stats(mnt):
    out = os.getxattr(mnt, "user.pyenvfs.stats").decode()
    return dict((k, int(v)) for k, v in (line.split() for line in out.splitlines()))


IMPORTS = "import json, email, decimal, http.client, sqlite3, ssl, asyncio"


def test_python_runs_in_both_modes_without_open_requests(env, tmp_path):
    b, m = env
    py = os.path.join(m.mnt, "bin", "python3")
    clean = pkgs.pip_env(tmp_path)
    for e in (clean, dict(clean, PYTHONHOME=m.mnt)):
        for _ in range(2):      # warm
            r = run([py, "-c", IMPORTS + "; import sys; print(sys.prefix)"], env=e)
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == m.mnt
        before = stats(m.mnt)
        assert run([py, "-c", IMPORTS], env=e).returncode == 0
        after = stats(m.mnt)
        for op in ("open", "release", "flush"):
            assert after.get(op, 0) == before.get(op, 0), (op, before, after)


def test_writes_into_dir(env):
    b, m = env
    sp = os.path.join(m.mnt, "lib", "python" + b.xy, "site-packages")
    p = os.path.join(sp, "w.txt")
    with open(p, "wb") as f:
        f.write(b"one\n")
    with open(p, "ab") as f:
        f.write(b"two\n")
    with open(os.path.join(m.site, "w.txt"), "rb") as f:
        assert f.read() == b"one\ntwo\n"
    with open(p, "r+b") as f:
        f.seek(0)
        f.write(b"ONE")
        f.flush()
        os.fsync(f.fileno())
    with open(os.path.join(m.site, "w.txt"), "rb") as f:
        assert f.read() == b"ONE\ntwo\n"
    with open(p, "wb") as f:       # O_TRUNC reaches DIR (no stale tail)
        f.write(b"ONE")
    with open(os.path.join(m.site, "w.txt"), "rb") as f:
        assert f.read() == b"ONE"
    with open(p, "ab") as f:
        f.write(b"\ntwo\n")
    os.truncate(p, 3)
    assert os.path.getsize(os.path.join(m.site, "w.txt")) == 3
    with open(p, "r+b") as f:      # a shared writable mapping reaches DIR
        mm = mmap.mmap(f.fileno(), 3)
        mm[0:3] = b"abc"
        mm.flush()
        mm.close()
    with open(os.path.join(m.site, "w.txt"), "rb") as f:
        assert f.read() == b"abc"
    os.unlink(p)
    assert not os.path.exists(os.path.join(m.site, "w.txt"))


def test_the_base_is_not_written(env):
    b, m = env
    target = os.path.join(m.mnt, "lib", "python" + b.xy, "textwrap.py")
    real = os.path.join(b.prefix, "lib", "python" + b.xy, "textwrap.py")
    with open(real, "rb") as f:
        original = f.read()
    # The first open the daemon sees (a read: allowed) tells the kernel to
    # open files itself from then on.
    with open(target, "rb") as f:
        assert f.read() == original
    # The cost: as root, an open for writing now succeeds; the write fails.
    fd = os.open(target, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as ei:
            os.write(fd, b"x")
        assert ei.value.errno == errno.EROFS
    finally:
        os.close(fd)
    with pytest.raises(OSError) as ei:
        open(target, "wb")                  # O_TRUNC: refused
    assert ei.value.errno == errno.EROFS
    # A shared writable mapping: msync reports EROFS, and readers through
    # the mount do not keep seeing the refused change (the daemon has the
    # kernel drop the page).
    with open(target, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 16)
        mm[0:1] = b"#"
        with pytest.raises(OSError) as ei:
            mm.flush()
        assert ei.value.errno == errno.EROFS
        mm.close()
    deadline = time.monotonic() + 5
    while read(target) != original and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read(target) == original
    with open(real, "rb") as f:
        assert f.read() == original


def test_pip_install_and_uninstall(env, tmp_path):
    b, m = env
    py = os.path.join(m.mnt, "bin", "python3")
    e = pkgs.pip_env(tmp_path, m.mnt)
    if b.kind == "usr":
        whl = pkgs.debian_pip_wheel()
        if whl is None:
            pytest.skip("no pip wheel in /usr/share/python-wheels")
        pip = [py, os.path.join(whl, "pip")]
    else:
        pkgs.run_checked([py, "-m", "ensurepip"], e)
        pip = [py, "-m", "pip"]
    whl = pkgs.demo_wheel(str(tmp_path))
    pkgs.run_checked(pip + ["install", "--no-index", whl], e)
    script = os.path.join(m.mnt, "bin", pkgs.DEMO_SCRIPT)
    r = pkgs.run_checked([script], e)
    assert pkgs.DEMO_OUTPUT in r.stdout
    pkgs.run_checked(pip + ["uninstall", "-y", pkgs.DEMO_NAME], e)
    assert not os.path.exists(script)
    assert not pkgs.find_in(m.site, pkgs.DEMO_NAME)



UNPRIVILEGED_WRITES = r"""
import glob, os, sys
sp = [p for p in glob.glob(sys.argv[1] + '/lib/python*/site-packages') if os.path.isdir(p)][0]
p = os.path.join(sp, 'f')
with open(p, 'w') as f:
    f.write('hello')
os.chmod(p, 0o444)
assert open(p).read() == 'hello'
try:
    open(p, 'r+')
    raise SystemExit('opened a 0444 file for writing')
except PermissionError:
    pass
os.chmod(p, 0o644)
with open(p, 'r+') as f:
    f.write('HE')
assert open(p).read() == 'HEllo', open(p).read()
with open(p, 'a') as f:
    f.write('!')
os.truncate(p, 3)
assert open(p).read() == 'HEl', open(p).read()
print('ok')
"""


def test_unprivileged_daemon_writes_after_mode_changes():
    """A daemon without CAP_DAC_OVERRIDE: a file read while it was 0444 gets a
    read-only descriptor for handle-less reads; that one must not serve the
    writes that come once the file is writable again (it did: EBADF)."""
    b = usr_or_pyenv()
    with throwaway_users(1) as (user,), dev_fuse_mode(0o666):
        work = world_tmpdir()
        mnt, site = os.path.join(work, "m"), os.path.join(work, "site")
        try:
            for d in (mnt, site):
                os.mkdir(d, 0o755)
                os.chown(d, user.uid, user.gid)
            if run_as(user, [b.exe, "-c", "pass"]).returncode != 0:
                pytest.skip("the base's Python cannot run as another user (%s)" % b.exe)
            r = run_as(user, [PYENVFS, b.prefix, mnt, "--site", site, "-o", "no_open"])
            assert r.returncode == 0, r.stderr
            r = run_as(user, [b.exe, "-c", UNPRIVILEGED_WRITES, mnt])
            assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
            with open(os.path.join(site, "f")) as f:
                assert f.read() == "HEl"
        finally:
            force_unmount(mnt)
            remove_tree(work)


UNPRIVILEGED_DEFAULT = r"""
import errno, glob, json, os, subprocess, sys
m = sys.argv[1]
sp = [p for p in glob.glob(m + '/lib/python*/site-packages') if os.path.isdir(p)][0]
stdlib = os.path.dirname(sp)
code = 'import json, email, decimal, http.client'
for _ in range(3):
    subprocess.run([m + '/bin/python3', '-c', code], check=True)
def stats():
    t = os.getxattr(m, 'user.pyenvfs.stats').decode()
    return dict((k, int(v)) for k, v in (l.split() for l in t.splitlines()))
before = stats()
subprocess.run([m + '/bin/python3', '-c', code], check=True)
after = stats()
out = {'delta': dict((k, after.get(k, 0) - before.get(k, 0)) for k in after)}
try:
    os.close(os.open(os.path.join(stdlib, 'textwrap.py'), os.O_WRONLY))
    out['base_write'] = 'opened'
except OSError as e:
    out['base_write'] = errno.errorcode[e.errno]
p = os.path.join(sp, 't.txt')
with open(p, 'w') as f:
    f.write('one two')
with open(p, 'w') as f:           # O_TRUNC of an existing file
    f.write('1')
with open(p, 'a') as f:
    f.write('2')
out['dir_file'] = open(p).read()
print(json.dumps(out))
"""


def test_an_unprivileged_daemon_lets_the_kernel_open_files():
    """By default an unprivileged daemon (no passthrough; the kernel's own
    permission check refuses writes to what is shown read-only) has the
    kernel open files itself: a warm start-up sends no OPEN, RELEASE or
    FLUSH; a base file cannot be opened for writing (EACCES from the
    kernel's check); writes, O_TRUNC and appends in DIR reach DIR."""
    b = pythons.find("usr-3.11")
    if b is None:
        pytest.skip("no Debian Python 3.11 in /usr")
    with throwaway_users(1) as (user,), dev_fuse_mode(0o666):
        work = world_tmpdir()
        mnt, site = os.path.join(work, "m"), os.path.join(work, "site")
        try:
            for d in (mnt, site):
                os.mkdir(d, 0o755)
                os.chown(d, user.uid, user.gid)
            r = run_as(user, [PYENVFS, b.prefix, mnt, "--site", site])
            assert r.returncode == 0, r.stderr
            r = run_as(user, [b.exe, "-c", UNPRIVILEGED_DEFAULT, mnt])
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            d = out["delta"]
            assert d.get("open", 0) == d.get("release", 0) == d.get("flush", 0) == 0, d
            assert out["base_write"] == "EACCES", out
            assert out["dir_file"] == "12", out
            with open(os.path.join(site, "t.txt")) as f:
                assert f.read() == "12"
        finally:
            force_unmount(mnt)
            remove_tree(work)
