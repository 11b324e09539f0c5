"""Issue 21's workloads: imports at the FUSE floor, for a root daemon and for
an unprivileged one.

- startup: the standard library's import-heavy start-up, PYTHONHOME and venv
  mode, a root daemon (defaults: passthrough; `-o open=kernel`;
  `-o passthrough=off`) and an unprivileged one (defaults), each against the
  native reference run by the same user; the requests of a warm start-up.
- heavy: Debian's numpy, scipy and matplotlib and what they import, copied out
  of /usr/lib/python3/dist-packages (about 5,000 files), imported warm
  (`import numpy, scipy.stats, scipy.optimize, matplotlib.pyplot`), in DIR and
  in a lower layer owned by root, venv and PYTHONHOME mode, root and
  unprivileged, against the same files in a native venv (and a native copy
  tree); the requests of a warm run.
- package: the 300-module package in DIR, root and unprivileged.
- pagecache: the page cache of 1 and 10 envs against native (root: passthrough).

The unprivileged user is a throwaway system user made for the run (deleted at
the end) when the bench runs as root, else the bench's own user.
"""

import os
import pwd
import secrets
import shutil
import stat
import sys
import time

from common import (BenchError, Cmd, IS_ROOT, Skip, interleave, median, sh, time_cmd)
from envs import IMPORTS, PKG, PKG_MODULES, build_copy_tree, write_package
from report import Group, Row, time_row

GOAL_FLOOR = ("<=", 1.10)           # heavy set and stdlib start-up (PYTHONHOME)
GOAL_PKG = ("<=", 1.15)
GOAL_REQ_USER = ("<=", 50)          # requests per warm heavy run, isatty left out
GOAL_REQ_ROOT_PER_FILE = ("<=", 2)
GOAL_PAGES_ONE = ("<=", 1.1)
GOAL_PAGES_TEN = ("<=", 1.2)

HEAVY_CODE = "import numpy, scipy.stats, scipy.optimize, matplotlib.pyplot"
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
REQ_KINDS = ["lookup", "getattr", "open", "release", "flush", "read", "readdir", "ioctl"]


# ---------------------------------------------------------------------------
# who runs the daemon (and the Pythons)

class User:
    """root (the bench itself) or an unprivileged user."""

    def __init__(self, label, uid, gid, name):
        self.label, self.uid, self.gid, self.name = label, uid, gid, name
        self.root = uid == 0

    def own(self, path, tree=False):
        if os.geteuid() != 0 or self.root:
            return
        for dp, dns, fns in (os.walk(path) if tree else [(path, [], [])]):
            os.lchown(dp, self.uid, self.gid)
            for n in dns + fns:
                os.lchown(os.path.join(dp, n), self.uid, self.gid)

    def home(self, ctx):
        d = ctx.path("home-" + self.name)
        if not os.path.isdir(d):
            os.makedirs(d)
            self.own(d)
        return d

    def env(self, ctx, extra=None):
        """For the daemon: its HOME and layout cache are the user's."""
        h = self.home(ctx)
        e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": h,
             "XDG_CACHE_HOME": os.path.join(h, ".cache")}
        if extra:
            e.update(extra)
        return e

    def cmd_user(self):
        return None if self.uid == os.geteuid() else self


def _make_user(ctx):
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    userdel = shutil.which("userdel") or shutil.which("userdel", path="/usr/sbin:/sbin")
    if not useradd or not userdel:
        raise Skip("useradd/userdel not found: no unprivileged user")
    name = "pyenvfs-bench-" + secrets.token_hex(3)
    sh([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name])
    pw = pwd.getpwnam(name)

    def remove():
        # its daemons end after their unmount: userdel refuses a user in use
        for _ in range(100):
            if not _processes_of(pw.pw_uid):
                break
            time.sleep(0.1)
        sh([userdel, name], check=False)
    ctx.cleanups.append(remove)
    # /dev/fuse as ordinary Debian has it, for as long as the bench runs
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    if mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", mode | 0o666)
        ctx.cleanups.append(lambda: os.chmod("/dev/fuse", mode))
    return User("unprivileged", pw.pw_uid, pw.pw_gid, name)


def _processes_of(uid):
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += os.stat("/proc/" + pid).st_uid == uid
            except OSError:
                pass
    return n


def users(ctx):
    """[root, unprivileged] as root; [unprivileged (this user)] otherwise."""
    def make():
        if not IS_ROOT:
            pw = pwd.getpwuid(os.geteuid())
            return [User("unprivileged", pw.pw_uid, pw.pw_gid, pw.pw_name)]
        return [User("root", 0, 0, "root"), _make_user(ctx)]
    return ctx.memo("users", make)


