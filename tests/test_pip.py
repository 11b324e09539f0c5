"""pip in a pyenvfs env, in venv mode (M/bin/python3 -m pip) and in PYTHONHOME
mode (PYTHONHOME=M PATH=M/bin:$PATH python -m pip), on Debian's /usr and on
pyenv Pythons.

One mount per (base, mode), module-scoped: the fixture gets pip into the env
(ensurepip on pyenv bases, the pip wheel of /usr/share/python-wheels on
Debian) and installs the demo wheel; the tests check what that did, then
build/install more, and the last one uninstalls.  Everything comes from
wheels and projects built in the test (tests/pkgs.py): no network.
"""

import os
import re

import pytest

import pkgs
import pythons
from conftest import mounted

# (base parameter, mode, extras): extras = what else runs on that env
#   "build": pip install -e of a setup.py project and a C extension built by pip
#   "bulk":  20 wheels in one pip install
#   "headers": a wheel with a header file (.data/headers)
FULL = ("build", "bulk", "headers")
CASES = [
    ("usr-3.11", "venv", FULL),
    ("usr-3.11", "home", ("build", "headers")),
    ("pyenv-3.6", "venv", ("build",)),
    ("pyenv-3.8", "home", ("build",)),
    ("pyenv-3.11", "venv", ("build",)),
    ("pyenv-3.12", "venv", ("build", "headers")),
    ("pyenv-3.12", "home", ("build", "bulk", "headers")),
    ("pyenv-3.13", "venv", ("build",)),
    ("pyenv-2.7", "home", ()),
]

BASE_ONLY_PACKAGES = ("cryptography", "pyyaml", "pygobject", "dbus-python", "httplib2",
                      "attrs", "distro", "pytest")


class PipEnv:
    """One mounted env with pip in it and the demo wheel installed."""

    def __init__(self, m, base, mode, extras, home, work):
        self.m = m
        self.base = base
        self.mode = mode
        self.extras = extras
        self.home = home
        self.work = work
        self.mnt = m.mnt
        self.site = m.site
        self.upper = os.path.join(m.site, ".pyenvfs", "upper")
        self.env = pkgs.pip_env(home, m.mnt, pythonhome=(mode == "home"))
        pyname = "python3" if base.major == 3 else "python2"
        self.python = os.path.join(m.mnt, "bin", pyname)
        self.pip = [self.python, "-m", "pip"]
        self.log = []

    @property
    def debian_home(self):
        return self.mode == "home" and self.base.debian_patched

    def run(self, args, ok=True, timeout=pkgs.PIP_TIMEOUT):
        r = pkgs.run_checked(args, self.env, timeout=timeout, cwd=self.work, ok=ok)
        self.log.append((args, r))
        return r

    def pip_run(self, args, ok=True):
        return self.run(self.pip + list(args), ok=ok)

    def py(self, code, ok=True):
        return self.run([self.python, "-c", code], ok=ok)

    def data_rel(self):
        """Where the demo data file lands, relative to M."""
        if self.debian_home:
            return os.path.join("local", pkgs.DEMO_DATA_REL)
        return pkgs.DEMO_DATA_REL


def not_applicable(item):
    """The thinned matrix: each extra runs only on the envs CASES names;
    getting pip by ensurepip and PEP 668 only where they exist."""
    cs = getattr(item, "callspec", None)
    if cs is None or "penv" not in cs.params:
        return False
    param, mode, extras = cs.params["penv"]
    needs = {"test_bulk_install": "bulk", "test_headers_wheel": "headers"}
    name = item.originalname
    if "build_tools" in item.fixturenames and "build" not in extras:
        return True
    if name in needs and needs[name] not in extras:
        return True
    if name == "test_ensurepip_lands_in_dir" and param.startswith("usr-") and mode == "home":
        return True     # pip runs from Debian's wheel file in this mode
    if name == "test_no_externally_managed" and not param.startswith("usr-"):
        return True     # only Debian's Python has the PEP 668 marker
    return False


def _case_id(case):
    return "%s-%s" % (case[0], case[1])


