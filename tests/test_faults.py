"""Faults: what a user sees when things go wrong under a mount, and that the
env recovers.

- kill -9 of the daemon in the middle of a pip install: what was written and
  fsynced before is in DIR; the stale mount is refused with a message that
  says how to clear it; that command clears it; a fresh mount of the same
  DIR works and pip can finish.
- DIR's file system full: the writer gets ENOSPC (not EIO, not a hang), the
  mount stays up, space freed is usable again, a pip install that does not
  fit fails with a clear error and leaves the env usable.
- DIR removed, moved away or replaced by a file under a running mount: clear
  errors, the daemon stays up, Python still starts, unmount is clean.
- The base changed under a running mount (a file rewritten in place, one
  replaced by rename, one removed, a package directory added): no crash,
  and the change shows within base_timeout, also to a new Python's imports.

Every operation through a mount that might hang runs in a child process
with a timeout; every mount (FUSE, tmpfs) is undone also on failure; only
the PIDs started here are ever signalled.
"""

import contextlib
import errno
import glob
import json
import os
import random
import signal
import shutil
import subprocess
import sys
import time

import pytest

import helpers_base as hb
import pkgs
import pythons
from conftest import (EXIT_TIMEOUT, FUSERMOUNT, MARKER_MODULE, MARKER_TEXT, force_unmount,
                      make_site_with_marker, mount_count, mounted, read_log, run, run_pyenvfs,
                      without_venv_pth)
from helpers_env import (assert_refusal, popen_daemon, stop_own, suggested_arg,
                         wait_for_mount_of)

HOST_PY = sys.executable      # the Python running pytest: never the env's


def pip_wheel_for(b):
    """A pip wheel pip can run from (python PIP.whl/pip ...) for base b, or None."""
    if b.kind == "usr":
        return pkgs.debian_pip_wheel()
    ws = sorted(glob.glob(os.path.join(b.stdlib, "ensurepip", "_bundled", "pip-*.whl")))
    return ws[-1] if ws else None


def base_and_pip():
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base")
    whl = pip_wheel_for(b)
    if whl is None:
        pytest.skip("no pip wheel for %s" % b.id)
    return b, whl


def site_rel(b):
    return os.path.join(b.stdlib_rel, "site-packages")


# ---------------------------------------------------------------------------
# a. kill -9 during pip install

BIG_NAME = "pyenvfs_big"
BIG_FILES = 1500


def big_wheel(dest):
    """One wheel with BIG_FILES small modules: pip takes a while to write them."""
    files = {"%s/__init__.py" % BIG_NAME: "N = %d\n" % BIG_FILES}
    for i in range(BIG_FILES):
        files["%s/m%04d.py" % (BIG_NAME, i)] = "I = %d\n%s\n" % (i, "#" * 1500)
    return pkgs.make_wheel(dest, BIG_NAME, "1.0", files=files)


# A writer beside pip: writes, fsyncs, then reports each file; stops at the
# first error and reports its errno.
FSYNC_WRITER = r"""
import os, sys
d = sys.argv[1]
out = open(sys.argv[2], "w", buffering=1)
os.mkdir(d)
i = 0
while i < 100000:
    name = "f%05d" % i
    data = (name + "\n").encode() * 100
    try:
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        out.write("ERR %d\n" % e.errno)
        sys.exit(0)
    out.write(name + "\n")
    i += 1
"""


def writer_data(name):
    return (name + "\n").encode() * 100


def wait_stopped(pid, limit=60):
    """Bounded wait until process pid is in the stopped state (T)."""
    def stopped():
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    assert hb.poll(stopped, limit, step=0.001), "process %d did not stop" % pid


