"""Layout of the view and read-only-ness of everything that comes from the base.

One mount per base Python (module-scoped ``env`` fixture), DIR holding a
marker module written before mounting.
"""

import errno
import glob
import os
import shutil
import stat

import pytest

from conftest import MARKER_FILE, MARKER_TEXT, without_venv_pth
from procinfo import file_sha256


def read_cfg(path):
    cfg = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                cfg[k.strip()] = v.strip()
    return cfg


def interpreter_names(b):
    names = ["python", "python%d" % b.major, "python" + b.xy]
    return names


def allowed_bin_names(b):
    names = set(interpreter_names(b))
    names |= {"python3", "python" + b.xy + "m"} if b.major == 3 else {"python2"}
    names |= {"python-config", "python%d-config" % b.major, "python%s-config" % b.xy,
              "python%sm-config" % b.xy}
    names |= {"activate", "activate.fish", "activate.csh"}
    return names


# ---------------------------------------------------------------------------
# top level and pyvenv.cfg

def test_top_level(env):
    names = set(os.listdir(env.mnt))
    assert {"pyvenv.cfg", "bin", "include", "lib"} <= names, names
    for n in names:
        os.lstat(env.path(n))  # everything listed can be looked up
    if env.base.kind == "usr":
        for hidden in ("sbin", "games", "libexec", "src"):
            assert not os.path.lexists(env.path(hidden)), "base's /usr/%s visible" % hidden


def test_pyvenv_cfg(env):
    b = env.base
    p = env.path("pyvenv.cfg")
    st = os.lstat(p)
    assert stat.S_ISREG(st.st_mode)
    with open(p, "rb") as f:
        data = f.read()
    assert st.st_size == len(data), "st_size %d but read %d bytes" % (st.st_size, len(data))
    cfg = read_cfg(p)
    assert cfg.get("home") == os.path.join(b.prefix, "bin"), cfg
    assert cfg.get("include-system-site-packages") == "false", cfg
    assert cfg.get("version") == b.full_version, cfg


# ---------------------------------------------------------------------------
# bin/

def test_bin_listing(env):
    b = env.base
    names = set(os.listdir(env.path("bin")))
    required = set(interpreter_names(b))
    if b.major == 3:
        required.add("python3")
    base_bin = os.listdir(os.path.join(b.prefix, "bin"))
    for cfg in ("python%s-config" % b.xy, "python3-config"):
        if cfg in base_bin and (b.major == 3 or cfg.startswith("python" + b.xy)):
            required.add(cfg)
    assert required <= names, "missing in M/bin: %s" % sorted(required - names)
    extra = names - allowed_bin_names(b)
    assert not extra, "base's other bin/ entries visible in M/bin: %s" % sorted(extra)
    for gone in ("pip", "pip3", "2to3", "idle", "idle3", "pydoc", "pydoc3"):
        assert not os.path.lexists(env.path("bin", gone)), "M/bin/%s visible" % gone


def test_bin_interpreters_are_regular_copies(env):
    b = env.base
    real = b.exe_realpath
    want_size = os.stat(real).st_size
    want = file_sha256(real)
    for n in interpreter_names(b) + (["python3"] if b.major == 3 else []):
        p = env.path("bin", n)
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode), "M/bin/%s is not a regular file (mode %o)" % (n, st.st_mode)
        assert st.st_mode & 0o111, "M/bin/%s not executable" % n
        assert st.st_size == want_size, "M/bin/%s size %d != %d" % (n, st.st_size, want_size)
        assert file_sha256(p) == want, "M/bin/%s content differs from %s" % (n, real)


def test_bin_config_script(env):
    b = env.base
    name = "python%s-config" % b.xy
    base_p = os.path.join(b.prefix, "bin", name)
    if not os.path.exists(base_p):
        pytest.skip("base has no %s" % name)
    p = env.path("bin", name)
    st = os.lstat(p)
    assert stat.S_ISREG(st.st_mode), "M/bin/%s is not a regular file" % name
    assert st.st_mode & 0o111
    assert file_sha256(p) == file_sha256(os.path.realpath(base_p))


