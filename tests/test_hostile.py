"""Hostile input through a mounted env: extreme names and paths, odd bytes in
names, symlink loops, symlinks and hard links that point out of DIR or at the
base, renames over base files, and the reserved name in DIR's top directory.

Wherever a native equivalent exists the outcome (success or errno) is compared
with the same call on a native directory.  The base is digested before the
mount and checked at the end (test_zz_base_unchanged).
"""

import ctypes
import errno
import os
import shutil
import stat

import pytest

import pythons
from conftest import mounted, run_pyenvfs, without_venv_pth
from procinfo import file_sha256, tree_diff
from test_base_unchanged import base_digest

RESERVED = ".pyenvfs"
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")        # 4096, the NUL included


def outcome(func, *args, **kw):
    """'ok' (or the call's result where it is a plain value) or the errno's name."""
    try:
        r = func(*args, **kw)
        if isinstance(r, int) and func is os.open:
            os.close(r)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def expect(wanted, func, *args, **kw):
    got = outcome(func, *args, **kw)
    wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    assert got in wanted, "%s%r -> %s, expected %s" % (func.__name__, args, got, "/".join(wanted))


def create(path, data=b""):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def names_under(root):
    """Every relative path under root (bytes), without following symlinks."""
    out = set()
    root = os.fsencode(root)
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            out.add(os.path.relpath(os.path.join(dp, n), root))
    return out


_libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


AT_SYMLINK_FOLLOW = 0x400


def linkat_follow(src, dst):
    """linkat(AT_SYMLINK_FOLLOW): os.link() calls link(2), which does not follow."""
    r = _libc.linkat(-100, os.fsencode(src), -100, os.fsencode(dst), AT_SYMLINK_FOLLOW)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), src)


