"""An env over a base that really is read-only: a squashfs image of a pyenv
version (loop-mounted by root, squashfuse otherwise; and with squashfuse as
well when root has it) and a copy of one bind-mounted read-only (root only).

Over each: Python in venv and PYTHONHOME mode, ensurepip, pip install and
uninstall of a console-script wheel and of a C-extension sdist, activation,
a program embedding libpython; and the base's digest (names, types, modes,
owners, sizes, mtimes, symlink targets, every file's sha256) is the same
after all that as before.

Layers on squashfs (issue 11): two site layers -- an env's DIR holding pip
and libx (console script libx-tool), and a `pip install --target` directory
holding liby (liby-tool) -- packed into one squashfs image, loop-mounted
(root; squashfuse otherwise), stacked under an env over the read-only base:
imports and console scripts from them in venv and PYTHONHOME mode, pip list,
an upgrade of libx and an uninstall of liby through the env; the image's
sha256 and the mounted layers' digest are the same afterwards.  It runs over
the "squashfs" base only (the other kinds are deselected).

The whole suite can run over such a base too (PYENVFS_TEST_BASES, see
tests/pythons.py and tests/helpers_base.py):

    base=$(python3 tests/helpers_base.py squashfs ~/.pyenv/versions/3.12.1 /tmp/ro)
    PYENVFS_TEST_BASES=$base tests/run tests/test_python.py tests/test_pip.py ...
    python3 tests/helpers_base.py down /tmp/ro
"""

import errno
import glob
import os
import shutil

import pytest

import helpers_base as hb
import pkgs
from conftest import MARKER_MODULE, make_site_with_marker, mounted
from procinfo import tree_diff

# squashfs: loop-mounted as root, else squashfuse; squashfuse: always squashfuse
KINDS = ["squashfs", "squashfuse", "bind"]


class RoBase:
    def __init__(self, kind, base, before):
        self.kind = kind
        self.base = base          # pythons.Base for the read-only prefix
        self.before = before      # its digest before any mount


@pytest.fixture(scope="module", params=KINDS)
def ro_base(request, tmp_path_factory):
    src = hb.source_base()
    if src is None:
        pytest.skip("no pyenv Python 3.10+ with ensurepip and headers on this machine")
    kind = request.param
    d = tmp_path_factory.mktemp("ro-" + kind)
    mp = str(d / "base")
    if kind in ("squashfs", "squashfuse"):
        how = hb.squashfs_how() if kind == "squashfs" else "squashfuse"
        if how is None:
            pytest.skip("cannot mount squashfs: not root, and no squashfuse or no /dev/fuse access")
        if how == "squashfuse" and not shutil.which("squashfuse"):
            pytest.skip("squashfuse not installed")
        if kind == "squashfuse" and hb.squashfs_how() == "squashfuse":
            pytest.skip("the squashfs case already uses squashfuse")
        try:
            image = hb.squashfs_image(src, str(d / "base.sqfs"))
        except LookupError as e:
            pytest.skip(str(e))
        cm = hb.squashfs_mounted(image, mp, how)
    else:
        if not hb.is_root():
            pytest.skip("a read-only bind mount needs root")
        # a private copy: nobody else's Python writes __pycache__ into it
        copy = hb.base_copy(src, str(d / "copy"))
        cm = hb.ro_bind(copy.prefix, mp)
    with cm:
        b = hb.base_at(mp, src.xy)
        yield RoBase(kind, b, hb.tree_digest(mp))


class Env:
    """One env over the read-only base: venv mode by default, home=True for PYTHONHOME mode."""

    def __init__(self, rb, m, home, work):
        self.rb = rb
        self.base = rb.base
        self.m = m
        self.mnt = m.mnt
        self.site = m.site
        self.home = home
        self.work = work
        self.python = m.path("bin", "python3")

    def env(self, home=False):
        return pkgs.pip_env(self.home, self.mnt, pythonhome=home)

    def run(self, args, home=False, ok=True, timeout=pkgs.PIP_TIMEOUT):
        return pkgs.run_checked(args, self.env(home), timeout=timeout, cwd=self.work, ok=ok)

    def pip(self, args, home=False, ok=True):
        return self.run([self.python, "-m", "pip"] + list(args), home=home, ok=ok)


