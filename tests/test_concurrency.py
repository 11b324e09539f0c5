"""Concurrency: importers, pip and renames at once in one env, then the
daemon's descriptors and nodes back to their idle count.

One mount of the preferred base (Debian's /usr).  For a bounded run:

- 8 importer slots (half in venv mode, M/bin/python3; half in PYTHONHOME
  mode, PYTHONHOME=M, which reads the standard library through the mount
  too) each start worker processes over and over; a worker re-imports, many
  times, the standard library modules and DIR's modules (sys.modules emptied
  and the finders' caches invalidated between rounds);
- pip (run from Debian's pip wheel, no index) installs and uninstalls a
  locally built wheel with a console script, in a loop, in the same env;
- a renamer moves files and directories of DIR back and forth, and replaces
  a module atomically (a new file renamed over it), through the mount and
  (other names) directly in DIR.

What an import may legitimately fail with depends on the module:

- conc_stable (never touched), conc_atomic and conc_datomic (only ever
  replaced by an atomic rename, so the name always exists) and the standard
  library must always import;
- pyenvfs_demo (being installed and uninstalled) and the renamer's
  conc_churn_* may fail with ImportError (ModuleNotFoundError included) or
  FileNotFoundError (a file found in a listing and gone before it is read:
  the same race natively).

Anything else is a bug: an OSError such as ESTALE, EIO, ENOTCONN or EBADF, a
FileNotFoundError for a stable module, a worker killed by a signal, a pip or
rename that fails, or a hang (every process runs under a timeout).

After the load: sync, drop the kernel's caches (echo 3 > drop_caches makes it
FORGET every unused node) and wait, bounded, for the daemon's open
descriptors (/proc/PID/fd) and its node count (the ``nodes`` line of the
``user.pyenvfs.stats`` xattr) to come back to what they were when idle after
the same drop.  Slack: NODE_SLACK nodes and FD_SLACK descriptors.  A drop
does not promise to evict every unused inode (one being released or written
back at that moment, say the last pip process's, is skipped), so the check
drops again, bounded, and tolerates one or two stragglers; a leak grows with
the load instead (thousands of lookups here, hundreds of nodes busy at the end).
libfuse's splice pipes (one pair per loop thread) are counted apart.

Run twice: with the defaults and with -o no_open (whose reads and writes
come without handles and use the node's own descriptors).

PYENVFS_CONCURRENCY_SECONDS sets the length of the load (default 8 per mount; pip
runs at least two install/uninstall cycles, however long they take);
tests/stress/concurrency.py runs it longer and with more processes.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

import pkgs
import pythons
from conftest import mounted
from procinfo import fd_targets, is_pipe

SECONDS = float(os.environ.get("PYENVFS_CONCURRENCY_SECONDS") or 8)
IMPORTERS = int(os.environ.get("PYENVFS_CONCURRENCY_IMPORTERS") or 8)
WORKER_ROUNDS = 8           # re-import rounds per worker process
WORKER_TIMEOUT = 120        # seconds: a worker that takes longer hangs
PIP_TIMEOUT = 180
JOIN_TIMEOUT = 300
NODE_SLACK = 2
FD_SLACK = 2
# libfuse's splice pipes: one pair per loop thread; main.c keeps up to 10 idle
# threads, and one or two more may be finishing a request.
MAX_PIPE_FDS = 2 * 12
SETTLE_TIMEOUT = 30         # seconds to wait for FORGETs after a drop

STDLIB_MODULES = ["json", "decimal", "email.parser", "xml.dom.minidom", "http.client",
                  "argparse", "logging.handlers", "unittest.mock", "sqlite3", "csv",
                  "fractions", "textwrap", "pathlib", "zipfile", "tarfile"]
STABLE_MODULES = ["conc_stable", "conc_stable.sub", "conc_stable.sub.deep", "conc_atomic",
                  "conc_datomic"]
RACY_MODULES = ["pyenvfs_demo"] + [p + s for p in ("conc_", "conc_d")
                                   for s in ("churn_a", "churn_b", "churn_file1", "churn_file2")]

WORKER = r'''
import errno, importlib, json, os, sys, traceback
stdlib, stable, racy, rounds = json.loads(sys.argv[1])
bad, legit, ok = [], {}, 0
mine = set(stdlib) | set(stable) | set(racy)
def forget():
    for name in list(sys.modules):
        if name in mine or any(name.startswith(m + ".") for m in mine):
            del sys.modules[name]
    importlib.invalidate_caches()
for r in range(rounds):
    forget()
    for group, names in (("stdlib", stdlib), ("stable", stable), ("racy", racy)):
        for name in names:
            try:
                m = importlib.import_module(name)
                if group == "stable" and name == "conc_stable.sub.deep" and m.DEEP != 42:
                    bad.append([name, "wrong DEEP %r" % (m.DEEP,)])
                if name in ("conc_atomic", "conc_datomic") and m.VERSION not in (1, 2):
                    bad.append([name, "wrong VERSION %r" % (m.VERSION,)])
                ok += 1
            except BaseException as e:
                kind = type(e).__name__
                en = getattr(e, "errno", None)
                if en is not None:
                    kind += ":" + errno.errorcode.get(en, str(en))
                legit_here = group == "racy" and (
                    isinstance(e, ImportError) or isinstance(e, FileNotFoundError))
                if legit_here:
                    legit[kind] = legit.get(kind, 0) + 1
                else:
                    bad.append([name, kind, traceback.format_exc()[-1500:]])
print(json.dumps({"ok": ok, "legit": legit, "bad": bad}))
'''


def _base():
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python base found")
    return b


def _pip_wheel():
    w = pkgs.debian_pip_wheel()
    if w is None:
        pytest.skip("no pip wheel in %s to run pip from" % pkgs.DEBIAN_WHEELS)
    return w


def make_site(site):
    """DIR's content: a stable package, the atomically replaced modules and
    the renamer's directories and files."""
    os.makedirs(os.path.join(site, "conc_stable", "sub"))
    files = {
        "conc_stable/__init__.py": "STABLE = True\n",
        "conc_stable/sub/__init__.py": "",
        "conc_stable/sub/deep.py": "DEEP = 42\n" + "".join(
            "def f%d():\n    return %d\n" % (i, i) for i in range(200)),
    }
    for p in ("conc_", "conc_d"):
        files[p + "atomic.py"] = "VERSION = 1\n"
        files[p + "churn_a/__init__.py"] = "CHURN = 'dir'\n"
        files[p + "churn_file1.py"] = "CHURN = 'file'\n"
    for rel, text in files.items():
        path = os.path.join(site, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


# ---------------------------------------------------------------------------
# the daemon's counts


def daemon_fds(pid):
    """The daemon's descriptors: (not pipes, pipes).

    Pipes are libfuse's splice pipes, one pair per worker thread of the
    multi-threaded loop: their number follows the threads alive (up to
    max_idle_threads stay), not the nodes, so they are counted apart."""
    other, pipes = [], []
    for t in fd_targets(pid):
        (pipes if is_pipe(t) else other).append(t)
    return sorted(other), pipes


def fd_count(pid):
    return len(daemon_fds(pid)[0])


def stats(mnt):
    text = os.getxattr(mnt, "user.pyenvfs.stats").decode()
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def settle(m, target_nodes, target_fds):
    """Drop the caches until nodes and fds are within slack of the targets
    (bounded); returns the last (nodes, fds)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        drop_caches()
        time.sleep(0.2)       # FORGETs are sent asynchronously after the drop
        nodes, fds = stats(m.mnt).get("nodes"), fd_count(m.proc.pid)
        if target_nodes is None or (nodes <= target_nodes + NODE_SLACK
                                    and fds <= target_fds + FD_SLACK):
            return nodes, fds
        if time.monotonic() > deadline:
            return nodes, fds


def idle_counts(m):
    """Nodes and fds after a drop, once two drops in a row agree."""
    prev = None
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        cur = settle(m, None, None)
        if cur == prev:
            return cur
        prev = cur
    return prev


# ---------------------------------------------------------------------------
# the load


class Load:
    def __init__(self, m, b, work, seconds, importers):
        self.m = m
        self.b = b
        self.work = work
        self.seconds = seconds
        self.importers = importers
        self.sp = m.path(b.stdlib_rel, "site-packages")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bugs = []
        self.legit = {}
        self.counts = {"worker_runs": 0, "imports_ok": 0, "pip_cycles": 0, "renames": 0}

    def bug(self, what):
        with self.lock:
            self.bugs.append(what)

    def count(self, k, n=1):
        with self.lock:
            self.counts[k] += n

    # --- importers
    def importer(self, slot):
        home_mode = slot % 2 == 1
        env = pkgs.pip_env(self.work, self.m.mnt, pythonhome=home_mode)
        env["PYTHONDONTWRITEBYTECODE"] = "1" if slot % 4 >= 2 else ""
        if not env["PYTHONDONTWRITEBYTECODE"]:
            del env["PYTHONDONTWRITEBYTECODE"]
        py = self.m.path("bin", "python3")
        arg = json.dumps([STDLIB_MODULES, STABLE_MODULES, RACY_MODULES, WORKER_ROUNDS])
        label = "importer %d (%s)" % (slot, "PYTHONHOME" if home_mode else "venv")
        while not self.stop.is_set():
            try:
                r = subprocess.run([py, "-c", WORKER, arg], env=env, cwd="/",
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=WORKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.bug("%s: a worker hung (> %d s)" % (label, WORKER_TIMEOUT))
                return
            if r.returncode != 0:
                self.bug("%s: worker exited %d: %s" % (label, r.returncode, r.stderr[-2000:]))
                return
            try:
                out = json.loads(r.stdout)
            except ValueError:
                self.bug("%s: unreadable output %r %r" % (label, r.stdout[-500:], r.stderr[-500:]))
                return
            self.count("worker_runs")
            self.count("imports_ok", out["ok"])
            with self.lock:
                for k, v in out["legit"].items():
                    self.legit[k] = self.legit.get(k, 0) + v
            for b in out["bad"]:
                self.bug("%s: %s" % (label, b))
            if out["bad"]:
                return

    # --- pip
    def pip(self, wheel, pip_whl):
        env = pkgs.pip_env(self.work, self.m.mnt)
        pip = [self.m.path("bin", "python3"), os.path.join(pip_whl, "pip")]
        script = self.m.path("bin", pkgs.DEMO_SCRIPT)
        deadline = time.monotonic() + self.seconds
        cycles = 0
        try:
            while cycles < 2 or time.monotonic() < deadline:
                for args in (["install", "--no-index", "--no-deps", wheel],
                             ["uninstall", "-y", pkgs.DEMO_NAME]):
                    try:
                        r = subprocess.run(pip + args, env=env, cwd="/", stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, universal_newlines=True,
                                           timeout=PIP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.bug("pip %s hung (> %d s)" % (args[0], PIP_TIMEOUT))
                        return
                    if r.returncode != 0:
                        self.bug("pip %s failed (%d):\n%s\n%s" % (args[0], r.returncode,
                                                                  r.stdout[-3000:], r.stderr[-3000:]))
                        return
                    present = os.path.exists(script)
                    if present != (args[0] == "install"):
                        self.bug("after pip %s the console script %s" % (
                            args[0], "is still there" if present else "is missing"))
                        return
                cycles += 1
                self.count("pip_cycles")
        finally:
            self.stop.set()

    # --- renamer
    def renamer(self):
        """Through the mount: conc_churn_*, conc_atomic.  Directly in DIR:
        conc_dchurn_*, conc_datomic.  Never the same names both ways: a name
        changed directly may be seen through the mount only after
        site_timeout (documented), and a rename through the mount of a name
        the kernel still believes absent would fail with ENOENT, rightly."""
        i = 0
        try:
            while not self.stop.is_set():
                for root, p in ((self.sp, "conc_"), (self.m.site, "conc_d")):
                    fwd = i % 2 == 0
                    a, b = p + "churn_a", p + "churn_b"
                    fa, fb = p + "churn_file1.py", p + "churn_file2.py"
                    if not fwd:
                        a, b, fa, fb = b, a, fb, fa
                    self.move_dir(os.path.join(root, a), os.path.join(root, b))
                    os.rename(os.path.join(root, fa), os.path.join(root, fb))
                    # atomic replacement of a module importers must always find
                    tmp = os.path.join(root, "." + p + "atomic.tmp")
                    with open(tmp, "w") as f:
                        f.write("VERSION = %d\n" % (1 + i % 2))
                    os.rename(tmp, os.path.join(root, p + "atomic.py"))
                    # a directory with content moved out of its parent and back
                    d1 = os.path.join(root, p + "churn_tree")
                    os.makedirs(os.path.join(d1, "x", "y"), exist_ok=True)
                    with open(os.path.join(d1, "x", "y", "f.txt"), "w") as f:
                        f.write("%d\n" % i)
                    os.rename(os.path.join(d1, "x"), os.path.join(root, p + "churn_x"))
                    os.rename(os.path.join(root, p + "churn_x"), os.path.join(d1, "x"))
                    self.count("renames", 5)
                i += 1
                time.sleep(0.005)
        except Exception as e:
            self.bug("renamer, round %d: %r" % (i, e))

    @staticmethod
    def move_dir(src, dst):
        """rename(src, dst) for a package directory.  An importer that found
        the package at dst just before it moved writes its bytecode there
        afterwards, making dst/__pycache__ again (importlib creates missing
        directories): dst is then not empty, rightly, natively too.  Such a
        stray dst is removed and the rename tried again (bounded)."""
        for _ in range(50):
            try:
                os.rename(src, dst)
                return
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            shutil.rmtree(dst, ignore_errors=True)
        os.rename(src, dst)

    def run(self, wheel, pip_whl):
        threads = [threading.Thread(target=self.importer, args=(k,), daemon=True)
                   for k in range(self.importers)]
        threads.append(threading.Thread(target=self.renamer, daemon=True))
        threads.append(threading.Thread(target=self.pip, args=(wheel, pip_whl), daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + JOIN_TIMEOUT + self.seconds
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.stop.set()
        alive = [t for t in threads if t.is_alive()]
        if alive:
            self.bug("%d threads still running after %d s: a hang" % (len(alive), JOIN_TIMEOUT))


def run_load(tmp_path, seconds, importers, extra=(), out=sys.stderr):
    """Mount, load, check; returns a dict of what was done and seen."""
    b = _base()
    pip_whl = _pip_wheel()
    work = str(tmp_path)
    wheel = pkgs.demo_wheel(os.path.join(work, "wheels"))
    site = os.path.join(work, "site")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    make_site(site)
    home = os.path.join(work, "home")
    os.mkdir(home)
    with mounted(b.prefix, mnt, site, pythons.python_args(b) + list(extra), base=b) as m:
        # Warm up once (the daemon opens what a start-up needs), then idle.
        env = pkgs.pip_env(home, m.mnt)
        r = subprocess.run([m.path("bin", "python3"), "-c", "import conc_stable.sub.deep, json"],
                           env=env, cwd="/", timeout=60, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        assert r.returncode == 0, r.stderr
        idle_nodes, idle_fds = idle_counts(m)
        assert idle_nodes is not None, "the stats xattr has no 'nodes' line"
        before = stats(m.mnt)

        load = Load(m, b, home, seconds, importers)
        load.run(wheel, pip_whl)
        after = stats(m.mnt)
        requests = {k: after.get(k, 0) - before.get(k, 0) for k in
                    ("lookup", "forget", "open", "create", "rename", "unlink", "total")}
        out.write("\nload: %s; legitimate import failures: %s\n" % (load.counts, load.legit))
        out.write("requests during the load: %s\n" % requests)
        assert not load.bugs, "%d problems under load:\n%s" % (
            len(load.bugs), "\n\n".join(load.bugs[:20]))
        assert load.counts["pip_cycles"] >= 2 and load.counts["worker_runs"] >= importers, \
            "the load did too little to mean anything: %s" % load.counts

        busy_nodes, busy_fds = stats(m.mnt)["nodes"], fd_count(m.proc.pid)
        nodes, fds = settle(m, idle_nodes, idle_fds)
        out.write("nodes: idle %d, after the load %d, after drop_caches %d; "
                  "fds (pipes apart): idle %d, after the load %d, after drop_caches %d; "
                  "pipe fds %d\n"
                  % (idle_nodes, busy_nodes, nodes, idle_fds, busy_fds, fds,
                     len(daemon_fds(m.proc.pid)[1])))
        assert nodes <= idle_nodes + NODE_SLACK, \
            "nodes not forgotten: %d after drop_caches, %d when idle" % (nodes, idle_nodes)
        other, pipes = daemon_fds(m.proc.pid)
        assert fds <= idle_fds + FD_SLACK, \
            "daemon descriptors leaked: %d after drop_caches, %d when idle: %s" % (
                fds, idle_fds, other[:60])
        assert len(pipes) <= MAX_PIPE_FDS, \
            "%d pipe descriptors in the daemon (splice pipes of at most %d threads expected)" % (
                len(pipes), MAX_PIPE_FDS // 2)
        # The load went through the daemon: it saw lookups and forgets.
        assert after["lookup"] > before["lookup"] and stats(m.mnt)["forget"] > before["forget"]
    return {"counts": load.counts, "legit": load.legit, "requests": requests,
            "nodes": (idle_nodes, busy_nodes, nodes), "fds": (idle_fds, busy_fds, fds)}


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (drop_caches)")


@pytest.mark.parametrize("mode", ["default", "no_open"])
def test_importers_pip_renames_then_nodes_forgotten(tmp_path, mode):
    _need_root()
    run_load(str(tmp_path), SECONDS, IMPORTERS, ["-o", "no_open"] if mode == "no_open" else [])
