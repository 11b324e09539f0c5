"""Bytecode for read-only places (issue 11; docs/LAYERS.md, "Bytecode for
read-only places").

A base without bytecode (a copy of a Python prefix with every
__pycache__ and .pyc removed, bind-mounted read-only) and a lower layer
without bytecode (likewise read-only):

- the first start-up through the env writes the bytecode it compiles: for
  the base into DIR/.pyenvfs/pycache/base-<id>/<path>, for a layer into DIR's
  part of the merged directory (parents copied up);
- the next start-up, in a new mount, reads it: `python -v` says "code object
  from .../__pycache__/X.pyc" (2.7: "X.pyc matches X.py") and no bytecode
  file is written again (the area's names, sizes, mtimes and inodes are the
  same after it);
- nothing but bytecode may be made in the base (EROFS), a base's own .pyc
  is not replaced, `.pyenvfs` never shows, and the base and the layer are
  unchanged (digest).

The standard library goes through the mount in PYTHONHOME mode only: in
venv mode sys.base_prefix is BASE itself (PEP 405) and Python reads (and
would write) the standard library there, not through the mount. Venv mode
is tested with a layer, whose packages it reads through the mount.
"""

import errno
import os
import stat
import sys

import pytest

import helpers_base as hb
import pkgs
import pythons
from conftest import mounted

IMPORTS3 = "import json, email.parser, http.client, asyncio"
IMPORTS2 = "import json, email.parser, httplib"
AREA = os.path.join(".pyenvfs", "pycache")


def tag(b):
    return "cpython-%d%d" % (b.major, b.minor)


def kept_pyc(b):
    """One .pyc the copy keeps (the merged case: a base __pycache__ that has
    some bytecode): email/__init__'s, if the source base has it."""
    std = os.path.join("lib", "python" + b.xy)
    if b.major == 2:
        rel = os.path.join(std, "email", "__init__.pyc")
    else:
        rel = os.path.join(std, "email", "__pycache__", "__init__.%s.pyc" % tag(b))
    return rel if os.path.isfile(os.path.join(b.prefix, rel)) else None


def pyc_rel(b, *mod):
    """The bytecode path (relative to the prefix) of the stdlib module mod."""
    std = os.path.join("lib", "python" + b.xy)
    if b.major == 2:
        return os.path.join(std, *mod[:-1]) + os.sep + mod[-1] + ".pyc"
    return os.path.join(std, *mod[:-1], "__pycache__", "%s.%s.pyc" % (mod[-1], tag(b)))


def snapshot(root):
    """{path: (size, mtime_ns, inode)} of every file under root."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def run_py(m, b, code, home, pythonhome, verbose=False):
    env = pkgs.pip_env(home, m.mnt, pythonhome=pythonhome)
    args = [m.path("bin", "python" + b.xy)] + (["-v"] if verbose else []) + ["-c", code]
    return pkgs.run_checked(args, env, timeout=120)


def assert_read_from(b, text, mnt_path):
    """python -v's stderr says that the bytecode at mnt_path was used."""
    if b.major == 2:
        source = mnt_path[:-1]
        assert "# %s matches %s" % (mnt_path, source) in text, text[-3000:]
    else:
        assert "# code object from '%s'" % mnt_path in text or \
            "# code object from %s" % mnt_path in text, text[-3000:]


def refused(fn, *codes):
    with pytest.raises(OSError) as ei:
        fn()
    assert ei.value.errno in (codes or (errno.EROFS,)), ei.value


@pytest.fixture(scope="module")
def root_only():
    if not hb.is_root():
        pytest.skip("a read-only bind mount needs root")


BASE_PARAMS = ["usr-" + v for v in pythons.EXPECTED_USR] + ["pyenv-" + v for v in pythons.EXPECTED_PYENV]