def stats(m, user):
    """The daemon's counters, read by user (root cannot reach another user's mount)."""
    if user.cmd_user() is None:
        text = os.getxattr(m, "user.pyenvfs.stats").decode()
    else:
        text = sh(["/usr/bin/python3", "-I", "-c",
                   "import os, sys; print(os.getxattr(sys.argv[1], 'user.pyenvfs.stats').decode())", m],
                  user=user, env={"PATH": "/usr/bin:/bin"}).stdout
    return dict((k, int(v)) for k, v in (line.split() for line in text.splitlines() if line.strip()))


def warm_requests(m, user, cmd, runs=3):
    """The requests of a warm run of cmd: the fewest of runs runs (another
    process dropping the kernel's caches meanwhile only adds requests), the
    cost of reading the counters (two reads back to back) taken off."""
    s0 = stats(m, user)
    s1 = stats(m, user)
    cost = dict((k, s1.get(k, 0) - s0.get(k, 0)) for k in s1)
    prev = s1
    best = None
    for _ in range(runs):
        time_cmd(cmd)
        cur = stats(m, user)
        d = dict((k, cur.get(k, 0) - prev.get(k, 0) - cost.get(k, 0)) for k in cur)
        prev = cur
        if best is None or d.get("total", 0) < best.get("total", 0):
            best = d
    return best


def req_cells(d):
    other = d.get("total_without_ioctl", 0) - sum(d.get(k, 0) for k in REQ_KINDS if k != "ioctl")
    return [d.get("total", 0), "**%d**" % d.get("total_without_ioctl", 0)] + \
        [d.get(k, 0) for k in REQ_KINDS] + [other]


REQ_HEADERS = ["total", "without isatty ioctls"] + REQ_KINDS + ["other"]


def py_cmd(ctx, root, code, mode, user, extra_env=None):
    """Python of root (an env or a native tree) in mode, run by user."""
    if mode == "venv":
        e = ctx.env(extra=extra_env)
        return Cmd([os.path.join(root, "bin", "python3"), "-c", code], env=e, cwd=ctx.cwd,
                   user=user.cmd_user())
    e = ctx.env(root, extra=extra_env)
    return Cmd([ctx.python_in(root), "-c", code], env=e, cwd=ctx.cwd, user=user.cmd_user())


def native_venv_for(ctx, user, name, fill=None):
    """A native venv of the base, owned by user, its site filled by fill(site)."""
    d = ctx.path("%s-%s" % (name, user.name))
    if not os.path.isdir(d):
        sh([ctx.exe, "-m", "venv", "--without-pip", d], env=ctx.env())
        if fill:
            fill(ctx.venv_site(d))
        user.own(d, tree=True)
    return d


def native_tree_for(ctx, user, name, fill=None):
    """A native copy tree of the base (PYTHONHOME mode's reference), owned by user."""
    d = ctx.path("%s-%s" % (name, user.name))
    if not os.path.isdir(d):
        build_copy_tree(ctx.base, ctx.xy, d)
        if fill:
            site = ctx.site_of(d)
            os.makedirs(site, exist_ok=True)
            fill(site)
        user.own(d, tree=True)
    return d


# ---------------------------------------------------------------------------

STARTUP_CONFIGS = [
    ("root", "root daemon, defaults (passthrough)", []),
    ("root", "root daemon, `-o open=kernel`", ["-o", "open=kernel"]),
    ("root", "root daemon, `-o passthrough=off`", ["-o", "passthrough=off"]),
    ("unprivileged", "unprivileged daemon, defaults", []),
]


