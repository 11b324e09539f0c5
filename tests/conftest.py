"""pytest harness for pyenvfs integration tests (modelled on libfuse's test/util.py).

Every mount made here is undone, also on failure: ``fusermount3 -u``, then
``-uz``, then terminate/kill of the one daemon PID we started.

The harness also keeps the run honest (tests/ci.py):

- a FUSE mount a test leaves behind (under pytest's temp dir or a
  world_tmpdir()) is an error of that test, named; the harness unmounts it;
- with PYENVFS_SANITIZER_LOG_DIR set (scripts/test.sh's sanitizer pass), every
  report a sanitizer wrote there, by any pyenvfs process, fails the session;
- in strict mode (CI=true or PYENVFS_STRICT=1) a missing prerequisite ends the
  session at its start with a one-line reason, and a skip whose reason is not
  in tests/skip-budget is a failure;
- PYENVFS_COUNTS_FILE: the counts (passed, failed, skipped per budget group,
  leaks, sanitizer reports) are written there as JSON for scripts/test.sh.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ci  # noqa: E402
import pythons  # noqa: E402
from procinfo import mount_count  # noqa: E402  (tests import it from here too)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYENVFS = os.path.abspath(os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs"))
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"

MOUNT_TIMEOUT = 10.0     # seconds to wait for a mount to appear
EXIT_TIMEOUT = 10.0      # seconds to wait for a daemon to exit after unmount
CMD_TIMEOUT = 30         # seconds for any other subprocess

collect_ignore = ["unit", "bench"]
STRICT = ci.strict()


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


def pytest_sessionstart(session):
    """In strict mode, a machine that cannot run the whole suite ends the
    session here, with one line per reason (the first in pytest's own line)."""
    _HARNESS["san_before"] = set(_sanitizer_reports())
    if not STRICT:
        return
    problems = ci.preflight(PYENVFS)
    if problems:
        _HARNESS["fatal"] = problems
        _write_counts(session)
        for p in problems:
            sys.stderr.write("CI: %s\n" % p)
        pytest.exit("CI: %s%s" % (problems[0], " (and %d more, above)" % (len(problems) - 1)
                                   if len(problems) > 1 else ""), returncode=3)


# PYENVFS_TEST_ONLY_BASES="usr-3.11,pyenv-2.7": a test parametrized by a base
# runs for those bases only; the others are deselected (scripts/test.sh's
# sanitizer pass: the daemon's code paths do not depend on which 3.x asks).
_BASE_PARAM = re.compile(r"^(usr|pyenv)-\d+\.\d+")


def _other_base(item):
    only = [b for b in os.environ.get("PYENVFS_TEST_ONLY_BASES", "").split(",") if b]
    params = getattr(getattr(item, "callspec", None), "params", {})
    if not only or not params:
        return False
    for v in params.values():
        m = _BASE_PARAM.match(v) if isinstance(v, str) else None
        if m and not any(v == b or v.startswith(b + ".") for b in only):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    """Deselect what is not meant to run (a module's not_applicable(item)
    says why, or PYENVFS_TEST_ONLY_BASES); outside strict mode, skip
    everything when FUSE is unusable."""
    keep, dropped = [], []
    for item in items:
        fn = getattr(item.module, "not_applicable", None)
        if _other_base(item) or (fn is not None and fn(item)):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    reason = _skip_reason()
    if reason:
        mark = pytest.mark.skip(reason=reason)
        for item in items:
            item.add_marker(mark)


# ---------------------------------------------------------------------------
# the run's honesty checks: skips against the budget, leaked mounts, sanitizer
# reports, and the counts for scripts/test.sh

_HARNESS = {
    "groups": ci.budget_for(ci.machine_kind()) if os.path.exists(ci.BUDGET_FILE) else None,
    "skip_groups": {},       # budget pattern -> skips seen
    "skip_unbudgeted": [],   # "nodeid: reason" of skips no group admits
    "leaks": [],             # "nodeid: mount point"
    "san_before": set(),
    "san_seen": {},          # report file -> the test during or after which it appeared
    "last_test": None,
    "fatal": [],
}
SANITIZER_LOG_DIR = os.environ.get("PYENVFS_SANITIZER_LOG_DIR", "")
WATCHED_DIRS = []            # world_tmpdir()s: mounts under them are checked too


def _skip_text(rep):
    lr = rep.longrepr
    text = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text[len("Skipped: "):] if text.startswith("Skipped: ") else text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "_rep_" + rep.when, rep)
    if not rep.skipped or hasattr(rep, "wasxfail"):
        return
    reason = _skip_text(rep)
    group = ci.classify(reason, _HARNESS["groups"])
    if group is not None:
        _HARNESS["skip_groups"][group.pattern] = _HARNESS["skip_groups"].get(group.pattern, 0) + 1
        return
    if STRICT:
        # In CI a skip the budget does not expect is a missing prerequisite.
        rep.outcome = "failed"
        rep.longrepr = ("CI: skip not admitted by tests/skip-budget [%s]: %s"
                        % (ci.machine_kind(), reason))
    else:
        _HARNESS["skip_unbudgeted"].append("%s: %s" % (item.nodeid, reason))


def _test_passed(item):
    reps = [getattr(item, "_rep_" + w, None) for w in ("setup", "call")]
    return all(r is not None and r.passed for r in reps)


def _watched_mounts(root):
    out = set(fuse_mounts_under(root))
    for d in WATCHED_DIRS:
        if os.path.isdir(d):
            out.update(fuse_mounts_under(d))
    return out