@pytest.fixture(scope="module")
def renv(ro_base, tmp_path_factory):
    d = tmp_path_factory.mktemp("renv-" + ro_base.kind)
    mnt, site, home, work = d / "mnt", d / "site", d / "home", d / "work"
    for p in (mnt, home, work):
        p.mkdir()
    make_site_with_marker(site)
    with mounted(ro_base.base.prefix, mnt, site, base=ro_base.base) as m:
        e = Env(ro_base, m, str(home), str(work))
        e.ensurepip = e.run([e.python, "-m", "ensurepip"])
        yield e


def test_the_base_is_read_only(renv):
    """The set-up is real: the base's own file system refuses writes
    (squashfuse answers ENOSYS: it has no write operations at all)."""
    refusals = (errno.EROFS,) if renv.rb.kind != "squashfuse" else (errno.EROFS, errno.ENOSYS)
    with pytest.raises(OSError) as ei:
        open(os.path.join(renv.base.prefix, "pyenvfs-probe"), "w")
    assert ei.value.errno in refusals, ei.value
    with pytest.raises(OSError) as ei:
        os.utime(renv.base.exe)
    assert ei.value.errno in refusals, ei.value


PROBE = ("import sys, os, %s; sys.stdout.write('|'.join([sys.prefix, sys.base_prefix, "
         "os.__file__, %s.__file__]))" % (MARKER_MODULE, MARKER_MODULE))


@pytest.mark.parametrize("mode", ["venv", "home"])
def test_python_runs(renv, mode):
    r = renv.run([renv.python, "-c", PROBE], home=(mode == "home"))
    prefix, base_prefix, osfile, marker = r.stdout.split("|")
    assert prefix == renv.mnt
    if mode == "venv":
        assert base_prefix == renv.base.prefix
        assert osfile.startswith(renv.base.prefix + "/"), osfile
    else:
        assert base_prefix == renv.mnt
        assert osfile.startswith(renv.mnt + "/"), osfile
    assert marker == os.path.join(renv.mnt, "lib", "python" + renv.base.xy, "site-packages",
                                  MARKER_MODULE + ".py")


def test_ensurepip(renv):
    names = os.listdir(renv.site)
    assert "pip" in names and any(n.startswith("pip-") and n.endswith(".dist-info")
                                  for n in names), names
    for home in (False, True):
        r = renv.pip(["--version"], home=home)
        assert " from %s/" % renv.mnt in r.stdout, r.stdout


@pytest.mark.parametrize("mode", ["venv", "home"])
def test_console_script_wheel(renv, mode):
    home = mode == "home"
    whl = pkgs.demo_wheel(os.path.join(renv.work, "demo-" + mode))
    renv.pip(["install", "--no-index", whl], home=home)
    assert os.path.isfile(os.path.join(renv.site, pkgs.DEMO_NAME, "__init__.py"))
    r = renv.run(["sh", "-c", "command -v %s && %s" % (pkgs.DEMO_SCRIPT, pkgs.DEMO_SCRIPT)],
                 home=home)
    assert r.stdout.splitlines() == [os.path.join(renv.mnt, "bin", pkgs.DEMO_SCRIPT),
                                     pkgs.DEMO_OUTPUT], r.stdout
    r = renv.pip(["list", "--format=freeze"], home=home)
    assert "%s==%s" % (pkgs.DEMO_NAME.replace("_", "-"), pkgs.DEMO_VERSION) in \
        r.stdout.replace("_", "-"), r.stdout
    renv.pip(["uninstall", "-y", pkgs.DEMO_NAME], home=home)
    left = [p for p in pkgs.walk_names(renv.site) if "pyenvfs_demo" in p or "pyenvfs-demo" in p]
    assert not left, left
    assert not os.path.lexists(os.path.join(renv.mnt, "bin", pkgs.DEMO_SCRIPT))


