"""Test packages built in the test, offline, and helpers to run pip in a pyenvfs env.

Nothing here needs the network or PyPI: wheels are zip files written by hand
(with a RECORD of sha256 hashes, as pip checks), projects are a setup.py and a
source file.  The build tools the C-extension and editable projects need
(setuptools, wheel) come from wheels already on the machine: the bases'
ensurepip bundles, their test data and /usr/share/python-wheels.
"""

import base64
import glob
import hashlib
import os
import re
import shutil
import subprocess
import zipfile

import pythons

DEMO_NAME = "pyenvfs_demo"
DEMO_VERSION = "1.0"
DEMO_SCRIPT = "pyenvfs-demo"
DEMO_OUTPUT = "pyenvfs-demo says hello"
DEMO_DATA_REL = os.path.join("share", "pyenvfs-demo", "hello.txt")
DEMO_DATA_TEXT = "hello from pyenvfs-demo data\n"

EDITABLE_NAME = "pyenvfs_editable"
EXT_NAME = "ext"
EXT_PROJECT = "pyenvfs_ext"

DEBIAN_WHEELS = "/usr/share/python-wheels"
PIP_TIMEOUT = 180


# ---------------------------------------------------------------------------
# wheels by hand

def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_wheel(dest_dir, name, version, files, tag="py3-none-any",
               entry_points=None, data=None, requires_python=None, requires=()):
    """Write NAME-VERSION-TAG.whl into dest_dir and return its path.

    files: {path in the wheel (purelib): text or bytes}
    entry_points: text of entry_points.txt, or None
    data: {path under NAME-VERSION.data/ ("data/share/x", "scripts/y"): text or bytes}
    """
    dist = "%s-%s" % (name, version)
    distinfo = dist + ".dist-info"
    entries = []

    def add(path, content):
        if not isinstance(content, bytes):
            content = content.encode("utf-8")
        entries.append((path, content))

    for path, content in sorted(files.items()):
        add(path, content)
    for path, content in sorted((data or {}).items()):
        add("%s.data/%s" % (dist, path), content)
    meta = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version,
            "Summary: pyenvfs test package"]
    if requires_python:
        meta.append("Requires-Python: " + requires_python)
    for req in requires:
        meta.append("Requires-Dist: " + req)
    add(distinfo + "/METADATA", "\n".join(meta) + "\n")
    wheel = ["Wheel-Version: 1.0", "Generator: pyenvfs-tests", "Root-Is-Purelib: true"]
    for t in _expand_tags(tag):
        wheel.append("Tag: " + t)
    add(distinfo + "/WHEEL", "\n".join(wheel) + "\n")
    if entry_points:
        add(distinfo + "/entry_points.txt", entry_points)
    add(distinfo + "/top_level.txt", "\n".join(sorted(
        {p.split("/")[0].replace(".py", "") for p in files})) + "\n")
    record = ["%s,%s,%d" % (p, _record_hash(c), len(c)) for p, c in entries]
    record.append(distinfo + "/RECORD,,")
    entries.append((distinfo + "/RECORD", ("\n".join(record) + "\n").encode("utf-8")))

    os.makedirs(str(dest_dir), exist_ok=True)
    path = os.path.join(str(dest_dir), "%s-%s.whl" % (dist, tag))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, c in entries:
            info = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, c)
    return path


def _expand_tags(tag):
    pys, abis, plats = tag.split("-")
    return ["%s-%s-%s" % (p, a, pl) for p in pys.split(".") for a in abis.split(".")
            for pl in plats.split(".")]


DEMO_INIT = '''\
"""pyenvfs test package."""
import sys

VALUE = "pyenvfs-demo-value"


def main():
    sys.stdout.write("%s\\n" % "{out}")
    return 0
'''.format(out=DEMO_OUTPUT)


def demo_wheel(dest_dir, py2=False):
    """pyenvfs_demo-1.0: a package, a console script and a data file."""
    return make_wheel(
        dest_dir, DEMO_NAME, DEMO_VERSION,
        files={DEMO_NAME + "/__init__.py": DEMO_INIT},
        tag="py2.py3-none-any" if py2 else "py3-none-any",
        entry_points="[console_scripts]\n%s = %s:main\n" % (DEMO_SCRIPT, DEMO_NAME),
        data={"data/" + DEMO_DATA_REL.replace(os.sep, "/"): DEMO_DATA_TEXT})


HDR_NAME = "pyenvfs_hdr"
HDR_FILE = "pyenvfs_hdr.h"
HDR_TEXT = "#define PYENVFS_HDR 1\n"


def headers_wheel(dest_dir):
    """pyenvfs_hdr-1.0: a module and a header file (installed to the scheme's headers)."""
    return make_wheel(dest_dir, HDR_NAME, "1.0", files={HDR_NAME + ".py": "X = 1\n"},
                      tag="py2.py3-none-any", data={"headers/" + HDR_FILE: HDR_TEXT})


def bulk_names(n=20):
    return ["pyenvfs_bulk%02d" % i for i in range(n)]