def test_kill_9_during_pip_install(tmp_path):
    b, pipwhl = base_and_pip()
    mnt, site, work = tmp_path / "mnt", tmp_path / "site", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    make_site_with_marker(site)
    wheel = big_wheel(str(work))
    env = pkgs.pip_env(str(work), str(mnt))
    py = os.path.join(str(mnt), "bin", "python3")
    pip = [py, os.path.join(pipwhl, "pip")]
    log = tmp_path / "daemon.log"
    wlog = tmp_path / "writer.out"
    sp_m = os.path.join(str(mnt), site_rel(b))
    pkgdir = os.path.join(str(site), BIG_NAME)
    proc = popen_daemon([b.prefix, mnt, "--site", site, "-f"] + pythons.python_args(b), log)
    writer = pipp = None
    try:
        wait_for_mount_of(proc, mnt, log)
        writer = subprocess.Popen([HOST_PY, "-c", FSYNC_WRITER, os.path.join(sp_m, "fsynced"),
                                   str(wlog)], stdin=subprocess.DEVNULL, cwd="/")
        pipp = subprocess.Popen(pip + ["install", "--no-index", wheel], env=env, cwd=str(work),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True)

        def midway():
            """Stop pip, look; go on with it unless it is midway.  pip is
            stopped whenever this returns True, so the kill below cannot race
            pip's end, however loaded the machine."""
            pipp.send_signal(signal.SIGSTOP)
            wait_stopped(pipp.pid)
            try:
                n = len(os.listdir(pkgdir))
            except OSError:
                n = 0
            if n >= 200 and len(read_log(wlog).splitlines()) >= 20:
                return True
            pipp.send_signal(signal.SIGCONT)
            return False

        assert hb.poll(lambda: pipp.poll() is not None or midway(), 120, step=0.005)
        assert pipp.poll() is None, "pip finished before it was midway (make the wheel bigger):\n" + \
            pipp.stdout.read()
        proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)
        pipp.send_signal(signal.SIGCONT)
        # pip and the writer fail (ENOTCONN), they do not hang
        try:
            pip_out, _ = pipp.communicate(timeout=60)
            writer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("pip or the writer still running 60 s after the daemon was killed")
        assert pipp.returncode != 0, pip_out
        n_written = len([n for n in os.listdir(pkgdir) if n.endswith(".py")])
        assert 200 <= n_written < BIG_FILES + 1, n_written

        # everything the writer had fsynced is in DIR, byte for byte
        lines = read_log(wlog).splitlines()
        assert lines and lines[-1].startswith("ERR "), lines[-3:]
        assert int(lines[-1].split()[1]) in (errno.ENOTCONN, errno.ECONNABORTED), lines[-1]
        done = lines[:-1]
        assert len(done) >= 20
        for name in done:
            with open(os.path.join(str(site), "fsynced", name), "rb") as f:
                assert f.read() == writer_data(name), name

        # the stale mount: ls fails with ENOTCONN, a new mount is refused
        with pytest.raises(OSError) as ei:
            os.listdir(str(mnt))
        assert ei.value.errno == errno.ENOTCONN
        r = run_pyenvfs([b.prefix, mnt, "--site", site] + pythons.python_args(b), timeout=20)
        line = assert_refusal(r, mnt)
        assert "stale" in line, line
        assert mount_count(mnt) == 1, "a mount was stacked on the stale one"
        # the command the message names clears it
        arg = suggested_arg(line, "fusermount3 -u")
        assert arg == str(mnt), line
        r = run([FUSERMOUNT, "-u", arg])
        assert r.returncode == 0, r.stderr
        assert mount_count(mnt) == 0

        # a fresh mount of the same DIR at the same M; pip finishes the job
        with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
            for name in done[-5:]:
                with open(os.path.join(m.path(site_rel(b)), "fsynced", name), "rb") as f:
                    assert f.read() == writer_data(name)
            pkgs.run_checked(pip + ["install", "--no-index", "--force-reinstall", wheel], env)
            r = pkgs.run_checked([py, "-c", "import %s as p, %s.m%04d as q; print(p.N, q.I)"
                                  % (BIG_NAME, BIG_NAME, BIG_FILES - 1)], env)
            assert r.stdout.split() == [str(BIG_FILES), str(BIG_FILES - 1)]
            r = pkgs.run_checked(pip + ["check"], env)
            assert "No broken requirements" in r.stdout, r.stdout
            r = pkgs.run_checked(pip + ["list", "--format=freeze"], env)
            assert "pyenvfs-big==1.0" in r.stdout.replace("_", "-"), r.stdout
            assert len([n for n in os.listdir(pkgdir) if n.endswith(".py")]) == BIG_FILES + 1
            r = pkgs.run_checked([py, "-c", "import %s" % MARKER_MODULE], env)
    finally:
        for p in (writer, pipp):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        force_unmount(mnt)
        stop_own(proc)


