"""Bases that really are read-only, writable copies of a base, and digests.

- ``base_copy()``: a writable copy of a pyenv version directory (minus its
  test suite), for tests that change a base under a running mount.
- ``copy_without_bytecode()``: a base without any bytecode, a copy
  (tests/test_bytecode.py, tests/bench/bytecode.py).
- ``squashfs_image()`` / ``squashfs_mounted()``: a squashfs image of a base,
  loop-mounted read-only (root) or mounted with squashfuse (others).
- ``ro_bind()``: a base bind-mounted read-only (root).
- ``tree_digest()``: names, types, modes, owners, sizes, mtimes, symlink
  targets and the sha256 of every regular file under a directory.

Everything mounted here is unmounted when its context ends, also on failure.

Run as a program, it makes a read-only base for a whole-suite run
(PYENVFS_TEST_BASES, see tests/pythons.py) and takes it down again:

    python3 tests/helpers_base.py squashfs SRC_PREFIX WORKDIR   # prints the prefix
    python3 tests/helpers_base.py bind SRC_PREFIX WORKDIR
    python3 tests/helpers_base.py down WORKDIR
"""

import contextlib
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pythons  # noqa: E402
from procinfo import file_sha256, poll  # noqa: E402,F401  (tests call hb.poll)

CMD_TIMEOUT = 120


def _run(args, timeout=CMD_TIMEOUT):
    return subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def is_root():
    return os.geteuid() == 0


# ---------------------------------------------------------------------------
# which base to use

def source_base(prefer=("3.12", "3.13", "3.11", "3.10")):
    """A pyenv base with ensurepip and headers to copy or image (None if none)."""
    for xy in prefer:
        b = pythons.pyenv_base(xy)
        if b is not None and os.path.isdir(os.path.join(b.stdlib, "ensurepip")) \
                and b.include_rel is not None:
            return b
    return None


def excludes(xy):
    """Paths (relative to the prefix) left out of copies and images: IDLE,
    the static libpython, the base's own site-packages content (hidden by
    the view anyway), and the test suite but for the wheels it holds
    (tests/pkgs.py builds with them: setuptools, wheel)."""
    std = os.path.join("lib", "python" + xy)
    return [os.path.join(std, "idlelib"),
            os.path.join(std, "tkinter", "test"),
            os.path.join(std, "lib2to3", "tests"),
            os.path.join(std, "site-packages")]


def _excluded_static_lib(rel):
    return rel.endswith(".a") and "/config-" in "/" + rel


def _test_suite_rel(xy):
    return os.path.join("lib", "python" + xy, "test")


def _kept_in_test_suite(name):
    return name.endswith(".whl") or name == "wheeldata"


# ---------------------------------------------------------------------------
# a writable copy

def base_copy(src, dest):
    """Copy the pyenv base src (a pythons.Base) to dest, without excludes().

    The copy is relocatable for the tests' purposes: its interpreter finds
    its stdlib from its own path (libpython is still loaded from src's lib,
    through the binary's rpath; it is not changed by the tests).  Returns a
    pythons.Base for the copy."""
    skip = set(excludes(src.xy))
    tests = _test_suite_rel(src.xy)

    def ignore(dirpath, names):
        out = []
        in_tests = os.path.relpath(dirpath, src.prefix) == tests
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), src.prefix)
            if rel in skip or _excluded_static_lib(rel) or (in_tests and not _kept_in_test_suite(n)):
                out.append(n)
        return out

    shutil.copytree(src.prefix, dest, symlinks=True, ignore=ignore)
    os.makedirs(os.path.join(dest, "lib", "python" + src.xy, "site-packages"), exist_ok=True)
    return pythons.Base("copy-" + src.xy, os.path.realpath(dest), src.xy, "pyenv")


# ---------------------------------------------------------------------------
# a copy without bytecode

def _no_bytecode_skips(xy, rel):
    """What a copy leaves out: every piece of bytecode, the test suite, IDLE,
    the base's site-packages content and static libraries."""
    if "__pycache__" in rel.split(os.sep) or rel.endswith((".pyc", ".pyo")):
        return True
    std = os.path.join("lib", "python" + xy) + os.sep
    if not rel.startswith(std):
        return False
    sub = rel[len(std):]
    first = sub.split(os.sep)[0]
    return (first in ("test", "idlelib") or sub.startswith(("lib2to3/tests", "tkinter/test"))
            or (first in ("site-packages", "dist-packages") and sub != first)
            or (first.startswith("config-") and sub.endswith(".a")))