def test_bin_lookup_of_hidden_names(env):
    """Lookups (not only readdir) of base bin entries outside the view fail with ENOENT."""
    b = env.base
    base_bin = os.listdir(os.path.join(b.prefix, "bin"))
    hidden = [n for n in base_bin if n not in allowed_bin_names(b)][:20]
    if not hidden:
        pytest.skip("base bin/ has nothing but interpreters")
    for n in hidden:
        with pytest.raises(OSError) as ei:
            os.lstat(env.path("bin", n))
        assert ei.value.errno == errno.ENOENT, (n, ei.value)


# ---------------------------------------------------------------------------
# include/

def test_include(env):
    b = env.base
    rel = b.include_rel
    assert rel, "base has no include dir"
    base_inc = os.path.join(b.prefix, rel)
    assert os.path.isdir(env.path(rel))
    assert sorted(os.listdir(env.path(rel))) == sorted(os.listdir(base_inc))
    assert file_sha256(env.path(rel, "Python.h")) == file_sha256(os.path.join(base_inc, "Python.h"))
    if b.kind == "usr":
        assert not os.path.lexists(env.path("include", "stdio.h")), "/usr/include/stdio.h visible"


# ---------------------------------------------------------------------------
# lib/pythonX.Y and site-packages

HIDDEN_IN_STDLIB = {"site-packages", "dist-packages", "EXTERNALLY-MANAGED"}


def test_stdlib_listing(env):
    b = env.base
    want = (set(os.listdir(b.stdlib)) - HIDDEN_IN_STDLIB) | {"site-packages"}
    got = os.listdir(env.path(b.stdlib_rel))
    assert len(got) == len(set(got)), "duplicate names in readdir"
    assert set(got) == want, ("missing: %s; extra: %s"
                              % (sorted(want - set(got)), sorted(set(got) - want)))


def test_stdlib_content(env):
    b = env.base
    for name in ("os.py", "site.py", "this.py"):
        mp = env.path(b.stdlib_rel, name)
        bp = os.path.join(b.stdlib, name)
        assert os.lstat(mp).st_size == os.lstat(bp).st_size
        assert file_sha256(mp) == file_sha256(bp), name
    dyn = os.path.join(b.stdlib, "lib-dynload")
    assert sorted(os.listdir(env.path(b.stdlib_rel, "lib-dynload"))) == sorted(os.listdir(dyn))


def test_stdlib_subdir_stat_matches(env):
    """Sizes and file types of a whole stdlib package match the base's."""
    b = env.base
    for sub in ("json", "encodings"):
        broot = os.path.join(b.stdlib, sub)
        for dp, dns, fns in os.walk(broot):
            rel = os.path.relpath(dp, b.stdlib)
            for n in fns:
                bs = os.lstat(os.path.join(dp, n))
                ms = os.lstat(env.path(b.stdlib_rel, rel, n))
                assert stat.S_IFMT(ms.st_mode) == stat.S_IFMT(bs.st_mode), (rel, n)
                assert ms.st_size == bs.st_size, (rel, n)


def test_hidden_in_stdlib(env):
    b = env.base
    if b.kind == "usr":
        # Debian's base has each of them: there the check below can fail
        # (on a pyenv base it only says that nothing appeared from nowhere).
        for p in (os.path.join(b.stdlib, "dist-packages"),
                  os.path.join(b.stdlib, "EXTERNALLY-MANAGED"),
                  os.path.join(b.prefix, "lib", "python3", "dist-packages")):
            assert os.path.lexists(p), "Debian's base has no %s: the check proves nothing" % p
    for n in ("dist-packages", "EXTERNALLY-MANAGED"):
        p = env.path(b.stdlib_rel, n)
        assert not os.path.lexists(p), "%s visible" % p
    assert not os.path.lexists(env.path("lib", "python3", "dist-packages")), \
        "base lib/python3/dist-packages visible"


def test_site_packages_is_site_dir(env):
    b = env.base
    sp = env.path(b.stdlib_rel, "site-packages")
    assert os.path.isdir(sp)
    assert without_venv_pth(os.listdir(sp)) == [MARKER_FILE], os.listdir(sp)
    with open(os.path.join(sp, MARKER_FILE)) as f:
        assert f.read() == MARKER_TEXT
    base_sp = os.path.join(b.stdlib, "site-packages")
    if os.path.isdir(base_sp) and os.listdir(base_sp):
        some = sorted(os.listdir(base_sp))[0]
        assert not os.path.lexists(os.path.join(sp, some)), "base site-packages content visible"


