"""Wheels, locks and stores for the store's tests (tests/test_store*.py).

Everything is built in the test, offline: wheels are zip files written by
pkgs.make_wheel, a C extension is compiled with the base's own headers, the
locks are written here.  Nothing needs the network.
"""

import hashlib
import os
import subprocess
import sys

import pkgs
from conftest import PYENVFS, isolated_env

FULL = "pyenvfs_full"
FULL_SCRIPT = "pyenvfs-full"
FULL_OUTPUT = "pyenvfs-full says 42"
FULL_DATA = "share/pyenvfs-full/data.txt"
FULL_DATA_TEXT = "data of pyenvfs-full\n"

EXT_SOURCE = r"""
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = { {"answer", answer, METH_NOARGS, "The answer."}, {NULL, NULL, 0, NULL} };
#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = { PyModuleDef_HEAD_INIT, "pyenvfs_fullext", NULL, -1, methods };
PyMODINIT_FUNC PyInit_pyenvfs_fullext(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initpyenvfs_fullext(void) { Py_InitModule("pyenvfs_fullext", methods); }
#endif
"""

FULL_INIT = '''\
import sys
import pyenvfs_fullext


def main():
    sys.stdout.write("pyenvfs-full says %d\\n" % pyenvfs_fullext.answer())
    return 0
'''

PROBE = r"""
import sys, sysconfig
abi = getattr(sys, 'abiflags', None)
if abi is None:
    abi = 'm' + ('u' if sys.maxunicode > 0xffff else '')
print(sysconfig.get_config_var('EXT_SUFFIX') or sysconfig.get_config_var('SO') or '.so')
print(sysconfig.get_paths()['include'])
print(abi)
"""


def base_info(b):
    r = subprocess.run([b.exe, "-E", "-s", "-B", "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=isolated_env("/nonexistent"), timeout=60)
    assert r.returncode == 0, r.stderr
    suffix, include, abi = r.stdout.split("\n")[:3]
    return suffix, include, abi


def full_wheel(dest, b, version="1.0"):
    """pyenvfs_full: a package, a C extension (compiled here for b), a
    console script and a data file; tagged for b's interpreter only."""
    suffix, include, abi = base_info(b)
    build = os.path.join(str(dest), "build-ext-%s" % b.xy)
    os.makedirs(build, exist_ok=True)
    src = os.path.join(build, "ext.c")
    with open(src, "w") as f:
        f.write(EXT_SOURCE)
    so = os.path.join(build, "pyenvfs_fullext" + suffix)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-I", include, src, "-o", so], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert r.returncode == 0, r.stdout
    with open(so, "rb") as f:
        ext = f.read()
    tag = "cp%d%d-cp%d%d%s-linux_x86_64" % (b.major, b.minor, b.major, b.minor, abi)
    return pkgs.make_wheel(dest, FULL, version, files={FULL + "/__init__.py": FULL_INIT,
                                                       "pyenvfs_fullext" + suffix: ext},
                           tag=tag, entry_points="[console_scripts]\n%s = %s:main\n" % (FULL_SCRIPT, FULL),
                           data={"data/" + FULL_DATA: FULL_DATA_TEXT})


def small_wheel(dest, name, version, requires=(), extra_files=None):
    files = {name + ".py": "NAME = %r\nVERSION = %r\n" % (name, version)}
    files.update(extra_files or {})
    return pkgs.make_wheel(dest, name, version, files=files, tag="py2.py3-none-any", requires=requires)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def wheel_meta(path):
    name, version = os.path.basename(path).split("-")[:2]
    return name, version


def write_pylock(path, wheels, relative=True):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    out = ['lock-version = "1.0"', 'created-by = "pyenvfs tests"']
    for w in wheels:
        name, version = wheel_meta(w)
        where = os.path.relpath(w, os.path.dirname(str(path))) if relative else w
        out += ["", "[[packages]]", 'name = "%s"' % name, 'version = "%s"' % version,
                'wheels = [{ name = "%s", path = "%s", hashes = { sha256 = "%s" } }]'
                % (os.path.basename(w), where, sha256(w))]
    with open(str(path), "w") as f:
        f.write("\n".join(out) + "\n")
    return str(path)


def write_requirements(path, wheels, find_links=None, hashes=True):
    out = ["# pinned"]
    if find_links:
        out.append("--no-index")
        out.append("--find-links %s" % find_links)
    for w in wheels:
        name, version = wheel_meta(w)
        out.append("%s==%s%s" % (name, version, " \\\n    --hash=sha256:%s" % sha256(w) if hashes else ""))
    with open(str(path), "w") as f:
        f.write("\n".join(out) + "\n")
    return str(path)


def store_env(store, cache, home, extra=None):
    e = isolated_env(home, {"PYENVFS_STORE": str(store), "XDG_CACHE_HOME": str(cache)})
    if extra:
        e.update(extra)
    return e


def pyenvfs(args, env, timeout=600, **kw):
    return subprocess.run([PYENVFS] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=timeout, cwd="/", **kw)


def entries(store):
    d = os.path.join(str(store), "entries")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def dir_files(site):
    """Every path in DIR (relative), with the bytes it holds."""
    out = {}
    for dp, dns, fns in os.walk(str(site)):
        for n in dns + fns:
            p = os.path.join(dp, n)
            out[os.path.relpath(p, str(site))] = os.lstat(p).st_size if n in fns else 0
    return out


def log(msg):
    sys.stderr.write(msg + "\n")