def _static_lib(rel):
    return rel.startswith("lib" + os.sep) and os.sep not in rel[4:] and rel.endswith(".a")


def copy_without_bytecode(b, dest, keep=()):
    """A base without bytecode: a copy of base b's prefix (a pythons.Base) at
    dest, without any __pycache__, .pyc or .pyo but for the relative paths in
    keep, and without the test suite or static libraries. Copied, not hard
    linked: a link would change the base's files (their link count and
    ctime), which other tests check are never touched. For Debian's /usr only its bin/pythonX.Y and lib/pythonX.Y
    are taken: the interpreter finds its prefix from where it is."""
    if b.kind == "usr":
        tops = [os.path.join("bin", "python" + b.xy), os.path.join("lib", "python" + b.xy)]
    else:
        tops = ["bin", "include", "lib"]
    for top in tops:
        src = os.path.join(b.prefix, top)
        if os.path.isfile(src) or os.path.islink(src):
            os.makedirs(os.path.dirname(os.path.join(dest, top)), exist_ok=True)
            shutil.copy2(os.path.realpath(src), os.path.join(dest, top))
            continue
        for dp, dns, fns in os.walk(src):
            rel_dp = os.path.relpath(dp, b.prefix)
            out = os.path.join(dest, rel_dp)
            os.makedirs(out, exist_ok=True)
            for n in list(dns):
                rel = os.path.join(rel_dp, n)
                if os.path.islink(os.path.join(dp, n)):
                    os.symlink(os.readlink(os.path.join(dp, n)), os.path.join(out, n))
                    dns.remove(n)
                elif _no_bytecode_skips(b.xy, rel) and not any(k.startswith(rel + os.sep) for k in keep):
                    dns.remove(n)
            for n in fns:
                rel = os.path.join(rel_dp, n)
                s = os.path.join(dp, n)
                if (_no_bytecode_skips(b.xy, rel) or _static_lib(rel)) and rel not in keep:
                    continue
                if os.path.islink(s):
                    os.symlink(os.readlink(s), os.path.join(out, n))
                else:
                    shutil.copy2(s, os.path.join(out, n))
    os.makedirs(os.path.join(dest, "lib", "python" + b.xy, "site-packages"), exist_ok=True)
    # directory times as the source's (copy2 kept the files')
    for dp, dns, fns in os.walk(dest):
        s = os.path.join(b.prefix, os.path.relpath(dp, dest))
        if os.path.isdir(s):
            shutil.copystat(s, dp)


# ---------------------------------------------------------------------------
# read-only mounts

