#!/usr/bin/python3
"""pyenvfs's benchmark suite: builds, mounts, measures, writes
docs/PERFORMANCE.md and docs/perf.png, and unmounts everything, also on failure.

    sudo tests/bench/run [--runs N] [--only NAME,NAME] [--base PREFIX] [--python X.Y]

Every figure is the median of N runs of pyenvfs interleaved with its native
reference in the same run (A B, B A, ...), reported as a ratio; see the
generated document for what each workload does.  The page's workloads:
mount, startup, heavy, package, pagecache, io (floor.py: for a root daemon and
for an unprivileged one, a throwaway user made for the run).  Also (--only):
requests, pip, rss, cold, peers, scaling, roundtrip, run.  Root is needed for
the root daemon's rows, dropping caches and the throwaway user; without it
those parts are skipped with a note.
"""

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import common  # noqa: E402
from common import REPO, Mounts, Skip, machine  # noqa: E402
from envs import Ctx  # noqa: E402
import report  # noqa: E402
import pythons  # noqa: E402
from workloads import DEFAULT, WORKLOADS  # noqa: E402

TITLES = {"mount": "Time to a usable env", "startup": "Start-up: the standard library",
          "heavy": "A heavy real-package import: numpy, scipy, matplotlib",
          "pagecache": "Page cache (root daemon, passthrough)",
          "requests": "Requests reaching the daemon per warm import-heavy start-up",
          "package": "A 300-module package in DIR", "pip": "`pip install` of 20 local wheels",
          "io": "Sequential I/O in DIR", "rss": "Daemon memory", "cold": "Cold start-ups",
          "peers": "Peers (PYTHONHOME mode)", "scaling": "Scaling"}


