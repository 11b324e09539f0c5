"""The daemon run by an unprivileged user, allow_other, ro, and the owner of
files created through a root daemon's allow_other mount.

Root only: two throwaway system users are created for the module and deleted
afterwards.  /dev/fuse (0600 on the project's machines) is made 0666, and
/etc/fuse.conf gets 'user_allow_other', only for as long as needed; both are
put back as they were, also on failure.  The base is Debian's /usr: pyenv
versions live under /root, which the throwaway users cannot read.
"""

import json
import os
import stat

import pytest

from conftest import (FUSERMOUNT, PYENVFS, force_unmount, mount_count, mounted,
                      make_site_with_marker, MARKER_FILE)
from helpers_env import (dev_fuse_mode, fuse_conf_user_allow_other, is_root, mountinfo_entry,
                         run_as, throwaway_users, wait_unmounted)

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (throwaway users)")


@pytest.fixture(scope="module")
def users():
    with throwaway_users(2) as us:
        yield us


@pytest.fixture(scope="module")
def fuse_open():
    with dev_fuse_mode(0o666):
        yield



class UserEnv:
    """A mount point, DIR and HOME owned by user under work (all 0755)."""

    def __init__(self, work, user):
        self.user = user
        self.mnt = os.path.join(work, "mnt")
        self.site = os.path.join(work, "site")
        self.home = os.path.join(work, "home")
        for d in (self.mnt, self.site, self.home):
            os.mkdir(d, 0o755)
            os.chown(d, user.uid, user.gid)
        make_site_with_marker(self.site)
        os.chown(os.path.join(self.site, MARKER_FILE), user.uid, user.gid)

    def mount(self, base, *extra):
        r = run_as(self.user, [PYENVFS, base.prefix, self.mnt, "--site", self.site] + list(extra),
                   home=self.home, timeout=30)
        assert r.returncode == 0, "pyenvfs as %s failed (%d): %s" % (self.user.name,
                                                                     r.returncode, r.stderr)
        assert mount_count(self.mnt) == 1, "pyenvfs exited 0 but %s is not mounted" % self.mnt
        return r

    def unmount_as_user(self):
        r = run_as(self.user, [FUSERMOUNT, "-u", self.mnt], home=self.home)
        assert r.returncode == 0, "fusermount3 -u as %s failed: %s" % (self.user.name, r.stderr)
        assert wait_unmounted(self.mnt), "%s still mounted after fusermount3 -u" % self.mnt

    def cleanup(self):
        force_unmount(self.mnt)


def py_as(user, env, base, code, home=None):
    """Run M/bin/pythonX.Y -c code as user; returns CompletedProcess."""
    return run_as(user, [os.path.join(env.mnt, "bin", "python" + base.xy), "-c", code],
                  home=home or env.home)


PROBE = r"""
import json, os, sys
out = {"prefix": sys.prefix}
try:
    import pyenvfs_marker
    out["marker"] = pyenvfs_marker.MARK
except Exception as e:
    out["marker"] = repr(e)
print(json.dumps(out))
"""


def test_user_mounts_runs_and_unmounts(usr_base, users, fuse_open, work):
    u = users[0]
    e = UserEnv(work, u)
    try:
        e.mount(usr_base)
        opts = mountinfo_entry(e.mnt)
        assert opts is not None and opts[1] == "fuse.pyenvfs", opts
        assert "user_id=%d" % u.uid in opts[3], "not mounted as %s: %s" % (u.name, opts)
        r = py_as(u, e, usr_base, PROBE)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["prefix"] == e.mnt
        assert out["marker"] == "pyenvfs-site-marker"
        # The user writes into the env: the file is theirs, in DIR.
        new = os.path.join(e.mnt, usr_base.stdlib_rel, "site-packages", "mine.py")
        r = py_as(u, e, usr_base, "open(%r, 'w').write('x = 1\\n')" % new)
        assert r.returncode == 0, r.stderr
        st = os.lstat(os.path.join(e.site, "mine.py"))
        assert (st.st_uid, st.st_gid) == (u.uid, u.gid)
        e.unmount_as_user()
        assert os.path.isfile(os.path.join(e.site, "mine.py"))
    finally:
        e.cleanup()


