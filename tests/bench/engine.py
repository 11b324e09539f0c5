#!/usr/bin/python3
"""The one union engine (issue 19): what a lookup and a removal cost the
daemon in system calls, and how the cost grows with the number of layers.

    tests/bench/engine.py [--only syscalls,scaling] [--layers 1,10,100,1000]
                          [--runs N] [--base /usr] [--out FILE]

- syscalls: `strace -c -f` attached to the daemon (every timeout 0, so that
  each request reaches it), for
    * `stat site-packages/pkg/a/b/c/nothere.py` (a lookup miss at depth 4),
      pkg in DIR without layers, and in the lowest of 1 and 3 layers;
    * `shutil.rmtree` of a 102-file package (pip's uninstall), in DIR
      without layers, and in L1 of 1 and 3 layers (whiteouts);
  the count per operation, median of --runs.
- scaling: 1, 10, 100, 1000 layers, each holding one small distribution (a
  package and its .dist-info), pip as a last layer (--with-pip): mount time
  (pyenvfs returning with the mount up), the first `import` of the bottom
  layer's module (a fresh mount), a warm import-heavy start-up (the standard
  library's usual modules and the top and bottom layers' packages), and
  `pip list`; medians of --runs, default timeouts. The reference row: the
  same 1,000 distributions in DIR, without layers.
Prints a Markdown table per part (or writes them to --out). Everything it
mounts is unmounted, also on failure. Nothing here asserts a time.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"
MOUNTS = []


def sh(args, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([str(a) for a in args], universal_newlines=True, **kw)


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == os.path.realpath(path) for line in f)


def mount(base, mnt, site, lowers=(), opts=(), with_pip=False):
    os.makedirs(mnt, exist_ok=True)
    args = [PYENVFS, base, mnt, "--site", site]
    for L in lowers:
        args += ["--lower-site", L]
    if opts:
        args += ["-o", ",".join(opts)]
    if with_pip:
        args.append("--with-pip")
    t0 = time.monotonic()
    r = sh(args)
    dt = time.monotonic() - t0
    if r.returncode:
        raise SystemExit("mount failed: %s" % r.stderr)
    MOUNTS.append(mnt)
    return dt


def daemon_pid(mnt):
    """The pyenvfs serving mnt (by its command line)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"pyenvfs" and mnt.encode() in argv:
            return int(pid)
    raise SystemExit("no daemon for %s" % mnt)


def unmount(mnt):
    for args in ([FUSERMOUNT, "-u", mnt], [FUSERMOUNT, "-uz", mnt]):
        if mounted(mnt):
            sh(args)
    if mnt in MOUNTS:
        MOUNTS.remove(mnt)


def write(root, rel, text=""):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def dist(root, name, files):
    for rel in files:
        write(root, rel, "X = 1\n")
    di = "%s-1.0.dist-info" % name
    write(root, di + "/METADATA", "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name)
    write(root, di + "/RECORD", "".join("%s,,\n" % f for f in files + [di + "/METADATA", di + "/RECORD"]))


def strace_count(pid, fn):
    """System calls pid makes (all its threads) while fn() runs."""
    out = tempfile.mktemp(prefix="pyenvfs-strace-")
    p = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", out, "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)             # attached to every thread
    try:
        fn()
        time.sleep(0.2)         # the invalidation thread's last words
    finally:
        p.send_signal(signal.SIGINT)
        p.wait()
    text = open(out).read()
    os.unlink(out)
    m = re.search(r"^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total", text, re.M)
    return int(m.group(1)) if m else None