def test_c_extension_sdist(renv):
    has = renv.run([renv.python, "-c", "import setuptools"], ok=False).returncode == 0
    try:
        tools = pkgs.build_tool_wheels(renv.base, has)
    except LookupError as e:
        pytest.skip(str(e))
    if tools:
        renv.pip(["install", "--no-index", "--no-deps"] + tools)
    proj = pkgs.ext_project(renv.work)
    renv.pip(["install", "--no-index", "--no-build-isolation", proj])
    for home in (False, True):
        r = renv.run([renv.python, "-c",
                      "import ext, sys; sys.stdout.write('%d|%s' % (ext.answer(), ext.__file__))"],
                     home=home)
        answer, path = r.stdout.split("|")
        assert answer == "42"
        assert path.startswith(renv.mnt + "/"), path
    assert [n for n in os.listdir(renv.site) if n.startswith("ext") and n.endswith(".so")]
    renv.pip(["uninstall", "-y", pkgs.EXT_PROJECT])
    assert not [n for n in os.listdir(renv.site) if n.startswith("ext") and n.endswith(".so")]


def test_activate(renv):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = ('. "%s/bin/activate" && command -v python && '
              'python -c "import sys; print(sys.prefix)" && deactivate && '
              'echo "after=${VIRTUAL_ENV:-unset}"') % renv.mnt
    env = renv.env()
    env["PATH"] = "/usr/bin:/bin"
    r = pkgs.run_checked([bash, "--noprofile", "--norc", "-c", script], env, timeout=60)
    assert r.stdout.splitlines() == [os.path.join(renv.mnt, "bin", "python"), renv.mnt,
                                     "after=unset"], r.stdout


def test_embedding(renv, tmp_path):
    """A C program embedding libpython with PYTHONHOME=M (tests/test_embed.py's
    program and flags)."""
    import test_embed as te
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    src = tmp_path / "embed.c"
    src.write_text(te.EMBED_C)
    # written through the mount: a direct write to DIR shows within site_timeout
    mod = os.path.join(renv.mnt, "lib", "python" + renv.base.xy, "site-packages",
                       te.EMBED_MOD + ".py")
    with open(mod, "w") as f:
        f.write("def hello():\n    return 'hello from DIR'\n")
    try:
        exe = str(tmp_path / "embed")
        r = pkgs.run_checked(["cc", "-o", exe, str(src)] + te.build_flags(renv),
                             renv.env(), timeout=120)
        env = renv.env(home=True)
        r = pkgs.run_checked([exe], env, timeout=60)
        out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        assert out.get("mod") == "hello from DIR", r.stdout
        assert out.get("prefix") == renv.mnt, r.stdout
        assert out["os"].startswith(renv.mnt + "/"), r.stdout
        libs = [x for x in out.get("libpython", "").split(",") if x]
        assert libs and all(x.startswith(renv.mnt + "/") for x in libs), libs
    finally:
        os.unlink(mod)


# ---------------------------------------------------------------------------
# layers on squashfs


def not_applicable(item):
    """The layers on squashfs run over the "squashfs" base only."""
    cs = getattr(item, "callspec", None)
    return (item.originalname == "test_layers_on_squashfs" and cs is not None
            and cs.params.get("ro_base") != "squashfs")


LIBY_EP = "[console_scripts]\nliby-tool = liby:main\n"


def liby_wheel(d):
    return pkgs.make_wheel(d, "liby", "1.0", {
        "liby/__init__.py": "VERSION = '1.0'\ndef main():\n    print('liby-tool', VERSION)\n",
    }, entry_points=LIBY_EP)


def _layers_image(renv, work):
    """L1: an env's DIR with pip and libx 1.0 (installed through a mount over
    the read-only base); L2: `pip install --target` of liby. Both in one
    squashfs image; returns its path."""
    import test_layers as tl
    b = renv.base
    src = os.path.join(work, "layers")
    wheels = os.path.join(work, "wheels")
    pipwhl = sorted(glob.glob(os.path.join(b.stdlib, "ensurepip", "_bundled", "pip-*.whl")))
    assert pipwhl, "no pip wheel in the base's ensurepip"
    mnt = os.path.join(work, "l1mnt")
    os.makedirs(mnt)
    with mounted(b.prefix, mnt, os.path.join(src, "L1"), base=b) as m:
        py = m.path("bin", "python3")
        env = pkgs.pip_env(renv.home, m.mnt)
        pkgs.run_checked([py, os.path.join(pipwhl[-1], "pip"), "install", "--no-index", pipwhl[-1],
                          tl.libx_wheel(wheels, "1.0")], env, cwd=renv.work)
        pkgs.run_checked([py, "-m", "pip", "install", "--no-index", "--target",
                          os.path.join(src, "L2"), liby_wheel(wheels)], env, cwd=renv.work)
    assert os.path.isfile(os.path.join(src, "L1", ".pyenvfs", "upper", "bin", "libx-tool"))
    assert os.path.isfile(os.path.join(src, "L2", "bin", "liby-tool"))
    image = os.path.join(work, "layers.sqfs")
    pkgs.run_checked(["mksquashfs", src, image, "-noappend", "-no-progress", "-quiet"],
                     pkgs.pip_env(renv.home), timeout=300)
    return image, wheels


