"""A C program embedding libpython, told only PYTHONHOME=M (as mod_wsgi's
WSGIPythonHome or uWSGI's home): it starts, imports a module that is only in
DIR, and sees sys.prefix == M.  Compiled against the view's headers
(M/include/pythonX.Y) and run with libpython loaded from the view (rpath M/lib).
"""

import os
import shutil

import pytest

from conftest import isolated_env, run

EMBED_C = r"""
#include <Python.h>

int main(void)
{
    int rc;
    Py_Initialize();
    rc = PyRun_SimpleString(
        "import sys, os, embedded_mod\n"
        "libs = sorted(set(l.split()[-1] for l in open('/proc/self/maps')\n"
        "                  if 'libpython' in l and '/' in l))\n"
        "sys.stdout.write('prefix=%s\\n' % sys.prefix)\n"
        "sys.stdout.write('os=%s\\n' % os.__file__)\n"
        "sys.stdout.write('mod=%s\\n' % embedded_mod.hello())\n"
        "sys.stdout.write('modfile=%s\\n' % embedded_mod.__file__)\n"
        "sys.stdout.write('libpython=%s\\n' % ','.join(libs))\n");
    Py_Finalize();
    return rc == 0 ? 0 : 1;
}
"""

EMBED_MOD = "embedded_mod"


def _pkg_config(names, pc_path):
    env = dict(os.environ)
    if pc_path is not None:
        env["PKG_CONFIG_PATH"] = pc_path
        env["PKG_CONFIG_LIBDIR"] = pc_path
    for name in names:
        r = run(["pkg-config", "--cflags", "--libs", name], env=env)
        if r.returncode == 0:
            return r.stdout.split()
    return None


def build_flags(env):
    """cc flags: the view's headers first, libpython from the view."""
    b = env.base
    m = env.mnt
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config not installed")
    embed = ["python-%s-embed" % b.xy, "python%d-embed" % b.major,
             "python-%s" % b.xy, "python-%sm" % b.xy]
    if b.kind == "usr":
        flags = _pkg_config(embed, None)
    else:
        flags = _pkg_config(embed, os.path.join(b.prefix, "lib", "pkgconfig"))
    if flags is None:
        pytest.skip("no pkg-config file for Python %s in %s" % (b.xy, b.prefix))
    libdirs = [os.path.join(m, "lib")]
    lib = os.path.join(m, "lib")
    for n in os.listdir(lib):
        if n.endswith("-linux-gnu") and os.path.isdir(os.path.join(lib, n)):
            libdirs.append(os.path.join(lib, n))
    pre = ["-I" + os.path.join(m, b.include_rel)]
    post = []
    for d in libdirs:
        pre.append("-L" + d)
        post.append("-Wl,-rpath," + d)
    return pre + flags + post + ["-lm"]


@pytest.fixture(scope="module")
def embed_src(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed-src")
    p = d / "embed.c"
    p.write_text(EMBED_C)
    return str(p)


def test_embedded_interpreter(env, embed_src, tmp_path):
    b = env.base
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    if b.include_rel is None:
        pytest.skip("no headers in %s" % b.prefix)
    with open(os.path.join(env.site, EMBED_MOD + ".py"), "w") as f:
        f.write("def hello():\n    return 'hello from DIR'\n")
    try:
        exe = str(tmp_path / "embed")
        r = run(["cc", "-o", exe, embed_src] + build_flags(env), timeout=120)
        assert r.returncode == 0, "compile failed:\n%s\n%s" % (r.stdout, r.stderr)
        r = run([exe], cwd="/", env=isolated_env(tmp_path, {"PYTHONHOME": env.mnt}), timeout=60)
        assert r.returncode == 0, "embedded Python failed (%d):\n%s\n%s" % (
            r.returncode, r.stdout, r.stderr)
        out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        assert out.get("mod") == "hello from DIR", r.stdout
        assert out.get("prefix") == env.mnt, r.stdout
        assert out["os"].startswith(env.mnt + "/"), r.stdout
        assert out["modfile"].startswith(env.mnt + "/"), r.stdout
        libs = [l for l in out.get("libpython", "").split(",") if l]
        assert libs and all(l.startswith(env.mnt + "/") for l in libs), \
            "libpython not loaded from the view: %s" % libs
    finally:
        for n in (EMBED_MOD + ".py", "__pycache__/"):
            p = os.path.join(env.site, n)
            if n.endswith("/"):
                if os.path.isdir(p):
                    for c in os.listdir(p):
                        if c.startswith(EMBED_MOD):
                            os.unlink(os.path.join(p, c))
            elif os.path.exists(p):
                os.unlink(p)
            if os.path.exists(p + "c"):
                os.unlink(p + "c")