def renameat2(old, new, flags):
    r = _libc.renameat2(-100, os.fsencode(old), -100, os.fsencode(new), ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


class H:
    def __init__(self, m, b, native, outside, digest):
        self.m = m
        self.b = b
        self.mnt = m.mnt
        self.site = m.site
        self.native = str(native)
        self.outside = str(outside)
        self.digest = digest
        self.sp = os.path.join(m.mnt, b.stdlib_rel, "site-packages")
        self.site_paths = [self.sp]
        if b.debian_patched:
            self.site_paths.append(os.path.join(m.mnt, "local", "lib", "python" + b.xy, "dist-packages"))
        self.stdlib = os.path.join(m.mnt, b.stdlib_rel)
        self.upper = os.path.join(m.site, RESERVED, "upper")
        self.n = 0

    def fresh(self, where):
        """A new empty directory at `where` through the mount, its backing
        directory, and a new empty native directory."""
        self.n += 1
        name = "h%d" % self.n
        if where == "sp":
            mdir, real = os.path.join(self.sp, name), os.path.join(self.site, name)
        elif where == "alias":
            if len(self.site_paths) < 2:
                pytest.skip("only Debian-patched Pythons show DIR at two paths")
            mdir, real = os.path.join(self.site_paths[1], name), os.path.join(self.site, name)
        else:
            rel = {"bin": "bin", "root": "", "include": self.b.include_rel}[where]
            if rel is None:
                pytest.skip("this base has no include dir")
            mdir = os.path.join(self.mnt, rel, name)
            real = os.path.join(self.upper, rel, name)
        os.mkdir(mdir)
        nat = os.path.join(self.native, name)
        os.mkdir(nat)
        return mdir, real, nat


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    digest = base_digest(b)
    d = tmp_path_factory.mktemp("hostile")
    for sub in ("mnt", "native", "outside"):
        (d / sub).mkdir()
    with mounted(b.prefix, d / "mnt", d / "site", pythons.python_args(b), base=b) as m:
        yield H(m, b, d / "native", d / "outside", digest)


WRITABLE = ["sp", "alias", "bin", "include", "root"]


# ---------------------------------------------------------------------------
# NAME_MAX

def _name_max(path):
    return os.statvfs(path).f_namemax


@pytest.mark.parametrize("where", WRITABLE)
def test_name_max(h, where):
    mdir, real, nat = h.fresh(where)
    nmax = _name_max(h.site)
    assert nmax == _name_max(h.native), "DIR and the native dir differ in NAME_MAX"
    assert _name_max(mdir) == nmax, "statfs through the mount does not report DIR's NAME_MAX"
    # ASCII, and multi-byte UTF-8 counted in bytes: exactly NAME_MAX bytes each.
    names = [b"a" * nmax, ("\u00e9" * (nmax // 2)).encode() + b"z" * (nmax % 2)]
    for n in names:
        assert len(n) == nmax
    for d in (mdir, nat):
        db = os.fsencode(d)
        for i, n in enumerate(names):
            p = os.path.join(db, n)
            create(p, b"%d" % i)
            assert os.stat(p).st_size == len(b"%d" % i)
            assert n in os.listdir(db)
            q = os.path.join(db, b"r" + n[1:])
            os.rename(p, q)
            assert read(q) == b"%d" % i
            assert not os.path.lexists(p)
            os.unlink(q)
            os.mkdir(p)
            create(os.path.join(p, n), b"inner")        # NAME_MAX inside NAME_MAX
            assert read(os.path.join(p, n)) == b"inner"
            os.unlink(os.path.join(p, n))
            os.rmdir(p)
            os.symlink(n, p)                            # name and target of NAME_MAX
            assert os.readlink(p) == n
            os.unlink(p)
        assert os.listdir(db) == []
    assert os.listdir(real) == []
    # One byte more, and much more: what the native directory says.
    for length in (nmax + 1, 1024, 1025, PATH_MAX + 10):
        long_m = os.path.join(os.fsencode(mdir), b"b" * length)
        long_n = os.path.join(os.fsencode(nat), b"b" * length)
        create_flags = os.O_CREAT | os.O_WRONLY
        for func, args_m, args_n in [
            (os.open, (long_m, create_flags), (long_n, create_flags)),
            (os.stat, (long_m,), (long_n,)),
            (os.lstat, (long_m,), (long_n,)),
            (os.mkdir, (long_m,), (long_n,)),
            (os.symlink, (b"t", long_m), (b"t", long_n)),
            (os.unlink, (long_m,), (long_n,)),
        ]:
            got, native = outcome(func, *args_m), outcome(func, *args_n)
            assert got == native == "ENAMETOOLONG", (func.__name__, length, got, native)
        create(os.path.join(mdir, "f"))
        create(os.path.join(nat, "f"))
        got = outcome(os.rename, os.path.join(os.fsencode(mdir), b"f"), long_m)
        native = outcome(os.rename, os.path.join(os.fsencode(nat), b"f"), long_n)
        assert got == native == "ENAMETOOLONG", (length, got, native)
        os.unlink(os.path.join(mdir, "f"))
        os.unlink(os.path.join(nat, "f"))
    assert os.listdir(real) == []


def test_name_max_read_only_dirs(h):
    """The stdlib dir, bin's base entries: a long name is not there, cannot be
    made (EROFS), and one byte over NAME_MAX is ENAMETOOLONG as natively."""
    nmax = _name_max(h.b.stdlib)
    for d in (h.stdlib, os.path.join(h.stdlib, "json")):
        n = os.path.join(d, "a" * nmax)
        expect("ENOENT", os.stat, n)
        expect("EROFS", os.open, n, os.O_CREAT | os.O_WRONLY)
        expect("EROFS", os.mkdir, n)
        over = os.path.join(d, "a" * (nmax + 1))
        native_over = os.path.join(h.b.stdlib, "a" * (nmax + 1))
        assert outcome(os.stat, over) == outcome(os.stat, native_over) == "ENAMETOOLONG"
        expect("ENAMETOOLONG", os.open, over, os.O_CREAT | os.O_WRONLY)
        expect("ENAMETOOLONG", os.mkdir, over)
    assert "a" * nmax not in os.listdir(h.stdlib)


# ---------------------------------------------------------------------------
# PATH_MAX: a deep chain made with relative *at calls

def _deep_chain(top, comp, levels):
    """mkdir/openat `levels` directories named comp below top, relative to the
    previous one; returns [(absolute path, O_PATH fd)], the caller closes."""
    chain = []
    fd = os.open(top, os.O_PATH | os.O_DIRECTORY)
    path = top
    chain.append((path, fd))
    for _ in range(levels):
        os.mkdir(comp, dir_fd=fd)
        fd = os.open(comp, os.O_PATH | os.O_DIRECTORY, dir_fd=fd)
        path = path + "/" + comp
        chain.append((path, fd))
    return chain


@pytest.mark.parametrize("where", ["sp", "bin"])
def test_path_max_deep_nesting(h, where):
    mdir, real, nat = h.fresh(where)
    comp = "d" * 100
    # Deep enough that both absolute paths pass PATH_MAX by far.
    levels = (PATH_MAX + 600) // (len(comp) + 1)
    cm = _deep_chain(mdir, comp, levels)
    cn = _deep_chain(nat, comp, levels)
    try:
        for chain in (cm, cn):
            seen_long = seen_short = 0
            for path, fd in chain:
                # Path-based calls: ENAMETOOLONG exactly when the path with its
                # NUL does not fit PATH_MAX, through the mount as natively.
                want = "ok" if len(os.fsencode(path)) < PATH_MAX else "ENAMETOOLONG"
                got = outcome(os.stat, path)
                assert got == want, (len(path), got, want)
                seen_long += want != "ok"
                seen_short += want == "ok"
                # fd-based calls work at every depth.
                assert stat.S_ISDIR(os.stat(fd).st_mode)
            assert seen_long and seen_short
        for chain in (cm, cn):
            path, fd = chain[-1]
            # A file at the bottom: create, write, read, rename, list, unlink.
            wfd = os.open("f", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644, dir_fd=fd)
            os.write(wfd, b"deep")
            os.close(wfd)
            assert os.stat("f", dir_fd=fd).st_size == 4
            rfd = os.open("f", os.O_RDONLY, dir_fd=fd)
            assert os.read(rfd, 10) == b"deep"
            os.close(rfd)
            os.rename("f", "g", src_dir_fd=fd, dst_dir_fd=fd)
            lfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                assert os.listdir(lfd) == ["g"]
            finally:
                os.close(lfd)
            # A relative path from the top longer than PATH_MAX: ENAMETOOLONG.
            rel = "/".join([comp] * levels) + "/g"
            assert len(rel) >= PATH_MAX
            assert outcome(os.stat, rel, dir_fd=chain[0][1]) == "ENAMETOOLONG"
            # ... and a relative one that fits, from a directory deep down.
            rel_short = "/".join([comp] * 5) + "/g"
            assert os.stat(rel_short, dir_fd=chain[-6][1]).st_size == 4
            # ".." walks back up through the mount as natively.
            up = "/".join([".."] * 5)
            assert os.stat(up, dir_fd=fd).st_ino == os.stat(".", dir_fd=chain[-6][1]).st_ino
            os.unlink("g", dir_fd=fd)
        # The backing directory holds the same chain.
        depth = 0
        rfd = os.open(real, os.O_PATH | os.O_DIRECTORY)
        try:
            while True:
                try:
                    nfd = os.open(comp, os.O_PATH | os.O_DIRECTORY, dir_fd=rfd)
                except FileNotFoundError:
                    break
                os.close(rfd)
                rfd = nfd
                depth += 1
        finally:
            os.close(rfd)
        assert depth == levels
    finally:
        for _, fd in cm + cn:
            os.close(fd)
    shutil.rmtree(mdir)                 # fd-based: works below PATH_MAX
    shutil.rmtree(nat)
    assert not os.path.lexists(real)


# ---------------------------------------------------------------------------
# Odd bytes in names

ODD_NAMES = [
    b"new\nline", b"tab\there", b"back\\slash", b"-leading-dash", b"-", b"--", b"-rf",
    b"...", b"....", b"..a", b"a..", b". ", b".. ", b"trailing space ", b" ", b"  lead",
    b"\xff\xfe invalid utf-8", b"\xc3\x28", b"\x80", b"\xed\xa0\x80 surrogate",
    b"\x1b[31mescape", b"\x01ctrl\x7f", b"*?[glob]", b"$HOME", b"%s%n", b"quote'\"",
    b"caf\xc3\xa9", b"cafe\xcc\x81",            # NFC and NFD: two names, no normalisation
    b"CASE", b"case",
    b".pyenvfs ", b".PYENVFS", b".pyenvfs.", b"..pyenvfs", b".pyenvfs\n",
]


@pytest.mark.parametrize("where", WRITABLE)
def test_odd_names(h, where):
    mdir, real, nat = h.fresh(where)
    for d in (mdir, nat):
        db = os.fsencode(d)
        for n in ODD_NAMES:
            create(os.path.join(db, n), n)
        assert set(os.listdir(db)) == set(ODD_NAMES)
        for n in ODD_NAMES:
            p = os.path.join(db, n)
            assert read(p) == n
            assert stat.S_ISREG(os.lstat(p).st_mode)
            os.rename(p, p + b".r")
            os.mkdir(p)                                 # the name as a directory
            os.symlink(b"../" + n + b".r", os.path.join(p, n))  # and in a symlink's name and target
            assert read(os.path.join(p, n)) == n
        assert set(os.listdir(db)) == set(ODD_NAMES) | {n + b".r" for n in ODD_NAMES}
    # DIR (or the env's own area) holds exactly these names, as bytes.
    assert names_under(real) == names_under(nat)
    assert names_under(mdir) == names_under(nat)
    for d in (mdir, nat):
        db = os.fsencode(d)
        for n in ODD_NAMES:
            os.unlink(os.path.join(db, n, n))
            os.rmdir(os.path.join(db, n))
            os.unlink(os.path.join(db, n + b".r"))
        assert os.listdir(db) == []
    assert os.listdir(real) == []


def test_odd_names_read_only_dirs(h):
    for d in (h.stdlib, os.path.join(h.mnt, "bin"), os.path.join(h.mnt, "lib")):
        db = os.fsencode(d)
        writable = d != h.stdlib
        for n in ODD_NAMES:
            p = os.path.join(db, n)
            expect("ENOENT", os.lstat, p)
            if not writable:
                expect("EROFS", os.open, p, os.O_CREAT | os.O_WRONLY)
                expect("EROFS", os.mkdir, p)
                expect("EROFS", os.symlink, b"x", p)
    # Names that look like the stdlib's, with a trailing space or dot, are not them.
    for n in ("os.py ", "os.py.", " os.py", "OS.PY", "os.py\n"):
        expect("ENOENT", os.stat, os.path.join(h.stdlib, n))


# ---------------------------------------------------------------------------
# Symlink loops and chains

def test_symlink_loops(h):
    mdir, real, nat = h.fresh("sp")
    for d in (mdir, nat):
        os.symlink("b", os.path.join(d, "a"))
        os.symlink("a", os.path.join(d, "b"))
        os.symlink("self", os.path.join(d, "self"))
        os.symlink("./self2/x", os.path.join(d, "self2"))
        # A loop through ".." and the directory's own name.
        os.symlink("../%s/dotdot" % os.path.basename(d), os.path.join(d, "dotdot"))
        # MAXSYMLINKS (40) followed links are fine; one more is ELOOP.
        create(os.path.join(d, "target"), b"end")
        for chain, count in (("ok", 40), ("over", 41)):
            prev = "target"
            for i in range(count):
                name = "%s%d" % (chain, i)
                os.symlink(prev, os.path.join(d, name))
                prev = name
    assert read(os.path.join(mdir, "ok39")) == b"end"
    for name in ("a", "b", "self", "self2", "dotdot", "ok39", "over40"):
        for func, args in [
            (os.open, (os.O_RDONLY,)),
            (os.open, (os.O_WRONLY | os.O_CREAT,)),
            (os.stat, ()),
            (os.listdir, ()),
            (os.chmod, (0o644,)),
            (os.truncate, (0,)),
        ]:
            got = outcome(func, os.path.join(mdir, name), *args)
            native = outcome(func, os.path.join(nat, name), *args)
            assert got == native, (name, func.__name__, args, got, native)
        assert stat.S_ISLNK(os.lstat(os.path.join(mdir, name)).st_mode)
        assert os.readlink(os.path.join(mdir, name)) == os.readlink(os.path.join(nat, name))
    assert outcome(os.stat, os.path.join(mdir, "a")) == "ELOOP"
    assert outcome(os.stat, os.path.join(mdir, "over40")) == "ELOOP"
    expect("ELOOP", os.open, os.path.join(mdir, "ok39"), os.O_RDONLY | os.O_NOFOLLOW)
    assert names_under(real) == names_under(nat)


# ---------------------------------------------------------------------------
# Symlinks in DIR that point out of DIR

# With -o no_open the kernel opens files itself: as root an open for writing
# of a base file succeeds, and the write is what fails (docs/USAGE.md).
NO_OPEN = "no_open" in os.environ.get("PYENVFS_TEST_EXTRA_ARGS", "")


def _open_and_write(path, flags):
    """-o no_open: the open may succeed; then writing (or truncating) must fail."""
    try:
        fd = os.open(path, flags)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    try:
        os.write(fd, b"x")          # (a truncation shows in the digests checked after)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)


def _writes_through(path):
    """Every way of modifying a file through path (following symlinks)."""
    return [
        ("open O_WRONLY", os.open, (path, os.O_WRONLY)),
        ("open O_RDWR", os.open, (path, os.O_RDWR)),
        ("open O_APPEND", os.open, (path, os.O_WRONLY | os.O_APPEND)),
        ("open O_TRUNC", os.open, (path, os.O_WRONLY | os.O_TRUNC)),
        ("open O_RDONLY|O_TRUNC", os.open, (path, os.O_RDONLY | os.O_TRUNC)),
        ("open O_CREAT", os.open, (path, os.O_WRONLY | os.O_CREAT)),
        ("truncate", os.truncate, (path, 0)),
        ("chmod", os.chmod, (path, 0o777)),
        ("chown", os.chown, (path, 1, 1)),
        ("utime", os.utime, (path, (1, 1))),
        ("setxattr", os.setxattr, (path, "user.pyenvfs-hostile", b"x")),
        ("removexattr", os.removexattr, (path, "user.pyenvfs-hostile")),
    ]


def test_symlinks_out_of_dir_into_the_view(h):
    """Relative symlinks in DIR climbing out of site-packages are resolved by
    the kernel in the view: following them reads base files, and nothing
    written through them reaches the base."""
    b = h.b
    mdir, real, nat = h.fresh("sp")
    depth = "../" * (b.stdlib_rel.count("/") + 3)       # from DIR/hN (lib/pythonX.Y/site-packages/hN) to M
    targets = {
        "py": depth + "bin/python3",
        "stdlib_file": "../../os.py",
        "stdlib_dir": "../../json",
        "cfg": depth + "pyvenv.cfg",
        "activate": depth + "bin/activate",
        "root": depth.rstrip("/"),
        "abs_view_py": os.path.join(h.mnt, "bin", "python3"),
    }
    if b.include_rel:
        targets["header"] = depth + b.include_rel + "/Python.h"
    for name, t in targets.items():
        os.symlink(t, os.path.join(mdir, name))
        assert os.readlink(os.path.join(real, name)) == t       # stored verbatim in DIR
    base_py = os.path.realpath(b.exe)
    assert file_sha256(os.path.join(mdir, "py")) == file_sha256(base_py)
    assert read(os.path.join(mdir, "stdlib_file")) == read(os.path.join(b.stdlib, "os.py"))
    assert set(os.listdir(os.path.join(mdir, "root"))) == set(os.listdir(h.mnt))
    assert os.path.samestat(os.stat(os.path.join(mdir, "root", b.stdlib_rel, "site-packages")),
                            os.stat(h.sp))
    assert "json" in os.listdir(os.path.join(mdir, "root", b.stdlib_rel))
    before = {n: file_sha256(os.path.join(mdir, n)) for n in targets if n not in ("root", "stdlib_dir")}
    for name in before:
        p = os.path.join(mdir, name)
        for label, func, args in _writes_through(p):
            if func is os.open and NO_OPEN:
                got = _open_and_write(*args)
            else:
                got = outcome(func, *args)
            assert got in ("EROFS", "EACCES", "EPERM"), (name, label, got)
    for name, old in before.items():
        assert file_sha256(os.path.join(mdir, name)) == old, name
    # A new file through the symlinked stdlib dir: refused, nothing in the base.
    expect("EROFS", os.open, os.path.join(mdir, "stdlib_dir", "pyenvfs_hostile.py"),
           os.O_CREAT | os.O_WRONLY)
    assert not os.path.lexists(os.path.join(b.stdlib, "json", "pyenvfs_hostile.py"))
    # A dangling symlink whose target would be a new file in the stdlib: EROFS.
    os.symlink("../../pyenvfs_hostile_new.py", os.path.join(mdir, "dangling"))
    expect("EROFS", os.open, os.path.join(mdir, "dangling"), os.O_CREAT | os.O_WRONLY)
    assert not os.path.lexists(os.path.join(b.stdlib, "pyenvfs_hostile_new.py"))
    # A hard link through a symlink to a base file: refused; to the symlink itself: fine.
    expect("EROFS", linkat_follow, os.path.join(mdir, "py"), os.path.join(mdir, "hl"))
    expect("EROFS", linkat_follow, os.path.join(mdir, "stdlib_file"), os.path.join(mdir, "hl"))
    assert not os.path.lexists(os.path.join(real, "hl"))
    os.link(os.path.join(mdir, "py"), os.path.join(mdir, "hl"), follow_symlinks=False)
    assert os.readlink(os.path.join(mdir, "hl")) == targets["py"]
    assert os.lstat(os.path.join(real, "py")).st_nlink == 2
    # Through DIR's second path (one level deeper on Debian) the same symlink
    # climbs to another place of the view: it resolves there, or not at all.
    if len(h.site_paths) > 1:
        alias = os.path.join(h.site_paths[1], os.path.basename(mdir))
        assert os.readlink(os.path.join(alias, "py")) == targets["py"]
        p = os.path.join(alias, "py")
        if os.path.exists(p):
            for label, func, args in _writes_through(p)[:5]:
                assert outcome(func, *args) in ("EROFS", "EACCES"), label
        else:
            assert outcome(os.stat, p) == "ENOENT"


def test_symlinks_out_of_dir_elsewhere(h):
    """An absolute symlink in DIR to a path outside the mount is the user's
    own: the kernel follows it natively, exactly as in a native directory."""
    mdir, real, nat = h.fresh("sp")
    target = os.path.join(h.outside, "outside-file")
    create(target, b"outside")
    for d in (mdir, nat):
        os.symlink(target, os.path.join(d, "abs"))
        os.symlink(h.outside, os.path.join(d, "absdir"))
        os.symlink(b"/" + b"/".join([b".."] * 40) + b"/", os.path.join(os.fsencode(d), b"dots"))
    assert read(os.path.join(mdir, "abs")) == b"outside"
    with open(os.path.join(mdir, "abs"), "ab") as f:
        f.write(b"+mount")
    with open(os.path.join(nat, "abs"), "ab") as f:
        f.write(b"+native")
    assert read(target) == b"outside+mount+native"
    assert sorted(os.listdir(os.path.join(mdir, "absdir"))) == sorted(os.listdir(h.outside))
    assert os.path.samestat(os.stat(os.path.join(mdir, "dots")), os.stat("/"))
    # A symlink to the base's own file by its real path: stored verbatim,
    # stat follows it natively (not written: that would be the base itself).
    os.symlink(h.b.exe, os.path.join(mdir, "abs_base"))
    assert os.readlink(os.path.join(real, "abs_base")) == h.b.exe
    assert os.path.samestat(os.stat(os.path.join(mdir, "abs_base")), os.stat(h.b.exe))


# ---------------------------------------------------------------------------
# Hard links and renames between DIR and the base

def _base_files(h):
    b = h.b
    files = [os.path.join(h.mnt, "bin", "python3"), os.path.join(h.stdlib, "os.py"),
             os.path.join(h.stdlib, "json", "__init__.py"), os.path.join(h.mnt, "pyvenv.cfg"),
             os.path.join(h.mnt, "bin", "activate")]
    if b.include_rel:
        files.append(os.path.join(h.mnt, b.include_rel, "Python.h"))
    return files


def test_hard_links_to_base_refused(h):
    mdir, real, nat = h.fresh("sp")
    for f in _base_files(h):
        before = file_sha256(f)
        got = outcome(os.link, f, os.path.join(mdir, "hl"))
        assert got in ("EROFS", "EXDEV", "EPERM"), (f, got)
        assert not os.path.lexists(os.path.join(real, "hl"))
        assert file_sha256(f) == before
    # ... nor from DIR into the stdlib.
    create(os.path.join(mdir, "mine"), b"mine")
    expect("EROFS", os.link, os.path.join(mdir, "mine"), os.path.join(h.stdlib, "mine.py"))
    assert not os.path.lexists(os.path.join(h.b.stdlib, "mine.py"))
    assert os.stat(os.path.join(real, "mine")).st_nlink == 1


def test_renames_between_dir_and_base_refused(h):
    mdir, real, nat = h.fresh("sp")
    create(os.path.join(mdir, "f"), b"mine")
    os.mkdir(os.path.join(mdir, "d"))
    for target in _base_files(h) + [os.path.join(h.stdlib, "json"), h.stdlib,
                                    os.path.join(h.mnt, "bin"), os.path.join(h.mnt, "lib")]:
        src = os.path.join(mdir, "d" if os.path.isdir(target) else "f")
        before = os.lstat(target)
        for flags in (None, RENAME_NOREPLACE, RENAME_EXCHANGE):
            if flags is None:
                got = outcome(os.rename, src, target)
            else:
                got = outcome(renameat2, src, target, flags)
            want = ("EEXIST",) if flags == RENAME_NOREPLACE else ("EROFS", "EXDEV", "EPERM")
            if src.startswith(target + "/"):
                want += ("ENOTEMPTY", "EINVAL")    # an ancestor: the kernel says so first
            assert got in want, (src, target, flags, got)
        after = os.lstat(target)
        assert (before.st_ino, before.st_mtime_ns, before.st_ctime_ns) == \
            (after.st_ino, after.st_mtime_ns, after.st_ctime_ns), target
        # ... and the other way round.
        got = outcome(os.rename, target, os.path.join(mdir, "taken"))
        want = ("EROFS", "EXDEV", "EPERM", "EBUSY")
        if mdir.startswith(target + "/"):
            want += ("EINVAL",)                     # into its own subdirectory
        assert got in want, (target, got)
    assert read(os.path.join(real, "f")) == b"mine"
    assert sorted(os.listdir(real)) == ["d", "f"]
    # DIR itself cannot be renamed, removed or replaced through the mount.
    other = os.path.join(h.mnt, "hostile-rootdir")     # the env's own area, not DIR
    os.mkdir(other)
    for sp in h.site_paths:
        assert outcome(os.rename, sp, sp + "-moved") in ("EROFS", "EBUSY", "EPERM")
        assert outcome(os.rmdir, sp) in ("EROFS", "EBUSY", "EPERM", "ENOTEMPTY")
        assert outcome(os.rename, other, sp) in ("EROFS", "EBUSY", "EPERM")
        assert outcome(renameat2, other, sp, RENAME_EXCHANGE) in ("EROFS", "EBUSY", "EPERM")
    os.rmdir(other)
    assert os.path.isdir(h.site) and os.path.isdir(h.sp)


# ---------------------------------------------------------------------------
# The reserved name in DIR's top directory

def test_reserved_name_refused_alike_on_every_site_path(h):
    before = names_under(os.path.join(h.site, RESERVED))
    results = []
    for sp in h.site_paths:
        p = os.path.join(sp, RESERVED)
        create(os.path.join(sp, "hostile-src"), b"s")
        os.mkdir(os.path.join(sp, "hostile-srcdir"))
        r = {
            "listed": RESERVED in os.listdir(sp),
            "stat": outcome(os.stat, p),
            "lstat": outcome(os.lstat, p),
            "lstat upper": outcome(os.lstat, os.path.join(p, "upper")),
            "open O_CREAT": outcome(os.open, p, os.O_CREAT | os.O_WRONLY),
            "open O_CREAT|O_EXCL": outcome(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY),
            "mkdir": outcome(os.mkdir, p),
            "mkfifo": outcome(os.mkfifo, p),
            "symlink": outcome(os.symlink, "/tmp", p),
            "link": outcome(os.link, os.path.join(sp, "hostile-src"), p),
            "rename to": outcome(os.rename, os.path.join(sp, "hostile-src"), p),
            "rename dir to": outcome(os.rename, os.path.join(sp, "hostile-srcdir"), p),
            "rename noreplace": outcome(renameat2, os.path.join(sp, "hostile-src"), p,
                                        RENAME_NOREPLACE),
            "rename exchange": outcome(renameat2, os.path.join(sp, "hostile-src"), p,
                                       RENAME_EXCHANGE),
            "rename from": outcome(os.rename, p, os.path.join(sp, "stolen")),
            "unlink": outcome(os.unlink, p),
            "rmdir": outcome(os.rmdir, p),
            "chmod": outcome(os.chmod, p, 0o777),
            "listxattr": outcome(os.listxattr, p),
        }
        results.append(r)
        os.unlink(os.path.join(sp, "hostile-src"))
        os.rmdir(os.path.join(sp, "hostile-srcdir"))
        assert r["listed"] is False
        for k in ("stat", "lstat", "lstat upper", "rename from", "unlink", "rmdir", "chmod",
                  "listxattr", "rename exchange"):
            assert r[k] == "ENOENT", (sp, k, r[k])
        for k in ("open O_CREAT", "open O_CREAT|O_EXCL", "mkdir", "mkfifo", "symlink", "link",
                  "rename to", "rename dir to", "rename noreplace"):
            assert r[k] == "EPERM", (sp, k, r[k])
    assert all(r == results[0] for r in results), results
    assert names_under(os.path.join(h.site, RESERVED)) == before
    assert not os.path.lexists(os.path.join(h.site, "stolen"))


def test_reserved_name_not_reached_by_dotdot(h):
    """`..` is resolved by the kernel in the view: every way round still asks
    DIR's top directory for the reserved name, and gets ENOENT."""
    b = h.b
    mdir, real, nat = h.fresh("sp")
    os.mkdir(os.path.join(mdir, "sub"))
    sp_rel = os.path.join(b.stdlib_rel, "site-packages")
    paths = [
        os.path.join(h.sp, "..", "site-packages", RESERVED),
        os.path.join(h.sp, ".", RESERVED),
        os.path.join(h.sp, "", RESERVED, "upper"),
        os.path.join(mdir, "..", RESERVED),
        os.path.join(mdir, "sub", "..", "..", RESERVED, "upper", "bin"),
        os.path.join(h.mnt, "bin", "..", sp_rel, RESERVED),
        os.path.join(h.mnt, "..", os.path.basename(h.mnt), sp_rel, RESERVED),
        os.path.join(h.stdlib, "json", "..", "site-packages", RESERVED),
    ]
    if len(h.site_paths) > 1:
        paths.append(os.path.join(h.site_paths[1], "..", "..", "..", "..", sp_rel, RESERVED))
        paths.append(os.path.join(h.sp, "..", "..", "..", "local", "lib", "python" + b.xy,
                                  "dist-packages", RESERVED))
    for p in paths:
        assert outcome(os.lstat, p) == "ENOENT", p
        assert outcome(os.open, p, os.O_CREAT | os.O_WRONLY) in ("EPERM", "ENOENT"), p
    # Symlinks in DIR aimed at it, relative and absolute through the mount.
    os.symlink("../" + RESERVED, os.path.join(mdir, "rel"))
    os.symlink("../" + RESERVED + "/upper/bin", os.path.join(mdir, "rel_upper"))
    os.symlink(os.path.join(h.sp, RESERVED), os.path.join(mdir, "abs"))
    for n in ("rel", "rel_upper", "abs"):
        assert outcome(os.stat, os.path.join(mdir, n)) == "ENOENT", n
        assert outcome(os.listdir, os.path.join(mdir, n)) == "ENOENT", n
    # *at calls from an fd of DIR's top, and /proc/self/fd.
    fd = os.open(h.sp, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert outcome(os.stat, RESERVED, dir_fd=fd) == "ENOENT"
        assert outcome(os.stat, "../site-packages/" + RESERVED, dir_fd=fd) == "ENOENT"
        assert outcome(os.mkdir, RESERVED, dir_fd=fd) == "EPERM"
        assert outcome(os.stat, "/proc/self/fd/%d/%s" % (fd, RESERVED)) == "ENOENT"
        assert RESERVED not in os.listdir(fd)
    finally:
        os.close(fd)
    # Below the top it is an ordinary name (test_writes covers it); a name
    # that only looks like it is ordinary at the top too.
    for n in (".pyenvfs ", ".pyenvfs.", "_pyenvfs", ".PYENVFS"):
        create(os.path.join(h.sp, n), b"x")
        assert read(os.path.join(h.site, n)) == b"x"
        os.unlink(os.path.join(h.sp, n))


# ---------------------------------------------------------------------------
# ".." at the mount root and out of DIR

def test_dotdot_at_mount_root(h):
    parent = os.path.dirname(h.mnt)
    assert os.path.samestat(os.stat(os.path.join(h.mnt, "..")), os.stat(parent))
    assert os.path.basename(h.mnt) in os.listdir(os.path.join(h.mnt, ".."))
    fd = os.open(h.mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert os.path.samestat(os.stat("..", dir_fd=fd), os.stat(parent))
        assert os.path.samestat(os.stat("../../..", dir_fd=fd),
                                os.stat(os.path.join(parent, "..", "..")))
        assert os.path.samestat(os.stat("lib/../bin/..", dir_fd=fd), os.stat(h.mnt))
    finally:
        os.close(fd)
    assert os.path.samestat(os.stat(os.path.join(h.sp, "..")), os.stat(h.stdlib))
    assert os.path.samestat(os.stat(os.path.join(h.sp, "..", "..", "..")), os.stat(h.mnt))
    if len(h.site_paths) > 1:
        assert os.path.samestat(os.stat(os.path.join(h.site_paths[1], "..", "..", "..", "..")),
                                os.stat(h.mnt))
    # realpath stays inside the mount and never names the backing dirs.
    rp = os.path.realpath(os.path.join(h.sp, "..", "..", "..", "bin", "..", "pyvenv.cfg"))
    assert rp == os.path.join(os.path.realpath(h.mnt), "pyvenv.cfg")


# ---------------------------------------------------------------------------

def test_reserved_name_with_system_site_packages(tmp_path):
    """With --system-site-packages DIR's path is a merged directory of the
    view (not a passthrough): the reserved name is refused there alike."""
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    (tmp_path / "mnt").mkdir()
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "site",
                 pythons.python_args(b) + ["--system-site-packages"], base=b) as m:
        sps = [m.path(b.stdlib_rel, "site-packages")]
        if b.debian_patched:
            sps.append(m.path("local", "lib", "python" + b.xy, "dist-packages"))
        for sp in sps:
            p = os.path.join(sp, RESERVED)
            assert RESERVED not in os.listdir(sp)
            expect("ENOENT", os.lstat, p)
            expect("ENOENT", os.lstat, os.path.join(p, "upper"))
            expect("EPERM", os.open, p, os.O_CREAT | os.O_WRONLY)
            expect("EPERM", os.mkdir, p)
            expect("EPERM", os.symlink, "/tmp", p)
            create(os.path.join(sp, "src"), b"s")
            expect("EPERM", os.rename, os.path.join(sp, "src"), p)
            expect("EPERM", os.link, os.path.join(sp, "src"), p)
            os.unlink(os.path.join(sp, "src"))
        # upper, and what DIR remembers (how it was made, where it was mounted)
        assert sorted(os.listdir(os.path.join(m.site, RESERVED))) == ["env", "mounts", "upper"]


# ---------------------------------------------------------------------------
# Symlinks planted natively in the env's own area (DIR/.pyenvfs/upper)

@pytest.mark.parametrize("planted", ["upper/bin", "upper/bin while mounted", "upper"])
def test_planted_symlink_in_upper_not_followed(tmp_path, planted):
    """DIR belongs to its user, who may replace DIR/.pyenvfs/upper/bin (or
    upper itself) by a symlink to any directory, natively.  The daemon must
    not create, rename or remove names there through the mount: only DIR is
    the env's."""
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    site, outside = tmp_path / "site", tmp_path / "outside"
    outside.mkdir()
    (outside / "bin").mkdir()
    (outside / "bin" / "victim").write_bytes(b"not the env's")
    (outside / "victim").write_bytes(b"not the env's")
    reserved = site / RESERVED
    (reserved / "upper").mkdir(parents=True)
    before = names_under(outside)
    (tmp_path / "mnt").mkdir()
    if planted == "upper":
        # Refused at mount time, with one line, and nothing made.
        (reserved / "upper").rmdir()
        os.symlink(str(outside), str(reserved / "upper"))
        r = run_pyenvfs([b.prefix, tmp_path / "mnt", "--site", site] + pythons.python_args(b))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert r.returncode == 1 and len(lines) == 1 and "symlink" in lines[0], r.stderr
        assert not os.path.ismount(str(tmp_path / "mnt"))
        assert names_under(outside) == before
        return
    if planted == "upper/bin":
        os.symlink(str(outside / "bin"), str(reserved / "upper" / "bin"))
    else:
        (reserved / "upper" / "bin").mkdir()
    with mounted(b.prefix, tmp_path / "mnt", site, pythons.python_args(b), base=b) as m:
        if planted == "upper/bin while mounted":
            os.listdir(m.path("bin"))
            shutil.rmtree(str(reserved / "upper" / "bin"))
            os.symlink(str(outside / "bin"), str(reserved / "upper" / "bin"))
        for d in (m.path("bin"), m.mnt):
            p = os.path.join(d, "pyenvfs-hostile-new")
            outcome(create, p, b"new")
            outcome(os.rename, p, os.path.join(d, "victim"))
            outcome(os.unlink, os.path.join(d, "victim"))
    assert names_under(outside) == before, "names changed outside DIR"
    assert (outside / "bin" / "victim").read_bytes() == b"not the env's"
    assert (outside / "victim").read_bytes() == b"not the env's"



def test_root_daemon_gives_the_env_area_to_dirs_owner(work):
    """A root daemon (fstab, systemd) serving a user's DIR makes
    DIR/.pyenvfs/upper: it must be the user's, or the user could not delete
    their own env (DIR alone is the env's whole state)."""
    from helpers_env import run_as, throwaway_users
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    with throwaway_users(1) as (u,):
        site, mnt = os.path.join(work, "site"), os.path.join(work, "mnt")
        os.mkdir(site)
        os.chown(site, u.uid, u.gid)
        os.mkdir(mnt)
        with mounted(b.prefix, mnt, site, pythons.python_args(b) + ["-o", "allow_other"], base=b):
            r = run_as(u, ["sh", "-c", "echo x > '%s'/bin/tool" % mnt])
            assert r.returncode == 0, r.stderr
        for rel in (RESERVED, RESERVED + "/upper", RESERVED + "/upper/bin"):
            st = os.lstat(os.path.join(site, rel))
            assert (st.st_uid, st.st_gid) == (u.uid, u.gid), (rel, st.st_uid, st.st_gid)
        r = run_as(u, ["rm", "-rf", os.path.join(site, RESERVED)])
        assert r.returncode == 0 and without_venv_pth(os.listdir(site)) == [], r.stderr

# ---------------------------------------------------------------------------

def test_zz_base_unchanged(h):
    """Runs last in this module: nothing above changed the base."""
    d = tree_diff(h.digest, base_digest(h.b))
    assert not d, "base changed:\n" + "\n".join(d[:50])