# ---------------------------------------------------------------------------
# b. DIR's file system full

@contextlib.contextmanager
def small_tmpfs(path, size="2m"):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    os.makedirs(path, exist_ok=True)
    r = run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path])
    assert r.returncode == 0, r.stderr
    try:
        yield path
    finally:
        if run(["umount", path]).returncode != 0:
            run(["umount", "-l", path])


# Fill a file through the mount; report how it ended.  Runs in a child with a
# timeout: a hang is a failure, not a stuck test.
FILLER = r"""
import json, os, sys
p = sys.argv[1]
res = {"written": 0}
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
chunk = b"x" * 65536
try:
    while res["written"] < 64 << 20:
        res["written"] += os.write(fd, chunk)
except OSError as e:
    res["write_errno"] = e.errno
try:
    os.fsync(fd)
except OSError as e:
    res["fsync_errno"] = e.errno
os.close(fd)
print(json.dumps(res))
"""


def fill(path):
    r = run([HOST_PY, "-c", FILLER, path], timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_dir_file_system_full(tmp_path):
    b, pipwhl = base_and_pip()
    fs = str(tmp_path / "fs")
    mnt, work = tmp_path / "mnt", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    # a wheel that cannot fit in 2 MiB: 3 MiB that do not compress
    rnd = random.Random(6)
    big = pkgs.make_wheel(str(work / "big"), "pyenvfs_nofit", "1.0", files={
        "pyenvfs_nofit/__init__.py": "",
        "pyenvfs_nofit/blob.bin": rnd.randbytes(3 << 20)})
    small = pkgs.make_wheel(str(work / "small"), "pyenvfs_fits", "1.0",
                            files={"pyenvfs_fits.py": "OK = 'fits'\n"})
    env = pkgs.pip_env(str(work), str(mnt))
    py = os.path.join(str(mnt), "bin", "python3")
    pip = [py, os.path.join(pipwhl, "pip")]
    with small_tmpfs(fs):
        site = os.path.join(fs, "site")
        make_site_with_marker(site)
        with mounted(b.prefix, mnt, site, pythons.python_args(b), base=b) as m:
            fill_m = os.path.join(m.path(site_rel(b)), "fill.bin")
            res = fill(fill_m)
            # the writer is told the truth: ENOSPC at write (or at fsync), never EIO
            assert res.get("write_errno") == errno.ENOSPC, res
            assert res.get("fsync_errno") is None, res
            assert res["written"] > 1 << 20, res
            assert os.path.getsize(os.path.join(site, "fill.bin")) == res["written"]
            # a second write is refused the same way, the mount is still up
            r = run([HOST_PY, "-c", "import os; open(%r, 'wb').write(b'y' * 200000)"
                     % os.path.join(m.path(site_rel(b)), "more.bin")])
            assert r.returncode != 0 and "No space left on device" in r.stderr, r.stderr
            assert m.proc.poll() is None
            # Python still starts, in both modes, and sees DIR
            for home in (False, True):
                e = pkgs.pip_env(str(work), m.mnt, pythonhome=home)
                r = pkgs.run_checked([py, "-c", "import %s as k; print(k.MARK)"
                                      % MARKER_MODULE], e)
                assert r.stdout.strip() == "pyenvfs-site-marker"
            # space freed is usable again
            os.unlink(fill_m)
            for n in ("more.bin",):
                p = os.path.join(m.path(site_rel(b)), n)
                if os.path.exists(p):
                    os.unlink(p)
            p = os.path.join(m.path(site_rel(b)), "again.bin")
            with open(p, "wb") as f:
                f.write(b"z" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
            with open(os.path.join(site, "again.bin"), "rb") as f:
                assert f.read() == b"z" * (1 << 20)
            os.unlink(p)
            # pip: a wheel that does not fit fails, with a clear message
            r = pkgs.run_checked(pip + ["install", "--no-index", big], env, ok=False)
            assert r.returncode != 0, r.stdout
            assert "No space left on device" in r.stdout + r.stderr, r.stdout + r.stderr
            assert "Input/output error" not in r.stdout + r.stderr, r.stderr
            # ... and the env is usable afterwards: Python, pip, a wheel that fits
            assert not [n for n in os.listdir(site) if n.endswith(".dist-info")]
            # pip leaves the files it had begun (it does so natively too: a
            # --prefix install on a full tmpfs keeps pyenvfs_nofit/blob.bin);
            # removing them through the mount frees the space
            left = os.path.join(m.path(site_rel(b)), "pyenvfs_nofit")
            assert os.path.isdir(left)
            shutil.rmtree(left)
            assert not os.path.exists(os.path.join(site, "pyenvfs_nofit"))
            pkgs.run_checked(pip + ["install", "--no-index", small], env)
            r = pkgs.run_checked([py, "-c", "import pyenvfs_fits as f, %s; print(f.OK)"
                                  % MARKER_MODULE], env)
            assert r.stdout.strip() == "fits"
            assert m.proc.poll() is None


# ---------------------------------------------------------------------------
# c. DIR removed or replaced under a running mount

# Operations a user would try; each outcome is "ok" (with a short result) or
# an errno name.  Run in a child with a timeout.
PROBE = r"""
import errno, json, os, sys
M, sp, marker = sys.argv[1], sys.argv[2], sys.argv[3]
def attempt(f):
    try:
        r = f()
        return ["ok", r]
    except OSError as e:
        return [errno.errorcode.get(e.errno, str(e.errno)), None]
tag = sys.argv[4]
def write_new():
    with open(os.path.join(sp, "new%s.py" % tag), "x") as f:
        f.write("X = 1\n")
    return True
def read_marker():
    with open(os.path.join(sp, marker)) as f:
        return f.read()
res = {
    "stat M": attempt(lambda: os.stat(M).st_mode & 0o170000 == 0o040000),
    "stat M/bin/python3": attempt(lambda: os.stat(os.path.join(M, "bin", "python3")).st_size > 0),
    "list M/bin": attempt(lambda: "python3" in os.listdir(os.path.join(M, "bin"))),
    "list M": attempt(lambda: sorted(os.listdir(M))),
    "stat site": attempt(lambda: os.stat(sp).st_mode & 0o170000 == 0o040000),
    "list site": attempt(lambda: sorted(os.listdir(sp))),
    "read marker": attempt(read_marker),
    "create in site": attempt(write_new),
    "mkdir in site": attempt(lambda: os.mkdir(os.path.join(sp, "newdir" + tag))),
}
print(json.dumps(res))
"""

# What the user sees, by case.  The daemon holds DIR open by descriptor:
# - removed (rm -rf DIR), or replaced by a file: for site_timeout (1 s by
#   default) the names the kernel had cached still resolve (a file read
#   through M gives its old content: the daemon still holds it); after that,
#   every name in DIR is gone (ENOENT), creating a file or a directory there
#   fails with ENOENT, and DIR's listing is empty or ENOENT.  M itself, M/bin
#   and the standard library still answer; Python starts in both modes (no
#   env packages).  Nothing is created at DIR's old path.
# - moved away (mv DIR DIR.old; mkdir DIR): the mount keeps showing the
#   directory it was given, now at DIR.old: its packages still import and
#   new files land in DIR.old.  The new DIR is not looked at until the next
#   mount.
CASES = ["removed", "moved", "replaced-by-file"]


def _probe(m, b, tag, timeout=30):
    try:
        r = run([HOST_PY, "-c", PROBE, m.mnt, m.path(site_rel(b)), "pyenvfs_marker.py", tag],
                timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("operations on the mount hang (more than %d s); daemon log:\n%s"
                    % (timeout, m.log()))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


ANSWERS = {"ok", "ENOENT", "ESTALE"}


@pytest.mark.parametrize("case", CASES)
def test_dir_removed_under_mount(tmp_path, case):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base")
    mnt, site, work = tmp_path / "mnt", tmp_path / "site", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    make_site_with_marker(site)
    py = os.path.join(str(mnt), "bin", "python3")
    code = "import os, sys; print(os.__file__); print(sys.prefix)"
    with mounted(b.prefix, mnt, site, pythons.python_args(b) + ["-o", "site_timeout=1"],
                 base=b) as m:
        before = _probe(m, b, "0")
        assert before["read marker"] == ["ok", MARKER_TEXT], before
        assert before["create in site"] == ["ok", True], before
        if case == "removed":
            run(["rm", "-rf", str(site)])
        elif case == "moved":
            os.rename(str(site), str(tmp_path / "site.old"))
            os.mkdir(str(site))
        else:
            run(["rm", "-rf", str(site)])
            with open(str(site), "w") as f:
                f.write("not a directory\n")
        # at once: answers, never a hang, a crash or EIO
        now = _probe(m, b, "1")
        assert m.proc.poll() is None, "the daemon died:\n" + m.log()
        for op, (res, _) in now.items():
            assert res in ANSWERS, (op, now)
        # once the kernel's entries have timed out (site_timeout=1)
        if case != "moved":
            assert hb.poll(lambda: _probe(m, b, "x")["read marker"][0] != "ok", 10), \
                "the removed DIR's files still show 10 s after"
        after = _probe(m, b, "2")
        assert m.proc.poll() is None, "the daemon died:\n" + m.log()
        # the mount answers: M, the interpreter, the listing of M/bin
        assert after["stat M"] == ["ok", True], after
        assert after["stat M/bin/python3"] == ["ok", True], after
        assert after["list M/bin"] == ["ok", True], after
        assert after["list M"] == before["list M"], after
        assert after["stat site"] == ["ok", True], after
        if case == "moved":
            # the mount follows the directory it was given, now at site.old
            assert after["read marker"] == ["ok", MARKER_TEXT], after
            assert after["create in site"] == ["ok", True], after
            assert after["mkdir in site"] == ["ok", None], after
            old = sorted(os.listdir(str(tmp_path / "site.old")))
            assert {"new0.py", "new1.py", "new2.py", "newdir2", "pyenvfs_marker.py"} <= set(old), old
            # (the probe lists before it creates)
            assert after["list site"] == ["ok", [n for n in old if n not in
                                                 (".pyenvfs", "new2.py", "newdir2")]], after
            assert without_venv_pth(os.listdir(str(site))) == []
        else:
            for op in ("read marker", "create in site", "mkdir in site"):
                assert after[op][0] == "ENOENT", (op, after)
            assert after["list site"] in (["ok", []], ["ENOENT", None]), after
            # nothing was made at DIR's old path
            if case == "removed":
                assert not os.path.lexists(str(site))
            else:
                assert os.path.isfile(str(site))
        # Python still starts from M, stdlib from the base, in both modes
        for home in (False, True):
            e = pkgs.pip_env(str(work), m.mnt, pythonhome=home)
            r = pkgs.run_checked([py, "-c", code], e, timeout=60)
            osfile, prefix = r.stdout.split()
            assert prefix == m.mnt
            assert osfile.startswith((m.mnt + "/", b.prefix + "/")), osfile
            r = pkgs.run_checked([py, "-c", "import %s" % MARKER_MODULE], e, ok=False)
            assert (r.returncode == 0) == (case == "moved"), r.stderr
        assert m.proc.poll() is None, "the daemon died:\n" + m.log()
    # mounted() checked: fusermount3 -u worked, exit status 0, no error lines


# ---------------------------------------------------------------------------
# d. the base changed under a running mount

def test_base_changed_under_mount(tmp_path):
    """Beyond test_cache_coherence.py's replaced file: a file rewritten in
    place (same inode), a module replaced by rename that a new Python then
    imports, a file removed, a package directory added; in both modes."""
    src = hb.source_base(prefer=("3.12", "3.13", "3.11", "3.10", "3.9"))
    if src is None:
        pytest.skip("no pyenv base to copy")
    b = hb.base_copy(src, str(tmp_path / "base"))
    r = run([b.exe, "-c", "import sys; print(sys.prefix)"], cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == b.prefix, (r.stdout, r.stderr)
    std = b.stdlib
    mnt, work = tmp_path / "mnt", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    timeout = 1
    with mounted(b.prefix, mnt, tmp_path / "site", ["-o", "base_timeout=%d" % timeout],
                 base=b) as m:
        std_m = m.path(b.stdlib_rel)
        py = m.path("bin", "python3")
        envs = [pkgs.pip_env(str(work), m.mnt, pythonhome=h) for h in (False, True)]

        def pyrun(code, e, ok=True):
            return pkgs.run_checked([py, "-c", code], e, timeout=60, ok=ok)

        def content(rel):
            try:
                with open(os.path.join(std_m, rel), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None

        # the kernel caches all of it first
        names = os.listdir(std_m)
        assert "tabnanny.py" in names and "pyenvfs_added" not in names
        for rel in ("colorsys.py", "sched.py", "tabnanny.py"):
            assert content(rel)
        for e in envs:
            pyrun("import colorsys, sched, tabnanny", e)
            assert pyrun("import pyenvfs_added", e, ok=False).returncode != 0

        # in place: same inode, new content
        with open(os.path.join(std, "colorsys.py"), "r+b") as f:
            old = f.read()
            f.seek(0)
            f.write(b"PYENVFS_EDIT = 'in place'\n" + old)
        # by rename, as package managers do
        with open(os.path.join(std, "sched.py"), "rb") as f:
            sched_new = b"PYENVFS_EDIT = 'renamed'\n" + f.read()
        with open(os.path.join(std, "sched.py.tmp"), "wb") as f:
            f.write(sched_new)
        os.rename(os.path.join(std, "sched.py.tmp"), os.path.join(std, "sched.py"))
        # removed (and its cached bytecode, as an uninstall would)
        os.unlink(os.path.join(std, "tabnanny.py"))
        for pyc in glob.glob(os.path.join(std, "__pycache__", "tabnanny.*")):
            os.unlink(pyc)
        # a package directory added
        os.mkdir(os.path.join(std, "pyenvfs_added"))
        with open(os.path.join(std, "pyenvfs_added", "__init__.py"), "w") as f:
            f.write("WHERE = 'added'\n")

        limit = timeout + 10
        assert hb.poll(lambda: content("colorsys.py") == b"PYENVFS_EDIT = 'in place'\n" + old,
                       limit), "in-place change not seen"
        assert hb.poll(lambda: content("sched.py") == sched_new, limit), "rename not seen"
        assert hb.poll(lambda: content("tabnanny.py") is None
                       and "tabnanny.py" not in os.listdir(std_m), limit), "removal not seen"
        assert hb.poll(lambda: "pyenvfs_added" in os.listdir(std_m)
                       and content("pyenvfs_added/__init__.py") == b"WHERE = 'added'\n",
                       limit), "new directory not seen"
        for e in envs:
            r = pyrun("import colorsys, sched, pyenvfs_added as a; "
                      "print(colorsys.PYENVFS_EDIT, sched.PYENVFS_EDIT, a.WHERE, sep='|')", e)
            assert r.stdout.strip() == "in place|renamed|added", r.stdout
            r = pyrun("import tabnanny", e, ok=False)
            assert "No module named 'tabnanny'" in r.stderr, r.stderr
        assert m.proc.poll() is None, m.log()
