"""Running the env's Python: PYTHONHOME mode (all versions) and venv mode (3.x).

Each mode is run once per base (module-scoped); the tests below check
different properties of that run's report.
"""

import json
import os

import pytest

import pythons
from conftest import MARKER_MODULE, isolated_env, make_user_site, run

MODULES = ("json", "ssl", "sqlite3", "ctypes", "decimal")

# Runs on 2.7 to 3.13: reports what the interpreter sees, as JSON.
PROBE = r"""
import sys, os, json
res = {
    "prefix": sys.prefix,
    "exec_prefix": sys.exec_prefix,
    "base_prefix": getattr(sys, "base_prefix", None),
    "path": sys.path,
    "executable": sys.executable,
    "realexe": os.path.realpath(sys.executable),
    "version": ".".join(str(x) for x in sys.version_info[:3]),
    "os_file": os.__file__,
}
errors = {}
for m in MODULES:
    try:
        __import__(m)
    except Exception as e:
        errors[m] = repr(e)
res["import_errors"] = errors
try:
    import MARKER
    res["marker"] = MARKER.__file__
except ImportError as e:
    res["marker"] = None
    res["marker_error"] = repr(e)
sys.stdout.write("@@" + json.dumps(res) + "@@")
""".replace("MODULES", repr(MODULES)).replace("MARKER", MARKER_MODULE)


def probe(exe, env_vars, timeout=60):
    r = run([exe, "-c", PROBE], env=env_vars, timeout=timeout, cwd="/")
    assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (exe, r.returncode, r.stdout, r.stderr)
    out = r.stdout
    start, end = out.find("@@"), out.rfind("@@")
    assert 0 <= start < end, "no report from %s:\n%s\n%s" % (exe, out, r.stderr)
    res = json.loads(out[start + 2:end])
    res["stderr"] = r.stderr
    return res


@pytest.fixture(scope="module")
def runs(env, tmp_path_factory):
    """{mode: report} for the base of ``env``."""
    b = env.base
    home = tmp_path_factory.mktemp("home-" + b.id)
    user_site = make_user_site(home, b.xy) if b.major == 3 else None
    m = env.mnt
    out = {"user_site": user_site}
    exe_name = "python%d" % b.major
    out["home"] = probe(
        os.path.join(m, "bin", exe_name),
        isolated_env(home, {"PYTHONHOME": m,
                            "PATH": os.path.join(m, "bin") + ":/usr/local/bin:/usr/bin:/bin"}))
    if b.major == 3:
        out["venv"] = probe(os.path.join(m, "bin", "python3"), isolated_env(home))
        out["venv_python"] = probe(os.path.join(m, "bin", "python"), isolated_env(home))
    return out


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def get(runs, mode):
    return runs[mode]


MODES = ["home", "venv", "venv_python"]


def not_applicable(item):
    """Python 2 has PYTHONHOME mode only: its venv-mode items are deselected."""
    cs = getattr(item, "callspec", None)
    if cs is None or cs.params.get("mode", "home") == "home":
        return False
    b = pythons.find(cs.params["env"])
    return b is not None and b.major < 3


@pytest.mark.parametrize("mode", MODES)
def test_version(env, runs, mode):
    assert get(runs, mode)["version"] == env.base.full_version


@pytest.mark.parametrize("mode", MODES)
def test_imports(env, runs, mode):
    r = get(runs, mode)
    assert r["import_errors"] == {}, r["import_errors"]


@pytest.mark.parametrize("mode", MODES)
def test_prefix_is_mount(env, runs, mode):
    assert get(runs, mode)["prefix"] == env.mnt


@pytest.mark.parametrize("mode", MODES)
def test_executable_inside_mount(env, runs, mode):
    r = get(runs, mode)
    assert under(r["executable"], env.mnt), r["executable"]
    assert under(r["realexe"], env.mnt), "realpath(sys.executable) leaves M: %s" % r["realexe"]


@pytest.mark.parametrize("mode", MODES)
def test_site_dir_on_path(env, runs, mode):
    r = get(runs, mode)
    assert r["marker"], "marker module from DIR not importable: %s" % r.get("marker_error")
    assert under(r["marker"], env.mnt), "marker imported from outside M: %s" % r["marker"]