def test_debian_local_dist_packages(env):
    b = env.base
    if not b.debian_patched:
        pytest.skip("not a Debian-patched Python")
    dp = env.path("local", "lib", "python" + b.xy, "dist-packages")
    sp = env.path(b.stdlib_rel, "site-packages")
    # Alternate between the two places DIR is shown (one dentry per directory
    # inode: both must keep working).
    for _ in range(3):
        assert os.path.isdir(dp)
        assert without_venv_pth(os.listdir(dp)) == [MARKER_FILE]
        assert os.path.isdir(sp)
        assert without_venv_pth(os.listdir(sp)) == [MARKER_FILE]
        with open(os.path.join(dp, MARKER_FILE)) as f:
            assert f.read() == MARKER_TEXT
        with open(os.path.join(sp, MARKER_FILE)) as f:
            assert f.read() == MARKER_TEXT


def test_libpython_and_pkgconfig(env):
    b = env.base
    rels = b.libpython_rels()
    assert rels, "base has no libpython"
    for rel in rels:
        mp = env.path(rel)
        assert os.path.exists(mp), "%s missing in the view" % rel
        assert os.stat(mp).st_size == os.stat(os.path.join(b.prefix, rel)).st_size, rel
    pcs = [r for r in rels if r.endswith(".pc")]
    for rel in pcs:
        assert file_sha256(env.path(rel)) == file_sha256(os.path.join(b.prefix, rel))


def test_readdir_entries_can_be_looked_up(env):
    b = env.base
    for d in ("", "bin", "lib", b.stdlib_rel, os.path.join(b.stdlib_rel, "lib-dynload")):
        for n in os.listdir(env.path(d)):
            os.lstat(env.path(d, n))


# ---------------------------------------------------------------------------
# EROFS for every modification of the base or of generated files.
#
# The daemon runs as root: if it wrongly passed a modification through, the
# base would really change.  Targets are chosen so that most wrong successes
# are no-ops (chmod to the same mode, truncate to the same size, open without
# writing); the destructive ones aim at this.py, and a guard backs up every
# base file a test aims at and restores it (failing loudly) if it changed.

class BaseGuard:
    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.files = []    # (path, lstat, backup copy or None)
        self.dirs = []     # (path, set of names)
        self.damage = []

    def file(self, path):
        st = os.lstat(path)
        backup = None
        if stat.S_ISREG(st.st_mode):
            backup = os.path.join(self.tmpdir, "backup-%d" % len(self.files))
            shutil.copy2(path, backup)
        self.files.append((path, st, backup))

    def dir(self, path):
        self.dirs.append((path, set(os.listdir(path))))

    def check_and_restore(self):
        for path, names in self.dirs:
            now = set(os.listdir(path))
            for n in sorted(now - names):
                self.damage.append("created %s/%s" % (path, n))
                p = os.path.join(path, n)
                if n.startswith("pyenvfs") or n.startswith("this"):
                    if os.path.isdir(p) and not os.path.islink(p):
                        shutil.rmtree(p)
                    else:
                        os.unlink(p)
        for path, st, backup in self.files:
            try:
                now = os.lstat(path)
            except FileNotFoundError:
                now = None
            changed = (now is None or now.st_size != st.st_size or now.st_mode != st.st_mode
                       or now.st_mtime_ns != st.st_mtime_ns or now.st_uid != st.st_uid)
            if backup and not changed:
                changed = file_sha256(backup) != file_sha256(path)
            if changed:
                self.damage.append("modified %s" % path)
                if backup:
                    if now is not None:
                        os.unlink(path)
                    shutil.copy2(backup, path)
                    os.chown(path, st.st_uid, st.st_gid)
                    os.chmod(path, stat.S_IMODE(st.st_mode))
                    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return self.damage


@pytest.fixture
def guard(tmp_path):
    g = BaseGuard(str(tmp_path))
    yield g
    damage = g.check_and_restore()
    assert not damage, "THE BASE WAS MODIFIED (restored from backup): %s" % damage


def _open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


def _setxattr(path):
    os.setxattr(path, "user.pyenvfs_test", b"x")


def _chmod_same(path):
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode))


def _chown_same(path):
    st = os.stat(path)
    os.chown(path, st.st_uid, st.st_gid)


def _utime_same(path):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate_same(path):
    os.truncate(path, os.stat(path).st_size)


