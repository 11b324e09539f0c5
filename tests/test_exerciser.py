"""Differential random exerciser: file operations inside DIR through the mount
behave exactly as on the native disk (outcomes, errnos, tree, contents,
modes, link counts), with and without -o no_open.

Seeds are fixed for CI; override with PYENVFS_EXERCISER_SEEDS="1,2,3" and
PYENVFS_EXERCISER_OPS=N.  The heavy run is tests/stress/exerciser.py.
A failure prints the seed, the step, the op, both outcomes and the differing
paths; PYENVFS_EXERCISER_SHRINK=1 also shrinks it to a minimal op list.
"""

import os
import shutil
import sys

import pytest

import exerciser
import pythons
from conftest import mounted

DEFAULT_SEEDS = [1, 2, 3]
ALIAS_REL = "local/lib/python%s/dist-packages"     # Debian: DIR shown here too
DEFAULT_OPS = 1000


def _seeds():
    v = os.environ.get("PYENVFS_EXERCISER_SEEDS")
    return [int(x) for x in v.replace(",", " ").split()] if v else DEFAULT_SEEDS


def _n_ops():
    return int(os.environ.get("PYENVFS_EXERCISER_OPS") or DEFAULT_OPS)


class Dirs:
    """Fresh (A through the mount, B native, A's backing dir in DIR) triples."""

    def __init__(self, m, b, native_root):
        self.sp = os.path.join(m.mnt, b.stdlib_rel, "site-packages")
        self.site = m.site
        self.native_root = str(native_root)
        self.n = 0

    def __call__(self):
        self.n += 1
        name = "ex%d" % self.n
        a = os.path.join(self.sp, name)
        bdir = os.path.join(self.native_root, name)
        for p in (os.path.join(self.site, name), bdir):
            if os.path.lexists(p):
                shutil.rmtree(p)
        os.mkdir(a)
        os.mkdir(bdir)
        return a, bdir, os.path.join(self.site, name)


def exercise(m, b, tmp_path, seeds, n_ops, label, alias=False):
    dirs = Dirs(m, b, tmp_path / "native")
    os.makedirs(dirs.native_root, exist_ok=True)
    for seed in seeds:
        a, bd, backing = dirs()
        msg = None
        views = [("alias " + ALIAS_REL, os.path.join(m.mnt, ALIAS_REL % b.xy, os.path.basename(a)))] \
            if alias else []
        try:
            st = exerciser.run(seed, n_ops, a, bd, dir_a_backing=backing, views=views)
        except AssertionError as e:
            msg = "[%s] seed %r, %d ops (rerun: PYENVFS_EXERCISER_SEEDS=%r):\n%s" % (
                label, seed, n_ops, seed, e)
        if msg:
            if os.environ.get("PYENVFS_EXERCISER_SHRINK"):
                exerciser.shrink(seed, n_ops, dirs, time_budget=60.0, out=sys.stderr)
            pytest.fail(msg, pytrace=False)
        sys.stderr.write("[%s] seed %d: %d ops, %d ok, %d errno, max %d entries\n"
                         % (label, seed, st["ops"], st["ok"], st["err"], st["entries_max"]))


@pytest.fixture
def base():
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    return b


def test_exerciser_default(base, tmp_path):
    (tmp_path / "mnt").mkdir()
    with mounted(base.prefix, tmp_path / "mnt", tmp_path / "site", pythons.python_args(base), base=base) as m:
        exercise(m, base, tmp_path, _seeds(), _n_ops(), "default")


def test_exerciser_no_open(base, tmp_path):
    (tmp_path / "mnt").mkdir()
    with mounted(base.prefix, tmp_path / "mnt", tmp_path / "site",
                 pythons.python_args(base) + ["-o", "no_open"], base=base) as m:
        exercise(m, base, tmp_path, _seeds()[:1], _n_ops(), "no_open")


def test_exerciser_alias_view_coherent(base, tmp_path):
    """DIR's second path (Debian's local/lib/pythonX.Y/dist-packages) sees at
    once what is done through the first (the daemon has the kernel forget the
    name under the other node)."""
    if not base.debian_patched:
        pytest.skip("only Debian-patched Pythons show DIR at two paths")
    (tmp_path / "mnt").mkdir()
    # A long site_timeout: without the daemon's invalidation the other path
    # would stay stale for an hour, and this test would fail.
    with mounted(base.prefix, tmp_path / "mnt", tmp_path / "site",
                 pythons.python_args(base) + ["-o", "site_timeout=3600"], base=base) as m:
        exercise(m, base, tmp_path, _seeds()[:1], _n_ops(), "alias", alias=True)


AS_USER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import exerciser
a, b, backing, seed, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
try:
    st = exerciser.run(seed, n, a, b, dir_a_backing=backing)
except AssertionError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
print(json.dumps(st))
"""


@pytest.mark.parametrize("mode", ["default", "no_open"])
def test_exerciser_unprivileged_daemon(base, mode):
    """The daemon and the caller a normal user (no CAP_DAC_OVERRIDE): the
    permission outcomes of chmod'ed files and directories, and the daemon's
    own descriptors for handle-less I/O, are those of the native disk."""
    from conftest import PYENVFS, force_unmount
    from helpers_env import dev_fuse_mode, remove_tree, run_as, throwaway_users, world_tmpdir
    with throwaway_users(1) as (user,), dev_fuse_mode(0o666):
        work = world_tmpdir()
        mnt, site, native = (os.path.join(work, d) for d in ("m", "site", "native"))
        try:
            for d in (mnt, site, native):
                os.mkdir(d, 0o755)
                os.chown(d, user.uid, user.gid)
            if run_as(user, [base.exe, "-c", "pass"]).returncode != 0:
                pytest.skip("the base's Python cannot run as another user (%s)" % base.exe)
            extra = ["-o", "no_open"] if mode == "no_open" else []
            r = run_as(user, [PYENVFS, base.prefix, mnt, "--site", site] + pythons.python_args(base) + extra)
            assert r.returncode == 0, r.stderr
            a = os.path.join(mnt, base.stdlib_rel, "site-packages", "ex")
            r = run_as(user, ["/usr/bin/python3", "-c", "import os, sys; os.mkdir(sys.argv[1])", a])
            assert r.returncode == 0, r.stderr
            here = os.path.dirname(os.path.abspath(__file__))
            for seed in _seeds()[:1]:
                r = run_as(user, ["/usr/bin/python3", "-c", AS_USER, here, a, native,
                                  os.path.join(site, "ex"), seed, _n_ops()], timeout=600,
                           env_extra={"PYTHONDONTWRITEBYTECODE": "1"})
                assert r.returncode == 0, "[unprivileged %s] seed %d (rerun: PYENVFS_EXERCISER_SEEDS=%d):\n%s" % (
                    mode, seed, seed, r.stderr[-4000:])
        finally:
            force_unmount(mnt)
            remove_tree(work)