@pytest.fixture(scope="module", params=BASE_PARAMS)
def nobc(request, root_only, tmp_path_factory):
    """(the source base, a read-only base without bytecode, its digest, the kept .pyc)."""
    src = pythons.find(request.param)
    if src is None:
        pytest.skip("no Python for %s on this machine" % request.param)
    d = tmp_path_factory.mktemp("nobc-" + src.id)
    copy, mp = str(d / "copy"), str(d / "base")
    kept = kept_pyc(src)
    hb.copy_without_bytecode(src, copy, keep=[kept] if kept else [])
    # a package of the base's own site directory (--system-site-packages)
    pkg = os.path.join(copy, "lib", "python" + src.xy, "site-packages", "sysmod")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("X = 1\n")
    with hb.ro_bind(copy, mp):
        b = pythons.Base("nobc-" + src.xy, os.path.realpath(mp), src.xy, src.kind)
        yield src, b, hb.tree_digest(mp), kept


def area_of(site):
    a = os.path.join(site, AREA)
    ids = os.listdir(a)
    assert len(ids) == 1 and ids[0].startswith("base-"), ids
    return os.path.join(a, ids[0])


def test_stdlib_bytecode_is_written_once_and_read_after(nobc, tmp_path):
    """PYTHONHOME mode: the first start-up writes the standard library's
    bytecode into DIR's area; the next one, in a new mount, reads it."""
    src, b, digest, kept = nobc
    home, site = tmp_path / "home", str(tmp_path / "D")
    home.mkdir()
    (tmp_path / "m1").mkdir()
    (tmp_path / "m2").mkdir()
    imports = IMPORTS2 if b.major == 2 else IMPORTS3
    extra = pythons.python_args(src)
    with mounted(b.prefix, tmp_path / "m1", site, extra, base=b) as m:
        run_py(m, b, imports, home, True)
        area = area_of(site)
        for mod in (("json", "__init__"), ("json", "decoder"), ("email", "parser")):
            assert os.path.isfile(os.path.join(area, pyc_rel(b, *mod))), (mod, snapshot(area))
        # the standard library's top directory (a view directory) takes bytecode too
        top = os.path.join(area, "lib", "python" + b.xy)
        top_pyc = os.path.join(top, "__pycache__") if b.major == 3 else top
        assert [n for n in os.listdir(top_pyc) if n.endswith(".pyc")], os.listdir(top_pyc)
        # the base's own bytecode wins: it is not written again
        if kept:
            assert not os.path.exists(os.path.join(area, kept))
        # importlib's temporaries were all renamed
        assert not [p for p in snapshot(area) if not p.endswith(".pyc")], snapshot(area)
        # the view: merged, .pyenvfs hidden
        std = m.path("lib", "python" + b.xy)
        if b.major == 3:
            assert "__pycache__" in os.listdir(os.path.join(std, "json"))
            names = os.listdir(os.path.join(std, "json", "__pycache__"))
            assert "__init__.%s.pyc" % tag(b) in names, names
            if kept:
                names = os.listdir(os.path.join(std, "email", "__pycache__"))
                assert {"__init__.%s.pyc" % tag(b), "parser.%s.pyc" % tag(b)} <= set(names), names
        else:
            assert "__init__.pyc" in os.listdir(os.path.join(std, "json"))
        for d in (m.mnt, std, os.path.join(std, "site-packages"), os.path.join(std, "json")):
            assert ".pyenvfs" not in os.listdir(d), d
        before = snapshot(area)
    with mounted(b.prefix, tmp_path / "m2", site, extra, base=b) as m:
        r = run_py(m, b, imports, home, True, verbose=True)
        for mod in (("json", "__init__"), ("email", "parser")):
            assert_read_from(b, r.stderr, m.path(pyc_rel(b, *mod)))
        if kept:
            assert_read_from(b, r.stderr, m.path(kept))
    assert snapshot(area) == before, "the second start-up wrote bytecode again"
    assert hb.tree_digest(b.prefix) == digest