@pytest.fixture(scope="module", params=CASES, ids=_case_id)
def penv(request, tmp_path_factory):
    param, mode, extras = request.param
    base = pythons.find(param)
    if base is None:
        pytest.skip("no Python for %s on this machine" % param)
    if mode == "venv" and base.major < 3:
        pytest.skip("no venv mode for Python 2")
    d = tmp_path_factory.mktemp("pip-%s-%s" % (base.id, mode))
    mnt = d / "mnt"
    mnt.mkdir()
    site = d / "site"
    home = d / "home"
    home.mkdir()
    work = d / "work"
    work.mkdir()
    extra = ["--python", base.xy] if len(pythons.versions_in(base.prefix)) > 1 else []
    with mounted(base.prefix, mnt, site, extra, base=base) as m:
        pe = PipEnv(m, base, mode, extras, str(home), str(work))
        # --- pip into the env
        if base.kind == "pyenv":
            pe.ensurepip = pe.run([pe.python, "-m", "ensurepip"])
        else:
            whl = pkgs.debian_pip_wheel()
            if whl is None:
                pytest.skip("no pip wheel in %s" % pkgs.DEBIAN_WHEELS)
            from_wheel = [pe.python, os.path.join(whl, "pip")]
            if mode == "venv":
                pe.ensurepip = pe.run(from_wheel + ["install", "--no-index", whl])
            else:
                # PYTHONHOME mode on Debian: run pip from the wheel itself
                pe.ensurepip = None
                pe.pip = from_wheel
        # --- the demo wheel
        pe.wheel = pkgs.demo_wheel(str(work), py2=(base.major == 2))
        pe.install = pe.pip_run(["install", "--no-index", pe.wheel])
        yield pe


# ---------------------------------------------------------------------------
# getting pip

def test_ensurepip_lands_in_dir(penv):
    assert penv.ensurepip is not None
    names = os.listdir(penv.site)
    assert "pip" in names, names
    assert any(n.startswith("pip-") and n.endswith((".dist-info", ".egg-info"))
               for n in names), names
    # the env's pip, not a base one, answers
    r = penv.pip_run(["--version"])
    m = re.search(r" from (\S+)", r.stdout)
    assert m, r.stdout
    assert m.group(1).startswith(penv.mnt + "/"), r.stdout
    # its scripts are env files, physically in DIR's upper dir
    scripts = [n for n in os.listdir(os.path.join(penv.mnt, "bin")) if n.startswith("pip")]
    assert scripts, os.listdir(os.path.join(penv.mnt, "bin"))
    for s in scripts:
        assert pkgs.find_in(penv.upper, s), "%s not under %s" % (s, penv.upper)


# ---------------------------------------------------------------------------
# the demo wheel

def test_install_lands_in_dir(penv):
    real = os.path.join(penv.site, pkgs.DEMO_NAME, "__init__.py")
    assert os.path.isfile(real), os.listdir(penv.site)
    with open(real) as f:
        assert f.read() == pkgs.DEMO_INIT
    assert os.path.isdir(os.path.join(penv.site, "%s-%s.dist-info" % (
        pkgs.DEMO_NAME, pkgs.DEMO_VERSION))), os.listdir(penv.site)
    # PEP 668: no externally-managed refusal on the way
    out = penv.install.stdout + penv.install.stderr
    assert "externally-managed" not in out.lower(), out


def test_import_from_env(penv):
    r = penv.py("import %s as d, sys; sys.stdout.write(d.__file__ + '|' + d.VALUE)"
                % pkgs.DEMO_NAME)
    path, value = r.stdout.split("|")
    assert value == "pyenvfs-demo-value"
    assert path.startswith(penv.mnt + "/"), path
    assert path.startswith(penv.mnt + "/"), path
    rel = os.path.relpath(path, penv.mnt)
    assert rel.endswith((os.path.join(pkgs.DEMO_NAME, "__init__.py"),
                         os.path.join(pkgs.DEMO_NAME, "__init__.pyc"))), rel