def w_startup(ctx):
    """The standard library's import-heavy start-up, root and unprivileged:
    every configuration and its reference in the same rounds."""
    rows, cells = [], []
    us = dict((u.label, u) for u in users(ctx))
    envs = []               # (label, user, M)
    for who, label, opts in STARTUP_CONFIGS:
        user = us.get(who)
        if user is None:
            continue
        key = "st-%s-%d" % (user.name, len(envs))
        m, site = ctx.path(key), ctx.path(key + "-site")
        os.makedirs(site)
        user.own(site)
        ctx.mount(m, site, opts, user=user if not user.root else None)
        envs.append((label, user, m))
    refs = dict((u.label, (native_venv_for(ctx, u, "st-venv"), native_tree_for(ctx, u, "st-tree")))
                for u in users(ctx))
    for mode in ("PYTHONHOME", "venv"):
        cmds = [py_cmd(ctx, m, IMPORTS, mode, user) for _, user, m in envs]
        rcmds = dict((u.label, py_cmd(ctx, refs[u.label][0 if mode == "venv" else 1], IMPORTS, mode, u))
                     for u in users(ctx))
        order = list(rcmds)
        res = interleave([lambda c=c: time_cmd(c) for c in cmds] +
                         [lambda c=rcmds[k]: time_cmd(c) for k in order], ctx.runs, warmup=3)
        ref_times = dict(zip(order, res[len(cmds):]))
        for (label, user, m), c, a in zip(envs, cmds, res):
            goal = GOAL_FLOOR if mode == "PYTHONHOME" and label.endswith(("defaults", "(passthrough)")) else None
            refname = ("PYTHONHOME=native copy tree" if mode == "PYTHONHOME" else "native venv") + \
                " (run by the same user)"
            rows.append(time_row("stdlib import-heavy start-up, %s mode, %s" % (mode, label),
                                 "PYTHONHOME=M" if mode == "PYTHONHOME" else "M/bin/python3",
                                 refname, a, ref_times[user.label], goal))
            cells.append([label, mode] + req_cells(warm_requests(m, user, c)))
    for _, _, m in envs:
        ctx.mounts.unmount(m)
    return Group("startup", "Start-up: the standard library", intro=[
        "Warm start-ups (3 rounds thrown away first) importing `%s`." % IMPORTS,
        "PYTHONHOME mode runs M/bin/pythonX.Y with PYTHONHOME=M (everything through the mount);",
        "venv mode runs M/bin/python3 (the standard library from BASE, DIR through the mount).",
        "References: the same interpreter on a copy of the base's tree on the native disk",
        "(PYTHONHOME), a `venv --without-pip` (venv), run by the same user as the env's Python.",
        "Every configuration of a mode and the references are interleaved in the same %d rounds." % ctx.runs,
        "Requests: the daemon's counters for a warm start-up (the fewest of 3)."],
        rows=rows, tables=[(["daemon", "mode"] + REQ_HEADERS, cells)])


# ---------------------------------------------------------------------------

def heavy_names():
    """The top-level names under Debian's dist-packages that the heavy import
    loads (and their metadata directories): asked of Debian's Python."""
    code = ("import sys\n" + HEAVY_CODE + "\n"
            "tops = set()\n"
            "for m in list(sys.modules.values()):\n"
            "    f = getattr(m, '__file__', None) or ''\n"
            "    if f.startswith(%r + '/'):\n"
            "        tops.add(f[len(%r) + 1:].split('/')[0])\n"
            "print('\\n'.join(sorted(tops)))\n") % (DIST_PACKAGES, DIST_PACKAGES)
    r = sh(["/usr/bin/python3.11", "-I", "-c", code], env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
                                                           "HOME": "/nonexistent"}, check=False)
    if r.returncode:
        raise Skip("Debian's numpy/scipy/matplotlib are not importable (apt install python3-scipy "
                   "python3-matplotlib): %s" % (r.stderr.strip().splitlines() or ["?"])[-1])
    # setuptools' .pth hook is not one of them
    tops = [t for t in r.stdout.split() if t != "_distutils_hack" and not t.endswith(".pth")]
    keys = set(t[:-3] if t.endswith(".py") else t for t in tops)
    keys |= {"pillow", "python_dateutil", "six", "cycler"}
    metas = [n for n in os.listdir(DIST_PACKAGES) if n.endswith((".dist-info", ".egg-info")) and
             n.split("-")[0].lower() in keys | {k.lower() for k in keys}]
    return tops, metas


def copy_heavy(dest):
    """The heavy set into dest (bytecode included: Debian compiled it)."""
    tops, metas = heavy_names()
    os.makedirs(dest, exist_ok=True)
    nfiles = 0
    for n in tops + metas:
        s = os.path.join(DIST_PACKAGES, n)
        if os.path.isdir(s):
            shutil.copytree(s, os.path.join(dest, n), symlinks=True)
        else:
            shutil.copy2(s, os.path.join(dest, n))
            if n.endswith(".py"):
                for pyc in os.listdir(os.path.join(DIST_PACKAGES, "__pycache__")):
                    if pyc.startswith(n[:-3] + ".cpython-"):
                        os.makedirs(os.path.join(dest, "__pycache__"), exist_ok=True)
                        shutil.copy2(os.path.join(DIST_PACKAGES, "__pycache__", pyc),
                                     os.path.join(dest, "__pycache__", pyc))
    for _, _, fns in os.walk(dest):
        nfiles += len(fns)
    return nfiles