def _umount(mp, fuse):
    """Unmount mp (lazily if it is busy); never raises.  True if it is gone."""
    from conftest import mount_count
    for _ in range(3):
        if mount_count(mp) == 0:
            return True
        try:
            if fuse:
                r = _run(["fusermount3", "-u", mp], timeout=30)
                if r.returncode != 0:
                    _run(["fusermount3", "-uz", mp], timeout=30)
            else:
                r = _run(["umount", mp], timeout=30)
                if r.returncode != 0:
                    _run(["umount", "-l", mp], timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return mount_count(mp) == 0


def squashfs_image(src, image):
    """mksquashfs of the base src (a pythons.Base) into image, without excludes()."""
    if shutil.which("mksquashfs") is None:
        raise LookupError("mksquashfs not installed (apt-get install squashfs-tools)")
    ex = excludes(src.xy) + ["lib/python%s/config-*/*.a" % src.xy,
                             _test_suite_rel(src.xy) + "/!(*.whl|wheeldata)"]
    r = _run(["mksquashfs", src.prefix, image, "-noappend", "-no-progress", "-quiet",
              "-comp", "lz4", "-wildcards", "-e"] + ex, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("mksquashfs failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
    return image


def squashfs_how():
    """'loop' (root), 'squashfuse', or None when neither can mount an image."""
    if is_root() and os.path.exists("/dev/loop-control"):
        return "loop"
    if shutil.which("squashfuse") and os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "squashfuse"
    return None


def mount_squashfs(image, mp, how=None):
    """Mount image read-only at mp (how: 'loop' or 'squashfuse'); return how."""
    how = how or squashfs_how()
    if how is None:
        raise LookupError("cannot mount a squashfs image: not root and no usable squashfuse")
    os.makedirs(mp, exist_ok=True)
    if how == "loop":
        r = _run(["mount", "-t", "squashfs", "-o", "loop,ro", image, mp])
    else:
        r = _run(["squashfuse", image, mp])
    if r.returncode != 0:
        _umount(mp, how != "loop")
        raise RuntimeError("mounting %s at %s (%s) failed: %s" % (image, mp, how, r.stderr))
    return how


def mount_ro_bind(src, mp):
    """Bind-mount src at mp, then remount it read-only (root)."""
    if not is_root():
        raise LookupError("a read-only bind mount needs root")
    os.makedirs(mp, exist_ok=True)
    r = _run(["mount", "--bind", src, mp])
    if r.returncode != 0:
        raise RuntimeError("mount --bind %s %s failed: %s" % (src, mp, r.stderr))
    r = _run(["mount", "-o", "remount,bind,ro", mp])
    if r.returncode != 0:
        _umount(mp, False)
        raise RuntimeError("remount,bind,ro %s failed: %s" % (mp, r.stderr))


@contextlib.contextmanager
def squashfs_mounted(image, mp, how=None):
    """The image mounted read-only at mp for the duration."""
    how = mount_squashfs(image, mp, how)
    try:
        yield mp
    finally:
        if not _umount(mp, how != "loop"):
            sys.stderr.write("WARNING: could not unmount %s\n" % mp)


@contextlib.contextmanager
def ro_bind(src, mp):
    """src bind-mounted at mp, read-only, for the duration (root)."""
    mount_ro_bind(src, mp)
    try:
        yield mp
    finally:
        if not _umount(mp, False):
            sys.stderr.write("WARNING: could not unmount %s\n" % mp)


def base_at(prefix, xy):
    """A pythons.Base for the Python X.Y in prefix (a read-only mount or a copy)."""
    return pythons.Base("ro-" + xy, os.path.realpath(prefix), xy, "pyenv")


# ---------------------------------------------------------------------------
# digests

def tree_digest(root):
    """{relative path: (type, mode, uid, gid, size, mtime_ns, link target or sha256)}
    for root and everything under it (symlinks not followed)."""
    root = str(root)
    out = {}

    def entry(p):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            extra = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            extra = file_sha256(p)
        else:
            extra = None
        return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                st.st_size if not stat.S_ISDIR(st.st_mode) else None, st.st_mtime_ns, extra)

    out["."] = entry(root)
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            out[os.path.relpath(p, root)] = entry(p)
    return out


# ---------------------------------------------------------------------------
# command line: a read-only base for a whole-suite run

def _main(argv):
    usage = ("usage: helpers_base.py squashfs|bind SRC_PREFIX WORKDIR | down WORKDIR\n"
             "  then: PYENVFS_TEST_BASES=<printed prefix> tests/run ...\n")
    if len(argv) == 3 and argv[1] == "down":
        work = os.path.abspath(argv[2])
        mp = os.path.join(work, "base")
        try:
            with open(os.path.join(work, "how")) as f:
                how = f.read().strip()
        except OSError:
            how = "loop"
        if os.path.isdir(mp) and not _umount(mp, how == "squashfuse"):
            sys.stderr.write("could not unmount %s\n" % mp)
            return 1
        shutil.rmtree(work, ignore_errors=True)
        return 0
    if len(argv) != 4 or argv[1] not in ("squashfs", "bind"):
        sys.stderr.write(usage)
        return 2
    kind, src_prefix, work = argv[1], os.path.realpath(argv[2]), os.path.abspath(argv[3])
    xys = pythons.versions_in(src_prefix)
    if len(xys) != 1:
        sys.stderr.write("%s: expected one Python in it, found %s\n" % (src_prefix, xys))
        return 1
    src = pythons.Base("src", src_prefix, xys[0], "pyenv")
    os.makedirs(work, exist_ok=True)
    mp = os.path.join(work, "base")
    if kind == "squashfs":
        image = squashfs_image(src, os.path.join(work, "base.sqfs"))
        how = mount_squashfs(image, mp)
    else:
        # a private copy, so that nothing else writes the base during the run
        copy = base_copy(src, os.path.join(work, "copy"))
        mount_ro_bind(copy.prefix, mp)
        how = "bind"
    with open(os.path.join(work, "how"), "w") as f:
        f.write(how + "\n")
    sys.stdout.write(mp + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