def test_layers_on_squashfs(renv, tmp_path):
    import test_layers as tl
    how = hb.squashfs_how()
    if shutil.which("mksquashfs") is None or how is None:
        pytest.skip("cannot mount squashfs: not root, and no squashfuse or no /dev/fuse access")
    work = str(tmp_path)
    image, wheels = _layers_image(renv, work)
    image_sum = hb.file_sha256(image)
    lmp = os.path.join(work, "layers-ro")
    b = renv.base
    with hb.squashfs_mounted(image, lmp, how):
        before = hb.tree_digest(lmp)
        L1, L2 = os.path.join(lmp, "L1"), os.path.join(lmp, "L2")
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        with mounted(b.prefix, mnt, tmp_path / "D", ["--lower-site", L1, "--lower-site", L2],
                     base=b) as m:
            e = Env(renv.rb, m, renv.home, renv.work)
            sp = m.path("lib", "python" + b.xy, "site-packages")

            def listed():
                out = e.pip(["list", "--format=freeze"]).stdout
                return sorted(x.strip() for x in out.splitlines() if x.strip())

            names = listed()
            for dist in ("pip", "libx", "liby"):
                assert len([x for x in names if x.split("==")[0] == dist]) == 1, names
            assert "libx==1.0" in names and "liby==1.0" in names, names
            code = "import libx, liby; print(libx.VERSION, liby.VERSION, libx.__file__, liby.__file__)"
            for home in (False, True):
                v1, v2, f1, f2 = e.run([e.python, "-c", code], home=home).stdout.split()
                assert (v1, v2) == ("1.0", "1.0")
                assert f1.startswith(sp + "/") and f2.startswith(sp + "/"), (f1, f2)
            # console scripts of both layers, on PATH as a user runs them
            assert e.run(["libx-tool"]).stdout.strip() == "libx-tool 1.0"
            assert e.run(["liby-tool"]).stdout.strip() == "liby-tool 1.0"
            r = e.run(["pip", "--version"])
            assert " from %s/" % m.mnt in r.stdout, r.stdout
            # an upgrade of L1's package and an uninstall of L2's, through the env
            e.pip(["install", "--no-index", "-U", tl.libx_wheel(os.path.join(work, "w2"), "2.0")])
            e.pip(["uninstall", "-y", "liby"])
            names = listed()
            assert [x for x in names if x.startswith("libx")] == ["libx==2.0"], names
            assert not [x for x in names if x.startswith("liby")], names
            assert e.run(["libx-tool"]).stdout.strip() == "libx-tool 2.0"
            assert not os.path.lexists(m.path("bin", "liby-tool"))
            assert e.run([e.python, "-c", "import liby"], ok=False).returncode != 0
            assert e.run([e.python, "-c", "import libx; print(libx.VERSION)"]).stdout.strip() == "2.0"
            assert tl.dist_infos(m.site, "libx") == ["libx-2.0.dist-info"]
            e.pip(["check"])
        assert hb.tree_digest(lmp) == before, "a layer on squashfs changed"
    assert hb.file_sha256(image) == image_sum, "the layers' image changed"


def test_base_digest_unchanged(renv):
    """Last: after everything above, the read-only base is exactly as it was."""
    after = hb.tree_digest(renv.base.prefix)
    assert len(after) > 1000, "digest covers too little: %d entries" % len(after)
    d = tree_diff(renv.rb.before, after, limit=40)
    assert not d, "base changed:\n" + "\n".join(d)