def test_console_script_runs_from_path(penv):
    r = penv.run(["sh", "-c", "command -v %s && %s" % (pkgs.DEMO_SCRIPT, pkgs.DEMO_SCRIPT)])
    lines = r.stdout.splitlines()
    assert lines[0] == os.path.join(penv.mnt, "bin", pkgs.DEMO_SCRIPT), r.stdout
    assert lines[1:] == [pkgs.DEMO_OUTPUT], r.stdout + r.stderr


def test_console_script_shebang(penv):
    p = os.path.join(penv.mnt, "bin", pkgs.DEMO_SCRIPT)
    with open(p, "rb") as f:
        first = f.readline().decode()
    assert first.startswith("#!" + penv.mnt + "/bin/"), first
    interp = first[2:].split()[0]
    assert os.path.basename(interp).startswith("python"), first
    assert os.access(p, os.X_OK)


def test_console_script_physically_in_dir(penv):
    found = [f for f in pkgs.find_in(penv.upper, pkgs.DEMO_SCRIPT)
             if os.path.isfile(os.path.join(penv.upper, f))]
    assert found, pkgs.walk_names(penv.upper)
    assert all(f.endswith("bin/" + pkgs.DEMO_SCRIPT) for f in found), found
    if penv.debian_home:
        # Debian's posix_local scheme puts scripts in M/local/bin: the same directory as M/bin
        assert os.path.isfile(os.path.join(penv.mnt, "local", "bin", pkgs.DEMO_SCRIPT))


def test_data_file(penv):
    rel = penv.data_rel()
    p = os.path.join(penv.mnt, rel)
    with open(p) as f:
        assert f.read() == pkgs.DEMO_DATA_TEXT
    real = os.path.join(penv.upper, rel)
    assert os.path.isfile(real), pkgs.walk_names(penv.upper)
    with open(real) as f:
        assert f.read() == pkgs.DEMO_DATA_TEXT


def test_pip_list(penv):
    r = penv.pip_run(["list", "--format=freeze"])
    names = {line.split("==")[0].lower().replace("_", "-")
             for line in r.stdout.splitlines() if "==" in line}
    assert pkgs.DEMO_NAME.replace("_", "-") in names, r.stdout
    leaked = names & set(BASE_ONLY_PACKAGES)
    assert not leaked, "base packages in pip list: %s\n%s" % (sorted(leaked), r.stdout)


def test_no_externally_managed(penv):
    assert penv.base.kind == "usr"
    # Debian's base has the marker: without it this test would prove nothing.
    assert os.path.exists(os.path.join(penv.base.stdlib, "EXTERNALLY-MANAGED")), \
        "Debian's base %s has no EXTERNALLY-MANAGED marker" % penv.base.stdlib
    assert not os.path.exists(os.path.join(penv.mnt, penv.base.stdlib_rel, "EXTERNALLY-MANAGED"))
    whl = pkgs.make_wheel(os.path.join(penv.work, "pep668"), "pyenvfs_pep668", "1.0",
                          files={"pyenvfs_pep668.py": "OK = 1\n"})
    r = penv.pip_run(["install", "--no-index", whl], ok=False)
    assert "externally-managed" not in (r.stdout + r.stderr).lower(), r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.isfile(os.path.join(penv.site, "pyenvfs_pep668.py"))
    penv.pip_run(["uninstall", "-y", "pyenvfs_pep668"])
    assert not os.path.exists(os.path.join(penv.site, "pyenvfs_pep668.py"))


# ---------------------------------------------------------------------------
# builds: pip install -e, a C extension

@pytest.fixture(scope="module")
def build_tools(penv):
    """setuptools (+ wheel) in the env, for --no-build-isolation builds."""
    assert "build" in penv.extras
    has = penv.py("import setuptools", ok=False).returncode == 0
    try:
        wheels = pkgs.build_tool_wheels(penv.base, has)
    except LookupError as e:
        pytest.skip(str(e))
    if wheels:
        penv.pip_run(["install", "--no-index", "--no-deps"] + wheels)
    penv.py("import setuptools")
    return wheels


