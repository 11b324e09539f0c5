"""Envs that move (issue 20, item 2): the console scripts pip installs into
DIR work wherever DIR is mounted next -- `pyenvfs run --site DIR` again
(another mount point each time), a second mount point, a renamed one, two at
once -- and the env's own pip wins over the system's (/usr/bin/pip) in each.

DIR remembers the mount points it was mounted at (DIR/.pyenvfs/mounts); a
script of DIR's bin whose first line names one of them is shown naming the
current mount's interpreter, and is written so before anything changes it
through the mount.

As an unprivileged throwaway user (/dev/fuse 0666 for the module), over
Debian's /usr: pyenv's bases live under /root, which such a user cannot
read. Root only (to make the user); about 25 s.
"""

import os

import pytest

import pkgs
from conftest import FUSERMOUNT, PYENVFS, force_unmount, mount_count, run
from helpers_env import dev_fuse_mode, is_root, run_as, throwaway_users, wait_unmounted

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (throwaway users)")

BASE = "/usr"
PIP_ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_WARN_SCRIPT_LOCATION": "1"}


class Who:
    def __init__(self, user, work):
        self.user = user
        self.work = work
        self.home = self.mkdir("home")
        self.wheels = self.mkdir("wheels")

    def mkdir(self, name):
        p = os.path.join(self.work, name)
        os.mkdir(p, 0o755)
        os.chown(p, self.user.uid, self.user.gid)
        return p

    def run(self, args, ok=True, timeout=180):
        r = run_as(self.user, [str(a) for a in args], home=self.home, env_extra=PIP_ENV, timeout=timeout)
        if ok:
            assert r.returncode == 0, "%s as %s: %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(str, args)), self.user.name, r.returncode, r.stdout[-3000:], r.stderr[-3000:])
        return r

    def pyenvfs_run(self, args, ok=True):
        return self.run([PYENVFS, "run"] + list(args), ok=ok)

    def mount(self, mnt, site, *extra):
        self.run([PYENVFS, BASE, mnt, "--site", site] + list(extra))
        assert mount_count(mnt) == 1

    def first_line(self, path):
        """Through the user's mount (only they may read it)."""
        return self.run(["sed", "-n", "1p", path]).stdout

    def size_matches(self, path):
        """The size stat shows is the number of bytes read."""
        r = self.run(["sh", "-c", 'test "$(stat -c %s "$1")" = "$(wc -c < "$1")"', "sh", path], ok=False)
        return r.returncode == 0

    def unmount(self, mnt):
        self.run([FUSERMOUNT, "-u", mnt])
        assert wait_unmounted(mnt)


@pytest.fixture(scope="module")
def who(tmp_path_factory):
    if not os.path.isdir(pkgs.DEBIAN_WHEELS) or not pkgs.debian_pip_wheel():
        pytest.skip("no pip wheel in %s (python3-pip-whl)" % pkgs.DEBIAN_WHEELS)
    from helpers_env import remove_tree, world_tmpdir
    work = world_tmpdir()
    try:
        with throwaway_users(1) as (u,), dev_fuse_mode(0o666):
            w = Who(u, work)
            pkgs.demo_wheel(w.wheels)
            # DIR with its own pip and a console script, installed by a run
            w.d0 = os.path.join(w.home, "D0")
            pip = pkgs.debian_pip_wheel()
            w.pyenvfs_run(["--site", w.d0, BASE, "--", "python3", os.path.join(pip, "pip"), "install",
                           "--no-index", "--find-links", w.wheels, pip, pkgs.DEMO_NAME])
            yield w
    finally:
        remove_tree(work)


def copy_dir(who, name):
    d = os.path.join(who.work, name)
    assert run(["cp", "-a", who.d0, d]).returncode == 0
    return d


def first_line(path):
    with open(path, "rb") as f:
        return f.readline().decode()


