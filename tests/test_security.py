"""Issue 18: a root daemon never acts by a name a user can swap.

Each test attacks a root pyenvfs as a local user would (docs/RELIABILITY.md,
"Threat model", names the line of the model each one holds):

- the set-id race: a user renames a symlink to a root-owned file over the
  name of a file they are creating with a set-id mode through a root
  allow_other mount (tests/race_setid.c), as DIR's owner and as a second
  user through a world-writable directory of a root-owned layer;
- pyenvfs run with a runtime directory another user owns or may write, and
  with its run directory swapped for a symlink while CMD runs;
- the pip layer in a cache another user may write, and a tampered one;
- pyenvfs umount while a user toggles a parent between a directory and a
  symlink to another mount;
- what a root daemon leaves in DIR: removable by its owner, and readable by
  the owner's own daemon later (whiteouts kept).

Root only: throwaway users are made and deleted; /dev/fuse is 0666 and
/etc/fuse.conf has user_allow_other only for as long as a test needs them.
"""

import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import FUSERMOUNT, PYENVFS, mounted, run, run_pyenvfs
from helpers_env import (dev_fuse_mode, is_root, run_as, throwaway_users, wait_unmounted,
                         world_tmpdir, remove_tree)

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (throwaway users, a root daemon)")

HERE = os.path.dirname(os.path.abspath(__file__))
RACE_CREATES = 20000


@pytest.fixture(scope="module")
def users():
    with throwaway_users(2) as us:
        yield us


