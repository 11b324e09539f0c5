#!/usr/bin/python3
"""Runs the unionmount-testsuite (github.com/amir73il/unionmount-testsuite,
fetched, not part of this repository) against pyenvfs's site-packages, as
fuse-overlayfs runs it in its CI (``./run --ov --fuse=<type> --xdev``).

    sudo /usr/bin/python3 tests/stress/unionmount.py SUITE_DIR [--ov=N] [TEST...]

The suite mounts its union with ``mount -t fuse.pyenvfs-union SOURCE MNT
-o lowerdir=L1:L2,upperdir=U,workdir=W``. mount.fuse3 would look for the
helper on a fixed PATH of system directories; so this file is also the
suite's ``mount`` and ``umount`` (links to it in a directory put first on
PATH): that command, and the unmount of what it mounted, are handled here
(any other goes to /bin/mount, /bin/umount). It mounts pyenvfs over /usr
with ``--site U --lower-site L1 --lower-site L2`` at a mount point of its
own and binds its site-packages onto MNT; unmounting MNT unmounts pyenvfs
too. Everything runs in a temporary directory (two tmpfs: the suite's base
and lower directories); nothing is left mounted. Needs root (mounts).
Exit status: the suite's."""

import hashlib
import os
import subprocess
import sys
import tempfile
import time

HELPER = "pyenvfs-union"
HERE = os.path.dirname(os.path.abspath(__file__))
PYENVFS = os.path.abspath(os.environ.get("PYENVFS") or os.path.join(HERE, "..", "..", "build", "pyenvfs"))
BASE = os.environ.get("UNIONMOUNT_PYENVFS_BASE", "/usr")


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def unmount(path):
    for args in (["fusermount3", "-u", path], ["fusermount3", "-uz", path], ["umount", "-l", path]):
        if not mounted(path):
            return
        subprocess.run(args, stderr=subprocess.DEVNULL)


def state_of(mnt):
    """pyenvfs's own mount point for the union at mnt."""
    key = hashlib.sha1(os.path.realpath(mnt).encode()).hexdigest()[:16]
    return os.path.join(os.environ["UNIONMOUNT_PYENVFS_STATE"], key)


def umount_helper(argv):
    """umount MNT: the bind, then the pyenvfs behind it."""
    targets = [a for a in argv[1:] if not a.startswith("-")]
    r = subprocess.run(["/bin/umount"] + argv[1:]).returncode
    for t in targets:
        private = state_of(t)
        if os.path.isdir(private):
            unmount(private)
            os.rmdir(private)
    return r


def helper(argv):
    """mount -t fuse.pyenvfs-union SOURCE MNT -oOPTS [-oOPTS]."""
    pos, opts = [], {}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-t":
            i += 2
            continue
        if a.startswith("-o"):
            text = a[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            i += 1 if a[2:] else 2
            for o in text.split(","):
                k, _, v = o.partition("=")
                opts[k] = v
            continue
        pos.append(a)
        i += 1
    mnt = pos[1]
    lowers = [x for x in opts.get("lowerdir", "").split(":") if x]
    upper = opts["upperdir"]
    private = state_of(mnt)
    unmount(private)
    os.makedirs(private, exist_ok=True)
    args = [PYENVFS, BASE, private, "--site", upper, "-o", "allow_other"]
    for low in lowers:
        args += ["--lower-site", low]
    r = subprocess.run(args)
    if r.returncode:
        return r.returncode
    xy = "%d.%d" % sys.version_info[:2] if BASE == "/usr" else os.environ["UNIONMOUNT_PYENVFS_XY"]
    site = os.path.join(private, "lib", "python" + xy, "site-packages")
    r = subprocess.run(["mount", "--bind", site, mnt])
    if r.returncode:
        unmount(private)
        return r.returncode
    return 0


def run_suite(suite, tests):
    top = tempfile.mkdtemp(prefix="pyenvfs-unionmount-")
    os.chmod(top, 0o755)        # the suite acts as user bin too
    bindir, base, lower, state = (os.path.join(top, n) for n in ("bin", "base", "lower", "state"))
    for d in (bindir, base, lower, state):
        os.mkdir(d)
    for name in ("mount", "umount"):
        os.symlink(os.path.abspath(__file__), os.path.join(bindir, name))
    mounts = []
    try:
        for d in (base, lower):
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", d], check=True)
            mounts.append(d)
        env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                   UNIONMOUNT_BASEDIR=base, UNIONMOUNT_LOWERDIR=lower, PYENVFS=PYENVFS,
                   UNIONMOUNT_PYENVFS_STATE=state)
        ov = [t for t in tests if t.startswith("--ov")] or ["--ov"]
        tests = [t for t in tests if not t.startswith("--ov")]
        r = subprocess.run(["./run", ov[-1], "--fuse=" + HELPER, "--xdev"] + tests, cwd=suite, env=env)
        return r.returncode
    finally:
        with open("/proc/self/mountinfo") as f:
            left = [line.split()[4] for line in f if line.split()[4].startswith(top + "/")]
        for mp in sorted(left, key=len, reverse=True):
            unmount(mp)
        for d in reversed(mounts):
            subprocess.run(["umount", "-l", d], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", top])


def main():
    if os.path.basename(sys.argv[0]) == "mount":
        if "fuse." + HELPER in sys.argv:
            sys.exit(helper(sys.argv))
        os.execv("/bin/mount", ["/bin/mount"] + sys.argv[1:])
    if os.path.basename(sys.argv[0]) == "umount":
        sys.exit(umount_helper(sys.argv))
    if len(sys.argv) < 2 or os.geteuid() != 0:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(run_suite(os.path.abspath(sys.argv[1]), sys.argv[2:]))


if __name__ == "__main__":
    main()