@pytest.mark.parametrize("mode", MODES)
def test_no_user_site(env, runs, mode, request, tmp_path):
    """The user site (~/.local/lib/pythonX.Y/site-packages) exists and is not
    on sys.path.  Python 2.7 reads no pyvenv.cfg, so in PYTHONHOME mode its
    site.py adds the user site: a known gap, kept as a strict xfail so that
    the day it is closed (or the check goes wrong) shows.  (On 2.7 the other
    tests run without a user site; this one makes its own.)"""
    if env.base.major < 3:
        request.node.add_marker(pytest.mark.xfail(
            strict=True, reason="known gap: Python 2.7 in PYTHONHOME mode puts ~/.local's "
                                "user site on sys.path (no pyvenv.cfg support)"))
        us = make_user_site(tmp_path, env.base.xy)
        r = probe(os.path.join(env.mnt, "bin", "python2"), isolated_env(tmp_path, {
            "PYTHONHOME": env.mnt, "PATH": os.path.join(env.mnt, "bin") + ":/usr/bin:/bin"}))
    else:
        r = get(runs, mode)
        us = runs["user_site"]
    assert os.path.isdir(us)
    assert us not in r["path"], "user site %s on sys.path" % us
    assert not any(under(p, os.path.dirname(os.path.dirname(os.path.dirname(us))))
                   for p in r["path"]), r["path"]


def test_home_mode_everything_under_mount(env, runs):
    r = runs["home"]
    outside = [p for p in r["path"] if p and not under(p, env.mnt)]
    assert not outside, "sys.path entries outside M: %s" % outside
    assert under(r["os_file"], env.mnt), "stdlib read from outside M: %s" % r["os_file"]
    assert under(r["exec_prefix"], env.mnt), r["exec_prefix"]


def test_home_mode_debian_dist_packages(env, runs):
    b = env.base
    if not b.debian_patched:
        pytest.skip("not a Debian-patched Python")
    r = runs["home"]
    dp = os.path.join(env.mnt, "local", "lib", "python" + b.xy, "dist-packages")
    assert dp in r["path"], r["path"]
    assert r["marker"] == os.path.join(dp, MARKER_MODULE + ".py"), r["marker"]


@pytest.mark.parametrize("mode", ["venv", "venv_python"])
def test_venv_mode_base_prefix(env, runs, mode):
    r = get(runs, mode)
    assert r["base_prefix"] == env.base.prefix, r["base_prefix"]
    outside = [p for p in r["path"]
               if p and not under(p, env.mnt) and not under(p, env.base.prefix)]
    assert not outside, "sys.path entries outside M and B: %s" % outside
    sp = os.path.join(env.mnt, env.base.stdlib_rel, "site-packages")
    assert sp in r["path"], r["path"]
    base_sites = [p for p in r["path"] if under(p, env.base.prefix)
                  and ("site-packages" in p or "dist-packages" in p)]
    assert not base_sites, "base site dirs on sys.path: %s" % base_sites


@pytest.mark.parametrize("mode", MODES)
def test_quiet_stderr(env, runs, mode):
    """No warnings (e.g. 'Could not find platform libraries') on startup."""
    r = get(runs, mode)
    assert r["stderr"].strip() == "", r["stderr"]


def test_parallel_startups(env, tmp_path):
    """Eight interpreters starting at once in PYTHONHOME mode (multi-threaded daemon)."""
    import subprocess
    b = env.base
    exe = os.path.join(env.mnt, "bin", "python%d" % b.major)
    e = isolated_env(tmp_path, {"PYTHONHOME": env.mnt,
                                "PATH": os.path.join(env.mnt, "bin") + ":/usr/bin:/bin"})
    code = "import json, decimal, sqlite3, email.mime.text, MARKER; print(MARKER.MARK)".replace(
        "MARKER", MARKER_MODULE)
    procs = [subprocess.Popen([exe, "-c", code], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, cwd="/")
             for _ in range(8)]
    try:
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == "pyenvfs-site-marker", (out, err)