def build(build_dir):
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.check_call(["cmake", "-S", REPO, "-B", build_dir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    subprocess.check_call(["cmake", "--build", build_dir, "-j%d" % (os.cpu_count() or 2)])


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    names = [n for n, _ in WORKLOADS]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21,
                    help="rounds per figure (default 21; heavy workloads use fewer, see the doc)")
    ap.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(names))
    ap.add_argument("--base", default="/usr", help="the base prefix (default /usr)")
    ap.add_argument("--python", default=None, help="X.Y, when the base holds several Pythons")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "PERFORMANCE.md"))
    ap.add_argument("--plot", default=None, help="the PNG (default: perf.png beside --out)")
    ap.add_argument("--workdir", default="/var/tmp",
                    help="where the envs and native references are made (default /var/tmp); "
                         "put it on the base's file system for a fair native reference")
    ap.add_argument("--no-build", action="store_true", help="do not run cmake --build first")
    a = ap.parse_args()
    only = [n.strip() for n in a.only.split(",") if n.strip()] or DEFAULT
    bad = [n for n in only if n not in names]
    if bad:
        ap.error("unknown workload(s) %s; choose from %s" % (",".join(bad), ",".join(names)))
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    base = os.path.realpath(a.base)
    xy = a.python
    if xy is None:
        vs = pythons.versions_in(base)
        if len(vs) != 1:
            ap.error("%s holds %s: say which with --python X.Y" % (base, ", ".join(vs) or "no Python"))
        xy = vs[0]
    plot_path = a.plot or os.path.join(os.path.dirname(os.path.abspath(a.out)), "perf.png")

    pyenvfs = os.environ.get("PYENVFS")
    if pyenvfs:
        pyenvfs = os.path.abspath(pyenvfs)
    else:
        build_dir = os.path.join(REPO, "build")
        if not a.no_build:
            build(build_dir)
        pyenvfs = os.path.join(build_dir, "pyenvfs")
    if not os.access(pyenvfs, os.X_OK):
        sys.exit("bench: no pyenvfs binary at %s" % pyenvfs)
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        sys.exit("bench: /dev/fuse is missing or not accessible")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    mounts = Mounts()
    work = tempfile.mkdtemp(prefix="pyenvfs-bench-", dir=a.workdir)
    os.chmod(work, 0o755)
    ctx = Ctx(pyenvfs, base, xy, work, mounts, a.runs)
    ctx.peer_plot = None
    mach = machine(base, ctx.exe)
    mach["workfs"] = common.sh(["stat", "-f", "-c", "%T", work], check=False).stdout.strip()
    groups, failed = [], []
    t_start = time.time()
    os.chdir(ctx.cwd)
    try:
        for name, fn in WORKLOADS:
            if name not in only:
                continue
            t0 = time.time()
            print("[bench] %s ..." % name, file=sys.stderr, flush=True)
            drops0, own0 = common.vmstat_drops(), common.OWN_DROPS[0]
            try:
                g = fn(ctx)
            except Skip as e:
                g = report.Group(name, TITLES[name])
                g.skipped = str(e)
            except Exception as e:     # the other workloads still run; the exit status says it
                traceback.print_exc()
                g = report.Group(name, TITLES[name])
                g.skipped = "it failed: %s" % ((str(e).strip().splitlines() or [type(e).__name__])[0])
                failed.append(name)
            others = (common.vmstat_drops() - drops0) - (common.OWN_DROPS[0] - own0)
            if others > 0:
                g.notes.append("**While this section ran, something else on the machine dropped the "
                               "kernel's caches (%d drops counted in /proc/vmstat)**: its figures "
                               "are disturbed; run it again on a quiet machine." % others)
                print("[bench]   caches dropped %d times by others during %s" % (others, name),
                      file=sys.stderr, flush=True)
            groups.append(g)
            for r in g.rows:
                print("[bench]   %-90s %s  %s  ratio %s  goal %s %s" % (
                    r.workload[:90], r.a, r.b, "—" if r.ratio is None else r.ratio_fmt % r.ratio,
                    r.goal_text(), {True: "met", False: "NOT MET", None: ""}[r.met]),
                    file=sys.stderr, flush=True)
            print("[bench] %s done in %.0f s" % (name, time.time() - t0), file=sys.stderr, flush=True)
    finally:
        os.chdir("/")
        mounts.undo_all()
        for fn in reversed(ctx.cleanups):
            try:
                fn()
            except Exception:     # the others still run
                traceback.print_exc()
        left = [ln.split()[4] for ln in open("/proc/self/mountinfo") if (ln.split()[4] + "/").startswith(work + "/")]
        if left:
            print("[bench] still mounted, not removing %s: %s" % (work, " ".join(left)), file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - t_start

    argv = ["tests/bench/run"] + sys.argv[1:]
    cmdline = ("sudo " if os.geteuid() == 0 else "") + " ".join(shlex.quote(x) for x in argv)
    head = [
        "# Performance", "",
        "Generated by `tests/bench/run` (tests/bench/bench.py, floor.py, workloads.py, envs.py),",
        "which builds pyenvfs, mounts, measures, writes this page and the plot, and unmounts",
        "everything, also on failure. Nothing on this page was written by hand but the analysis",
        "at the end (tests/bench/analysis.md).", "",
        "Every figure is pyenvfs against a native reference measured in the same run,",
        "interleaved (A B, B A, A B, ...): the medians of both and their ratio, pyenvfs /",
        "reference for times (below 1 is faster than native), pyenvfs's throughput /",
        "the reference's for rates. In parentheses after a ratio: the quartiles of the",
        "per-round ratios, a measure of the noise. Times are whole processes (spawn to exit).", "",
        "- Command: `%s` (%d rounds per figure unless a section says fewer; took %.0f s)" % (
            cmdline, a.runs, elapsed),
        "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "- Machine: %s; %s; %d cores (%s); %s; load average at start %s" % (
            mach["uname"], mach["os"], mach["cores"], mach["cpu"], mach["mem"], " ".join(mach["load"])),
        "- Load average at the end: %s (other sessions' test runs share this machine: every" % " ".join(
            open("/proc/loadavg").read().split()[:3]),
        "  figure is a ratio of runs interleaved with their reference, which a slow moment hits alike)",
        "- Kernel: %s; work directory on %s" % (mach["kernel"], mach["workfs"]),
        "- Base: %s" % mach["base"],
        "- pyenvfs: %s" % common.sh([pyenvfs, "--version"], check=False).stdout.strip(),
        "- Workloads: %s" % ", ".join(only), ""]
    footer = []
    why = report.plot(groups, ctx.peer_plot, plot_path)
    if why:
        footer = ["Plot: none (%s)." % why, ""]
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")) as f:
        footer += [""] + f.read().rstrip("\n").split("\n") + [""]
    md = report.markdown(groups, head, footer)
    if why:
        md = md.replace("![ratios against their goals](perf.png)\n", "(%s)\n" % why)
    else:
        md = md.replace("(perf.png)", "(%s)" % os.path.relpath(plot_path, os.path.dirname(os.path.abspath(a.out))))
    # The sections other benchmarks write (common.KEPT_BLOCKS) stay.
    try:
        with open(a.out) as f:
            old = f.read()
    except OSError:
        old = ""
    for name in common.KEPT_BLOCKS:
        kept = common.block_of(old, name)
        if kept:
            md = common.with_block(md, kept, name)
    with open(a.out, "w") as f:
        f.write(md)
    print(md)
    print("[bench] wrote %s%s in %.0f s" % (a.out, "" if why else " and " + plot_path, elapsed), file=sys.stderr)
    if failed:
        print("[bench] failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