def test_editable_install(penv, build_tools):
    proj = pkgs.editable_project(penv.work)
    penv.pip_run(["install", "--no-index", "--no-build-isolation", "-e", proj])
    r = penv.py("import %s as e, sys; sys.stdout.write(e.__file__ + '|' + e.WHERE)"
                % pkgs.EDITABLE_NAME, ok=False)
    assert r.returncode == 0, r.stderr
    path, where = r.stdout.split("|")
    assert where == "editable-source"
    assert os.path.realpath(os.path.dirname(path)) == os.path.realpath(proj), path
    # the link to the project is in DIR
    names = os.listdir(penv.site)
    assert any("editable" in n for n in names), names
    # changing the source shows without reinstalling
    with open(os.path.join(proj, pkgs.EDITABLE_NAME + ".py"), "w") as f:
        f.write("WHERE = 'edited'\n")
    r = penv.py("import %s as e, sys; sys.stdout.write(e.WHERE)" % pkgs.EDITABLE_NAME)
    assert r.stdout == "edited"


def test_c_extension(penv, build_tools):
    proj = pkgs.ext_project(penv.work)
    penv.pip_run(["install", "--no-index", "--no-build-isolation", proj])
    r2 = penv.py("import ext, sys; sys.stdout.write('%d|%s' % (ext.answer(), ext.__file__))")
    answer, path = r2.stdout.split("|")
    assert answer == "42"
    assert path.startswith(penv.mnt + "/"), path
    sos = [n for n in os.listdir(penv.site) if n.startswith("ext") and n.endswith(".so")]
    assert sos, os.listdir(penv.site)
    if penv.mode == "home":
        # PYTHONHOME mode: sysconfig names the view's headers, M/include/pythonX.Y
        # (setuptools itself compiles with the build-time INCLUDEPY, B's copy of them)
        r3 = penv.py("import sysconfig, sys; sys.stdout.write(sysconfig.get_paths()['include'])")
        inc = os.path.join(penv.mnt, penv.base.include_rel)
        assert r3.stdout == inc
        assert os.path.isfile(os.path.join(inc, "Python.h"))


# ---------------------------------------------------------------------------
# many wheels at once

def test_bulk_install(penv):
    assert "bulk" in penv.extras
    wheels = pkgs.bulk_wheels(os.path.join(penv.work, "bulk"))
    penv.pip_run(["install", "--no-index"] + wheels)
    names = pkgs.bulk_names()
    code = "import sys\n" + "".join("import %s\n" % n for n in names) + \
        "sys.stdout.write(str(sum([%s])))" % ", ".join(n + ".N" for n in names)
    r = penv.py(code)
    assert r.stdout == str(sum(range(len(names))))
    site = os.listdir(penv.site)
    for n in names:
        assert n + ".py" in site
        assert any(s.startswith(n + "-") and s.endswith(".dist-info") for s in site)
    penv.pip_run(["uninstall", "-y"] + names)
    site = os.listdir(penv.site)
    assert not [s for s in site if s.startswith("pyenvfs_bulk")], site


# ---------------------------------------------------------------------------
# headers (.data/headers in a wheel)

def test_headers_wheel(penv, request):
    assert "headers" in penv.extras
    xy = penv.base.xy
    if penv.mode == "venv":
        # pip's venv rule: <prefix>/include/site/pythonX.Y/<dist>
        rel = os.path.join("include", "site", "python" + xy)
    else:
        # PYTHONHOME mode: the plain-prefix scheme (posix_prefix, or Debian's
        # posix_local) puts headers in include/pythonX.Y/<dist>: the view's
        # header directory takes the env's own beside the base's
        rel = penv.base.include_rel
    whl = pkgs.headers_wheel(penv.work)
    penv.pip_run(["install", "--no-index", whl])
    found = [p for p in pkgs.find_in(os.path.join(penv.upper, rel), pkgs.HDR_FILE)]
    assert len(found) == 1, pkgs.walk_names(penv.upper)
    h = os.path.join(penv.mnt, rel, found[0])
    with open(h) as f:
        assert f.read() == pkgs.HDR_TEXT
    assert os.path.dirname(found[0]).replace("-", "_") == pkgs.HDR_NAME, found
    penv.pip_run(["uninstall", "-y", pkgs.HDR_NAME])
    assert not os.path.lexists(h)
    assert not [p for p in pkgs.walk_names(penv.site)
                if pkgs.HDR_NAME in p or pkgs.HDR_NAME.replace("_", "-") in p]