def part_syscalls(base, work, runs):
    rows = []
    for layers in (0, 1, 3):
        Ls = [os.path.join(work, "sc%d-L%d" % (layers, i)) for i in range(layers)]
        for i, L in enumerate(Ls):
            dist(L, "other%d" % i, ["other%d/__init__.py" % i])
        where = Ls[-1] if Ls else None
        counts = {"lookup": [], "rmtree": []}
        for r in range(runs):
            site = os.path.join(work, "sc%d-D%d" % (layers, r))
            mnt = os.path.join(work, "sc%d-m%d" % (layers, r))
            lower_pkg = where if where else site
            rm_in = Ls[0] if Ls else site
            # pkg/a/b/c at depth 4, and rmpkg: 100 modules, __init__, a sub one
            shutil.rmtree(os.path.join(lower_pkg, "pkg"), ignore_errors=True)
            shutil.rmtree(os.path.join(rm_in, "rmpkg"), ignore_errors=True)
            write(lower_pkg, "pkg/a/b/c/here.py")
            for k in range(100):
                write(rm_in, "rmpkg/m%d.py" % k)
            write(rm_in, "rmpkg/__init__.py")
            write(rm_in, "rmpkg/sub/__init__.py")
            os.makedirs(site, exist_ok=True)
            mount(base, mnt, site, Ls, ["site_timeout=0", "base_timeout=0", "lower_timeout=0"])
            try:
                sp = os.path.join(mnt, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
                target = os.path.join(sp, "pkg", "a", "b", "c", "nothere.py")
                os.path.exists(target)          # warm: the index, the kept listings
                pid = daemon_pid(mnt)
                n = strace_count(pid, lambda: [os.path.exists(target) for _ in range(20)])
                counts["lookup"].append(n / 20.0)
                n = strace_count(pid, lambda: shutil.rmtree(os.path.join(sp, "rmpkg")))
                counts["rmtree"].append(n)
            finally:
                unmount(mnt)
        rows.append((layers, statistics.median(counts["lookup"]), statistics.median(counts["rmtree"])))
    return rows


def part_scaling(base, work, sizes, runs):
    rows = []
    for n in sizes:
        in_dir = n < 0          # the reference: the same distributions in DIR, no layer
        n = abs(n)
        Ls = [] if in_dir else [os.path.join(work, "s%d-L%04d" % (n, i)) for i in range(n)]
        for i, L in enumerate(Ls):
            if not os.path.isdir(L):
                dist(L, "dist%04d" % i, ["dist%04d/__init__.py" % i])
        bottom = "dist%04d" % (n - 1)
        res = {"mount": [], "first": [], "warm": [], "pip": []}
        for r in range(runs):
            site = os.path.join(work, "s%s%d-D%d" % ("dir" if in_dir else "", n, r))
            mnt = os.path.join(work, "s%s%d-m%d" % ("dir" if in_dir else "", n, r))
            if in_dir and not os.path.isdir(site):
                for i in range(n):
                    dist(site, "dist%04d" % i, ["dist%04d/__init__.py" % i])
            os.makedirs(site, exist_ok=True)
            res["mount"].append(mount(base, mnt, site, Ls, with_pip=True))
            try:
                py = os.path.join(mnt, "bin", "python3")
                env = {"PATH": os.path.join(mnt, "bin") + ":/usr/bin:/bin", "HOME": work,
                       "PYTHONDONTWRITEBYTECODE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                       "PIP_NO_INPUT": "1", "PIP_CONFIG_FILE": os.devnull}
                sh([py, "-c", "pass"], env=env)

                def timed(args):
                    t0 = time.monotonic()
                    p = sh(args, env=env)
                    if p.returncode:
                        raise SystemExit("%s: %s" % (args, p.stderr[-2000:]))
                    return time.monotonic() - t0
                res["first"].append(timed([py, "-c", "import %s" % bottom]))
                code = ("import json, email.mime.text, http.client, decimal, argparse, asyncio, "
                        "dist0000, %s" % bottom)
                timed([py, "-c", code])
                res["warm"].append(statistics.median(timed([py, "-c", code]) for _ in range(3)))
                res["pip"].append(timed([py, "-m", "pip", "list"]))
            finally:
                unmount(mnt)
        rows.append(("%d in DIR, no layer" % n if in_dir else "%d" % n,) +
                    tuple(statistics.median(res[k]) for k in ("mount", "first", "warm", "pip")))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="syscalls,scaling")
    ap.add_argument("--layers", default="1,10,100,1000,-1000",
                    help="layer counts; -N: N distributions in DIR without layers (the reference)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--out")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyenvfs-bench-engine-")
    out = []
    try:
        if "syscalls" in a.only:
            rows = part_syscalls(a.base, work, a.runs)
            out.append("| daemon system calls (strace -c -f) | no layers | 1 layer | 3 layers |")
            out.append("|---|---|---|---|")
            out.append("| `stat site-packages/pkg/a/b/c/nothere.py` (per lookup) | %s |" % " | ".join(
                "%.0f" % r[1] for r in rows))
            out.append("| `shutil.rmtree` of a 102-file package (in DIR; in L1) | %s |" % " | ".join(
                "%d" % r[2] for r in rows))
            out.append("")
            print("\n".join(out[-5:]), flush=True)
        if "scaling" in a.only:
            sizes = [int(x) for x in a.layers.split(",") if x]
            rows = part_scaling(a.base, work, sizes, a.runs)
            out.append("| layers | mount (s) | first import of the bottom layer's module (s) | warm import-heavy "
                       "start-up (s) | pip list (s) |")
            out.append("|---|---|---|---|---|")
            for r in rows:
                out.append("| %s | %.3f | %.3f | %.3f | %.3f |" % r)
            out.append("")
            print("\n".join(out[-(len(rows) + 3):]), flush=True)
    finally:
        for m in list(MOUNTS):
            unmount(m)
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