@pytest.fixture(scope="module")
def race_tool(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler (build-essential)")
    d = tmp_path_factory.mktemp("race")
    out = str(d / "race_setid")
    r = run([cc, "-O2", "-Wall", "-o", out, os.path.join(HERE, "race_setid.c")])
    assert r.returncode == 0, r.stderr
    # Where every user can run it from.
    dst = os.path.join(world_tmpdir("pyenvfs-race-"), "race_setid")
    shutil.copy(out, dst)
    os.chmod(dst, 0o755)
    os.chmod(os.path.dirname(dst), 0o755)
    return dst


def root_target(d):
    """A root-owned 0755 copy of /usr/bin/true in d (which only root may write)."""
    t = os.path.join(d, "target")
    shutil.copy("/usr/bin/true", t)
    os.chmod(t, 0o755)
    return t


def assert_untouched(target):
    st = os.lstat(target)
    assert (st.st_uid, st.st_gid) == (0, 0), "the root-owned target changed owner: %d:%d" % (st.st_uid, st.st_gid)
    assert stat.S_IMODE(st.st_mode) == 0o755, (
        "the root daemon gave the root-owned target mode %o" % stat.S_IMODE(st.st_mode))


def race(tool, user, view_dir, backing_dir, target, mode="4755", count=RACE_CREATES):
    r = run_as(user, [tool, view_dir, backing_dir, "x", target, str(count), mode], timeout=900)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[:1] == ["creates"], r.stdout
    made = int(words[1])
    # The race ran: most creates went through the mount (some meet the
    # swapper's symlink and fail with EEXIST).
    assert made >= count // 4, "only %d of %d creates succeeded: %s" % (made, count, r.stdout)
    return made


def daemon_fds(m):
    return len(os.listdir("/proc/%d/fd" % m.proc.pid))


def made_by(user, path, mode):
    """Creates path (through the mount) as user with mode; returns its lstat."""
    code = "import os\nos.umask(0)\nos.close(os.open(%r, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o%o))\n" % (path, mode)
    r = run_as(user, ["/usr/bin/python3", "-c", code])
    assert r.returncode == 0, r.stderr
    return os.lstat(path)


def test_setid_race_as_dir_owner(usr_base, users, race_tool, work):
    """DIR's owner races the root daemon's create: the root-owned target
    never becomes set-id, and what the owner makes is theirs, mode intact."""
    a = users[0]
    dir_ = os.path.join(work, "dir")
    os.mkdir(dir_, 0o755)
    os.chown(dir_, a.uid, a.gid)
    target = root_target(work)
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    with mounted(usr_base.prefix, mnt, dir_, ["-o", "allow_other"], base=usr_base) as m:
        view = m.path(usr_base.stdlib_rel, "site-packages")
        fds = daemon_fds(m)
        race(race_tool, a, view, dir_, target)
        assert_untouched(target)
        # A create whose name was swapped is refused, not answered with the
        # swapped object (which the kernel rejects, never releasing the handle).
        assert daemon_fds(m) <= fds + 8, "the daemon holds %d descriptors after the race, %d before" % (
            daemon_fds(m), fds)
        st = made_by(a, os.path.join(view, "mine"), 0o4755)
        assert (st.st_uid, st.st_gid) == (a.uid, a.gid)
        assert stat.S_IMODE(st.st_mode) == 0o4755


def test_setid_race_second_user_through_layer(usr_base, users, race_tool, work):
    """A second user races through a world-writable directory of a
    root-owned layer (copy-up keeps its mode): the same holds."""
    a, b = users
    dir_ = os.path.join(work, "dir")
    os.mkdir(dir_, 0o755)
    os.chown(dir_, a.uid, a.gid)
    layer = os.path.join(work, "L")
    os.makedirs(os.path.join(layer, "shared"))
    os.chmod(os.path.join(layer, "shared"), 0o777)
    target = root_target(work)
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    with mounted(usr_base.prefix, mnt, dir_, ["-o", "allow_other", "--lower-site", layer], base=usr_base) as m:
        view = m.path(usr_base.stdlib_rel, "site-packages", "shared")
        # The first create copies shared/ up into DIR: the race is in DIR's copy.
        made_by(b, os.path.join(view, "first"), 0o644)
        assert os.path.isdir(os.path.join(dir_, "shared"))
        fds = daemon_fds(m)
        race(race_tool, b, view, os.path.join(dir_, "shared"), target, mode="6777")
        assert_untouched(target)
        assert daemon_fds(m) <= fds + 8, "the daemon holds %d descriptors after the race, %d before" % (
            daemon_fds(m), fds)
        st = made_by(b, os.path.join(view, "mine"), 0o4755)
        assert (st.st_uid, st.st_gid) == (b.uid, b.gid)
        assert stat.S_IMODE(st.st_mode) == 0o4755


# ---------------------------------------------------------------------------
# pyenvfs run's runtime directory

def run_as_root(args, env_extra, timeout=120):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(env_extra)
    return run([PYENVFS] + [str(a) for a in args], env=env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("how", ["xdg_of_another_user", "tmpdir_world_writable", "parent_of_another_user"])
def test_run_refuses_unsafe_runtime_dir(usr_base, users, work, how):
    """A root run with a runtime directory someone else may change (su
    without -, a world-writable TMPDIR): refused in one line, exit 125,
    nothing made there."""
    a = users[0]
    rt = os.path.join(work, "rt")
    if how == "xdg_of_another_user":
        os.mkdir(rt, 0o700)
        os.chown(rt, a.uid, a.gid)
        env = {"XDG_RUNTIME_DIR": rt}
    elif how == "tmpdir_world_writable":
        os.mkdir(rt)
        os.chmod(rt, 0o777)
        env = {"TMPDIR": rt}
    else:
        parent = os.path.join(work, "p")
        os.mkdir(parent, 0o755)
        os.chown(parent, a.uid, a.gid)
        rt = os.path.join(parent, "rt")
        os.mkdir(rt, 0o700)
        env = {"TMPDIR": rt}
    r = run_as_root(["run", usr_base.prefix, "--", "/bin/true"], env)
    assert r.returncode == 125, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "not safe" in lines[0] and rt in lines[0], r.stderr
    assert os.listdir(rt) == []


def test_run_dir_swapped_while_cmd_runs(usr_base, tmp_path, work):
    """The run directory renamed aside and replaced by a symlink to a decoy
    while CMD runs (what its owner, or root, could do): the cleanup and the
    unmount go through the run's descriptor; the decoy's files stay, and so
    does the file system mounted in it."""
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    decoy = os.path.join(work, "decoy")
    os.makedirs(os.path.join(decoy, "env"))
    os.makedirs(os.path.join(decoy, "site"))
    keep = os.path.join(decoy, "site", "keep.txt")
    with open(keep, "w") as f:
        f.write("keep\n")
    r = run(["mount", "-t", "tmpfs", "pyenvfs-test-decoy", os.path.join(decoy, "env")])
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    try:
        script = ('d=$(dirname "$VIRTUAL_ENV"); mv "$d" "$d.aside" && ln -s %s "$d" && '
                  'test -L "$d" && echo swapped' % decoy)
        r = run_as_root(["run", usr_base.prefix, "--", "/bin/sh", "-c", script], {"TMPDIR": str(rt)})
        assert r.returncode == 0, r.stderr
        assert "swapped" in r.stdout
        assert os.path.exists(keep), "the run's cleanup removed a file through the planted symlink"
        assert os.path.ismount(os.path.join(decoy, "env")), "the run unmounted the decoy's file system"
        left = [l.split()[4] for l in open("/proc/self/mountinfo") if str(rt) in l.split()[4]]
        assert left == [], "the env is still mounted: %s" % left
        # Of the run's own: only what it could not take down through the
        # symlink's name (its renamed directory, emptied), and the symlink.
        for n in os.listdir(str(rt)):
            p = os.path.join(str(rt), n)
            assert os.path.islink(p) or os.listdir(p) == [], (n, os.listdir(p))
    finally:
        run(["umount", os.path.join(decoy, "env")])


# ---------------------------------------------------------------------------
# the pip layer's cache

PLANTED = "open(%r, 'w').write('planted code ran')\n"


def build_pip_layer(base, cache, extra_env=None):
    env = {"XDG_CACHE_HOME": cache}
    env.update(extra_env or {})
    return run_as_root(["pip-layer", base.prefix], env, timeout=600)


def test_pip_layer_in_a_cache_another_user_may_write(usr_base, users, work, tmp_path):
    """A cache root another user owns (a root shell that kept a user's
    XDG_CACHE_HOME): a pip layer planted there is not run; --with-pip is
    refused in one line."""
    a = users[0]
    own = str(tmp_path / "own-cache")
    r = build_pip_layer(usr_base, own)
    assert r.returncode == 0, r.stderr
    layer = r.stdout.strip()
    theirs = os.path.join(work, "cache")
    os.mkdir(theirs, 0o755)
    os.chown(theirs, a.uid, a.gid)
    planted = os.path.join(theirs, "pyenvfs", "pip-layers", os.path.basename(layer))
    shutil.copytree(layer, planted, symlinks=True)
    marker = os.path.join(work, "ran")
    with open(os.path.join(planted, "pip", "__init__.py"), "a") as f:
        f.write(PLANTED % marker)
    for d, dirs, files in os.walk(theirs):
        for n in [d] + [os.path.join(d, x) for x in files]:
            os.lchown(n, a.uid, a.gid)
    r = run_as_root(["run", "--with-pip", usr_base.prefix, "--", "python3", "-m", "pip", "--version"],
                    {"XDG_CACHE_HOME": theirs, "TMPDIR": str(tmp_path)}, timeout=600)
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "not safe" in lines[0], r.stderr
    assert not os.path.exists(marker), "root ran the planted pip"


def test_tampered_pip_layer_is_made_again(usr_base, tmp_path):
    """A pip layer changed after it was made (a file rewritten) does not
    match the digest recorded when it was made: it is made again, and the
    changed code never runs."""
    cache = str(tmp_path / "cache")
    r = build_pip_layer(usr_base, cache)
    assert r.returncode == 0, r.stderr
    layer = r.stdout.strip()
    marker = str(tmp_path / "ran")
    init = os.path.join(layer, "pip", "__init__.py")
    with open(init, "a") as f:
        f.write(PLANTED % marker)
    r = run_as_root(["run", "--with-pip", usr_base.prefix, "--", "python3", "-m", "pip", "--version"],
                    {"XDG_CACHE_HOME": cache, "TMPDIR": str(tmp_path)}, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "made the pip layer" in r.stderr, "the changed layer was used as it was: %s" % r.stderr
    assert not os.path.exists(marker), "the changed pip layer's code ran"
    with open(init) as f:
        assert "planted" not in f.read()


# ---------------------------------------------------------------------------
# pyenvfs umount

TOGGLER = r"""
import os, sys, time
p, other, flag, ack = sys.argv[1:5]
real = p + ".real"
while True:
    if os.path.exists(ack + ".stop"):
        break
    if not os.path.exists(flag):
        # paused: p is the real directory again, and says so
        if os.path.islink(p):
            os.unlink(p)
        if os.path.isdir(real) and not os.path.exists(p):
            os.rename(real, p)
        open(ack, "w").close()
        time.sleep(0.001)
        continue
    try:
        os.rename(p, real)
        os.symlink(other, p)
        os.unlink(p)
        os.rename(real, p)
    except OSError:
        pass
"""


def test_umount_with_a_parent_toggled_to_a_symlink(usr_base, users, work, tmp_path):
    """A user toggles a parent of a root env's mount point between its
    directory and a symlink to another file system's parent while root runs
    pyenvfs umount: the other file system is never unmounted."""
    a = users[0]
    u = os.path.join(work, "u")
    os.mkdir(u, 0o755)
    os.chown(u, a.uid, a.gid)
    p = os.path.join(u, "p")
    os.makedirs(os.path.join(p, "mnt"))
    os.chown(p, a.uid, a.gid)
    other = os.path.join(work, "other")
    os.makedirs(os.path.join(other, "mnt"))
    r = run(["mount", "-t", "tmpfs", "pyenvfs-test-other", os.path.join(other, "mnt")])
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    flag, ack = os.path.join(u, "toggle"), os.path.join(u, "paused")
    script = os.path.join(work, "toggler.py")
    with open(script, "w") as f:
        f.write(TOGGLER)
    site = str(tmp_path / "site")
    toggler = None
    try:
        toggler = subprocess.Popen(["/usr/bin/python3", script, p, other, flag, ack],
                                   preexec_fn=lambda: (os.setgroups([]), os.setgid(a.gid), os.setuid(a.uid)),
                                   cwd="/")
        tries = 0
        for _ in range(60):
            # paused, mount the env at u/p/mnt, toggle again
            if os.path.exists(flag):
                os.unlink(flag)
            if os.path.exists(ack):
                os.unlink(ack)
            deadline = time.monotonic() + 30
            while not os.path.exists(ack) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert os.path.exists(ack), "the toggler did not pause"
            if not os.path.ismount(os.path.join(p, "mnt")):
                r = run_pyenvfs([usr_base.prefix, os.path.join(p, "mnt"), "--site", site])
                assert r.returncode == 0, r.stderr
            open(flag, "w").close()
            for _ in range(50):
                tries += 1
                run_pyenvfs(["umount", os.path.join(p, "mnt")])
                assert os.path.ismount(os.path.join(other, "mnt")), (
                    "root's pyenvfs umount unmounted another file system (try %d)" % tries)
                if not any(os.path.join(p, "mnt") in l or os.path.join(p + ".real", "mnt") in l
                           for l in open("/proc/self/mounts")):
                    break
    finally:
        open(ack + ".stop", "w").close()
        if toggler:
            toggler.wait(timeout=30)
        if os.path.islink(p):
            os.unlink(p)
        if os.path.isdir(p + ".real") and not os.path.exists(p):
            os.rename(p + ".real", p)
        for mp in (os.path.join(p, "mnt"), os.path.join(other, "mnt")):
            while os.path.ismount(mp):
                if run(["umount", "-l", mp]).returncode != 0:
                    break


# ---------------------------------------------------------------------------
# what a root daemon leaves in DIR

def test_root_daemon_dir_stays_its_owners(usr_base, users, work):
    """A root daemon over a root-owned layer, in a user's DIR: what it makes
    there for itself (whiteout records, the copy-up temporaries' directory,
    the env's area) is the user's. The user can rm -rf DIR, and the user's
    own daemon later reads the whiteouts (a removed package stays
    removed)."""
    a = users[0]
    home = os.path.join(work, "home")
    dir_ = os.path.join(home, "dir")
    for d in (home, dir_):
        os.mkdir(d, 0o755)
        os.chown(d, a.uid, a.gid)
    layer = os.path.join(work, "L")
    for pkg in ("gone", "kept"):
        os.makedirs(os.path.join(layer, pkg, "sub"))
        with open(os.path.join(layer, pkg, "__init__.py"), "w") as f:
            f.write("X = %r\n" % pkg)
        with open(os.path.join(layer, pkg, "sub", "m.py"), "w") as f:
            f.write("")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    os.chown(mnt, a.uid, a.gid)
    sp = os.path.join(usr_base.stdlib_rel, "site-packages")
    with mounted(usr_base.prefix, mnt, dir_, ["--lower-site", layer, "-o", "allow_other"], base=usr_base) as m:
        shutil.rmtree(m.path(sp, "gone"))                 # root removes: whiteout records
        with open(m.path(sp, "mine.py"), "w") as f:       # root's file in DIR
            f.write("Y = 1\n")
        assert not os.path.exists(m.path(sp, "gone"))
    bad = []
    for d, dirs, files in os.walk(os.path.join(dir_, ".pyenvfs")):
        st = os.lstat(d)
        if st.st_uid != a.uid:
            bad.append("%s (uid %d)" % (os.path.relpath(d, dir_), st.st_uid))
    assert bad == [], "a root daemon left directories in DIR that are not DIR's owner's: %s" % bad
    with dev_fuse_mode(0o666):
        r = run_as(a, [PYENVFS, usr_base.prefix, mnt, "--site", dir_, "--lower-site", layer])
        assert r.returncode == 0, r.stderr
        try:
            code = ("import sys; sys.path.insert(0, %r)\n"
                    "try:\n    import gone\n    print('gone is back')\nexcept ImportError:\n    print('gone')\n"
                    "import kept, mine; print(kept.X, mine.Y)\n" % os.path.join(mnt, sp))
            r = run_as(a, ["/usr/bin/python3", "-S", "-c", code])
            assert r.returncode == 0, r.stderr
            assert r.stdout.split() == ["gone", "kept", "1"], r.stdout
        finally:
            r = run_as(a, [FUSERMOUNT, "-u", mnt])
            assert r.returncode == 0 and wait_unmounted(mnt), r.stderr
    r = run_as(a, ["/bin/rm", "-rf", dir_])
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(dir_)


# ---------------------------------------------------------------------------
# a root-owned layer under a user's env (the ownership rule, issue 20)

def test_a_root_layer_gives_others_no_right(usr_base, users, work):
    """A root-owned layer under user A's env, through a root allow_other
    mount: A owns the layer's objects as shown (and changes them by copy-up
    into DIR, as A), another user B gets over them exactly what B has over
    A's own files, and a setuid-root program of the layer is set-id for
    nobody; the layer is never written."""
    a, b = users
    dir_ = os.path.join(work, "dir")
    os.mkdir(dir_, 0o755)
    os.chown(dir_, a.uid, a.gid)
    layer = os.path.join(work, "L")
    os.makedirs(os.path.join(layer, "pkg"))
    with open(os.path.join(layer, "pkg", "f.py"), "w") as f:
        f.write("X = 1\n")
    suid = os.path.join(layer, "pkg", "tool")
    shutil.copy("/usr/bin/true", suid)
    os.chmod(suid, 0o4755)
    before = {p: (os.lstat(p).st_mode, os.lstat(p).st_uid, open(p, "rb").read())
              for p in (os.path.join(layer, "pkg", "f.py"), suid)}
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    with mounted(usr_base.prefix, mnt, dir_, ["-o", "allow_other", "--lower-site", layer], base=usr_base) as m:
        pkg = m.path(usr_base.stdlib_rel, "site-packages", "pkg")
        st = os.stat(os.path.join(pkg, "f.py"))
        assert (st.st_uid, st.st_gid) == (a.uid, a.gid), "a root layer's file is not shown as the env owner's"
        st = os.stat(os.path.join(pkg, "tool"))
        assert st.st_uid == a.uid and not st.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(st.st_mode)
        probe = ("import os, sys\n"
                 "def t(f):\n"
                 "    try:\n        f(); return 'ok'\n"
                 "    except OSError as e:\n        return os.strerror(e.errno)\n"
                 "p = sys.argv[1]\n"
                 "print(t(lambda: open(p + '/f.py', 'a').write('# changed\\n')))\n"
                 "print(t(lambda: os.unlink(p + '/f.py')))\n"
                 "print(t(lambda: os.chmod(p + '/tool', 0o4755)))\n")
        r = run_as(b, ["/usr/bin/python3", "-c", probe, pkg])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:3] == ["Permission denied", "Permission denied", "Operation not permitted"], r.stdout
        r = run_as(a, ["/usr/bin/python3", "-c", probe, pkg])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:3] == ["ok", "ok", "ok"], r.stdout
        # A's chmod u+s copied the program up: A's own file (set-uid A at
        # most), in a directory of A's
        st = os.lstat(os.path.join(dir_, "pkg", "tool"))
        assert st.st_uid == a.uid, "the copy-up is not the env owner's"
        assert os.lstat(os.path.join(dir_, "pkg")).st_uid == a.uid
    for p, (mode, uid, data) in before.items():
        st = os.lstat(p)
        assert (st.st_mode, st.st_uid) == (mode, uid) and open(p, "rb").read() == data, "the layer was written: %s" % p
