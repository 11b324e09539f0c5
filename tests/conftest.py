"""pytest harness for pyenvfs integration tests (modelled on libfuse's test/util.py).

Every mount made here is undone, also on failure: ``fusermount3 -u``, then
``-uz``, then terminate/kill of the one daemon PID we started.  A session-end
safety net lazily unmounts any FUSE mount left under pytest's base temp dir.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pythons  # noqa: E402
from procinfo import mount_count  # noqa: E402  (tests import it from here too)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYENVFS = os.path.abspath(os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs"))
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"

MOUNT_TIMEOUT = 10.0     # seconds to wait for a mount to appear
EXIT_TIMEOUT = 10.0      # seconds to wait for a daemon to exit after unmount
CMD_TIMEOUT = 30         # seconds for any other subprocess

collect_ignore = ["unit", "bench"]


def _skip_reason():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not accessible"
    if not os.path.exists(FUSERMOUNT):
        return "fusermount3 not found"
    if not (os.path.isfile(PYENVFS) and os.access(PYENVFS, os.X_OK)):
        return "pyenvfs binary not built (%s); set PYENVFS or run cmake --build build" % PYENVFS
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    if reason:
        mark = pytest.mark.skip(reason=reason)
        for item in items:
            item.add_marker(mark)


# ---------------------------------------------------------------------------
# helpers

def run(args, timeout=CMD_TIMEOUT, **kw):
    """subprocess.run with captured text output and a timeout."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(args, timeout=timeout, universal_newlines=True, **kw)


def run_pyenvfs(args, timeout=CMD_TIMEOUT, **kw):
    return run([PYENVFS] + [str(a) for a in args], timeout=timeout, **kw)


def nonempty_lines(text):
    return [line for line in text.splitlines() if line.strip()]


def fuse_mounts_under(root):
    """Mount points of FUSE file systems at or under root."""
    root = os.path.realpath(str(root))
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].encode().decode("unicode_escape")
            sep = fields.index("-")
            fstype = fields[sep + 1]
            if fstype.startswith("fuse") and (mp == root or mp.startswith(root + "/")):
                res.append(mp)
    return res