# ---------------------------------------------------------------------------
# uninstall (last: it undoes the fixture's install)

def test_uninstall(penv):
    penv.pip_run(["uninstall", "-y", pkgs.DEMO_NAME])
    left = [p for p in pkgs.walk_names(penv.site)
            if "pyenvfs_demo" in p or "pyenvfs-demo" in p]
    assert not left, "left in DIR after uninstall: %s" % left
    assert not os.path.lexists(os.path.join(penv.mnt, "bin", pkgs.DEMO_SCRIPT))
    assert not os.path.lexists(os.path.join(penv.mnt, penv.data_rel()))
    r = penv.py("import %s" % pkgs.DEMO_NAME, ok=False)
    assert r.returncode != 0
    r = penv.run(["sh", "-c", "command -v %s" % pkgs.DEMO_SCRIPT], ok=False)
    assert r.returncode != 0, r.stdout
    # reinstall works again after the uninstall
    penv.pip_run(["install", "--no-index", penv.wheel])
    r = penv.run(["sh", "-c", pkgs.DEMO_SCRIPT])
    assert r.stdout.strip() == pkgs.DEMO_OUTPUT
    penv.pip_run(["uninstall", "-y", pkgs.DEMO_NAME])


# ---------------------------------------------------------------------------
# uninstalling the only script of a scripts directory

@pytest.mark.parametrize("mode", ["home", "venv"])
def test_uninstall_last_script(tmp_path, mode):
    """pip uninstall moves a directory whose files are all being removed to a
    stash next to it (rename(M/local/bin, M/local/~in) when the package's script
    is the only one there: Debian's PYTHONHOME mode with pip run from its wheel).
    That must work like any other uninstall and leave nothing in DIR."""
    base = pythons.find("usr-3.11") or next(
        (x for x in pythons.discover().values() if x.kind == "usr"), None)
    if base is None:
        pytest.skip("no Python in /usr")
    whl = pkgs.debian_pip_wheel()
    if whl is None:
        pytest.skip("no pip wheel in %s" % pkgs.DEBIAN_WHEELS)
    mnt, site, work = tmp_path / "mnt", tmp_path / "site", tmp_path / "work"
    mnt.mkdir()
    work.mkdir()
    wheel = pkgs.demo_wheel(str(work))
    with mounted(base.prefix, mnt, site, base=base) as m:
        env = pkgs.pip_env(work, m.mnt, pythonhome=(mode == "home"))
        pip = [os.path.join(m.mnt, "bin", "python3"), os.path.join(whl, "pip")]
        pkgs.run_checked(pip + ["install", "--no-index", wheel], env)
        scripts_dir = "local/bin" if (mode == "home" and base.debian_patched) else "bin"
        assert os.path.isfile(os.path.join(m.mnt, scripts_dir, pkgs.DEMO_SCRIPT))
        pkgs.run_checked(pip + ["uninstall", "-y", pkgs.DEMO_NAME], env)
        left = [p for p in pkgs.walk_names(m.site) if "pyenvfs_demo" in p or "pyenvfs-demo" in p
                or "~" in p]
        assert not left, "left in DIR after uninstall: %s" % left
        assert not os.path.lexists(os.path.join(m.mnt, scripts_dir, pkgs.DEMO_SCRIPT))
        # the scripts directories are still usable
        assert os.path.isfile(os.path.join(m.mnt, "bin", "python3"))
        pkgs.run_checked(pip + ["install", "--no-index", wheel], env)
        r = pkgs.run_checked(["sh", "-c", pkgs.DEMO_SCRIPT], env)
        assert r.stdout.strip() == pkgs.DEMO_OUTPUT
