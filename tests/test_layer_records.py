"""Layers say what they are (issue 20, item 4), and the shared pip layer
(item 6a).

- a layer records its Python X.Y and ABI tag (its .pyenvfs/env, written when
  it was mounted as an env); a layer for another X.Y, a layer the user
  cannot read (root's, mode 0700) and a squashfs image given as a layer
  are refused in one line each, and nothing is created;
- `pyenvfs layer pack DIR IMAGE`: bytecode compiled by the base's Python
  (the base is not written), modes right for the ownership rule (readable
  by all, written by the owner only, no set-id bits), objects root's, DIR's
  temporary and bytecode areas left out, the same bytes when packed twice;
- `pyenvfs pip-layer --system BASE` (root): --with-pip of an unprivileged
  user uses it, and makes nothing in their cache; a first build says what
  it does before it starts.

Root (throwaway users, loop mounts); about 40 s, most of it the first
build of the system-wide pip layer.
"""

import os
import shutil
import stat

import pytest

import helpers_base as hb
import pkgs
import pythons
from conftest import PYENVFS, mount_count, mounted, run, run_pyenvfs
from helpers_env import (assert_refusal, dev_fuse_mode, is_root, run_as, throwaway_users)

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (throwaway users, loop mounts)")

BASE = "/usr"
SYSTEM_PIP_LAYERS = "/var/cache/pyenvfs/pip-layers"


@pytest.fixture
def usr():
    if not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("no Debian python3.11 in /usr")
    return BASE


def record(d):
    with open(os.path.join(d, ".pyenvfs", "env")) as f:
        return dict(l.rstrip("\n").split(" ", 1) for l in f if l.strip() and not l.startswith("#")
                    and not l.startswith("layer "))


def test_a_layer_of_another_python_is_refused(usr, tmp_path):
    other = next((b for b in pythons.discover().values()
                  if b.kind == "pyenv" and b.xy != "3.11" and len(pythons.versions_in(b.prefix)) == 1), None)
    if other is None:
        pytest.skip("no pyenv Python of another X.Y")
    L, mnt = str(tmp_path / "L"), tmp_path / "mnt"
    mnt.mkdir()
    with mounted(other.prefix, mnt, L):
        pass
    rec = record(L)
    assert rec["python"] == other.xy
    if other.major == 3:
        assert rec["abi"].startswith("cpython-%d%d" % (other.major, other.minor))
    d = str(tmp_path / "D")
    r = run_pyenvfs([usr, mnt, "--site", d, "--lower-site", L])
    assert_refusal(r, L, "Python %s" % other.xy, "not 3.11")
    assert not os.path.exists(d) and mount_count(mnt) == 0


def test_an_image_given_as_a_layer_is_refused(usr, tmp_path):
    if not shutil.which("mksquashfs"):
        pytest.skip("mksquashfs not installed (squashfs-tools)")
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("X = 1\n")
    image = str(tmp_path / "l.sqfs")
    assert run(["mksquashfs", str(src), image, "-quiet", "-no-progress"]).returncode == 0
    mnt, d = tmp_path / "mnt", str(tmp_path / "D")
    mnt.mkdir()
    r = run_pyenvfs([usr, mnt, "--site", d, "--lower-site", image])
    line = assert_refusal(r, image, "squashfs image", "mount it first", "mount -o loop,ro", "squashfuse")
    assert "'%s'" % image in line
    assert not os.path.exists(d) and mount_count(mnt) == 0


def test_a_layer_the_user_cannot_read_is_refused(usr, work):
    L = os.path.join(work, "L")
    os.mkdir(L, 0o700)          # root's
    with open(os.path.join(L, "m.py"), "w") as f:
        f.write("X = 1\n")
    with throwaway_users(1) as (u,), dev_fuse_mode(0o666):
        for name in ("mnt", "home"):
            os.mkdir(os.path.join(work, name), 0o755)
            os.chown(os.path.join(work, name), u.uid, u.gid)
        d = os.path.join(work, "home", "D")
        r = run_as(u, [PYENVFS, usr, os.path.join(work, "mnt"), "--site", d, "--lower-site", L],
                   home=os.path.join(work, "home"))
        assert_refusal(r, L, "not readable by you", "0700")
        assert not os.path.exists(d) and mount_count(os.path.join(work, "mnt")) == 0


def unsquashfs_listing(image):
    """{path: (mode string, owner)} from unsquashfs -lls."""
    r = run(["unsquashfs", "-lls", "-d", "", image])
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[0][0] in "-dl":
            path = parts[5].split(" -> ")[0]
            out[path.lstrip("/")] = (parts[0], parts[1])
    return out