def test_nothing_else_is_writable_in_the_base(nobc, tmp_path):
    src, b, digest, kept = nobc
    site = str(tmp_path / "D")
    (tmp_path / "m").mkdir()
    with mounted(b.prefix, tmp_path / "m", site, pythons.python_args(src), base=b) as m:
        std = m.path("lib", "python" + b.xy)
        j = os.path.join(std, "json")
        refused(lambda: open(os.path.join(j, "notes.txt"), "w"))
        refused(lambda: open(os.path.join(j, "__init__.py"), "a"))
        refused(lambda: os.mkdir(os.path.join(std, "newpkg")))
        refused(lambda: os.symlink("x", os.path.join(j, "link")))
        if b.major == 3:
            refused(lambda: open(os.path.join(j, "stray.pyc"), "w"))       # beside, on 3.x
        # importlib's way, by hand: __pycache__, a temporary, renamed onto the .pyc
        # (a lookup of the missing __pycache__ makes it in DIR's area, so the
        # mkdir finds it: EEXIST, which importlib ignores)
        cache = os.path.join(j, "__pycache__")
        with pytest.raises(FileExistsError):
            os.mkdir(cache)
        assert os.path.isdir(cache) and os.listdir(cache) == []
        name = "tool.%s.pyc" % tag(b) if b.major == 3 else None
        if name:
            tmp = os.path.join(cache, name + ".140234")
            with open(tmp, "wb") as f:
                f.write(b"bytecode")
            os.replace(tmp, os.path.join(cache, name))
            assert sorted(os.listdir(cache)) == [name]
            with open(os.path.join(cache, name), "rb") as f:
                assert f.read() == b"bytecode"
            refused(lambda: os.rename(os.path.join(cache, name), os.path.join(cache, "tool.txt")))
            refused(lambda: open(os.path.join(cache, "notes.txt"), "w"))
            refused(lambda: os.mkdir(os.path.join(cache, "sub")))
            os.unlink(os.path.join(cache, name))
            assert os.listdir(cache) == []
        else:
            with open(os.path.join(j, "tool.pyc"), "wb") as f:   # 2.7: beside its .py
                f.write(b"bytecode")
            refused(lambda: open(os.path.join(j, "nosource.pyc"), "w"))
            os.unlink(os.path.join(j, "tool.pyc"))
        # a base's own .pyc is not written over
        if kept:
            refused(lambda: open(m.path(kept), "wb"))
            if b.major == 3:
                t = os.path.join(os.path.dirname(m.path(kept)), "x.%s.pyc.1" % tag(b))
                with open(t, "wb") as f:
                    f.write(b"x")
                refused(lambda: os.replace(t, m.path(kept)))
                os.unlink(t)
        assert ".pyenvfs" not in os.listdir(m.mnt)
    assert hb.tree_digest(b.prefix) == digest


@pytest.mark.parametrize("nobc", ["pyenv-3.12", "pyenv-3.6"], indirect=True)
def test_system_site_packages_bytecode(nobc, tmp_path):
    """With --system-site-packages, a base site directory's package takes
    bytecode the same way (PYTHONHOME mode)."""
    src, b, digest, kept = nobc
    home, site = tmp_path / "home", str(tmp_path / "D")
    home.mkdir()
    (tmp_path / "m").mkdir()
    args = pythons.python_args(src) + ["--system-site-packages"]
    with mounted(b.prefix, tmp_path / "m", site, args, base=b) as m:
        run_py(m, b, "import sysmod", home, True)
        p = os.path.join(area_of(site), "lib", "python" + b.xy, "site-packages", "sysmod",
                         "__pycache__", "__init__.%s.pyc" % tag(b))
        assert os.path.isfile(p)
        r = run_py(m, b, "import sysmod", home, True, verbose=True)
        assert_read_from(b, r.stderr, m.path("lib", "python" + b.xy, "site-packages", "sysmod",
                                             "__pycache__", "__init__.%s.pyc" % tag(b)))
    assert hb.tree_digest(b.prefix) == digest


# ---------------------------------------------------------------------------
# a lower layer without bytecode

LAYER_TREE = {
    "lay_pkg/__init__.py": "from . import sub\n",
    "lay_pkg/sub.py": "V = 2\n",
    "lay_mod.py": "W = 3\n",
}