# name -> (kind of target, operation(mount_path, other_mount_path))
# kinds: "stdfile" (os.py, harmless ops), "victim" (this.py), "stddir", "header"
# (include/pythonX.Y/patchlevel.h), "bin" (bin/pythonX.Y), "cfg" (pyvenv.cfg), "pycache".
# New names in include/pythonX.Y are the env's own (the prefix scheme's headers
# dir): see test_include_new_file_goes_to_env.
EROFS_OPS = {
    "stdlib_open_rdwr": ("stdfile", lambda p, q: _open_close(p, os.O_RDWR)),
    "stdlib_open_wronly": ("stdfile", lambda p, q: _open_close(p, os.O_WRONLY)),
    "stdlib_open_append": ("stdfile", lambda p, q: _open_close(p, os.O_WRONLY | os.O_APPEND)),
    "stdlib_truncate_same_size": ("stdfile", lambda p, q: _truncate_same(p)),
    "stdlib_chmod_same": ("stdfile", lambda p, q: _chmod_same(p)),
    "stdlib_chown_same": ("stdfile", lambda p, q: _chown_same(p)),
    "stdlib_utime_same": ("stdfile", lambda p, q: _utime_same(p)),
    "stdlib_setxattr": ("stdfile", lambda p, q: _setxattr(p)),
    "stdlib_open_trunc": ("victim", lambda p, q: _open_close(p, os.O_WRONLY | os.O_TRUNC)),
    "stdlib_unlink": ("victim", lambda p, q: os.unlink(p)),
    "stdlib_rename": ("victim", lambda p, q: os.rename(p, q)),
    "stdlib_link": ("victim", lambda p, q: os.link(p, q)),
    "stdlib_create": ("stddir", lambda p, q: _open_close(q, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    "stdlib_mkdir": ("stddir", lambda p, q: os.mkdir(q)),
    "stdlib_symlink": ("stddir", lambda p, q: os.symlink("os.py", q)),
    "stdlib_mknod_fifo": ("stddir", lambda p, q: os.mkfifo(q)),
    "stdlib_rmdir_nonempty": ("stddir", lambda p, q: os.rmdir(os.path.join(p, "json"))),
    "pycache_create_not_bytecode": ("pycache", lambda p, q: _open_close(q, os.O_WRONLY | os.O_CREAT)),
    "include_header_open_rdwr": ("header", lambda p, q: _open_close(p, os.O_RDWR)),
    "include_header_open_trunc": ("header", lambda p, q: _open_close(p, os.O_WRONLY | os.O_TRUNC)),
    "include_header_unlink": ("header", lambda p, q: os.unlink(p)),
    "include_header_rename": ("header", lambda p, q: os.rename(p, q)),
    "include_header_create_excl": ("header", lambda p, q: _open_close(
        p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    "bin_interpreter_open_rdwr": ("bin", lambda p, q: _open_close(p, os.O_RDWR)),
    "bin_interpreter_chmod_same": ("bin", lambda p, q: _chmod_same(p)),
    "bin_interpreter_unlink": ("bin", lambda p, q: os.unlink(p)),
    "bin_interpreter_rename": ("bin", lambda p, q: os.rename(p, q)),
    "bin_interpreter_truncate_same": ("bin", lambda p, q: _truncate_same(p)),
    "cfg_open_rdwr": ("cfg", lambda p, q: _open_close(p, os.O_RDWR)),
    "cfg_open_trunc": ("cfg", lambda p, q: _open_close(p, os.O_WRONLY | os.O_TRUNC)),
    "cfg_truncate": ("cfg", lambda p, q: os.truncate(p, 0)),
    "cfg_chmod": ("cfg", lambda p, q: os.chmod(p, 0o666)),
    "cfg_utime": ("cfg", lambda p, q: os.utime(p, (0, 0))),
    "cfg_unlink": ("cfg", lambda p, q: os.unlink(p)),
    "cfg_rename": ("cfg", lambda p, q: os.rename(p, q)),
}


@pytest.mark.parametrize("op", sorted(EROFS_OPS))
def test_erofs(env, guard, op):
    b = env.base
    kind, fn = EROFS_OPS[op]
    std_m = env.path(b.stdlib_rel)
    if kind == "stdfile":
        guard.file(os.path.join(b.stdlib, "os.py"))
        p, q = os.path.join(std_m, "os.py"), None
    elif kind == "victim":
        guard.file(os.path.join(b.stdlib, "this.py"))
        guard.dir(b.stdlib)
        p, q = os.path.join(std_m, "this.py"), os.path.join(std_m, "pyenvfs_this2.py")
    elif kind == "stddir":
        guard.dir(b.stdlib)
        p, q = std_m, os.path.join(std_m, "pyenvfs_new")
    elif kind == "pycache":
        if not os.path.isdir(os.path.join(b.stdlib, "__pycache__")):
            pytest.skip("base stdlib has no __pycache__")
        guard.dir(os.path.join(b.stdlib, "__pycache__"))
        p = None
        q = os.path.join(std_m, "__pycache__", "pyenvfs_new.txt")
    elif kind == "header":
        guard.file(os.path.join(b.prefix, b.include_rel, "patchlevel.h"))
        guard.dir(os.path.join(b.prefix, b.include_rel))
        p, q = env.path(b.include_rel, "patchlevel.h"), env.path(b.include_rel, "pyenvfs_new.h")
    elif kind == "bin":
        guard.file(b.exe_realpath)
        guard.dir(os.path.join(b.prefix, "bin"))
        p, q = env.path("bin", "python" + b.xy), env.path("bin", "python" + b.xy + "-renamed")
    elif kind == "cfg":
        p, q = env.path("pyvenv.cfg"), env.path("pyenvfs_cfg2")
    else:
        raise AssertionError(kind)
    with pytest.raises(OSError) as ei:
        fn(p, q)
    want = errno.EEXIST if op == "include_header_create_excl" else errno.EROFS
    assert ei.value.errno == want, \
        "%s: expected %s, got %s" % (op, os.strerror(want), os.strerror(ei.value.errno or 0))
    if kind == "cfg":
        cfg = read_cfg(env.path("pyvenv.cfg"))
        assert cfg.get("version") == b.full_version, "pyvenv.cfg changed: %r" % cfg
    if q is not None:
        assert not os.path.lexists(q), "%s exists after a refused %s" % (q, op)
    if p is not None:
        assert os.path.lexists(p), "%s gone after a refused %s" % (p, op)


def test_bytecode_goes_to_the_env(env, guard):
    """A new .pyc in the standard library (in its __pycache__; on 2.7 beside
    its .py) is made in DIR's bytecode area, shows there, and can be removed;
    the base's directory is unchanged. A base's own .pyc stays read-only."""
    b = env.base
    std_m = env.path(b.stdlib_rel)
    if b.major == 2:
        rel, d = "", b.stdlib
        srcs = sorted(n for n in os.listdir(d) if n.endswith(".py") and not os.path.exists(os.path.join(d, n + "c")))
        name = srcs[0] + "c" if srcs else None
        own = next((n for n in sorted(os.listdir(d)) if n.endswith(".pyc")), None)
    else:
        rel, d = "__pycache__", os.path.join(b.stdlib, "__pycache__")
        name = "pyenvfs_new.cpython-%d%d.pyc" % (b.major, b.minor)
        own = next((n for n in sorted(os.listdir(d)) if n.endswith(".pyc")), None) if os.path.isdir(d) else None
    if os.path.isdir(d):
        guard.dir(d)
    if name:
        q = os.path.join(std_m, rel, name)
        _open_close(q, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        area = glob.glob(os.path.join(env.site, ".pyenvfs", "pycache", "base-*", b.stdlib_rel, rel, name))
        assert len(area) == 1, area
        assert name in os.listdir(os.path.join(std_m, rel))
        os.unlink(q)
        assert not os.path.lexists(q) and not os.path.lexists(area[0])
    if own:
        with pytest.raises(OSError) as ei:
            _open_close(os.path.join(std_m, rel, own), os.O_WRONLY)
        assert ei.value.errno == errno.EROFS


def test_stdlib_times_preserved(env):
    """Python validates .pyc files by the source's mtime and size: the view
    must report the base's, or every import recompiles (and fails to write)."""
    b = env.base
    for name in ("os.py", "site.py", "json/__init__.py"):
        ms = os.stat(env.path(b.stdlib_rel, name))
        bs = os.stat(os.path.join(b.stdlib, name))
        assert int(ms.st_mtime) == int(bs.st_mtime), name
        assert ms.st_size == bs.st_size, name


def _walk_tree(root, skip_top=()):
    """{relpath: (type, size or link target)} of a whole tree."""
    out = {}
    for dp, dns, fns in os.walk(root):
        if dp == root:
            dns[:] = [d for d in dns if d not in skip_top]
            fns = [f for f in fns if f not in skip_top]
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                v = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                v = ("d", None)
            else:
                v = (stat.S_IFMT(st.st_mode), st.st_size)
            out[os.path.relpath(p, root)] = v
    return out


def test_stdlib_full_walk(env):
    """The whole stdlib, walked through the mount twice, matches the base
    (types, sizes, symlink targets), minus the hidden/replaced names."""
    b = env.base
    want = _walk_tree(b.stdlib, skip_top=HIDDEN_IN_STDLIB)
    for _ in range(2):
        got = _walk_tree(env.path(b.stdlib_rel), skip_top={"site-packages"})
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        assert not missing and not extra, "missing %s; extra %s" % (missing[:10], extra[:10])
        wrong = [k for k in want if want[k] != got[k]]
        assert not wrong, ["%s: %r != %r" % (k, got[k], want[k]) for k in wrong[:10]]


def test_libdir_shows_only_python(env):
    """In the interpreter's LIBDIR only libpython*, pkgconfig/python* (and the stdlib) show."""
    b = env.base
    rels = b.libpython_rels()
    libdirs = sorted({os.path.dirname(r) for r in rels if not r.endswith(".pc")})
    for d in libdirs:
        for n in os.listdir(env.path(d)):
            ok = n.startswith("libpython") or n == "pkgconfig" or (
                d == "lib" and (n.startswith("python") or re_multiarch(n)))
            assert ok, "base's %s/%s visible in the view" % (d, n)
        pc = env.path(d, "pkgconfig")
        if os.path.isdir(pc):
            for n in os.listdir(pc):
                assert n.startswith("python"), "base's %s/pkgconfig/%s visible" % (d, n)


def re_multiarch(name):
    import re
    return re.match(r"^[a-z0-9_]+-linux-gnu\w*$", name) is not None


def test_missing_names_enoent(env):
    b = env.base
    for rel in ("pyenvfs-nonexistent", os.path.join("bin", "pyenvfs-nonexistent"),
                os.path.join(b.stdlib_rel, "pyenvfs_nonexistent.py"),
                os.path.join(b.stdlib_rel, "json", "pyenvfs_nonexistent.py"),
                os.path.join(b.stdlib_rel, "os.py", "x")):
        with pytest.raises(OSError) as ei:
            os.lstat(env.path(rel))
        want = errno.ENOTDIR if rel.endswith(os.path.join("os.py", "x")) else errno.ENOENT
        assert ei.value.errno == want, (rel, ei.value)


def test_statvfs(env):
    st = os.statvfs(env.mnt)
    assert st.f_bsize > 0
    assert st.f_namemax >= 255


def test_include_new_file_goes_to_env(env, guard):
    """A new name in include/pythonX.Y (where the prefix scheme installs a
    package's headers) is the env's own: it lands inside DIR, never in the
    base, and cannot shadow a base header."""
    b = env.base
    guard.dir(os.path.join(b.prefix, b.include_rel))
    guard.file(os.path.join(b.prefix, b.include_rel, "Python.h"))
    inc = env.path(b.include_rel)
    p = os.path.join(inc, "pyenvfs_new.h")
    try:
        with open(p, "w") as f:
            f.write("/* pyenvfs test */\n")
        assert not os.path.lexists(os.path.join(b.prefix, b.include_rel, "pyenvfs_new.h"))
        found = [os.path.join(dp, n) for dp, dns, fns in os.walk(env.site)
                 for n in fns if n == "pyenvfs_new.h"]
        assert len(found) == 1, "new header not stored under DIR: %s" % found
        assert "pyenvfs_new.h" in os.listdir(inc)
        assert file_sha256(os.path.join(inc, "Python.h")) == \
            file_sha256(os.path.join(b.prefix, b.include_rel, "Python.h"))
    finally:
        if os.path.lexists(p):
            os.unlink(p)
    assert not os.path.lexists(p)
    assert sorted(os.listdir(inc)) == sorted(os.listdir(os.path.join(b.prefix, b.include_rel)))
