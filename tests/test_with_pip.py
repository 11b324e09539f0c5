"""--with-pip (issue 12): the pip layer of a base, made once per base
interpreter from its own bundled wheels (ensurepip's, or Debian's
/usr/share/python-wheels) into $XDG_CACHE_HOME/pyenvfs/pip-layers, and
stacked under DIR as the last lower site layer.

The layer itself needs no mount (``pyenvfs pip-layer BASE`` makes or finds
it): built for every Python here that bundles pip, the base unchanged
(digest), importable as it is, its scripts in the form src/shebang.c
rewrites, one layer from concurrent builders, made again after the cache is
removed.  The tests through a mount need stacked layers: they skip, with
that reason, while the mount refuses --lower-site, and run once it takes it.
"""

import glob
import zipfile
import hashlib
import base64
import os
import re
import shutil
import subprocess
import sys

import pytest

import pythons
from conftest import PYENVFS, force_unmount, fuse_mounts_under, isolated_env, mounted, run_pyenvfs
from helpers_env import assert_refusal
from helpers_base import tree_digest
from test_base_unchanged import base_digest

ROOT = "/pyenvfs-pip-layer"       # PIPLAYER_ROOT in src/piplayer.h
TOOL = os.path.join(os.path.dirname(PYENVFS), "layers_tool")
BUILD_TIMEOUT = 600


def _env(cache, home):
    return isolated_env(home, {"XDG_CACHE_HOME": str(cache)})


def pip_layer(base, cache, home):
    """pyenvfs pip-layer for base with XDG_CACHE_HOME=cache: the result."""
    return subprocess.run([PYENVFS, "pip-layer", "--python", base.xy, base.prefix], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=_env(cache, home),
                          timeout=BUILD_TIMEOUT)


def bundled_version(base):
    """The pip version the base's ensurepip bundles, or None (no ensurepip)."""
    r = subprocess.run([base.exe, "-E", "-s", "-B", "-c", "import ensurepip; print(ensurepip.version())"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       env=isolated_env("/nonexistent"), timeout=120)
    return r.stdout.strip() if r.returncode == 0 else None


def base_or_skip(param):
    b = pythons.find(param)
    if b is None:
        pytest.skip("%s not installed" % param)
    v = bundled_version(b)
    if v is None:
        pytest.skip("%s has no ensurepip" % param)
    return b, v


def wheels_digest(b):
    """The base and the wheels it bundles (ensurepip's own or Debian's)."""
    d = base_digest(b)
    for w in ("/usr/share/python-wheels", os.path.join(b.stdlib, "ensurepip")):
        if os.path.isdir(w):
            d.update({os.path.join(w, k): v for k, v in tree_digest(w).items()})
    return d


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory):
    """One cache for the module: each base's layer is built once (by
    test_pip_layer_built) and found by the tests after it."""
    d = tmp_path_factory.mktemp("pipcache")
    return str(d / "cache"), str(d / "home")


def made_line(stderr):
    return [l for l in stderr.splitlines() if "made the pip layer" in l]


# -------------------------------------------------------------- the layer