def test_run_site_twice_console_script_and_own_pip(who):
    """Each run mounts DIR at a new mount point: DIR's console script and its
    own pip (reinstalled by itself in between) run in every one, with no
    BASE given (DIR remembers it); the system's pip never answers."""
    d = copy_dir(who, "D-run")
    show = "command -v pip; pip --version; %s" % pkgs.DEMO_SCRIPT
    r = who.pyenvfs_run(["--site", d, "--", "sh", "-c", show])
    where, version, demo = r.stdout.strip().splitlines()
    env = os.path.dirname(os.path.dirname(where))
    assert os.path.basename(os.path.dirname(env)).startswith("pyenvfs-run.") and where == env + "/bin/pip", where
    assert (" from %s/lib/python" % env) in version, version
    assert demo == pkgs.DEMO_OUTPUT
    # the env's pip reinstalls itself: its scripts now name that run's mount
    pip = pkgs.debian_pip_wheel()
    who.pyenvfs_run(["--site", d, "--", "pip", "install", "--no-index", "--force-reinstall", pip])
    r = who.pyenvfs_run(["--site", d, "--", "sh", "-c", show], ok=False)
    assert r.returncode == 0, "the env's pip or script failed after a reinstall: %s%s" % (r.stdout, r.stderr)
    where2, version2, demo2 = r.stdout.strip().splitlines()
    env2 = os.path.dirname(os.path.dirname(where2))
    assert env2 != env and (" from %s/lib/python" % env2) in version2, version2
    assert "externally-managed" not in r.stderr and demo2 == pkgs.DEMO_OUTPUT
    # PYTHONHOME mode too
    r = who.pyenvfs_run(["--home", "--site", d, "--", pkgs.DEMO_SCRIPT])
    assert r.stdout.strip() == pkgs.DEMO_OUTPUT
    # DIR's own files still name the mount pip wrote them through (shown
    # rewritten, never changed by reading)
    raw = first_line(os.path.join(d, ".pyenvfs", "upper", "bin", pkgs.DEMO_SCRIPT))
    assert "/pyenvfs-run." in raw and env2 not in raw, raw


def test_second_mount_point_two_at_once_and_renamed(who):
    d = copy_dir(who, "D-mnt")
    m1, m2 = who.mkdir("m1"), who.mkdir("m2")
    raw_demo = os.path.join(d, ".pyenvfs", "upper", "bin", pkgs.DEMO_SCRIPT)
    # a script of the user's that names another Python is left alone
    mine = os.path.join(d, ".pyenvfs", "upper", "bin", "mine")
    with open(mine, "w") as f:
        f.write("#!/usr/bin/python3\nprint('mine')\n")
    os.chmod(mine, 0o755)
    os.chown(mine, who.user.uid, who.user.gid)
    raw = first_line(raw_demo)
    try:
        who.mount(m1, d)
        who.mount(m2, d)        # the same DIR at two mount points at once
        for m in (m1, m2):
            script = os.path.join(m, "bin", pkgs.DEMO_SCRIPT)
            assert who.first_line(script) == "#!%s/bin/python3\n" % m
            assert who.size_matches(script)
            assert who.run([script]).stdout.strip() == pkgs.DEMO_OUTPUT
            assert who.run([os.path.join(m, "bin", "pip"), "--version"]).stdout.startswith("pip ")
            assert who.first_line(os.path.join(m, "bin", "mine")) == "#!/usr/bin/python3\n"
        assert first_line(raw_demo) == raw
        # a change through a mount writes the line it shows first
        who.run(["sh", "-c", 'echo "# edited" >> "$1"', "sh", os.path.join(m2, "bin", pkgs.DEMO_SCRIPT)])
        assert first_line(raw_demo) == "#!%s/bin/python3\n" % m2
        assert open(raw_demo).read().endswith("# edited\n")
        who.unmount(m1)
        who.unmount(m2)
        # a renamed mount point
        m3 = os.path.join(who.work, "m3")
        os.rename(m2, m3)
        who.mount(m3, d)
        assert who.run([os.path.join(m3, "bin", pkgs.DEMO_SCRIPT)]).stdout.strip() == pkgs.DEMO_OUTPUT
        with open(os.path.join(d, ".pyenvfs", "mounts")) as f:
            assert f.read().splitlines()[-3:] == [m1, m2, m3]
        who.unmount(m3)
    finally:
        for m in (m1, m2, os.path.join(who.work, "m3")):
            force_unmount(m)