def force_unmount(mnt):
    """Unmount everything stacked at mnt (lazily if need be); never raises."""
    for _ in range(5):
        if mount_count(mnt) == 0:
            return
        try:
            r = run([FUSERMOUNT, "-u", str(mnt)], timeout=EXIT_TIMEOUT)
            if r.returncode != 0:
                run([FUSERMOUNT, "-uz", str(mnt)], timeout=EXIT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            try:
                run([FUSERMOUNT, "-uz", str(mnt)], timeout=EXIT_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                pass


def wait_for_mount(proc, mnt, log_path, timeout=MOUNT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(str(mnt)):
            return
        if proc.poll() is not None:
            pytest.fail("pyenvfs exited with status %d before mounting %s; stderr:\n%s"
                        % (proc.returncode, mnt, read_log(log_path)))
        time.sleep(0.01)
    pytest.fail("%s not mounted after %.0f s; pyenvfs stderr:\n%s"
                % (mnt, timeout, read_log(log_path)))


def read_log(path):
    try:
        with open(str(path), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _stop(proc):
    """Terminate, then kill, the one process we started."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class Mount:
    def __init__(self, base, mnt, site, proc, log_path, args):
        self.base = base          # pythons.Base or None
        self.mnt = str(mnt)
        self.site = str(site)
        self.proc = proc
        self.log_path = str(log_path)
        self.args = args

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def log(self):
        return read_log(self.log_path)


@contextlib.contextmanager
def mounted(prefix, mnt, site, extra_args=(), base=None, check_clean=True, argv=None):
    """Run ``pyenvfs -f PREFIX MNT --site SITE EXTRA...`` and yield a Mount.

    argv, when given, replaces everything after the program name (it must
    include -f: the daemon has to stay our child).

    On exit: fusermount3 -u, wait for the daemon, require exit status 0 and
    no line containing "error" on its stderr.  Falls back to -uz, SIGTERM,
    SIGKILL so that nothing is left behind.
    """
    mnt = str(mnt)
    site = str(site)
    log_path = os.path.join(os.path.dirname(os.path.abspath(mnt)),
                            os.path.basename(mnt) + ".pyenvfs.log")
    if argv is None:
        # PYENVFS_TEST_EXTRA_ARGS: options for every mount of a run (to run the
        # whole suite with, say, -o no_open).
        extra_args = list(extra_args) + os.environ.get("PYENVFS_TEST_EXTRA_ARGS", "").split()
        args = [PYENVFS, str(prefix), mnt, "--site", site, "-f"] + [str(a) for a in extra_args]
    else:
        args = [PYENVFS] + [str(a) for a in argv]
    logf = open(log_path, "wb")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            cwd="/")
    logf.close()
    ok = False
    try:
        wait_for_mount(proc, mnt, log_path)
        m = Mount(base, mnt, site, proc, log_path, args)
        yield m
        # --- normal teardown: the clean way must work
        r = run([FUSERMOUNT, "-u", mnt], timeout=EXIT_TIMEOUT)
        if r.returncode != 0:
            pytest.fail("fusermount3 -u %s failed (%d): %s%s\ndaemon stderr:\n%s"
                        % (mnt, r.returncode, r.stdout, r.stderr, read_log(log_path)))
        try:
            rc = proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("pyenvfs did not exit within %.0f s of unmount; stderr:\n%s"
                        % (EXIT_TIMEOUT, read_log(log_path)))
        log = read_log(log_path)
        if rc != 0:
            pytest.fail("pyenvfs exited with status %d after unmount; stderr:\n%s" % (rc, log))
        if check_clean:
            bad = [line for line in log.splitlines() if "error" in line.lower()]
            if bad:
                pytest.fail("pyenvfs reported errors on stderr:\n%s" % "\n".join(bad))
        ok = True
    finally:
        if not ok:
            force_unmount(mnt)
            _stop(proc)
        if proc.poll() is None:
            _stop(proc)


# ---------------------------------------------------------------------------
# fixtures

MARKER_MODULE = "pyenvfs_marker"
MARKER_FILE = MARKER_MODULE + ".py"
MARKER_TEXT = "MARK = 'pyenvfs-site-marker'\n"


def make_site_with_marker(site):
    os.makedirs(str(site), exist_ok=True)
    with open(os.path.join(str(site), MARKER_FILE), "w") as f:
        f.write(MARKER_TEXT)


def base_or_skip(param):
    b = pythons.find(param)
    if b is None:
        pytest.skip("no Python for %s on this machine" % param)
    return b


@pytest.fixture(scope="module", params=pythons.params())
def env(request, tmp_path_factory):
    """A pyenvfs mount per base Python, shared by the tests of one module.

    DIR holds a marker module, written before mounting.
    """
    if _skip_reason():
        pytest.skip(_skip_reason())
    b = base_or_skip(request.param)
    d = tmp_path_factory.mktemp("env-" + b.id)
    mnt = d / "mnt"
    mnt.mkdir()
    site = d / "site"
    make_site_with_marker(site)
    extra = []
    if len(pythons.versions_in(b.prefix)) > 1:
        extra = ["--python", b.xy]
    with mounted(b.prefix, mnt, site, extra, base=b) as m:
        yield m


@pytest.fixture
def usr_base():
    b = pythons.find("usr-3.11") or next(
        (x for x in pythons.discover().values() if x.kind == "usr"), None)
    if b is None:
        pytest.skip("no Python in /usr")
    return b


@pytest.fixture
def any_base():
    """One base for tests that need just some Python (prefers /usr)."""
    bases = list(pythons.discover().values())
    single = [b for b in bases if len(pythons.versions_in(b.prefix)) == 1]
    if not single:
        pytest.skip("no single-version Python base found")
    single.sort(key=lambda b: (b.kind != "usr", b.id))
    return single[0]


@pytest.fixture(scope="session", autouse=True)
def _no_mounts_left_behind(tmp_path_factory):
    yield
    root = tmp_path_factory.getbasetemp()
    left = fuse_mounts_under(root)
    for mp in sorted(left, key=len, reverse=True):
        force_unmount(mp)
    if left:
        sys.stderr.write("\nWARNING: unmounted leftover FUSE mounts: %s\n" % left)


@pytest.fixture
def cleanup_mounts(tmp_path):
    """For tests that run pyenvfs daemonized: unmount anything under tmp_path afterwards."""
    yield
    for mp in sorted(fuse_mounts_under(tmp_path), key=len, reverse=True):
        force_unmount(mp)


def isolated_env(home, extra=None):
    """A minimal environment for running Pythons: no PYTHON* variables, no pyenv."""
    e = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    if extra:
        e.update(extra)
    return e


def make_user_site(home, xy):
    """Create HOME/.local/lib/pythonX.Y/site-packages, return its path."""
    p = os.path.join(str(home), ".local", "lib", "python" + xy, "site-packages")
    os.makedirs(p, exist_ok=True)
    return p


@pytest.fixture
def work():
    """A temporary directory every user can reach (for tests that run as
    other users): pytest's own is private to root."""
    from helpers_env import remove_tree, world_tmpdir
    d = world_tmpdir()
    try:
        yield d
    finally:
        remove_tree(d)
