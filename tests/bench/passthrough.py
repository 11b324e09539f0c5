#!/usr/bin/python3
"""FUSE passthrough against the daemon serving reads and writes, and native.

    sudo /usr/bin/python3 tests/bench/passthrough.py [--envs 1,10,50] [--rounds 5] [--plot FILE]
                                                     [--update docs/PERFORMANCE.md]

Three measurements, each interleaved (on, off, native, then reversed), as
Markdown on stdout (with --update, also into that file's passthrough section,
which tests/bench/run keeps when it rewrites the page):

- page cache: N envs over BASE, each running the import-heavy start-up once
  in PYTHONHOME mode, after `sync; echo 3 > drop_caches`; the growth of the
  page cache charged to this process's memory cgroup (the median of
  --rounds; the machine-wide `Cached` of /proc/meminfo beside it, which other
  processes move too), and the daemons' summed RSS; native is N runs of
  BASE's own Python.
- sequential I/O, 256 MiB in DIR: 1 MiB writes then fsync; a cold read
  (caches dropped before it).  Native: a file in a directory beside DIR.
- the import-heavy start-up, PYTHONHOME mode, warm, against the native
  Python, also on a read-only mount (-o ro), and the requests each one makes
  (the daemon's counters); 21 rounds.

"on" is a mount with passthrough (a root daemon on a kernel that offers it),
"off" the same binary with -o passthrough=off.  Root is needed (passthrough,
drop_caches).  Everything is unmounted at the end, also on failure.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import REPO, drop_caches, interleave, median, pair_spread, stats, with_block, BLOCK_BEGIN, BLOCK_END  # noqa: E402
from envs import IMPORTS  # noqa: E402
from workloads import IO_SIZE, read_file, write_file  # noqa: E402

PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/meminfo" % key)


def cgroup_cache_kb():
    """The page cache charged to this process's memory cgroup (v1 "cache",
    v2 "file"): what this bench's processes brought in, whatever the rest of
    the machine does. None where not readable."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = [ln.rstrip("\n").split(":", 2) for ln in f]
        for _, ctl, path in lines:
            if "memory" in ctl.split(","):
                stat, key = "/sys/fs/cgroup/memory%s/memory.stat" % path, "cache"
                break
        else:
            path = next(p for _, c, p in lines if c == "")
            stat, key = "/sys/fs/cgroup%s/memory.stat" % path, "file"
        with open(stat) as f:
            for line in f:
                k, v = line.split()
                if k == key:
                    return int(v) // 1024
    except (OSError, StopIteration, ValueError):
        pass
    return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Envs:
    """Mounts made here, each undone at the end."""

    def __init__(self, work, base, xy):
        self.work, self.base, self.xy = work, base, xy
        self.procs = {}

    def mount(self, name, opts=()):
        m, s = os.path.join(self.work, name), os.path.join(self.work, name + "-site")
        os.makedirs(m, exist_ok=True)
        p = subprocess.Popen([PYENVFS, self.base, m, "--site", s, "-f"] + list(opts),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.procs[m] = p
        for _ in range(1000):
            if os.path.ismount(m):
                return m
            if p.poll() is not None:
                raise RuntimeError("pyenvfs for %s exited %d" % (m, p.returncode))
            time.sleep(0.01)
        raise RuntimeError("%s not mounted after 10 s" % m)

    def unmount(self, m):
        if subprocess.run(["fusermount3", "-u", m], stderr=subprocess.DEVNULL).returncode:
            subprocess.run(["fusermount3", "-uz", m], stderr=subprocess.DEVNULL)
        p = self.procs.pop(m)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def unmount_all(self):
        for m in list(self.procs):
            self.unmount(m)

    def pids(self):
        return [p.pid for p in self.procs.values()]

    def python(self, m):
        return [os.path.join(m, "bin", "python" + self.xy)], {
            "PYTHONHOME": m, "PATH": os.path.join(m, "bin") + ":/usr/bin:/bin", "LC_ALL": "C.UTF-8",
            "HOME": "/nonexistent"}

    def native(self):
        return [os.path.join(self.base, "bin", "python" + self.xy)], {
            "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent"}


def startup(argv_env):
    argv, env = argv_env
    t = time.perf_counter()
    r = subprocess.run(argv + ["-c", IMPORTS], env=env, cwd="/", stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode:
        print(r.stderr, file=sys.stderr)
        raise subprocess.CalledProcessError(r.returncode, argv)
    return time.perf_counter() - t


FAILED = []     # start-ups of the page-cache runs that failed: reported, not hidden


def page_cache(envs, kind, n):
    """kB of page cache grown by n start-ups (kind: on, off, native), and the
    daemons' RSS in kB."""
    ms = []
    try:
        if kind != "native":
            ms = [envs.mount("pc-%s-%02d" % (kind, i), ["-o", "passthrough=off"] if kind == "off" else [])
                  for i in range(n)]
        drop_caches()
        before, cg_before = meminfo_kb("Cached"), cgroup_cache_kb()
        for i in range(n):
            try:
                startup(envs.python(ms[i]) if ms else envs.native())
            except subprocess.CalledProcessError as e:
                FAILED.append("%s #%d of %d" % (kind, i + 1, n))
                print("[pt-bench] failed: %s" % e, file=sys.stderr)
        grown = meminfo_kb("Cached") - before
        cg = cgroup_cache_kb()
        cg_grown = cg - cg_before if cg is not None and cg_before is not None else None
        rss = sum(rss_kb(p) for p in envs.pids())
        return (cg_grown if cg_grown is not None else grown), grown, rss
    finally:
        for m in ms:
            envs.unmount(m)
        for i in range(n):
            shutil.rmtree(os.path.join(envs.work, "pc-%s-%02d-site" % (kind, i)), ignore_errors=True)


def ratio_cell(a, b, rate):
    r = (median(b) / median(a)) if rate else (median(a) / median(b))
    q = pair_spread(b, a) if rate else pair_spread(a, b)
    return "**%.3f**%s" % (r, " (%.2f–%.2f)" % q if q else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--envs", default="1,10,50")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--startup-rounds", type=int, default=21)
    ap.add_argument("--workdir", default="/var/tmp", help="on the base's file system")
    ap.add_argument("--plot", default=None, help="a PNG of the page-cache curve")
    ap.add_argument("--update", default=None, help="a Markdown file whose passthrough section to rewrite")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("passthrough.py: needs root (passthrough, drop_caches)")
    work = tempfile.mkdtemp(prefix="pyenvfs-pt-bench-", dir=a.workdir)
    envs = Envs(work, a.base, a.python)
    t0 = time.time()
    out = []
    try:
        probe = envs.mount("probe")
        state = os.getxattr(probe, "user.pyenvfs.passthrough").decode()
        envs.unmount(probe)
        if state != "on":
            sys.exit("passthrough.py: passthrough is %s" % state)
        version = subprocess.run([PYENVFS, "--version"], capture_output=True, text=True).stdout.strip()
        out += ["- Command: `sudo /usr/bin/python3 tests/bench/passthrough.py %s`" % " ".join(sys.argv[1:]),
                "- Load average at start: %s" % " ".join("%.2f" % x for x in os.getloadavg()),
                "- Date: %s; %s; kernel %s; base %s (Python %s)" % (
                    time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), version, os.uname().release,
                    a.base, a.python), ""]

        # --- page cache
        counts = [int(x) for x in a.envs.split(",")]
        curve = {}
        source = "this cgroup's page cache" if cgroup_cache_kb() is not None else "`Cached`"
        rows = ["| envs (start-ups) | native: cache growth | passthrough on | off | on / native | "
                "on, N / on, 1 | off / native | off, N / off, 1 | `Cached` growth: native, on, off | "
                "daemons' RSS, on | off |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for n in counts:
            rounds = a.rounds if n <= 10 else max(1, a.rounds // 2)
            res = interleave([lambda k=k: page_cache(envs, k, n) for k in ("on", "off", "native")], rounds)
            on, off, nat = ([g[0] for g in r] for r in res)
            glob = [median([g[1] for g in res[i]]) / 1024 for i in (2, 0, 1)]
            curve[n] = (median(nat) / 1024, median(on) / 1024, median(off) / 1024)
            rss_on, rss_off = (median([g[2] for g in res[i]]) / 1024 for i in (0, 1))
            one = curve[counts[0]] if counts[0] == 1 else (float("nan"),) * 3
            rows.append("| %d | %.1f MB | %.1f MB | %.1f MB | %.2f | %.2f | %.2f | %.2f | %.0f, %.0f, %.0f MB "
                        "| %.1f MB | %.1f MB |" % (
                            n, curve[n][0], curve[n][1], curve[n][2], curve[n][1] / curve[n][0],
                            curve[n][1] / one[1], curve[n][2] / curve[n][0], curve[n][2] / one[2],
                            glob[0], glob[1], glob[2], rss_on, rss_off))
            print("[pt-bench] page cache, %d envs: native %.1f, on %.1f, off %.1f MB" % ((n,) + curve[n]),
                  file=sys.stderr)
        if FAILED:
            rows += ["", "Start-ups that failed (counted with what they had read): %s." % ", ".join(FAILED)]
        out += ["### Page cache", "",
                "Growth of %s from `sync; echo 3 > drop_caches` to after N" % source,
                "import-heavy start-ups in PYTHONHOME mode, one in each of N envs over %s (native:" % a.base,
                "N runs of %s/bin/python%s); median of %d rounds (%d for more than 10 envs)." % (
                    a.base, a.python, a.rounds, max(1, a.rounds // 2)),
                "The machine-wide `Cached` growth (/proc/meminfo) is beside it: other processes on the",
                "machine move that one too.", ""] + rows + [""]

        # --- sequential I/O
        m_on, m_off = envs.mount("io-on"), envs.mount("io-off", ["-o", "passthrough=off"])
        sp = "lib/python%s/site-packages" % a.python
        f_on, f_off = os.path.join(m_on, sp, "bench.dat"), os.path.join(m_off, sp, "bench.dat")
        os.makedirs(os.path.join(work, "io-native"))
        f_nat = os.path.join(work, "io-native", "bench.dat")
        files = (f_on, f_off, f_nat)
        w = interleave([lambda f=f: write_file(f) for f in files], a.rounds, warmup=1)
        r = interleave([lambda f=f: read_file(f, cold=True) for f in files], a.rounds)
        mib = IO_SIZE / (1 << 20)
        out += ["### Sequential I/O in DIR, 256 MiB", "",
                "1 MiB `write(2)`s then `fsync`; a cold read (caches dropped before each) with",
                "1 MiB `read(2)`s; %d rounds. Ratio: throughput / native's (higher is better)." % a.rounds, "",
                "| workload | on | off | native | on / native | off / native |", "|---|---|---|---|---|---|"]
        for name, ts in (("sequential write + fsync", w), ("sequential read, cold", r)):
            out.append("| %s | %.0f MiB/s | %.0f MiB/s | %.0f MiB/s | %s | %s |" % (
                name, mib / median(ts[0]), mib / median(ts[1]), mib / median(ts[2]),
                ratio_cell(ts[0], ts[2], True), ratio_cell(ts[1], ts[2], True)))
        for f in files:
            os.unlink(f)

        # --- start-up, and the requests each one makes
        m_ro = envs.mount("io-ro", ["-o", "ro"])
        ms = (m_on, m_off, m_ro)
        before = [stats(m) for m in ms]
        s = interleave([lambda m=m: startup(envs.python(m)) for m in ms] + [lambda: startup(envs.native())],
                       a.startup_rounds, warmup=2)
        n_runs = a.startup_rounds + 2
        per = [{k: (stats(m).get(k, 0) - b.get(k, 0)) / n_runs for k in ("open", "getattr", "read", "total")}
               for m, b in zip(ms, before)]
        out += ["", "### Start-up", "",
                "The import-heavy start-up (25 stdlib modules), PYTHONHOME mode, warm; %d rounds. \"on, ro\":" %
                a.startup_rounds,
                "passthrough on, the mount read-only (`-o ro`). Requests: the daemon's own counters, per start-up.", "",
                "| | on | off | on, ro | native |", "|---|---|---|---|---|",
                "| median | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % tuple(median(x) * 1e3 for x in s),
                "| / native | %s | %s | %s | — |" % tuple(ratio_cell(x, s[3], False) for x in s[:3]),
                "| / off | %s | — | %s | — |" % (ratio_cell(s[0], s[1], False), ratio_cell(s[2], s[1], False))]
        for k in ("open", "getattr", "read", "total"):
            out.append("| %s requests | %.0f | %.0f | %.0f | — |" % ((k,) + tuple(p[k] for p in per)))
        out += ["", "Took %.0f s." % (time.time() - t0)]
        if a.plot:
            plot(curve, a.plot)
    finally:
        envs.unmount_all()
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(out))
    if a.update:
        with open(a.update) as f:
            text = f.read()
        block = [BLOCK_BEGIN, "## FUSE passthrough: shared page cache, native I/O", "",
                 "Generated by `tests/bench/passthrough.py` (kept as it is by `tests/bench/run`).",
                 "\"on\": a root daemon with FUSE passthrough (the default where it is possible);",
                 "\"off\": the same binary with `-o passthrough=off` (the daemon serves reads and writes,",
                 "as every figure above); native: the base's own Python and files. Interleaved, in one run.",
                 ""]
        if a.plot:
            block += ["![page cache for N envs](%s)" % os.path.relpath(
                os.path.abspath(a.plot), os.path.dirname(os.path.abspath(a.update))), ""]
        block += out + [BLOCK_END]
        with open(a.update, "w") as f:
            f.write(with_block(text, "\n".join(block)))


def plot(curve, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[pt-bench] no matplotlib: no plot", file=sys.stderr)
        return
    ns = sorted(curve)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (label, style) in enumerate((("native", "k--"), ("passthrough on", "g-o"),
                                        ("passthrough off", "r-s"))):
        ax.plot(ns, [curve[n][i] for n in ns], style, label=label)
    ax.set_xlabel("envs, one import-heavy start-up each")
    ax.set_ylabel("page cache growth (MB)")
    ax.set_title("Page cache for N envs over one base")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
