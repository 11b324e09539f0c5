"""An env's owner owns their env, layers included (issue 20, item 1).

An admin (root) publishes a layer: an env's DIR with pip, sciA 2.0 (a
console script) and sciB (which needs sciA), installed without bytecode, as
a root-owned squashfs image (loop-mounted) or a root-owned directory
bind-mounted read-only. (`pyenvfs layer pack` would compile the bytecode:
the layer here has none, so that its bytecode is the env's to make.) An unprivileged user's env over it must
behave as their own venv: `pip uninstall`, `pip install -U`, a downgrade and
`--force-reinstall` of the layer's sciA succeed, `pip list` and `pip check`
are clean after each, and the layer's bytecode, missing from the bind-mounted
layer, is written into DIR at the first start-up and read from there at the
next (python -v). The layer is never written (digests before and after).

The rule that makes this work (src/ownership.c: a layer's objects shown as
the env owner's, set-id bits giving nothing, copy-ups owned by DIR's owner)
is applied by the union engine where a layer's attributes are shown
(resolve.c, show_mode) and where a copy-up is made (upper.c).

Root (throwaway user, loop and bind mounts).
"""

import os
import shutil

import pytest

import helpers_base as hb
import pkgs
from conftest import PYENVFS, FUSERMOUNT, force_unmount, mount_count, mounted, run
from helpers_env import dev_fuse_mode, is_root, run_as, throwaway_users, wait_unmounted

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (throwaway users, loop and bind mounts)")

BASE = "/usr"
PIP_ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_WARN_SCRIPT_LOCATION": "1", "PIP_NO_INDEX": "1"}


def sci_wheel(dest, version):
    return pkgs.make_wheel(dest, "sciA", version,
                           files={"sciA/__init__.py": "V = %r\n" % version,
                                  "sciA/core.py": "def f():\n    return %r\n" % version},
                           entry_points="[console_scripts]\nsciA-tool = sciA:V\n")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(wheels dir, layer DIR made by root) -- the admin's side."""
    pip = pkgs.debian_pip_wheel()
    if not pip or not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("needs Debian's python3.11 and its pip wheel")
    from helpers_env import remove_tree, world_tmpdir
    work = world_tmpdir()
    try:
        wheels = os.path.join(work, "wheels")
        for v in ("1.0", "2.0", "3.0"):
            sci_wheel(wheels, v)
        pkgs.make_wheel(wheels, "sciB", "1.0", files={"sciB/__init__.py": "import sciA\n"},
                        requires=["sciA>=1.0"])
        shutil.copy(pip, wheels)
        os.chmod(work, 0o755)
        layer, mnt = os.path.join(work, "sci"), os.path.join(work, "admin-mnt")
        os.mkdir(mnt)
        env = pkgs.pip_env(work, mnt)
        with mounted(BASE, mnt, layer):
            pkgs.run_checked([os.path.join(mnt, "bin", "python3"), os.path.join(pip, "pip"), "install",
                              "--no-index", "--no-compile", "--find-links", wheels, "pip", "sciA==2.0", "sciB"],
                             env)
        yield work, wheels, layer
    finally:
        remove_tree(work)


@pytest.fixture(params=["squashfs", "ro_bind"])
def user_env(request, published):
    """An unprivileged user's env over the published layer, and the layer's
    digest check at the end."""
    work, wheels, layer = published
    kind = request.param
    lmp = os.path.join(work, "layer-" + kind)
    src = os.path.join(work, "sci-nobytecode")
    if not os.path.exists(src):
        shutil.copytree(layer, src, symlinks=True)
        for d, dirs, files in os.walk(src):
            if "__pycache__" in dirs:
                shutil.rmtree(os.path.join(d, "__pycache__"))
                dirs.remove("__pycache__")
    if kind == "squashfs":
        if not shutil.which("mksquashfs") or hb.squashfs_how() != "loop":
            pytest.skip("no mksquashfs or no loop mounts")
        image = os.path.join(work, "sci.sqfs")
        if not os.path.exists(image):
            r = run(["mksquashfs", src, image, "-all-root", "-noappend", "-quiet", "-no-progress"], timeout=300)
            assert r.returncode == 0, r.stderr
        cm = hb.squashfs_mounted(image, lmp, "loop")
    else:
        cm = hb.ro_bind(src, lmp)
    with cm, throwaway_users(1) as (u,), dev_fuse_mode(0o666):
        digest = hb.tree_digest(lmp)
        home = os.path.join(work, "home-" + kind)
        mnt = os.path.join(work, "mnt-" + kind)
        for d in (home, mnt):
            os.mkdir(d, 0o755)
            os.chown(d, u.uid, u.gid)
        site = os.path.join(home, "D")
        r = run_as(u, [PYENVFS, BASE, mnt, "--site", site, "--lower-site", lmp], home=home)
        assert r.returncode == 0, r.stderr
        try:
            yield UserEnv(u, home, mnt, site, wheels, kind)
        finally:
            run_as(u, [FUSERMOUNT, "-u", mnt], home=home)
            wait_unmounted(mnt)
            force_unmount(mnt)
            shutil.rmtree(home, ignore_errors=True)
            os.rmdir(mnt)
        assert hb.tree_digest(lmp) == digest, "the layer was written"


