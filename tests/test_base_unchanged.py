"""The base is never written: not by the daemon, not by Python run as root in
either mode (it would write __pycache__ wherever it can)."""

import glob
import json
import os
import stat

import pytest

import pythons
from conftest import isolated_env, make_site_with_marker, mounted, run
from procinfo import file_sha256, tree_diff


def _entry(path, hash_content):
    st = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    content = file_sha256(path) if hash_content and stat.S_ISREG(st.st_mode) else None
    return (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            link, content)


def _walk(root, out, hash_content, skip=()):
    if not os.path.lexists(root):
        return
    out[root] = _entry(root, False)
    if not os.path.isdir(root) or os.path.islink(root):
        if hash_content and os.path.isfile(root) and not os.path.islink(root):
            out[root] = _entry(root, True)
        return
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            h = hash_content and not any(p == s or p.startswith(s + "/") for s in skip)
            out[p] = _entry(p, h)


def base_digest(b):
    """path -> (mode, uid, gid, size, mtime, ctime, link, sha256 or None).

    /usr: the interpreter files, the stdlib, the headers and /usr/local/lib/pythonX.Y.
    pyenv: the whole prefix (metadata), with contents of bin/python*, headers
    and the stdlib (not its site-packages).
    """
    out = {}
    if b.kind == "usr":
        for p in sorted(glob.glob("/usr/bin/python%d*" % b.major)):
            _walk(p, out, True)
            _walk(os.path.realpath(p), out, True)
        _walk(b.stdlib, out, True, skip=[os.path.join(b.stdlib, "dist-packages")])
        if b.include_rel:
            _walk(os.path.join(b.prefix, b.include_rel), out, True)
        _walk("/usr/lib/python%d" % b.major, out, False)
        _walk("/usr/local/lib/python" + b.xy, out, False)
        _walk("/usr/local/bin", out, False)
    else:
        _walk(b.prefix, out, False)
        for p in sorted(glob.glob(os.path.join(b.prefix, "bin", "python*"))):
            _walk(p, out, True)
        if b.include_rel:
            _walk(os.path.join(b.prefix, b.include_rel), out, True)
        _walk(b.stdlib, out, True, skip=[os.path.join(b.stdlib, "site-packages")])
    return out


WRITER = r"""
import sys, os, json
stdlib = sys.argv[1]
for m in ("json", "decimal", "email.mime.text", "http.client", "xml.dom.minidom",
          "sqlite3", "ssl", "ctypes", "unittest", "logging.handlers", "argparse",
          "sysconfig", "subprocess", "tempfile", "zipfile", "tarfile", "site"):
    try:
        __import__(m)
    except Exception:
        pass
res = {}
import py_compile
try:
    py_compile.compile(os.path.join(stdlib, "this.py"), doraise=True)
    res["py_compile"] = None
except Exception as e:
    res["py_compile"] = getattr(e, "errno", None) or repr(e)
try:
    import compileall
    res["compileall"] = bool(compileall.compile_dir(os.path.join(stdlib, "json"), quiet=1, force=True))
except Exception as e:
    res["compileall"] = repr(e)
sys.stdout.write("@@" + json.dumps(res) + "@@")
"""


def _assert_writes_refused(res):
    """py_compile got EROFS (30), and compileall of M's json package reported
    failure (False) rather than success or an exception of its own."""
    assert res["py_compile"] == 30, "writing a .pyc into M's stdlib did not fail with EROFS: %r" % res
    assert res["compileall"] is False, "compileall into M's stdlib did not report failure: %r" % res


def _run_writer(exe, stdlib, env_vars):
    r = run([exe, "-c", WRITER, stdlib], env=env_vars, timeout=120, cwd="/")
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (exe, r.stdout, r.stderr)
    out = r.stdout
    return json.loads(out[out.find("@@") + 2:out.rfind("@@")])


@pytest.mark.parametrize("param", pythons.params())
def test_base_unchanged(param, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("meaningful only as root (Python can write anywhere then)")
    b = pythons.find(param)
    if b is None:
        pytest.skip("no Python for %s on this machine" % param)
    before = base_digest(b)
    assert len(before) > 100, "digest covers too little: %d entries" % len(before)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    make_site_with_marker(site)
    home = tmp_path / "home"
    home.mkdir()
    extra = ["--python", b.xy] if len(pythons.versions_in(b.prefix)) > 1 else []
    with mounted(b.prefix, mnt, site, extra, base=b) as m:
        std_m = m.path(b.stdlib_rel)
        exe = m.path("bin", "python%d" % b.major)
        res = _run_writer(exe, std_m, isolated_env(home, {
            "PYTHONHOME": m.mnt,
            "PATH": m.path("bin") + ":/usr/local/bin:/usr/bin:/bin"}))
        _assert_writes_refused(res)
        if b.major == 3:
            res = _run_writer(m.path("bin", "python3"), std_m, isolated_env(home))
            _assert_writes_refused(res)
    after = base_digest(b)
    d = tree_diff(before, after)
    assert not d, "base changed:\n" + "\n".join(d[:50])
