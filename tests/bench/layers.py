#!/usr/bin/python3
"""Stacked read-only site layers (issue 11): what they cost.

    tests/bench/layers.py [--runs N] [--out DIR] [--only mount,import,share,pip]
                          [--base /usr] [--python 3.11] [--workdir DIR]

Four measurements, each a ratio of medians taken in one run, interleaved
(A B, B A, ...), as in tests/bench/run:

- mount: time to an env with 3 layers vs without: `pyenvfs run [--lower-site
  L1 --lower-site L2 --lower-site L3] BASE -- python -c pass`, and the same
  by hand: mount (it returns with the mount up), `M/bin/python3 -c pass`,
  `fusermount3 -u` (goal <= 1.1);
- import: `import pyenvfs_bench300` (300 modules, bytecode in place) from the
  second lower layer vs from DIR, under the same 3 layers; cold-ish (a fresh
  mount each round, the page cache warm) and warm (goal <= 1.05);
- share: 20 envs over one layer, each running Python that imports the
  layer's packages, and `pip list`; `du -s` of the 20 DIRs against the
  layer's (goal <= 1 %);
- pip: `pip install -U X` (X a few MB in many files) where X 1.0 is in a
  lower layer vs in DIR; what renaming a layer's directory (EXDEV) costs in
  time and bytes copied.

The layers are env DIRs made by pip (through a pyenvfs mount, with pip from
--with-pip) from wheels built here (tests/pkgs.py), bytecode included.
Writes layers.md (Markdown) and layers.json (the raw times) into --out;
with --update FILE, also that file's "Stacked layers" section,
followed by the hand-written layers-analysis.md.  Everything it mounts is unmounted at the end, also on failure or
Ctrl-C (fusermount3 -u, then -uz); the daemons are stopped by PID.
Nothing here asserts a time.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from common import (REPO, BenchError, block_markers, interleave, median, ms, ratio, sh,  # noqa: E402
                    spread, stats, stats_delta, with_block)
from envs import PKG, PKG_MODULES, write_package  # noqa: E402
from procinfo import mount_count  # noqa: E402  (tests/procinfo.py)
import pkgs  # noqa: E402  (tests/pkgs.py)

PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"
INFO_XATTR = "user.pyenvfs.info"

GOAL_MOUNT = 1.1
GOAL_IMPORT = 1.05
GOAL_SHARE = 0.01

LAYER_PKGS = 30         # distributions per layer
SHARE_ENVS = 20
BIG = "pyenvfs_big"     # the sizeable package of the pip workload
BIG_MODULES = 400


def log(msg):
    print("[layers] %s" % msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# mounts, always undone

class Lab:
    """The work directory, the commands' environments, and every mount made
    here with its daemon's PID.  undo_all() unmounts them (fusermount3 -u,
    then -uz) and stops the daemons that are still there, by PID."""

    def __init__(self, work, base, xy):
        self.work, self.base, self.xy = work, base, xy
        self.exe = os.path.join(base, "bin", "python" + xy)
        self.home = self.path("home")
        self.cache = self.path("xdg-cache")
        self.rt = self.path("run-rt")
        for d in (self.home, self.cache, self.rt):
            os.makedirs(d, exist_ok=True)
        self.mounted = {}       # mount point -> Popen of a foreground daemon, or a PID

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def env(self, extra=None):
        """For pyenvfs and for the env's Python and pip: no user config, no
        index, the layout and pip-layer caches in the work directory."""
        e = pkgs.pip_env(self.home, extra={"XDG_CACHE_HOME": self.cache, "TMPDIR": self.rt})
        if extra:
            e.update(extra)
        return e

    def argv(self, m, site, lowers=(), with_pip=False, opts=()):
        a = [PYENVFS, self.base, m, "--site", site, "--python", self.xy]
        for low in lowers:
            a += ["--lower-site", low]
        return a + (["--with-pip"] if with_pip else []) + list(opts)

    def mount(self, m, site, lowers=(), with_pip=False, opts=()):
        """A foreground daemon (ours, a child), up when this returns."""
        os.makedirs(m, exist_ok=True)
        p = subprocess.Popen(self.argv(m, site, lowers, with_pip, opts) + ["-f"], env=self.env(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(m.rstrip("/") + ".log", "ab"), cwd="/")
        self.mounted[m] = p
        deadline = time.monotonic() + 60
        while not os.path.ismount(m):
            if p.poll() is not None:
                raise BenchError("pyenvfs for %s exited %d (see %s.log)" % (m, p.returncode, m))
            if time.monotonic() > deadline:
                raise BenchError("%s not mounted after 60 s" % m)
            time.sleep(0.005)
        return m

    def mount_daemon(self, m, site, lowers=(), opts=()):
        """pyenvfs as a user runs it: it daemonizes and returns with the mount
        up.  Returns the seconds that took; the daemon's PID is read after."""
        os.makedirs(m, exist_ok=True)
        self.mounted[m] = None
        t0 = time.perf_counter()
        sh(self.argv(m, site, lowers, opts=opts), env=self.env())
        t = time.perf_counter() - t0
        return t

    def note_pid(self, m):
        """The daemon's PID of a mount_daemon() mount, from its info xattr."""
        info = os.getxattr(m, INFO_XATTR).decode()
        pid = [int(ln.split()[1]) for ln in info.splitlines() if ln.startswith("pid ")]
        self.mounted[m] = pid[0] if pid else None

    def unmount(self, m):
        """fusermount3 -u, then -uz; then wait for the daemon (SIGTERM, SIGKILL
        by its PID if it stays).  Returns the seconds of the first -u."""
        t = None
        for attempt in range(3):
            if mount_count(m) == 0:
                break
            t0 = time.perf_counter()
            r = subprocess.run([FUSERMOUNT, "-uz" if attempt else "-u", m], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if t is None:
                t = time.perf_counter() - t0
            if r.returncode and attempt:
                log("fusermount3 -uz %s: %s" % (m, r.stderr.decode().strip()))
            elif r.returncode:
                time.sleep(0.2)
        d = self.mounted.pop(m, None)
        if isinstance(d, subprocess.Popen):
            stop(d)
        elif isinstance(d, int):
            stop_pid(d, m)
        return t

    def undo_all(self):
        for m in reversed(list(self.mounted)):
            try:
                self.unmount(m)
            except Exception as e:      # keep going: every mount must go
                log("unmounting %s: %s" % (m, e))
        # a `pyenvfs run` interrupted by us leaves its own mount to itself;
        # anything still mounted under the work directory goes too
        for m in mounts_under(self.work):
            log("left mounted, unmounting: %s" % m)
            self.unmount(m)


def stop(p):
    try:
        p.wait(timeout=10)
        return
    except subprocess.TimeoutExpired:
        pass
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def stop_pid(pid, m):
    """Wait for a daemonized pyenvfs of m to exit; signal it by PID only if it
    is still that daemon after 10 s."""
    for _ in range(200):
        if not is_daemon_of(pid, m):
            return
        time.sleep(0.05)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if is_daemon_of(pid, m):
            os.kill(pid, sig)
            time.sleep(1)


def is_daemon_of(pid, m):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and os.path.basename(argv[0]) == b"pyenvfs" and m.encode() in argv


def mounts_under(root):
    root = os.path.realpath(root) + os.sep
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp.startswith(root):
                out.append(mp)
    return out[::-1]


# ---------------------------------------------------------------------------
# timing

def run_timed(argv, env, cwd="/", io=False, cpu=None):
    """Wall time of one command (spawn to exit).  With io, also the bytes it
    wrote (wchar of /proc/PID/io, read before the child is reaped); with a
    list as cpu, its CPU time (user + system, with the children it reaped,
    from wait4) is appended to that list."""
    t0 = time.perf_counter()
    p = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wchar = None
    if io:
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        t = time.perf_counter() - t0
        try:
            with open("/proc/%d/io" % p.pid) as f:
                wchar = int(dict(ln.split(": ") for ln in f.read().splitlines())["wchar"])
        except (OSError, KeyError, ValueError):
            pass
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    if not io:
        t = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    if cpu is not None:
        cpu.append(ru.ru_utime + ru.ru_stime)
    if p.returncode:
        raise BenchError("%s exited %d:\n%s" % (" ".join(map(str, argv)), p.returncode,
                                                 err.decode("utf-8", "replace")[-3000:]))
    return (t, wchar) if io else t


def du_kb(*paths, apparent=False):
    """du -s of paths together (kB), as the du command counts them."""
    args = ["du", "-s", "-c", "-k"] + (["--apparent-size"] if apparent else []) + list(paths)
    out = sh(args).stdout.splitlines()
    return int(out[-1].split()[0])


def files_in(root):
    out = []
    for d, dirs, files in os.walk(root):
        for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out.append(os.path.relpath(os.path.join(d, n), root))
        for n in dirs:
            out.append(os.path.relpath(os.path.join(d, n), root) + "/")
    return sorted(out)


# ---------------------------------------------------------------------------
# the layers

def module_text(name, i, funcs):
    body = ['"""%s, module %d."""' % (name, i), "import os", "", "SEED_%d = %d" % (i, i), ""]
    for j in range(funcs):
        body += ["",
                 "def f%d_%d(x, y=%d):" % (i, j, j),
                 "    \"\"\"Helper %d of module %d: sums a small series.\"\"\"" % (j, i),
                 "    total = SEED_%d" % i,
                 "    for n in range(x):",
                 "        total += (n * y) %% %d" % (j + 7),
                 "    return os.path.join(str(total), %r)" % ("part-%d-%d" % (i, j)),
                 ""]
    body += ["", "class C%d:" % i, "    def __init__(self):", "        self.v = SEED_%d" % i, ""]
    return "\n".join(body) + "\n"


def dist_wheel(wheels, name, version, modules=5, funcs=8, script=False):
    files = {"%s/__init__.py" % name: "VERSION = %r\nfrom . import %s\n" % (
        version, ", ".join("m%d" % i for i in range(modules)))}
    for i in range(modules):
        files["%s/m%d.py" % (name, i)] = module_text(name, i, funcs)
    ep = "[console_scripts]\n%s-tool = %s:m0.C0\n" % (name.replace("_", "-"), name) if script else None
    return pkgs.make_wheel(wheels, name, version, files, entry_points=ep)


def pip_install(lab, site, lowers, args, m):
    """pip install ARGS into DIR=site (through a mount with --with-pip)."""
    lab.mount(m, site, lowers, with_pip=True)
    try:
        sh([os.path.join(m, "bin", "python3"), "-m", "pip", "install", "-q", "--no-index"] + args,
           env=lab.env(), cwd=lab.home, timeout=900)
    finally:
        lab.unmount(m)


class Layers:
    """L1, L2, L3: env DIRs of LAYER_PKGS distributions each (L2 also holds
    BIG 1.0); L2p: L2 plus the 300-module package with its bytecode; the
    wheels of BIG 1.0 and 2.0."""

    def __init__(self, lab):
        self.lab = lab
        w = self.wheels = lab.path("wheels")
        os.makedirs(w, exist_ok=True)
        self.big = {v: dist_wheel(w, BIG, v, modules=BIG_MODULES, funcs=12) for v in ("1.0", "2.0")}
        self.tops = {}
        self.dirs = {}
        # the base's pip layer, made once here (not by a mount, in the timings)
        sh([PYENVFS, "pip-layer", "--python", lab.xy, lab.base], env=lab.env())
        m = lab.path("mnt-build")
        for k in (1, 2, 3):
            names = ["lay%d_pkg%02d" % (k, i) for i in range(LAYER_PKGS)]
            whls = [dist_wheel(w, n, "1.%d" % k, script=(i % 5 == 0)) for i, n in enumerate(names)]
            if k == 2:
                whls.append(self.big["1.0"])
                names.append(BIG)
            d = lab.path("L%d" % k)
            t0 = time.time()
            pip_install(lab, d, (), whls, m)
            log("L%d: %d distributions, %d kB, made in %.0f s" % (k, len(whls), du_kb(d), time.time() - t0))
            self.tops[k] = names
            self.dirs[k] = d
        # L2 with the 300-module package and its bytecode (compiled natively, as a
        # layer's owner would, with the base's Python: the env's interpreter)
        self.l2p = lab.path("L2p")
        sh(["cp", "-a", self.dirs[2], self.l2p])
        write_package(self.l2p)
        sh([lab.exe, "-m", "compileall", "-q", os.path.join(self.l2p, PKG)], env=lab.env())

    def stack(self, with_pkg=False):
        return [self.dirs[1], self.l2p if with_pkg else self.dirs[2], self.dirs[3]]

    def sizes(self):
        return {("L%d" % k): (len(self.tops[k]), du_kb(d)) for k, d in self.dirs.items()}


# ---------------------------------------------------------------------------
# 1. time to an env with 3 layers

def w_mount(lab, L, runs):
    env = lab.env()
    stack = L.stack()
    lowers = sum((["--lower-site", d] for d in stack), [])
    run_plain = [PYENVFS, "run", "--python", lab.xy, lab.base, "--", "python", "-c", "pass"]
    run_layers = [PYENVFS, "run", "--python", lab.xy] + lowers + [lab.base, "--", "python", "-c", "pass"]
    by_hand = {}
    parts = {"plain": [], "layers": []}

    def hand(name, lows):
        m, site = lab.path("mnt-" + name), lab.path("D-" + name)
        os.makedirs(site, exist_ok=True)

        def once():
            t_mount = lab.mount_daemon(m, site, lows)
            t_py = run_timed([os.path.join(m, "bin", "python3"), "-c", "pass"], env)
            lab.note_pid(m)
            t_umount = lab.unmount(m)
            parts[name].append((t_mount, t_py, t_umount))
            return t_mount + t_py + t_umount
        by_hand[name] = (m, site)
        return once

    cpu = {"plain": [], "layers": []}
    fns = [lambda: run_timed(run_plain, env, cpu=cpu["plain"]), lambda: run_timed(run_layers, env, cpu=cpu["layers"]),
           hand("plain", ()), hand("layers", stack)]
    res = interleave(fns, runs, warmup=2)
    cpu = {k: v[2:] for k, v in cpu.items()}       # without the warm-up rounds
    parts = {k: v[2:] for k, v in parts.items()}
    # what the daemon is asked in a first run after mounting, by hand
    reqs = {}
    for name, lows in (("plain", ()), ("layers", stack)):
        m, site = by_hand[name]
        lab.mount(m, site, lows)
        reqs[name] = stats_delta(m, lambda: run_timed([os.path.join(m, "bin", "python3"), "-c", "pass"], env))
        lab.unmount(m)
    return {"times": res, "requests": reqs, "parts": parts, "cpu": cpu,
            "cmd_plain": " ".join(run_plain[1:]), "cmd_layers": "pyenvfs run --python %s --lower-site L1 "
            "--lower-site L2 --lower-site L3 %s -- python -c pass" % (lab.xy, lab.base)}


# ---------------------------------------------------------------------------
# 2. a 300-module package in L2 vs in DIR

def w_import(lab, L, runs):
    env = lab.env()
    code = "import " + PKG
    d_layer = lab.path("D-pkg-in-L2")
    d_dir = lab.path("D-pkg-in-DIR")
    d_plain = lab.path("D-pkg-plain")
    os.makedirs(d_layer, exist_ok=True)
    for d in (d_dir, d_plain):
        os.makedirs(d, exist_ok=True)
        write_package(d)
        sh([lab.exe, "-m", "compileall", "-q", os.path.join(d, PKG)], env=env)
    cases = [("L2", d_layer, L.stack(with_pkg=True)), ("DIR", d_dir, L.stack()), ("plain", d_plain, ())]
    before = {name: files_in(d) for name, d, _ in cases}
    mnts = {name: lab.path("mnt-imp-" + name) for name, _, _ in cases}

    def py(name):
        return [os.path.join(mnts[name], "bin", "python3"), "-c", code]

    def cold(name, d, lows):
        def once():
            lab.mount(mnts[name], d, lows)
            try:
                return run_timed(py(name), env)
            finally:
                lab.unmount(mnts[name])
        return once
    cold_t = interleave([cold(*c) for c in cases], runs, warmup=1)
    for name, d, lows in cases:
        lab.mount(mnts[name], d, lows)
    warm_t = interleave([lambda n=name: run_timed(py(n), env) for n, _, _ in cases], runs, warmup=3)
    # requests: one warm run right after another, and one 1.5 s later (past
    # the default 1 s entry timeout of DIR and the layers)
    reqs = {}
    for name, _, _ in cases:
        run_timed(py(name), env)
        reqs[name, "warm"] = stats_delta(mnts[name], lambda n=name: run_timed(py(n), env))
        time.sleep(1.5)
        reqs[name, "after 1.5 s"] = stats_delta(mnts[name], lambda n=name: run_timed(py(n), env))
    for name, _, _ in cases:
        lab.unmount(mnts[name])
    for name, d, lows in cases:
        lab.mount(mnts[name], d, lows)
        reqs[name, "first after mounting"] = stats_delta(mnts[name], lambda n=name: run_timed(py(n), env))
        lab.unmount(mnts[name])
    grown = {name: sorted(set(files_in(d)) - set(before[name])) for name, d, _ in cases}
    return {"cold": cold_t, "warm": warm_t, "requests": {"%s, %s" % k: v for k, v in reqs.items()},
            "grown": grown}


# ---------------------------------------------------------------------------
# 3. 20 envs over one layer

def w_share(lab, L, n_envs):
    env = lab.env()
    layer = L.l2p
    tops = L.tops[2] + [PKG]
    code = "import %s" % ", ".join(tops)
    sites = [lab.path("D-share-%02d" % i) for i in range(n_envs)]
    mnts = [lab.path("mnt-share-%02d" % i) for i in range(n_envs)]
    listed = None
    for m, d in zip(mnts, sites):
        lab.mount(m, d, [layer], with_pip=True)
    t0 = time.time()
    for m in mnts:
        py = os.path.join(m, "bin", "python3")
        sh([py, "-c", code], env=env, cwd=lab.home)
        out = sh([py, "-m", "pip", "list", "--format=freeze"], env=env, cwd=lab.home).stdout
        listed = len(out.split())
    took = time.time() - t0
    for m in mnts:
        lab.unmount(m)
    files = files_in(sites[0])
    return {"envs": n_envs, "layer": os.path.basename(layer), "layer_kb": du_kb(layer),
            "layer_apparent_kb": du_kb(layer, apparent=True),
            "dirs_kb": du_kb(*sites), "dirs_apparent_kb": du_kb(*sites, apparent=True),
            "one_dir_kb": du_kb(sites[0]), "files_in_one_dir": files, "pip_list_lines": listed,
            "took": took, "code_len": len(tops)}


# ---------------------------------------------------------------------------
# 4. pip install -U of a package in a lower layer vs in DIR

def w_pip(lab, L, runs):
    env = lab.env()
    tmpl = lab.path("D-pip-template")     # a plain env's DIR with BIG 1.0
    pip_install(lab, tmpl, (), [L.big["1.0"]], lab.path("mnt-build"))
    stack = L.stack()
    cases = {"layer": (lab.path("D-pip-layer"), stack), "plain": (lab.path("D-pip-plain"), ())}
    cmd = ["-m", "pip", "install", "-q", "--no-index", "--find-links", L.wheels, "-U", BIG]
    extra = {name: [] for name in cases}

    def once(name):
        d, lows = cases[name]
        if os.path.exists(d):
            shutil.rmtree(d)
        if name == "plain":
            sh(["cp", "-a", tmpl, d])
        else:
            os.makedirs(d)
        kb0 = du_kb(d)
        m = lab.path("mnt-pip-" + name)
        lab.mount(m, d, lows, with_pip=True)
        try:
            s0 = stats(m)
            t, wchar = run_timed([os.path.join(m, "bin", "python3")] + cmd, env, cwd=lab.home, io=True)
            s1 = stats(m)
            ver = sh([os.path.join(m, "bin", "python3"), "-c",
                      "import %s, importlib.metadata as md; print(%s.VERSION, md.version(%r))" % (BIG, BIG, BIG)],
                     env=env, cwd=lab.home).stdout.split()
        finally:
            lab.unmount(m)
        if ver != ["2.0", "2.0"]:
            raise BenchError("after pip install -U, %s is %s" % (BIG, ver))
        wh = os.path.join(d, ".pyenvfs", "whiteouts")
        extra[name].append({"wchar": wchar, "dir_kb_before": kb0, "dir_kb_after": du_kb(d),
                            "records_kb": du_kb(wh) if os.path.isdir(wh) else 0,
                            "record_dirs": sum(len(ds) for _, ds, _ in os.walk(wh)),
                            "requests": {k: s1[k] - s0.get(k, 0) for k in s1 if s1[k] - s0.get(k, 0)}})
        return t
    res = interleave([lambda: once("layer"), lambda: once("plain")], runs, warmup=1)
    big_kb = du_kb(os.path.join(L.dirs[2], BIG))
    big_files = sum(len(f) for _, _, f in os.walk(os.path.join(L.dirs[2], BIG)))
    return {"times": res, "extra": extra, "big_kb": big_kb, "big_apparent_kb":
            du_kb(os.path.join(L.dirs[2], BIG), apparent=True), "big_files": big_files,
            "wheel_kb": os.path.getsize(L.big["2.0"]) // 1024,
            "cmd": "M/bin/python3 " + " ".join(cmd).replace(L.wheels, "WHEELS")}


# ---------------------------------------------------------------------------
# the report

NOT_REQUESTS = ("total", "total_without_ioctl", "nodes", "passthrough_opens")   # gauges beside the counts


def req_text(d):
    parts = ["%s %d" % (k, v) for k, v in sorted(d.items(), key=lambda kv: -kv[1])
             if k not in NOT_REQUESTS and v]
    return "%d without the isatty ioctls (%s)" % (d.get("total_without_ioctl", 0), ", ".join(parts))


def shown_args(argv):
    """The command line, with the directories it names left out."""
    out = []
    for i, x in enumerate(argv):
        named = {"--out": "OUT", "--workdir": "WORKDIR", "--report": "JSON"}
        out.append(named[argv[i - 1]] if i and argv[i - 1] in named else x)
    return " ".join(out)


def report(a, res, took):
    out = ["- Command: `tests/bench/layers.py %s`" % res.get("argv", shown_args(sys.argv[1:])),
           "- Date: %s; %s; kernel %s; base %s (Python %s); %d cores" % (
               res.get("date") or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), res["version"],
               os.uname().release,
               a.base, a.python, os.cpu_count() or 0),
           "- Load average at start: %s; at the end: %s" % (res["load_start"], res.get("load_end") or " ".join(
               "%.2f" % x for x in os.getloadavg())),
           "- Layers (env DIRs made by pip from wheels built here, bytecode included): %s" % "; ".join(
               "%s %d distributions, %d kB" % (k, n, kb) for k, (n, kb) in sorted(res["layers"].items())),
           "- Took %.0f s" % took, ""]
    rows = []
    if "mount" in res:
        r = res["mount"]
        rp, rl, hp, hl = r["times"]
        out += ["### Time to an env with 3 layers", "",
                "`pyenvfs run` makes and removes a fresh DIR and mount point each time; by hand, DIR stays",
                "(an env mounted again), the mount command returns with the mount up, and the daemon's",
                "PID is read after Python (not timed). The layout and pip-layer caches are warm; 2 rounds",
                "thrown away first.", "",
                "| what | without layers | with L1, L2, L3 | ratio (IQR of pairs) | goal |", "|---|---|---|---|---|",
                "| `%s` | %s | %s | **%.3f** (%s) | ≤ %g |" % (
                    r["cmd_layers"], ms(median(rp)), ms(median(rl)), ratio(rl, rp), spread(rl, rp), GOAL_MOUNT),
                "| `pyenvfs BASE M --site DIR [--lower-site L…]`; `M/bin/python3 -c pass`; "
                "`fusermount3 -u M` | %s | %s | **%.3f** (%s) | ≤ %g |" % (
                    ms(median(hp)), ms(median(hl)), ratio(hl, hp), spread(hl, hp), GOAL_MOUNT), "",
                "CPU time of `pyenvfs run` (user + system of run, the daemon and Python, from wait4): "
                "without layers %s, with them %s: **%.3f** (%s)." % (
                    ms(median(r["cpu"]["plain"])), ms(median(r["cpu"]["layers"])),
                    ratio(r["cpu"]["layers"], r["cpu"]["plain"]), spread(r["cpu"]["layers"], r["cpu"]["plain"]))
                if r.get("cpu") else "", "",
                "By hand, the medians of the parts (mount, python, unmount): without layers %s; with them %s." % tuple(
                    ", ".join(ms(median([p[i] for p in r["parts"][k]])) for i in range(3)) for k in ("plain", "layers")),
                "",
                "Requests of the first `python -c pass` after mounting: without layers %s; with them %s." % (
                    req_text(r["requests"]["plain"]), req_text(r["requests"]["layers"])), ""]
        rows.append(("time to an env with 3 layers / without (`pyenvfs run`)", ratio(rl, rp), GOAL_MOUNT))
        rows.append(("time to an env with 3 layers / without (mount, python, unmount)", ratio(hl, hp), GOAL_MOUNT))
        if r.get("cpu"):
            rows.append(("CPU time of `pyenvfs run` (run, daemon, Python), 3 layers / without",
                         ratio(r["cpu"]["layers"], r["cpu"]["plain"]), GOAL_MOUNT))
    if "import" in res:
        r = res["import"]
        out += ["### A 300-module package in L2 vs in DIR", "",
                "`M/bin/python3 -c 'import %s'` (venv mode; its `__init__` imports all %d modules)," % (PKG, PKG_MODULES),
                "the package's bytecode made beforehand by the base's `python -m compileall`, in L2 (a copy",
                "of L2 with the package) or in DIR. Cold-ish: each round mounts, runs Python once, unmounts",
                "(the page cache stays warm). Warm: the three envs stay mounted, 3 rounds thrown away first.", "",
                "| | in L2 (3 layers) | in DIR (same 3 layers) | in DIR (no layers) | L2 / DIR (IQR) | "
                "L2 / no layers (IQR) | goal |", "|---|---|---|---|---|---|---|"]
        for kind in ("cold", "warm"):
            l2, dd, pl = r[kind]
            out.append("| %s | %s | %s | %s | **%.3f** (%s) | %.3f (%s) | ≤ %g |" % (
                "cold-ish (fresh mount, page cache warm)" if kind == "cold" else "warm",
                ms(median(l2)), ms(median(dd)), ms(median(pl)), ratio(l2, dd), spread(l2, dd),
                ratio(l2, pl), spread(l2, pl), GOAL_IMPORT))
            rows.append(("import of 300 modules from L2 / from DIR, %s" % kind, ratio(l2, dd), GOAL_IMPORT))
        out += ["", "Requests per run (the daemon's counters):", ""]
        for k, v in r["requests"].items():
            out.append("- %s: %s" % (k, req_text(v)))
        out += ["", "Files the runs added to each DIR: %s" % "; ".join(
            "%s: %s" % (k, (", ".join(v[:6]) + (" …" if len(v) > 6 else "")) if v else "none")
            for k, v in r["grown"].items()), ""]
    if "share" in res:
        r = res["share"]
        frac = r["dirs_kb"] / float(r["layer_kb"])
        out += ["### %d envs over one layer" % r["envs"], "",
                "All mounted at once, each `--site D_i --lower-site %s --with-pip`; in each, `python -c 'import …'` of the "
                "layer's %d top-level packages, then `python -m pip list` (%d lines)." % (
                    r["layer"], r["code_len"], r["pip_list_lines"]), "",
                "| | du -s (kB) | du -s --apparent-size (kB) |", "|---|---|---|",
                "| the layer | %d | %d |" % (r["layer_kb"], r["layer_apparent_kb"]),
                "| the %d DIRs together | %d | %d |" % (r["envs"], r["dirs_kb"], r["dirs_apparent_kb"]),
                "| one DIR | %d | — |" % r["one_dir_kb"],
                "| DIRs / layer | **%.4f** | %.4f |" % (frac, r["dirs_apparent_kb"] / float(r["layer_apparent_kb"])),
                "", "What one DIR holds after that: %s" % (", ".join("`%s`" % f for f in r["files_in_one_dir"])
                                                         or "nothing"), ""]
        rows.append(("du -s of %d DIRs / du -s of their shared layer" % r["envs"], frac, GOAL_SHARE))
    if "pip" in res:
        r = res["pip"]
        lt, pt = r["times"]
        ex = r["extra"]

        def med(name, key):
            return median([e[key] for e in ex[name] if e[key] is not None] or [0])
        dw = med("layer", "wchar") - med("plain", "wchar")
        out += ["### `pip install -U` of a package in a lower layer", "",
                "`%s`: %s %s → 2.0, %d files, %d kB on disk (%d kB apparent) in the layer; "
                "the 2.0 wheel is %d kB." % (r["cmd"], BIG, "1.0", r["big_files"], r["big_kb"],
                                              r["big_apparent_kb"], r["wheel_kb"]),
                "Each round: a fresh DIR (empty, over L1, L2, L3, for X in L2; a copy of a plain env's DIR",
                "holding X 1.0 for the plain env), a fresh mount with `--with-pip`; only pip is timed. The",
                "bytes pip wrote: `wchar` of /proc/PID/io (every write(2), sendfile included), read before",
                "it is reaped; pip's own files come from the pip layer in both.",
                "", "| X 1.0 in | time (median) | bytes pip wrote (wchar) | DIR before → after |",
                "|---|---|---|---|",
                "| L2 (3 layers, DIR empty) | %s | %.1f MB | %d → %d kB |" % (
                    ms(median(lt)), med("layer", "wchar") / 1e6, med("layer", "dir_kb_before"),
                    med("layer", "dir_kb_after")),
                "| DIR (a plain env) | %s | %.1f MB | %d → %d kB |" % (
                    ms(median(pt)), med("plain", "wchar") / 1e6, med("plain", "dir_kb_before"),
                    med("plain", "dir_kb_after")),
                "| layer / plain | **%.3f** (%s) | +%.1f MB | |" % (ratio(lt, pt), spread(lt, pt), dw / 1e6), "",
                "In the layer's case DIR then holds %d kB of removal records (`.pyenvfs/whiteouts`, %d "
                "directories)." % (med("layer", "records_kb"), med("layer", "record_dirs")), "",
                "Requests of the pip run (last round): layer %s; plain %s." % (
                    req_text(ex["layer"][-1]["requests"]), req_text(ex["plain"][-1]["requests"])), ""]
        rows.append(("`pip install -U` of X in L2 / X in DIR", ratio(lt, pt), None))
    summary = ["| figure | ratio | goal | met? |", "|---|---|---|---|"]
    for name, v, goal in rows:
        summary.append("| %s | **%.4g** | %s | %s |" % (
            name, v, "≤ %g" % goal if goal else "—", "—" if goal is None else ("yes" if v <= goal else "**no**")))
    return "\n".join(out[:6] + summary + [""] + out[6:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="interleaved rounds per timed figure")
    ap.add_argument("--pip-runs", type=int, default=None, help="rounds of the pip workload (default: runs, at most 7)")
    ap.add_argument("--out", default=".", help="directory for layers.md and layers.json")
    ap.add_argument("--only", default="mount,import,share,pip")
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/var/tmp"),
                    help="on the base's file system")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--report", metavar="JSON", help="only write layers.md again from a layers.json")
    ap.add_argument("--update", metavar="MD", help="a Markdown file whose \"Stacked layers\" section to rewrite")
    a = ap.parse_args()
    if a.report:
        with open(a.report) as f:
            res = json.load(f)
        md = report(a, res, res.get("took", 0))
        with open(os.path.join(a.out, "layers.md"), "w") as f:
            f.write(md + "\n")
        update(a.update, md)
        print(md)
        return
    only = a.only.split(",")
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pyenvfs-layers-bench-", dir=a.workdir)
    lab = Lab(work, a.base, a.python)

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)    # also when started with it ignored (`&`)
    t0 = time.time()
    res = {"load_start": " ".join("%.2f" % x for x in os.getloadavg()), "argv": shown_args(sys.argv[1:]),
           "version": sh([PYENVFS, "--version"]).stdout.strip()}
    try:
        log("building the layers in %s" % work)
        L = Layers(lab)
        res["layers"] = L.sizes()
        if "mount" in only:
            log("mount")
            res["mount"] = w_mount(lab, L, a.runs)
        if "import" in only:
            log("import")
            res["import"] = w_import(lab, L, a.runs)
        if "share" in only:
            log("share")
            res["share"] = w_share(lab, L, SHARE_ENVS)
        if "pip" in only:
            log("pip")
            res["pip"] = w_pip(lab, L, a.pip_runs or min(a.runs, 7))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.undo_all()
        left = mounts_under(work)
        if not left and not a.keep:
            for _ in range(3):      # a helper of an interrupted pip-layer build may still write
                shutil.rmtree(work, ignore_errors=True)
                if not os.path.exists(work):
                    break
                time.sleep(1)
        elif left:
            log("still mounted: %s (work directory kept)" % left)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    res["took"] = time.time() - t0
    res["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = report(a, res, res["took"])
    with open(os.path.join(a.out, "layers.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(a.out, "layers.json"), "w") as f:
        json.dump({k: v for k, v in res.items()}, f, indent=1, default=str)
    update(a.update, md)
    print(md)


def update(path, md):
    """Rewrite path's section of this script: the tables, then the analysis."""
    if not path:
        return
    begin, end = block_markers("layers.py")
    with open(os.path.join(HERE, "layers-analysis.md")) as f:
        analysis = f.read().rstrip("\n")
    block = "\n".join([begin, "## Stacked layers (issue 11)", "",
                       "Generated by `tests/bench/layers.py` (kept as it is by `tests/bench/run`); the text",
                       "after the tables is tests/bench/layers-analysis.md, written by hand. Every figure",
                       "is a ratio of medians of runs interleaved in one run (A B, B A, ...), with the",
                       "quartiles of the per-round ratios in parentheses.", "", md.rstrip("\n"), "",
                       analysis, end])
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(with_block(text, block, "layers.py"))


if __name__ == "__main__":
    main()