def test_layer_pack(usr, tmp_path):
    if not shutil.which("mksquashfs") or not shutil.which("unsquashfs"):
        pytest.skip("squashfs-tools not installed")
    pip = pkgs.debian_pip_wheel()
    if not pip:
        pytest.skip("no pip wheel in %s" % pkgs.DEBIAN_WHEELS)
    wheels = str(tmp_path / "wheels")
    pkgs.demo_wheel(wheels)
    d, mnt = str(tmp_path / "sci"), tmp_path / "mnt"
    mnt.mkdir()
    env = pkgs.pip_env(tmp_path, mnt)
    with mounted(usr, mnt, d) as m:
        # installed without bytecode, as by an admin's own tools
        pkgs.run_checked([m.path("bin", "python3"), os.path.join(pip, "pip"), "install", "--no-index",
                          "--no-compile", "--find-links", wheels, pkgs.DEMO_NAME], env)
    demo = os.path.join(d, pkgs.DEMO_NAME)
    assert not os.path.exists(os.path.join(demo, "__pycache__"))
    # modes an admin's umask or tools left that a layer must not have
    os.chmod(os.path.join(demo, "__init__.py"), 0o600)
    with open(os.path.join(demo, "tool.sh"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(demo, "tool.sh"), 0o4775)
    os.makedirs(os.path.join(d, ".pyenvfs", "pycache", "base-x"), exist_ok=True)
    image = str(tmp_path / "sci.sqfs")
    r = run_pyenvfs(["layer", "pack", d, image], timeout=300)
    assert r.returncode == 0, r.stderr
    assert "packed" in r.stderr and r.stdout == ""
    listing = unsquashfs_listing(image)
    assert "%s/__pycache__/__init__.cpython-311.pyc" % pkgs.DEMO_NAME in listing
    assert listing["%s/__init__.py" % pkgs.DEMO_NAME][0] == "-rw-r--r--"
    assert listing["%s/tool.sh" % pkgs.DEMO_NAME][0] == "-rwxr-xr-x"
    assert ".pyenvfs/env" in listing and ".pyenvfs/upper/bin/%s" % pkgs.DEMO_SCRIPT in listing
    assert not any(p.startswith((".pyenvfs/tmp", ".pyenvfs/pycache")) for p in listing)
    assert all(owner == "root/root" for mode, owner in listing.values())
    assert not any(("s" in mode[1:]) or mode[5] == "w" or mode[8] == "w"
                   for mode, owner in listing.values() if mode[0] != "l")
    # the same DIR packed again: the same bytes
    image2 = str(tmp_path / "sci2.sqfs")
    r = run_pyenvfs(["layer", "pack", d, image2], timeout=300)
    assert r.returncode == 0, r.stderr
    assert hb.file_sha256(image) == hb.file_sha256(image2)
    # refusals
    r = run_pyenvfs(["layer", "pack", d, os.path.join(d, "x.sqfs")])
    assert_refusal(r, "inside DIR")
    bare = tmp_path / "bare"
    bare.mkdir()
    r = run_pyenvfs(["layer", "pack", str(bare), str(tmp_path / "b.sqfs")])
    assert_refusal(r, str(bare), "does not remember")
    assert not os.path.exists(str(tmp_path / "b.sqfs"))


def test_the_system_pip_layer_serves_every_user(usr, work):
    """root: pyenvfs pip-layer --system; a user's --with-pip uses it (their
    cache gets no pip layer) and pip works in their env."""
    made = not os.path.exists("/var/cache/pyenvfs")
    try:
        r = run_pyenvfs(["pip-layer", "--system", usr], timeout=300)
        assert r.returncode == 0, r.stderr
        layer = r.stdout.strip()
        assert layer.startswith(SYSTEM_PIP_LAYERS + "/"), layer
        if "made the pip layer" in r.stderr:
            lines = r.stderr.splitlines()
            assert "making the pip layer" in lines[0], "nothing said before the build: %r" % r.stderr
        for p in ("/var/cache/pyenvfs", SYSTEM_PIP_LAYERS, layer):
            st = os.stat(p)
            assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) & 0o022 == 0 and st.st_mode & 0o005 == 0o005, p
        with throwaway_users(1) as (u,), dev_fuse_mode(0o666):
            home = os.path.join(work, "home")
            os.mkdir(home, 0o755)
            os.chown(home, u.uid, u.gid)
            r = run_as(u, [PYENVFS, "run", "--with-pip", usr, "--", "pip", "--version"], home=home, timeout=120,
                       env_extra={"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith("pip ") and "/pyenvfs-run." in r.stdout, r.stdout
            assert "making the pip layer" not in r.stderr
            assert not os.path.exists(os.path.join(home, ".cache", "pyenvfs", "pip-layers"))
            # only root makes the system-wide one
            r = run_as(u, [PYENVFS, "pip-layer", "--system", usr], home=home)
            assert_refusal(r, "only root")
    finally:
        if made:
            shutil.rmtree("/var/cache/pyenvfs", ignore_errors=True)