def w_heavy(ctx):
    if os.path.realpath(ctx.base) != "/usr" or ctx.xy != "3.11":
        raise Skip("the heavy set is Debian's python3-numpy/scipy/matplotlib: needs --base /usr (3.11)")
    runs = max(3, min(ctx.runs, 11))
    layer = ctx.path("heavy-layer")           # root's: someone else's for the unprivileged user
    nfiles = copy_heavy(layer)
    rows, cells = [], []
    for user in users(ctx):
        mpl = os.path.join(user.home(ctx), "mpl")
        os.makedirs(mpl, exist_ok=True)
        user.own(mpl)
        extra = {"MPLBACKEND": "Agg", "MPLCONFIGDIR": mpl}
        venv = native_venv_for(ctx, user, "heavy-venv", lambda site: copy_heavy(site))
        tree = native_tree_for(ctx, user, "heavy-tree", lambda site: copy_heavy(site))
        # the root daemon also with the kernel opening files (no passthrough):
        # the trade of docs/PERFORMANCE.md, reported without a goal
        configs = [("DIR", [], True), ("a lower layer", [], True)]
        if user.root:
            configs.append(("DIR", ["-o", "open=kernel"], False))
        envs = []
        for k, (placement, more, goal) in enumerate(configs):
            key = "heavy-%s-%d" % (user.name, k)
            m, site = ctx.path(key), ctx.path(key + "-site")
            opts = list(more)
            if placement == "DIR":
                copy_heavy(site)
                user.own(site, tree=True)
            else:
                os.makedirs(site)
                user.own(site)
                opts += ["--lower-site", layer]
            ctx.mount(m, site, opts, user=user if not user.root else None)
            envs.append((placement, more, goal, m))
        for mode, ref in (("venv", venv), ("PYTHONHOME", tree)):
            cmds = [py_cmd(ctx, m, HEAVY_CODE, mode, user, extra) for _, _, _, m in envs]
            rc = py_cmd(ctx, ref, HEAVY_CODE, mode, user, extra)
            res = interleave([lambda c=c: time_cmd(c) for c in cmds] + [lambda: time_cmd(rc)], runs, warmup=2)
            for (placement, more, goal, m), c, a in zip(envs, cmds, res):
                label = "%s daemon%s, %s, %s mode" % (user.label, (", `%s`" % " ".join(more)) if more else "",
                                                      placement, mode)
                rows.append(time_row("heavy import, " + label, "M" if mode == "venv" else "PYTHONHOME=M",
                                     "native venv" if mode == "venv" else "native copy tree",
                                     a, res[-1], GOAL_FLOOR if goal else None))
                d = warm_requests(m, user, c)
                cells.append([user.label + (" `%s`" % " ".join(more) if more else ""), placement, mode]
                             + req_cells(d))
                n = d.get("total_without_ioctl", 0)
                if not goal:
                    pass
                elif user.root:
                    opens = d.get("open", 0)
                    per = n / opens if opens else float(n)
                    rows.append(Row("requests per file opened, warm heavy import, " + label,
                                    "counted by M", "—", "%d / %d opens" % (n, opens), "—", per, None,
                                    GOAL_REQ_ROOT_PER_FILE, plot=False, ratio_fmt="%.2f"))
                else:
                    rows.append(Row("requests per warm heavy import, " + label, "counted by M", "—",
                                    "%d" % n, "—", float(n), None, GOAL_REQ_USER, plot=False,
                                    ratio_fmt="%d"))
        for _, _, _, m in envs:
            ctx.mounts.unmount(m)
    return Group("heavy", "A heavy real-package import: numpy, scipy, matplotlib", intro=[
        "`%s` (MPLBACKEND=Agg), warm (2 rounds thrown away)," % HEAVY_CODE,
        "%d rounds. The packages are Debian's (python3-numpy 1.24, python3-scipy 1.10," % runs,
        "python3-matplotlib 3.6 and what they import: %d files copied out of" % nfiles,
        "%s, bytecode included), in DIR or in a lower layer owned by root" % DIST_PACKAGES,
        "(`--lower-site`, DIR empty). References: the same files in a native venv's site-packages",
        "(venv mode) and in a native copy tree's site directory (PYTHONHOME mode), run by the same",
        "user. The envs of one daemon user and mode and their reference are interleaved in the",
        "same rounds. Requests: the daemon's counters for a warm run (the fewest of 3); the isatty",
        "ioctl each file Python opens costs is counted apart (the kernel forwards every ioctl)."],
        rows=rows, tables=[(["daemon", "packages in", "mode"] + REQ_HEADERS, cells)])