def test_without_allow_other_others_denied(usr_base, users, fuse_open, work):
    u, other = users
    e = UserEnv(work, u)
    try:
        e.mount(usr_base)
        r = run_as(other, ["/usr/bin/python3", "-c",
                           "import os\ntry:\n    os.stat(%r)\n    print('ok')\n"
                           "except PermissionError:\n    print('PermissionError')\n" % e.mnt])
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "PermissionError", r.stdout
        # root is no exception without allow_other.
        with pytest.raises(PermissionError):
            os.stat(e.mnt)
        e.unmount_as_user()
    finally:
        e.cleanup()


WRITE_PROBE = r"""
import errno, json, os, sys
sp = sys.argv[1]
res = {}
try:
    open(os.path.join(sp, "intruder.py"), "w").write("x")
    res["create"] = "ok"
except OSError as e:
    res["create"] = type(e).__name__
try:
    with open(os.path.join(sp, "pyenvfs_marker.py"), "a") as f:
        f.write("# changed\n")
    res["append"] = "ok"
except OSError as e:
    res["append"] = type(e).__name__
import pyenvfs_marker
res["marker"] = pyenvfs_marker.MARK
print(json.dumps(res))
"""


def test_allow_other_second_user_reads_not_writes(usr_base, users, fuse_open, work):
    u, other = users
    e = UserEnv(work, u)
    try:
        with fuse_conf_user_allow_other():
            e.mount(usr_base, "-o", "allow_other")
        assert "allow_other" in mountinfo_entry(e.mnt)[3]
        sp = os.path.join(e.mnt, usr_base.stdlib_rel, "site-packages")
        r = run_as(other, [os.path.join(e.mnt, "bin", "python" + usr_base.xy), "-c",
                           WRITE_PROBE, sp], home="/nonexistent")
        assert r.returncode == 0, "python as the second user failed: %s" % r.stderr
        out = json.loads(r.stdout)
        assert out["marker"] == "pyenvfs-site-marker", out
        assert out["create"] == "PermissionError", out
        assert out["append"] == "PermissionError", out
        assert not os.path.exists(os.path.join(e.site, "intruder.py"))
        with open(os.path.join(e.site, MARKER_FILE)) as f:
            assert "changed" not in f.read()
        e.unmount_as_user()
    finally:
        e.cleanup()


