"""Debian's Python in venv mode (issue 20, item 7): DIR once on sys.path, as in
a native venv on the same Python, and each distribution listed once by
importlib.metadata. Debian's site.py adds `local/lib/python3.11/dist-packages`
in a venv too, and the view has that path (PYTHONHOME mode installs there):
DIR's pyenvfs-venv.pth takes it off again in a venv. PYTHONHOME mode keeps
DIR at the Debian path.

Over Debian's /usr; about 5 s.
"""

import json
import os

import pytest

import pkgs
from conftest import mounted, run

PROBE = ("import json, sys, importlib.metadata as md\n"
         "names = [d.metadata['Name'] for d in md.distributions()]\n"
         "print(json.dumps({'path': sys.path, 'dists': names}))\n")


@pytest.fixture
def debian():
    if not os.path.exists("/usr/bin/python3.11") or not pkgs.debian_pip_wheel():
        pytest.skip("needs Debian's python3.11 and its pip wheel")
    return "/usr"


def probe(python, env=None):
    r = run([python, "-c", PROBE], cwd="/", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def site_entries(path, root):
    return [p for p in path if p.startswith(root + "/") and p.endswith(("-packages",))]


def test_venv_mode_dir_once_and_pythonhome_mode_kept(debian, tmp_path):
    wheels = str(tmp_path / "wheels")
    pkgs.demo_wheel(wheels)
    pkgs.headers_wheel(wheels)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    pip = pkgs.debian_pip_wheel()
    env = pkgs.pip_env(tmp_path, mnt)
    # a native venv on the same Python: what venv mode must look like
    native = str(tmp_path / "native")
    r = run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", native])
    if r.returncode != 0:
        pytest.skip("python3 -m venv unavailable (python3-venv): %s" % r.stderr.strip())
    want = site_entries(probe(os.path.join(native, "bin", "python3"))["path"], native)
    assert len(want) == 1, want
    with mounted(debian, mnt, tmp_path / "D") as m:
        pkgs.run_checked([m.path("bin", "python3"), os.path.join(pip, "pip"), "install", "--no-index",
                          "--find-links", wheels, pkgs.DEMO_NAME, pkgs.HDR_NAME], env)
        got = probe(m.path("bin", "python3"))
        assert site_entries(got["path"], m.mnt) == [m.path("lib", "python3.11", "site-packages")], got["path"]
        dists = sorted(got["dists"])
        assert dists == sorted(set(dists)) and {pkgs.DEMO_NAME, pkgs.HDR_NAME} <= set(dists), dists
        # PYTHONHOME mode: the Debian path, the same distributions
        home = probe(m.path("bin", "python3"), env=dict(env, PYTHONHOME=m.mnt))
        assert site_entries(home["path"], m.mnt) == [m.path("local", "lib", "python3.11", "dist-packages")], \
            home["path"]
        assert sorted(home["dists"]) == dists
        pkgs.run_checked([m.path("bin", "python3"), os.path.join(pip, "pip"), "check"], env)