# ---------------------------------------------------------------------------

def w_package(ctx):
    rows, cells = [], []
    for user in users(ctx):
        key = "pkg-%s" % user.name
        m, site = ctx.path(key), ctx.path(key + "-site")
        os.makedirs(site)
        write_package(site)
        user.own(site, tree=True)
        ctx.mount(m, site, user=user if not user.root else None)
        venv = native_venv_for(ctx, user, "pkg-venv", write_package)
        tree = native_tree_for(ctx, user, "pkg-tree", write_package)
        code = "import " + PKG
        for mode, ref, refname in (("venv", venv, "the package in a native venv"),
                                   ("PYTHONHOME", tree, "the package in a native copy tree's site dir")):
            c, rc = py_cmd(ctx, m, code, mode, user), py_cmd(ctx, ref, code, mode, user)
            a, b = interleave([lambda c=c: time_cmd(c), lambda c=rc: time_cmd(c)], ctx.runs, warmup=3)
            rows.append(time_row("importing a %d-module package in DIR, %s mode, %s daemon"
                                 % (PKG_MODULES, mode, user.label), "`import %s` from DIR" % PKG,
                                 refname, a, b, GOAL_PKG))
            cells.append(["%s daemon" % user.label, mode] + req_cells(warm_requests(m, user, c)))
        ctx.mounts.unmount(m)
    return Group("package", "A %d-module package in DIR" % PKG_MODULES, intro=[
        "`%s/__init__.py` imports %d small modules (a class, two functions each)," % (PKG, PKG_MODULES),
        "written straight into DIR (and into the references' site directories); the warm-up rounds",
        "write their `__pycache__`. The whole process is timed, start-up included. Rounds follow",
        "each other further apart than the 1 s `site_timeout`, which now only applies where no",
        "change notification can be had."],
        rows=rows, tables=[(["daemon", "mode"] + REQ_HEADERS, cells)])


# ---------------------------------------------------------------------------

def w_pagecache(ctx):
    if not IS_ROOT:
        raise Skip("dropping caches and passthrough need root")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import passthrough as pt
    pt.PYENVFS = ctx.pyenvfs
    if pt.cgroup_cache_kb() is None:
        raise Skip("this process's memory cgroup's page cache cannot be read")
    envs = pt.Envs(ctx.path("pagecache"), ctx.base, ctx.xy)
    os.makedirs(envs.work)
    probe = envs.mount("probe")
    state = os.getxattr(probe, "user.pyenvfs.passthrough").decode()
    envs.unmount(probe)
    if state != "on":
        raise Skip("passthrough is %s" % state)
    rounds = max(3, min(ctx.runs, 5))
    try:
        res = {}
        for n in (1, 10):
            on, nat = interleave([lambda: pt.page_cache(envs, "on", n), lambda: pt.page_cache(envs, "native", n)],
                                 rounds)
            res[n] = (median([g[0] for g in on]) / 1024, median([g[0] for g in nat]) / 1024)
    finally:
        envs.unmount_all()
    if pt.FAILED:
        raise BenchError("start-ups failed: %s" % ", ".join(pt.FAILED))
    rows = [Row("page cache, 1 env / native", "1 start-up in 1 env", "1 native start-up",
                "%.1f MB" % res[1][0], "%.1f MB" % res[1][1], res[1][0] / res[1][1], None, GOAL_PAGES_ONE,
                ratio_fmt="%.2f"),
            Row("page cache, 10 envs / 1 env", "1 start-up in each of 10 envs", "the same in 1 env",
                "%.1f MB" % res[10][0], "%.1f MB" % res[1][0], res[10][0] / res[1][0], None, GOAL_PAGES_TEN,
                ratio_fmt="%.2f")]
    return Group("pagecache", "Page cache (root daemon, passthrough)", intro=[
        "The growth of the page cache charged to the bench's memory cgroup from `sync; echo 3 >",
        "drop_caches` to after N stdlib import-heavy start-ups in PYTHONHOME mode, one in each of",
        "N envs over the base (native: N runs of the base's own Python); median of %d rounds." % rounds,
        "Each env's daemon has FUSE passthrough: the env's files are the base's pages."],
        rows=rows, notes=["Native: %.1f MB for 1 start-up, %.1f MB for 10." % (res[1][1], res[10][1])])