def test_allow_other_refused_without_fuse_conf(usr_base, users, fuse_open, work):
    """Without user_allow_other, a user's -o allow_other fails with a message,
    exit 1, and leaves nothing mounted."""
    with open("/etc/fuse.conf") as f:
        if any(l.strip() == "user_allow_other" for l in f):
            pytest.skip("/etc/fuse.conf already has user_allow_other")
    u = users[0]
    e = UserEnv(work, u)
    site = os.path.join(e.home, "sp", "ENV1")      # absent: must stay absent
    try:
        r = run_as(u, [PYENVFS, usr_base.prefix, e.mnt, "--site", site, "-o", "allow_other"],
                   home=e.home)
        assert r.returncode == 1, (r.returncode, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("pyenvfs: ") and "user_allow_other" in lines[0], r.stderr
        assert mount_count(e.mnt) == 0
        assert not os.path.lexists(site), "DIR left behind by a failed mount"
        assert os.listdir(e.home) == [], "files left behind by a failed mount"
    finally:
        e.cleanup()


RO_PROBE = r"""
import errno, json, os, sys
m, sp = sys.argv[1], sys.argv[2]
res = {}
def attempt(name, fn):
    try:
        fn()
        res[name] = "ok"
    except OSError as e:
        res[name] = errno.errorcode.get(e.errno, str(e.errno))
marker = os.path.join(sp, "pyenvfs_marker.py")
attempt("create_site", lambda: open(os.path.join(sp, "new.py"), "w").close())
attempt("create_bin", lambda: open(os.path.join(m, "bin", "newscript"), "w").close())
attempt("create_share", lambda: os.makedirs(os.path.join(m, "share", "x")))
attempt("mkdir_site", lambda: os.mkdir(os.path.join(sp, "newpkg")))
attempt("append", lambda: open(marker, "a").write("#"))
attempt("open_rw", lambda: os.close(os.open(marker, os.O_RDWR)))
attempt("truncate", lambda: os.truncate(marker, 0))
attempt("unlink", lambda: os.unlink(marker))
attempt("rename", lambda: os.rename(marker, marker + ".bak"))
attempt("chmod", lambda: os.chmod(marker, 0o600))
attempt("utime", lambda: os.utime(marker, (0, 0)))
attempt("symlink", lambda: os.symlink("x", os.path.join(sp, "lnk")))
attempt("link", lambda: os.link(marker, os.path.join(sp, "hard")))
attempt("setxattr", lambda: os.setxattr(marker, "user.x", b"1"))
attempt("write_pyvenv_cfg", lambda: open(os.path.join(m, "pyvenv.cfg"), "a").close())
import pyenvfs_marker
res["marker"] = pyenvfs_marker.MARK
print(json.dumps(res))
"""


def test_ro_every_write_is_erofs(usr_base, users, fuse_open, work):
    u = users[0]
    e = UserEnv(work, u)
    try:
        e.mount(usr_base, "-o", "ro")
        before = sorted(os.listdir(e.site))
        sp = os.path.join(e.mnt, usr_base.stdlib_rel, "site-packages")
        r = run_as(u, [os.path.join(e.mnt, "bin", "python" + usr_base.xy), "-c", RO_PROBE,
                       e.mnt, sp], home=e.home)
        assert r.returncode == 0, "python in a ro env failed: %s" % r.stderr
        out = json.loads(r.stdout)
        assert out.pop("marker") == "pyenvfs-site-marker"
        not_erofs = {k: v for k, v in out.items() if v != "EROFS"}
        assert not not_erofs, "writes that did not fail with EROFS: %s" % not_erofs
        assert sorted(os.listdir(e.site)) == before, "DIR changed through a ro mount"
        st = os.stat(os.path.join(e.site, MARKER_FILE))
        assert stat.S_IMODE(st.st_mode) != 0o600 and st.st_size > 0
        e.unmount_as_user()
    finally:
        e.cleanup()


OWN_PROBE = r"""
import os, sys
m, sp = sys.argv[1], sys.argv[2]
os.umask(0o027)
with open(os.path.join(sp, "created_by_user.py"), "w") as f:
    f.write("x = 1\n")
os.mkdir(os.path.join(sp, "userpkg"))
with open(os.path.join(m, "bin", "userscript"), "w") as f:
    f.write("#!/bin/sh\n")
print("done")
"""


def test_root_daemon_allow_other_file_owner(usr_base, users, work):
    """As root with -o allow_other: a file the throwaway user creates through
    the mount is the user's (uid and gid) in DIR, with the user's umask applied."""
    u = users[0]
    mnt = os.path.join(work, "mnt")
    site = os.path.join(work, "site")
    os.mkdir(mnt, 0o755)
    os.mkdir(site, 0o755)
    os.chown(site, u.uid, u.gid)
    with mounted(usr_base.prefix, mnt, site, ["-o", "allow_other"]) as m:
        sp = m.path(usr_base.stdlib_rel, "site-packages")
        r = run_as(u, [m.path("bin", "python" + usr_base.xy), "-c", OWN_PROBE, m.mnt, sp])
        assert r.returncode == 0, "the user could not write into its env: %s" % r.stderr
        for name, mode in (("created_by_user.py", 0o640), ("userpkg", 0o750)):
            st = os.lstat(os.path.join(site, name))
            assert (st.st_uid, st.st_gid) == (u.uid, u.gid), \
                "%s in DIR owned by %d:%d, expected %d:%d" % (name, st.st_uid, st.st_gid,
                                                              u.uid, u.gid)
            assert stat.S_IMODE(st.st_mode) == mode, "%s mode %o, expected %o (umask 027)" \
                % (name, stat.S_IMODE(st.st_mode), mode)
        # The same file seen through the mount.
        st = os.lstat(os.path.join(sp, "created_by_user.py"))
        assert (st.st_uid, st.st_gid) == (u.uid, u.gid)
        # A console script (kept in DIR/.pyenvfs/upper) is the user's too.
        st = os.lstat(m.path("bin", "userscript"))
        assert (st.st_uid, st.st_gid) == (u.uid, u.gid)