def harness_unmount(request, root):
    """Unmount what is left under root (a fixture's clean-up): after a test
    that passed, what was left is also noted as that test's leak."""
    left = sorted(fuse_mounts_under(root), key=len, reverse=True)
    if left and _test_passed(request.node):
        request.node._leaked = getattr(request.node, "_leaked", []) + left
    for mp in left:
        force_unmount(mp)


def _sanitizer_reports():
    if not SANITIZER_LOG_DIR or not os.path.isdir(SANITIZER_LOG_DIR):
        return []
    return sorted(os.path.join(SANITIZER_LOG_DIR, n) for n in os.listdir(SANITIZER_LOG_DIR))


def _note_sanitizer_reports(where):
    for f in _sanitizer_reports():
        if f not in _HARNESS["san_before"] and f not in _HARNESS["san_seen"]:
            _HARNESS["san_seen"][f] = where


def sanitizer_summary(path):
    """The report's SUMMARY line (or its first ERROR line)."""
    text = read_log(path)
    lines = [line.strip() for line in text.splitlines()]
    for pick in ("SUMMARY:", "ERROR:", "runtime error"):
        for line in lines:
            if pick in line:
                return line
    return lines[0] if lines else "(empty)"


@pytest.fixture(autouse=True)
def _harness_checks(request, tmp_path_factory):
    """Per test: a mount it left behind is its error (and is unmounted); the
    sanitizer reports that appeared meanwhile are remembered with its name."""
    root = tmp_path_factory.getbasetemp()
    before = _watched_mounts(root)
    _HARNESS["last_test"] = request.node.nodeid
    yield
    _note_sanitizer_reports("during " + request.node.nodeid)
    leaked = set(getattr(request.node, "_leaked", [])) | (_watched_mounts(root) - before)
    for mp in sorted(leaked, key=len, reverse=True):
        force_unmount(mp)
    if leaked:
        for mp in sorted(leaked):
            _HARNESS["leaks"].append("%s: %s" % (request.node.nodeid, mp))
        pytest.fail("mount left behind by %s (the harness unmounted it): %s"
                    % (request.node.nodeid, ", ".join(sorted(leaked))), pytrace=False)


def _wait_for_own_daemons(timeout=30.0):
    """Bounded wait until no process runs the pyenvfs under test (their
    sanitizer reports are written at exit, after the unmount returned)."""
    from procinfo import pids_of_exe
    deadline = time.monotonic() + timeout
    while pids_of_exe(PYENVFS) and time.monotonic() < deadline:
        time.sleep(0.05)


def _write_counts(session):
    path = os.environ.get("PYENVFS_COUNTS_FILE")
    if not path:
        return
    counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0, "deselected": 0}
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        for key in counts:
            counts[key] = len([r for r in tr.stats.get(key, [])
                               if key == "deselected" or getattr(r, "when", "call") != "teardown"
                               or key == "error"])
    counts.update({
        "kind": ci.machine_kind(), "strict": STRICT,
        "skip_groups": _HARNESS["skip_groups"], "skip_unbudgeted": _HARNESS["skip_unbudgeted"],
        "leaks": _HARNESS["leaks"], "fatal": _HARNESS["fatal"],
        "sanitizer_reports": ["%s (%s): %s" % (os.path.basename(f), w, sanitizer_summary(f))
                              for f, w in sorted(_HARNESS["san_seen"].items())],
    })
    with open(path, "w") as f:
        json.dump(counts, f, indent=1, sort_keys=True)


def pytest_sessionfinish(session, exitstatus):
    if _HARNESS["fatal"]:
        return
    if SANITIZER_LOG_DIR:
        _wait_for_own_daemons()
        _note_sanitizer_reports("after " + str(_HARNESS["last_test"]))
    bad = []
    for f, where in sorted(_HARNESS["san_seen"].items()):
        bad.append("sanitizer report %s (appeared %s): %s" % (f, where, sanitizer_summary(f)))
    for leak in _HARNESS["leaks"]:
        bad.append("mount left behind by %s" % leak)
    if bad:
        for line in bad:
            sys.stderr.write("\nFAIL: %s" % line)
        sys.stderr.write("\n")
        if session.exitstatus == 0:
            session.exitstatus = 1
    _write_counts(session)


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

# On a Debian-patched base a mount writes this .pth into DIR (venv mode: DIR
# once on sys.path; tests/test_debian_sitepath.py).
VENV_PTH = "pyenvfs-venv.pth"


def without_venv_pth(names):
    """names (a DIR's listing) less the .pth a mount over Debian's Python writes."""
    return [n for n in names if n != VENV_PTH]


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
    """Session end: what a module or session fixture left is a leak too,
    named after the last test that ran; it is unmounted all the same."""
    yield
    root = tmp_path_factory.getbasetemp()
    left = _watched_mounts(root)
    for mp in sorted(left, key=len, reverse=True):
        force_unmount(mp)
    for mp in sorted(left):
        _HARNESS["leaks"].append("a fixture (session end, after %s): %s" % (_HARNESS["last_test"], mp))


@pytest.fixture
def cleanup_mounts(request, tmp_path):
    """For tests that run pyenvfs daemonized: unmount anything under tmp_path
    afterwards (after a test that passed, what is left is its leak)."""
    yield
    harness_unmount(request, tmp_path)


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
def work(request):
    """A temporary directory every user can reach (for tests that run as
    other users): pytest's own is private to root."""
    from helpers_env import remove_tree, world_tmpdir
    d = world_tmpdir()
    try:
        yield d
    finally:
        harness_unmount(request, d)
        remove_tree(d)