def bulk_wheels(dest_dir, n=20):
    """n small pure wheels, each with one module pyenvfs_bulkNN defining N."""
    paths = []
    for i, name in enumerate(bulk_names(n)):
        paths.append(make_wheel(dest_dir, name, "1.%d" % i,
                                files={name + ".py": "N = %d\n" % i},
                                tag="py2.py3-none-any"))
    return paths


# ---------------------------------------------------------------------------
# source projects

def editable_project(dest_dir):
    """A setuptools project (setup.py, no pyproject.toml) for pip install -e."""
    d = os.path.join(str(dest_dir), "editable-proj")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "setup.py"), "w") as f:
        f.write("from setuptools import setup\n"
                "setup(name=%r, version='0.1', py_modules=[%r])\n"
                % (EDITABLE_NAME, EDITABLE_NAME))
    with open(os.path.join(d, EDITABLE_NAME + ".py"), "w") as f:
        f.write("WHERE = 'editable-source'\n")
    return d


EXT_C = r"""
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args)
{
    return PyLong_FromLong(42);
}

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "The answer."},
    {NULL, NULL, 0, NULL}
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "ext", NULL, -1, methods
};

PyMODINIT_FUNC PyInit_ext(void)
{
    return PyModule_Create(&moddef);
}
#else
PyMODINIT_FUNC initext(void)
{
    Py_InitModule("ext", methods);
}
#endif
"""


def ext_project(dest_dir):
    """A setuptools project with one C extension module ``ext``."""
    d = os.path.join(str(dest_dir), "ext-proj")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ext.c"), "w") as f:
        f.write(EXT_C)
    with open(os.path.join(d, "setup.py"), "w") as f:
        f.write("from setuptools import setup, Extension\n"
                "setup(name=%r, version='0.1', ext_modules=[Extension('ext', ['ext.c'])])\n"
                % EXT_PROJECT)
    return d


# ---------------------------------------------------------------------------
# wheels of build tools already on the machine

def _wheel_version(path):
    m = re.match(r"^[A-Za-z_]+-([0-9.]+)-", os.path.basename(path))
    return tuple(int(x) for x in m.group(1).split(".") if x) if m else ()


def _tool_wheels(project):
    """All NAME-*.whl files on the machine we know of, newest first."""
    pats = [os.path.join(DEBIAN_WHEELS, project + "-*.whl")]
    for b in pythons.discover().values():
        for sub in ("ensurepip/_bundled", "test", "test/wheeldata"):
            pats.append(os.path.join(b.stdlib, sub, project + "-*.whl"))
    found = set()
    for p in pats:
        found.update(glob.glob(p))
    return sorted(found, key=_wheel_version, reverse=True)


def build_tool_wheels(base, have_setuptools):
    """Wheels to install into an env of base so that pip can build setup.py
    projects with --no-build-isolation: setuptools (if the env lacks it) and wheel.

    Returns a list, possibly empty.  Raises LookupError if setuptools is
    needed and none fits.
    """
    v = (base.major, base.minor)
    res = []
    if not have_setuptools:
        st = _tool_wheels("setuptools")
        # setuptools < 60 does not know 3.12 (no distutils in the stdlib).
        if v >= (3, 12):
            st = [w for w in st if _wheel_version(w) >= (66,)]
        if not st:
            raise LookupError("no setuptools wheel on this machine")
        res.append(st[0])
    if v >= (3, 7):
        wh = _tool_wheels("wheel")
        if v < (3, 8):
            wh = [w for w in wh if _wheel_version(w) < (0, 43)]
        if wh:
            res.append(wh[0])
    return res


def debian_pip_wheel():
    ws = sorted(glob.glob(os.path.join(DEBIAN_WHEELS, "pip-*.whl")), key=_wheel_version)
    return ws[-1] if ws else None


# ---------------------------------------------------------------------------
# looking at DIR

def walk_names(root):
    """Every path under root (relative), files, dirs and symlinks."""
    out = []
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), str(root)))
    return sorted(out)


def find_in(root, basename):
    """Relative paths under root whose last component is basename."""
    return [p for p in walk_names(root) if os.path.basename(p) == basename]


def pip_env(home, mnt=None, pythonhome=False, extra=None):
    """Environment for running pip in an env: no user config, no index, no
    PYTHON* variables; PATH starts with M/bin when mnt is given."""
    path = "/usr/local/bin:/usr/bin:/bin"
    if mnt:
        path = os.path.join(str(mnt), "bin") + ":" + path
    e = {
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_NO_WARN_SCRIPT_LOCATION": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "TMPDIR": str(home),
    }
    if pythonhome:
        e["PYTHONHOME"] = str(mnt)
    if extra:
        e.update(extra)
    return e


def run_checked(args, env, timeout=PIP_TIMEOUT, cwd="/", ok=True):
    """Run a command; when ok, assert it succeeded, showing its output."""
    r = subprocess.run([str(a) for a in args], env=env, cwd=cwd, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if ok:
        assert r.returncode == 0, "%s failed (%d):\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(str(a) for a in args), r.returncode, r.stdout[-6000:], r.stderr[-6000:])
    return r


def which_in(bindir, name):
    p = os.path.join(str(bindir), name)
    return p if os.path.exists(p) else shutil.which(name, path=str(bindir))
