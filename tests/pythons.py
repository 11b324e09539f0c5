"""Discovery of the base Pythons the integration tests run against.

A *base* is a prefix holding a Python installation: Debian's ``/usr`` or a
pyenv version directory.  Nothing here runs a base interpreter except
``version_of()`` (``-V``, which imports nothing and writes nothing).
"""

import os
import re
import subprocess
import functools

# Version directories pyenv keeps, the bases we expect on the project's
# machines.  Each is a test parameter; absent ones are skipped, not failed.
EXPECTED_PYENV = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
EXPECTED_USR = ["3.11"]

_EXE_RE = re.compile(r"^python(\d)\.(\d+)$")


class Base:
    """One Python X.Y in one prefix."""

    def __init__(self, id, prefix, xy, kind):
        self.id = id              # test id, e.g. "usr-3.11", "pyenv-3.12.1"
        self.prefix = prefix      # realpath of the base prefix
        self.xy = xy              # "3.12"
        self.kind = kind          # "usr" or "pyenv"

    def __repr__(self):
        return "Base(%r, %r, %r)" % (self.id, self.prefix, self.xy)

    @property
    def major(self):
        return int(self.xy.split(".")[0])

    @property
    def minor(self):
        return int(self.xy.split(".")[1])

    @property
    def exe(self):
        return os.path.join(self.prefix, "bin", "python" + self.xy)

    @property
    def exe_realpath(self):
        return os.path.realpath(self.exe)

    @property
    def stdlib_rel(self):
        return os.path.join("lib", "python" + self.xy)

    @property
    def stdlib(self):
        return os.path.join(self.prefix, self.stdlib_rel)

    @property
    def include_rel(self):
        """include/pythonX.Y, or include/python3.6m / python3.7m with ABI flags."""
        for name in ("python" + self.xy, "python" + self.xy + "m"):
            if os.path.isdir(os.path.join(self.prefix, "include", name)):
                return os.path.join("include", name)
        return None

    @property
    def debian_patched(self):
        """True when sysconfig has Debian's posix_local scheme (local/lib/.../dist-packages)."""
        try:
            with open(os.path.join(self.stdlib, "sysconfig.py")) as f:
                return "posix_local" in f.read()
        except OSError:
            return False

    @property
    def full_version(self):
        return version_of(self.exe)

    def config_scripts(self):
        """Names of -config scripts the base's bin/ has for this version."""
        bindir = os.path.join(self.prefix, "bin")
        names = []
        cands = ["python%s-config" % self.xy, "python%s-config" % self.major]
        if self.major == 3 or self.major == 2:
            cands.append("python-config")
        for n in cands:
            if os.path.exists(os.path.join(bindir, n)):
                names.append(n)
        return names

    def libpython_rels(self):
        """Relative paths (to the prefix) of libpython* and pkgconfig/python*
        files in the interpreter's LIBDIR (prefix/lib or a multiarch dir)."""
        rels = []
        libdirs = [os.path.join(self.prefix, "lib")]
        lib = os.path.join(self.prefix, "lib")
        for name in sorted(os.listdir(lib)):
            if re.match(r"^[a-z0-9_]+-linux-gnu\w*$", name) and os.path.isdir(os.path.join(lib, name)):
                libdirs.append(os.path.join(lib, name))
        for d in libdirs:
            for name in sorted(os.listdir(d)):
                if name.startswith("libpython"):
                    rels.append(os.path.relpath(os.path.join(d, name), self.prefix))
            pc = os.path.join(d, "pkgconfig")
            if os.path.isdir(pc):
                for name in sorted(os.listdir(pc)):
                    if name.startswith("python"):
                        rels.append(os.path.relpath(os.path.join(pc, name), self.prefix))
        return rels