@pytest.mark.parametrize("mode", ["venv", "home"])
def test_layer_bytecode_lands_in_dir(root_only, mode, tmp_path):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base")
    L, mp = str(tmp_path / "L"), str(tmp_path / "L-ro")
    for rel, text in LAYER_TREE.items():
        p = os.path.join(L, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    home, site = tmp_path / "home", str(tmp_path / "D")
    home.mkdir()
    (tmp_path / "m1").mkdir()
    (tmp_path / "m2").mkdir()
    args = ["--lower-site", mp] + pythons.python_args(b)
    code = "import lay_pkg, lay_mod; assert lay_pkg.sub.V + lay_mod.W == 5"
    t = tag(b)
    with hb.ro_bind(L, mp):
        digest = hb.tree_digest(mp)
        with mounted(b.prefix, tmp_path / "m1", site, args, base=b) as m:
            run_py(m, b, code, home, mode == "home")
        made = {os.path.join("lay_pkg", "__pycache__", "__init__.%s.pyc" % t),
                os.path.join("lay_pkg", "__pycache__", "sub.%s.pyc" % t),
                os.path.join("__pycache__", "lay_mod.%s.pyc" % t)}
        top = snapshot(site)
        assert made <= set(top), top
        # a layer's bytecode is DIR's own (the union), not in the base's area
        assert not os.path.exists(os.path.join(site, AREA))
        before = {k: top[k] for k in made}
        with mounted(b.prefix, tmp_path / "m2", site, args, base=b) as m:
            r = run_py(m, b, code, home, mode == "home", verbose=True)
            sp = m.path("lib", "python" + b.xy, "site-packages")
            if mode == "home" and b.debian_patched:
                sp = m.path("local", "lib", "python" + b.xy, "dist-packages")
            for rel in made:
                assert_read_from(b, r.stderr, os.path.join(sp, rel))
        after = snapshot(site)
        assert {k: after[k] for k in made} == before, "the second start-up wrote bytecode again"
        assert hb.tree_digest(mp) == digest
    assert hb.tree_digest(L) == digest
    assert stat.S_ISDIR(os.stat(os.path.join(site, "lay_pkg")).st_mode)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


# ---------------------------------------------------------------------------
# a caller other than root

@pytest.fixture(scope="module")
def a_user(root_only):
    from helpers_env import throwaway_users
    with throwaway_users(1) as us:
        yield us[0]


# Debian's: pyenv's versions live under /root, and their interpreters load
# libpython from there, which the user cannot read.
@pytest.mark.parametrize("nobc", ["usr-3.11"], indirect=True)
def test_the_env_owner_writes_and_reads_the_bytecode(nobc, a_user, work):
    """The env's owner, not root: the kernel checks a mkdir against the base
    directory's shown mode (read-only, root's), so a missing __pycache__ is
    shown from DIR's area, the owner's, and importlib writes its bytecode in
    it; the next start-up reads it. (A __pycache__ the base has, root's,
    takes no bytecode from a user, as natively.)"""
    from helpers_env import run_as
    src, b, digest, kept = nobc
    u = a_user
    mnt, site, home = (os.path.join(work, n) for n in ("mnt", "site", "home"))
    for d in (mnt, site, home):
        os.mkdir(d, 0o755)
    for d in (site, home):
        os.chown(d, u.uid, u.gid)
    code = IMPORTS3
    with mounted(b.prefix, mnt, site, pythons.python_args(src) + ["-o", "allow_other"], base=b) as m:
        py = [m.path("bin", "python" + b.xy)]
        r = run_as(u, py + ["-c", code], home=home, env_extra={"PYTHONHOME": m.mnt})
        assert r.returncode == 0, r.stderr
        area = area_of(site)
        for mod in (("json", "decoder"), ("http", "client")):
            p = os.path.join(area, pyc_rel(b, *mod))
            assert os.path.isfile(p), (mod, snapshot(area))
            st = os.lstat(p)
            assert (st.st_uid, st.st_gid) == (u.uid, u.gid), (p, st.st_uid, st.st_gid)
        before = snapshot(area)
        r = run_as(u, py + ["-v", "-c", code], home=home, env_extra={"PYTHONHOME": m.mnt})
        assert r.returncode == 0, r.stderr
        for mod in (("json", "decoder"), ("http", "client")):
            assert_read_from(b, r.stderr, m.path(pyc_rel(b, *mod)))
        assert snapshot(area) == before, "the second start-up wrote bytecode again"
        # Still nothing but bytecode: the base's directory refuses the user.
        r = run_as(u, py + ["-c", "open(%r, 'w')" % m.path("lib", "python" + b.xy, "json", "x.txt")],
                   home=home, env_extra={"PYTHONHOME": m.mnt})
        assert r.returncode != 0 and ("PermissionError" in r.stderr or "Read-only" in r.stderr), r.stderr
    assert hb.tree_digest(b.prefix) == digest