@pytest.mark.parametrize("param", pythons.params())
def test_pip_layer_built(param, pip_cache):
    b, version = base_or_skip(param)
    cache, home = pip_cache
    before = wheels_digest(b)
    r = pip_layer(b, cache, home)
    assert r.returncode == 0, r.stderr
    layer = r.stdout.strip()
    made = made_line(r.stderr)
    assert len(made) == 1, r.stderr               # the first build, timed apart
    sys.stderr.write("\n%s: %s\n" % (param, made[0]))
    assert wheels_digest(b) == before, "the base changed while its pip layer was made"

    assert os.path.dirname(layer) == os.path.join(cache, "pyenvfs", "pip-layers")
    assert os.path.basename(layer).startswith(b.xy + "-")
    left = [n for n in os.listdir(os.path.dirname(layer)) if n.startswith(".")]
    assert left == [], "build leftovers: %r" % left
    assert os.path.isfile(os.path.join(layer, "pip", "__init__.py"))
    assert glob.glob(os.path.join(layer, "pip-%s.dist-info" % version)), os.listdir(layer)
    with open(os.path.join(layer, ".pyenvfs", "mounts")) as f:
        assert f.read() == ROOT + "\n"

    # The scripts: pip, pipX, pipX.Y, each naming ROOT/bin/pythonX.Y, and
    # their RECORD rows matching what is there.
    bindir = os.path.join(layer, ".pyenvfs", "upper", "bin")
    for name in ("pip", "pip%d" % b.major, "pip" + b.xy):
        path = os.path.join(bindir, name)
        with open(path, "rb") as f:
            data = f.read()
        assert data.startswith(("#!%s/bin/python%s\n" % (ROOT, b.xy)).encode()), data[:100]
        assert os.access(path, os.X_OK)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record = glob.glob(os.path.join(layer, "pip-*.dist-info", "RECORD"))[0]
        with open(record) as f:
            rows = [l.rsplit(",", 2) for l in f.read().splitlines()]
        assert ["../../../bin/" + name, "sha256=" + digest, str(len(data))] in rows, rows[-8:]

    # Importable as it is, reporting the bundled version.
    env = isolated_env(home, {"PYTHONPATH": layer})
    r = subprocess.run([b.exe, "-m", "pip", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("pip %s from %s" % (version, os.path.join(layer, "pip"))), r.stdout

    # shebang.c rewrites the scripts for a mount (the layer's recorded root),
    # and the rewritten script runs: a stand-in M with bin/pythonX.Y.
    m = os.path.join(home, "M env" if b.major == 3 else "M")
    os.makedirs(os.path.join(m, "bin"), exist_ok=True)
    if not os.path.lexists(os.path.join(m, "bin", "python" + b.xy)):
        os.symlink(b.exe, os.path.join(m, "bin", "python" + b.xy))
    t = subprocess.run([TOOL, "shebang", os.path.join(bindir, "pip" + b.xy), m, ROOT], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert t.returncode == 0, t.stderr
    script = os.path.join(m, "bin", "pip" + b.xy)
    with open(script, "wb") as f:
        f.write(t.stdout)
    os.chmod(script, 0o755)
    r = subprocess.run([script, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("pip %s " % version), r.stdout

    # Found, not made, the next time.
    r2 = pip_layer(b, cache, home)
    assert r2.returncode == 0 and r2.stdout.strip() == layer, r2.stderr
    assert made_line(r2.stderr) == []
    assert wheels_digest(b) == before


def _one_base():
    b = pythons.preferred_base()
    if b is None or not bundled_version(b):
        pytest.skip("no base with ensurepip")
    return b


def test_concurrent_builds_give_one_layer(tmp_path):
    b = _one_base()
    cache, home = str(tmp_path / "cache"), str(tmp_path / "home")
    procs = [subprocess.Popen([PYENVFS, "pip-layer", "--python", b.xy, b.prefix], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=_env(cache, home))
             for _ in range(4)]
    outs = [p.communicate(timeout=BUILD_TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1, paths
    layer = paths.pop()
    top = os.path.join(cache, "pyenvfs", "pip-layers")
    assert os.listdir(top) == [os.path.basename(layer)], "copies or build leftovers: %r" % os.listdir(top)
    assert os.path.isfile(os.path.join(layer, ".pyenvfs", "upper", "bin", "pip"))
    r = subprocess.run([b.exe, "-m", "pip", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=isolated_env(home, {"PYTHONPATH": layer}), timeout=120)
    assert r.returncode == 0 and layer in r.stdout, r.stdout


def test_removed_cache_is_made_again(tmp_path):
    b = _one_base()
    cache, home = str(tmp_path / "cache"), str(tmp_path / "home")
    r = pip_layer(b, cache, home)
    assert r.returncode == 0 and made_line(r.stderr), r.stderr
    layer = r.stdout.strip()
    top = os.path.dirname(layer)

    shutil.rmtree(os.path.join(cache, "pyenvfs", "pip-layers"))
    r = pip_layer(b, cache, home)
    assert r.returncode == 0 and made_line(r.stderr) and r.stdout.strip() == layer, r.stderr
    assert os.path.isfile(os.path.join(layer, "pip", "__init__.py"))

    # Half removed (its key gone): not used, replaced.
    os.unlink(os.path.join(layer, ".pyenvfs", "pip-layer"))
    shutil.rmtree(os.path.join(layer, "pip"))
    r = pip_layer(b, cache, home)
    assert r.returncode == 0 and made_line(r.stderr) and r.stdout.strip() == layer, r.stderr
    assert os.path.isfile(os.path.join(layer, "pip", "__init__.py"))
    assert os.listdir(top) == [os.path.basename(layer)], os.listdir(top)

    # A build whose builder died is cleared by the next build; a live one's is not.
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = os.path.join(top, ".build.%s.%d.abcdef" % (os.path.basename(layer), dead.pid))
    live = os.path.join(top, ".build.%s.%d.abcdef" % (os.path.basename(layer), os.getpid()))
    os.makedirs(os.path.join(left, "layer", "pip"))
    os.makedirs(live)
    shutil.rmtree(layer)
    r = pip_layer(b, cache, home)
    assert r.returncode == 0 and made_line(r.stderr), r.stderr
    assert sorted(os.listdir(top)) == sorted([os.path.basename(layer), os.path.basename(live)])


def test_base_without_ensurepip_is_refused(tmp_path):
    """One line naming the interpreter; nothing in the cache."""
    base = tmp_path / "base"
    os.makedirs(str(base / "bin"))
    os.makedirs(str(base / "lib" / "python3.99"))
    (base / "lib" / "python3.99" / "os.py").write_text("")
    exe = base / "bin" / "python3.99"
    exe.write_text("#!/bin/sh\nexit 1\n")
    exe.chmod(0o755)
    cache = tmp_path / "cache"
    r = subprocess.run([PYENVFS, "pip-layer", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=_env(cache, tmp_path), timeout=60)
    assert_refusal(r, "ensurepip", str(base))
    assert not cache.exists()


# -------------------------------------------------------- through a mount

def _pip_version(argv, env):
    r = subprocess.run(argv + ["--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env, timeout=300, cwd="/")
    assert r.returncode == 0, (argv, r.stdout)
    m = re.match(r"pip (\S+) from (\S+)", r.stdout)
    assert m, r.stdout
    return m.group(1), m.group(2)


def _requires_python_ok(wheel, xy):
    """Whether a wheel's Requires-Python (>=, >, != X.Y.* clauses) admits X.Y:
    the old pips bundled with 2.7 and 3.6 do not skip a wheel that does not."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8", "replace")
    req = next((l.split(":", 1)[1].strip() for l in text.splitlines()
                if l.startswith("Requires-Python:")), "")
    have = tuple(int(x) for x in xy.split("."))
    for clause in filter(None, (c.strip() for c in req.split(","))):
        op = clause[:2] if clause[:2] in (">=", "!=", "<=", "==") else clause[:1]
        ver = clause[len(op):].strip().rstrip(".*").rstrip(".")
        want = tuple(int(x) for x in ver.split(".")[:2] if x.isdigit())
        if (op == ">=" and have < want) or (op == ">" and have <= want) or \
           (op == "!=" and clause.endswith("*") and have[:len(want)] == want) or \
           (op == "<" and have >= want):
            return False
    return True


def _pip_wheels(xy):
    """Every pip wheel the bases here bundle that fits Python X.Y: pip install
    -U picks the newest."""
    found = glob.glob("/usr/share/python-wheels/pip-*.whl")
    for v in glob.glob(os.path.join(pythons.pyenv_root() or "/nonexistent", "versions", "*")):
        found += glob.glob(os.path.join(v, "lib", "python*", "ensurepip", "_bundled", "pip-*.whl"))
    return [w for w in found if _requires_python_ok(w, xy)]


@pytest.mark.parametrize("param", pythons.params())
def test_pip_through_the_mount(param, pip_cache, work, monkeypatch):
    b, version = base_or_skip(param)
    cache, home = pip_cache
    monkeypatch.setenv("XDG_CACHE_HOME", cache)
    r = pip_layer(b, cache, home)
    assert r.returncode == 0, r.stderr
    layer = r.stdout.strip()
    layer_before = tree_digest(layer)
    base_before = wheels_digest(b)
    mnt, site = os.path.join(work, "env"), os.path.join(work, "site")
    os.mkdir(mnt)
    site_rel = os.path.join("lib", "python" + b.xy, "site-packages")
    with mounted(b.prefix, mnt, site, ["--python", b.xy, "--with-pip"], base=b):
        venv = isolated_env(home, {"PATH": os.path.join(mnt, "bin") + ":/usr/bin:/bin", "VIRTUAL_ENV": mnt})
        homemode = isolated_env(home, {"PATH": os.path.join(mnt, "bin") + ":/usr/bin:/bin", "PYTHONHOME": mnt})
        for env in (venv, homemode):
            for argv in ([os.path.join(mnt, "bin", "python" + b.xy), "-m", "pip"], ["python", "-m", "pip"],
                         [os.path.join(mnt, "bin", "pip")], ["pip" + b.xy]):
                v, where = _pip_version(argv, env)
                assert v == version, (argv, v)
                assert where.startswith(mnt + "/"), (argv, where)
        # The scripts name the env's interpreter.
        with open(os.path.join(mnt, "bin", "pip"), "rb") as f:
            head = f.read(300)
        assert mnt.encode() + b"/bin/python" in head, head

        # pip install -U pip: the new pip goes into DIR (the layer's is
        # whited out or shadowed there) and is the one used from then on.
        wheels = os.path.join(work, "wheels")
        os.mkdir(wheels)
        for w in _pip_wheels(b.xy):
            if not os.path.exists(os.path.join(wheels, os.path.basename(w))):
                shutil.copy(w, wheels)
        py = os.path.join(mnt, "bin", "python" + b.xy)
        r = subprocess.run([py, "-m", "pip", "install", "-U", "--force-reinstall", "--no-index", "--find-links",
                            wheels, "pip"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=venv, timeout=600, cwd="/")
        assert r.returncode == 0, r.stdout
        new, where = _pip_version([py, "-m", "pip"], venv)
        assert where == os.path.join(mnt, site_rel, "pip"), where
        assert glob.glob(os.path.join(site, "pip-%s.dist-info" % new)), os.listdir(site)
        assert os.path.isfile(os.path.join(site, "pip", "__init__.py"))
        assert _pip_version([os.path.join(mnt, "bin", "pip")], venv)[0] == new
        r = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, env=venv, timeout=300, cwd="/")
        assert [l for l in r.stdout.splitlines() if l.lower().startswith("pip==")] == ["pip==" + new], r.stdout
    assert tree_digest(layer) == layer_before, "the pip layer was written"
    assert wheels_digest(b) == base_before, "the base was written"

    # Mounted again over the same DIR: DIR's pip still wins.
    with mounted(b.prefix, mnt, site, ["--python", b.xy, "--with-pip"], base=b):
        env = isolated_env(home, {"PATH": os.path.join(mnt, "bin") + ":/usr/bin:/bin", "VIRTUAL_ENV": mnt})
        assert _pip_version([os.path.join(mnt, "bin", "python" + b.xy), "-m", "pip"], env)[0] == new


def test_run_with_pip(pip_cache, work, monkeypatch):
    """pyenvfs run --with-pip: pip in a throw-away env, nothing left."""
    b = _one_base()
    version = bundled_version(b)
    cache, home = pip_cache
    env = _env(cache, home)
    env["XDG_RUNTIME_DIR"] = work
    r = subprocess.run([PYENVFS, "run", "--with-pip", "--python", b.xy, b.prefix, "--", "pip", "--version"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                       timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pip %s from " % version), r.stdout
    assert [n for n in os.listdir(work) if n.startswith("pyenvfs-run.")] == []
    assert fuse_mounts_under(work) == []