@functools.lru_cache(maxsize=None)
def version_of(exe):
    """X.Y.Z of an interpreter, from ``-V`` (2.7 prints to stderr)."""
    out = subprocess.run([exe, "-B", "-E", "-V"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30,
                         universal_newlines=True).stdout
    m = re.search(r"Python (\d+\.\d+\.\d+)", out)
    if not m:
        raise RuntimeError("cannot get the version of %s: %r" % (exe, out))
    return m.group(1)


def versions_in(prefix):
    """X.Y of every bin/pythonX.Y file in prefix, sorted."""
    bindir = os.path.join(prefix, "bin")
    found = set()
    try:
        names = os.listdir(bindir)
    except OSError:
        return []
    for name in names:
        m = _EXE_RE.match(name)
        if m and os.path.isfile(os.path.join(bindir, name)):
            found.add("%s.%s" % m.groups())
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def pyenv_root():
    """The pyenv root: ``pyenv root``, else $PYENV_ROOT, else ~/.pyenv; None if none."""
    try:
        out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30,
                             universal_newlines=True)
        root = out.stdout.strip()
        if out.returncode == 0 and root and os.path.isdir(os.path.join(root, "versions")):
            return root
    except (OSError, subprocess.TimeoutExpired):
        pass
    for root in (os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")):
        if root and os.path.isdir(os.path.join(root, "versions")):
            return root
    return None


@functools.lru_cache(maxsize=None)
def discover():
    """All bases found, as a dict id -> Base.

    PYENVFS_TEST_BASES (prefixes separated by ':') replaces the search: the
    suite then runs over those bases only (say, a squashfs image of a pyenv
    version, see tests/helpers_base.py).  /usr counts as "usr", any other
    prefix as "pyenv", with the id pyenv-X.Y.Z."""
    bases = {}
    chosen = [p for p in os.environ.get("PYENVFS_TEST_BASES", "").split(":") if p]
    if chosen:
        for prefix in chosen:
            prefix = os.path.realpath(prefix)
            for xy in versions_in(prefix):
                if prefix == "/usr":
                    bases["usr-" + xy] = Base("usr-" + xy, prefix, xy, "usr")
                else:
                    bid = "pyenv-" + version_of(os.path.join(prefix, "bin", "python" + xy))
                    bases[bid] = Base(bid, prefix, xy, "pyenv")
        return bases
    for xy in versions_in("/usr"):
        bases["usr-" + xy] = Base("usr-" + xy, "/usr", xy, "usr")
    root = pyenv_root()
    if root:
        vdir = os.path.join(root, "versions")
        for name in sorted(os.listdir(vdir)):
            prefix = os.path.realpath(os.path.join(vdir, name))
            if not re.match(r"^\d+\.\d+\.\d+$", name):
                continue
            xys = versions_in(prefix)
            xy = ".".join(name.split(".")[:2])
            if xy in xys:
                bases["pyenv-" + name] = Base("pyenv-" + name, prefix, xy, "pyenv")
    return bases


def find(param):
    """Resolve a test parameter ("usr-3.11", "pyenv-3.12") to a Base, or None."""
    bases = discover()
    if param in bases:
        return bases[param]
    kind, xy = param.split("-", 1)
    for b in bases.values():
        if b.kind == kind and b.xy == xy:
            return b
    return None


def params():
    """Test parameters: the expected bases (skipped when absent) plus any other found."""
    ps = ["usr-" + v for v in EXPECTED_USR] + ["pyenv-" + v for v in EXPECTED_PYENV]
    covered = {find(p).id for p in ps if find(p) is not None}
    for b in discover().values():
        if b.id not in covered:
            ps.append(b.id)
    return ps


def pyenv_base(xy):
    """The pyenv Base for X.Y, or None."""
    for b in discover().values():
        if b.kind == "pyenv" and b.xy == xy:
            return b
    return None


def preferred_base():
    """Debian's /usr Python if present, else a prefix holding a single Python 3
    (None if there is none): the base for tests that need just one."""
    b = find("usr-3.11") or next((x for x in discover().values() if x.kind == "usr"), None)
    if b is None:
        singles = [x for x in discover().values()
                   if len(versions_in(x.prefix)) == 1 and x.major == 3]
        b = sorted(singles, key=lambda x: x.id)[0] if singles else None
    return b


def python_args(b):
    """--python X.Y when b's prefix holds several Pythons."""
    return ["--python", b.xy] if len(versions_in(b.prefix)) > 1 else []