class UserEnv:
    def __init__(self, user, home, mnt, site, wheels, kind):
        self.user, self.home, self.mnt, self.site, self.wheels, self.kind = user, home, mnt, site, wheels, kind

    def run(self, args, ok=True):
        r = run_as(self.user, [str(a) for a in args], home=self.home, timeout=180,
                   env_extra=dict(PIP_ENV, PIP_FIND_LINKS=self.wheels))
        if ok:
            assert r.returncode == 0, "%s: %d\n%s%s" % (" ".join(map(str, args)), r.returncode,
                                                        r.stdout[-3000:], r.stderr[-3000:])
        return r

    def exists(self, path):
        """Whether path exists as the user sees it (root may not look into
        a user's mount made without allow_other)."""
        return self.run(["/usr/bin/test", "-e", path], ok=False).returncode == 0

    def pip(self, *args):
        return self.run([os.path.join(self.mnt, "bin", "python3"), "-m", "pip"] + list(args))

    def listed(self):
        return sorted(l for l in self.pip("freeze", "--all").stdout.split() if l.lower().startswith("sci"))

    def clean(self):
        """pip check passes, and nothing of pip's stash or a half install is left."""
        self.pip("check")
        assert not [n for n in os.listdir(self.site) if n.startswith("~")], sorted(os.listdir(self.site))


def test_uninstall_a_layer_package(user_env):
    e = user_env
    assert e.listed() == ["sciA==2.0", "sciB==1.0"]
    assert e.exists(os.path.join(e.mnt, "bin", "sciA-tool"))
    e.pip("uninstall", "-y", "sciB", "sciA")
    assert e.listed() == []
    assert not e.exists(os.path.join(e.mnt, "bin", "sciA-tool"))
    e.clean()


def test_upgrade_downgrade_and_reinstall_a_layer_package(user_env):
    e = user_env
    for spec, want in (("sciA==3.0", "3.0"), ("sciA==1.0", "1.0")):
        e.pip("install", "-U", spec)
        assert e.listed() == ["sciA==%s" % want, "sciB==1.0"]
        r = e.run([os.path.join(e.mnt, "bin", "python3"), "-c", "import sciA.core; print(sciA.core.f())"])
        assert r.stdout.strip() == want
        e.clean()
    e.pip("install", "--force-reinstall", "sciA==2.0")
    assert e.listed() == ["sciA==2.0", "sciB==1.0"]
    assert e.exists(os.path.join(e.mnt, "bin", "sciA-tool"))
    e.clean()


def test_a_layers_bytecode_is_cached_in_dir(user_env):
    """The first start-up writes the layer's bytecode into DIR (the layer
    bind-mounted has none), the next reads it from there."""
    e = user_env
    py = os.path.join(e.mnt, "bin", "python3")
    e.run([py, "-c", "import sciA.core"])
    cached = os.path.join(e.site, "sciA", "__pycache__")
    assert os.path.isdir(cached) and any(n.startswith("core.") for n in os.listdir(cached)), \
        "no bytecode of the layer's sciA in DIR"
    r = e.run([py, "-v", "-c", "import sciA.core"])
    assert "code object from '%s/lib/python3.11/site-packages/sciA/__pycache__/core.cpython-311.pyc'" % e.mnt \
        in r.stderr, r.stderr[-2000:]
    assert "# wrote " not in r.stderr and "could not create" not in r.stderr
    assert mount_count(e.mnt) == 1
