#!/usr/bin/python3
"""An env from a lock (issue 22): pyenvfs's store against what users do today.

    tests/bench/store.py [--dists 100] [--files 20000] [--runs 11] [--pip-runs 3]
                         [--base /usr] [--python 3.11] [--workdir DIR] [--out DIR]
                         [--update docs/PERFORMANCE.md]

N generated distributions (about FILES files in all, 5 of them with a C
extension compiled here), locked in a pylock.toml, every figure from a warm
cache (the store filled, the wheels unpacked, the page cache warm), in one
run, interleaved (A B, B A, ...):

- time to a usable env: pyenvfs (`pyenvfs BASE M --site DIR --lock LOCK`:
  it returns with the mount up) against (a) `python -m venv --without-pip V`
  and `cp -al` of the unpacked distributions into its site-packages (uv's
  default, hard links), (b) the same with `cp -a` (uv's fallback across
  file systems or owners), (c) `python -m venv V` and `V/bin/pip install
  --no-index --find-links WHEELS` of the N wheels;
- files and disk each env adds;
- warm import of the N top-level packages in the env against the same in (b),
  and in an env mounted with `-o open=kernel` (the same rounds), with the
  requests one warm import sends to each daemon;
- the page cache of 10 envs from the lock against one (root: caches dropped);
- `pyenvfs run --with` of 3 stored distributions, `python -c pass`, against a
  bare `pyenvfs run BASE -- python -c pass`.

Each distribution is one layer of the union engine (no layer cap). Everything
it mounts is unmounted at the end, also on failure or Ctrl-C. Nothing here
asserts a time.
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
from common import (REPO, BenchError, block_markers, drop_caches, interleave, median, ms, ratio, sh,  # noqa: E402
                    spread, stats_delta, with_block)
from passthrough import cgroup_cache_kb  # noqa: E402
from procinfo import mount_count  # noqa: E402
import pkgs  # noqa: E402

PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"
EXT_DISTS = 5

EXT_C = r"""
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(%d); }
static PyMethodDef methods[] = { {"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL} };
static struct PyModuleDef moddef = { PyModuleDef_HEAD_INIT, "%s", NULL, -1, methods };
PyMODINIT_FUNC PyInit_%s(void) { return PyModule_Create(&moddef); }
"""


def log(msg):
    sys.stderr.write("[store-bench] %s\n" % msg)
    sys.stderr.flush()


def dist_name(i):
    return "bstore%03d" % i


def make_wheels(wh, n, files, exe):
    """n wheels of about files/n files each (a package of modules); the first
    EXT_DISTS with a C extension. The package's __init__ imports a tenth of
    its modules, as real packages import a part of theirs."""
    per = max(2, files // n)
    info = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'));"
                           "print(sysconfig.get_paths()['include'])"], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout.split("\n")
    suffix, include = info[0], info[1]
    xy = exe.rsplit("python", 1)[1]
    tag_cp = "cp" + xy.replace(".", "")
    for i in range(n):
        name = dist_name(i)
        fs = {}
        mods = ["m%03d" % k for k in range(per - 1)]
        fs[name + "/__init__.py"] = "".join("from . import %s\n" % m for m in mods[:max(1, len(mods) // 10)])
        for k, m in enumerate(mods):
            fs["%s/%s.py" % (name, m)] = "".join("def f%d(x):\n    return x + %d\n" % (j, j + k) for j in range(12))
        tag = "py3-none-any"
        if i < EXT_DISTS:
            ext = name + "_ext"
            src = os.path.join(wh, ext + ".c")
            with open(src, "w") as f:
                f.write(EXT_C % (i, ext, ext))
            so = os.path.join(wh, ext + suffix)
            sh(["cc", "-shared", "-fPIC", "-O1", "-I", include, src, "-o", so])
            with open(so, "rb") as f:
                fs[ext + suffix] = f.read()
            tag = "%s-%s-linux_x86_64" % (tag_cp, tag_cp)
        pkgs.make_wheel(wh, name, "1.0", files=fs, tag=tag)
    return sorted(os.path.join(wh, w) for w in os.listdir(wh) if w.endswith(".whl"))


REQUEST_KINDS = ("lookup", "getattr", "open", "release", "flush", "read", "readdir", "opendir",
                 "releasedir", "ioctl", "getxattr", "readlink", "statfs", "access")


def write_lock(path, wheels):
    import hashlib
    out = ['lock-version = "1.0"', 'created-by = "tests/bench/store.py"']
    for w in wheels:
        with open(w, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        name = os.path.basename(w).split("-")[0]
        out += ["", "[[packages]]", 'name = "%s"' % name, 'version = "1.0"',
                'wheels = [{ name = "%s", path = "%s", hashes = { sha256 = "%s" } }]' % (os.path.basename(w), w, sha)]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def shown_args(argv):
    """The command line, with the directories it names left out."""
    named = {"--out": "OUT", "--workdir": "WORKDIR", "--update": "docs/PERFORMANCE.md"}
    return " ".join(named[argv[i - 1]] if i and argv[i - 1] in named else x for i, x in enumerate(argv))


def timed(argv, env, cwd="/"):
    t0 = time.perf_counter()
    r = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    t = time.perf_counter() - t0
    if r.returncode:
        raise BenchError("%s exited %d: %s" % (" ".join(map(str, argv)), r.returncode, r.stderr[-2000:]))
    return t


def unmount(m):
    for _ in range(3):
        if mount_count(m) == 0:
            return
        if subprocess.run([FUSERMOUNT, "-u", m], stderr=subprocess.DEVNULL).returncode:
            time.sleep(0.2)
            subprocess.run([FUSERMOUNT, "-uz", m], stderr=subprocess.DEVNULL)
    for _ in range(100):       # the daemon exits after the unmount
        if mount_count(m) == 0:
            break
        time.sleep(0.05)


def files_and_kb(path, also=None):
    """(directory entries under path, kB of blocks du counts for it after also's)."""
    n = sum(len(d) + len(f) for _, d, f in os.walk(path))
    args = ["du", "-s", "-k"] + ([also] if also else []) + [path]
    kb = int(sh(args).stdout.splitlines()[-1].split()[0])
    return n, kb


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dists", type=int, default=100)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--pip-runs", type=int, default=3)
    ap.add_argument("--base", default="/usr")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/var/tmp"))
    ap.add_argument("--out", default=".")
    ap.add_argument("--update", metavar="MD")
    a = ap.parse_args()
    exe = os.path.join(a.base, "bin", "python" + a.python)
    work = tempfile.mkdtemp(prefix="pyenvfs-store-bench.", dir=a.workdir)
    os.chmod(work, 0o755)
    res = {"argv": shown_args(sys.argv[1:]), "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
           "dists": a.dists}
    t_start = time.time()
    mounted = []
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(1))
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": work,
           "PYENVFS_STORE": os.path.join(work, "store"), "XDG_CACHE_HOME": os.path.join(work, "cache"),
           "XDG_RUNTIME_DIR": work, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        wh = os.path.join(work, "wheels")
        os.mkdir(wh)
        log("making %d wheels" % a.dists)
        wheels = make_wheels(wh, a.dists, a.files, exe)
        names = [os.path.basename(w).split("-")[0] for w in wheels]
        lock = os.path.join(work, "pylock.toml")
        write_lock(lock, wheels)
        log("filling the store")
        t0 = time.perf_counter()
        sh([PYENVFS, "store", "add", a.base, wh], env=env, timeout=3600)
        res["store_add_s"] = time.perf_counter() - t0
        store = env["PYENVFS_STORE"]
        entries = [os.path.join(store, "entries", e) for e in sorted(os.listdir(os.path.join(store, "entries")))]
        res["store_files"], res["store_kb"] = files_and_kb(os.path.join(store, "entries"))
        # uv's cache: the same installed files, unpacked into one tree
        unpacked = os.path.join(work, "unpacked")
        os.mkdir(unpacked)
        for e in entries:
            for n in os.listdir(e):
                if n != ".pyenvfs":
                    sh(["cp", "-a", os.path.join(e, n), unpacked])
        sh(["chmod", "-R", "u+w", unpacked])
        site_rel = "lib/python%s/site-packages" % a.python

        # -------------------------------------------------- time to an env
        count = [0]
        made = {"pe": [], "al": [], "a": [], "pip": []}

        def fresh(kind):
            count[0] += 1
            d = os.path.join(work, "%s-%03d" % (kind, count[0]))
            made[kind].append(d)
            return d

        def pyenvfs_env():
            d = fresh("pe")
            m, s = d + "-mnt", d + "-site"
            os.mkdir(m)
            t = timed([PYENVFS, a.base, m, "--site", s, "--lock", lock], env)
            mounted.append(m)
            return t

        def farm(kind):
            def f():
                v = fresh(kind)
                return timed(["sh", "-c", '"$0" -m venv --without-pip "$1" && cp %s "$2"/. "$1"/%s/' % (
                    "-al" if kind == "al" else "-a", site_rel), exe, v, unpacked], env)
            return f

        def pip_env():
            v = fresh("pip")
            return timed(["sh", "-c", '"$0" -m venv "$1" && "$1"/bin/python -m pip install -q --no-index '
                          '--find-links "$2" %s' % " ".join(names), exe, v, wh], env)

        log("time to an env: pyenvfs, cp -al, cp -a (%d rounds)" % a.runs)
        # the layout and the entries are warm (one mount first)
        pyenvfs_env()
        probe = mounted[-1]
        try:
            pe, al, ca = interleave([pyenvfs_env, farm("al"), farm("a")], a.runs)
        except BenchError as e:
            if "stacks at most" in str(e):
                log("the mount refuses %d distributions: %s" % (a.dists, str(e).strip()))
                res["refused"] = str(e).strip()
                raise SystemExit(2)
            raise
        log("(c) venv + pip install --no-index (%d rounds)" % a.pip_runs)
        pe2, pp = interleave([pyenvfs_env, pip_env], a.pip_runs)
        res["time"] = {"pyenvfs": pe, "cp_al": al, "cp_a": ca, "pyenvfs_with_pip_rounds": pe2, "pip": pp}
        for m in mounted[1:]:
            unmount(m)
        del mounted[1:]

        # ------------------------------------------------- files and disk
        pe_site = made["pe"][0] + "-site"
        code = "import " + ", ".join(names)
        py = os.path.join(probe, "bin", "python" + a.python)
        sh([py, "-c", code], env=dict(env, VIRTUAL_ENV=probe))
        res["files"] = {
            "pyenvfs": files_and_kb(pe_site),
            "cp_al": files_and_kb(made["al"][0], also=unpacked),
            "cp_a": files_and_kb(made["a"][0]),
            "pip": files_and_kb(made["pip"][0]),
            "pyenvfs_dir_list": sorted(os.path.relpath(os.path.join(dp, n), pe_site)
                                       for dp, dns, fns in os.walk(pe_site) for n in dns + fns),
        }

        # ----------------------------------------------- warm import
        npy = os.path.join(made["a"][0], "bin", "python" + a.python)
        log("warm import of %d packages (%d rounds)" % (a.dists, 2 * a.runs + 1))
        # the same lock in a second env whose files the kernel opens itself
        # (-o open=kernel): no OPEN, GETATTR or RELEASE per file, no passthrough
        ko = os.path.join(work, "ko-mnt")
        os.mkdir(ko)
        sh([PYENVFS, a.base, ko, "--site", ko + "-site", "--lock", lock, "-o", "open=kernel"], env=env)
        mounted.append(ko)
        kpy = os.path.join(ko, "bin", "python" + a.python)
        ip, inat, ik = interleave([lambda: timed([py, "-c", code], env), lambda: timed([npy, "-c", code], env),
                                   lambda: timed([kpy, "-c", code], env)], 2 * a.runs + 1, warmup=3)
        res["import"] = {"pyenvfs": ip, "native": inat, "open_kernel": ik}
        # what one warm import asks of each daemon
        res["requests"] = {}
        for name, m, exe_ in (("default", probe, py), ("open=kernel", ko, kpy)):
            moved = stats_delta(m, lambda: sh([exe_, "-c", code], env=env))
            res["requests"][name] = {k: v for k, v in moved.items() if k in REQUEST_KINDS}
        unmount(ko)
        mounted.remove(ko)

        # ------------------------------------------- run --with, 3 dists
        with_env = dict(env, PIP_FIND_LINKS=wh, PIP_NO_INDEX="1")
        three = ["--with", names[-1], "--with", names[-2], "--with", names[-3]]
        timed([PYENVFS, "run"] + three + [a.base, "--", "python", "-c", "pass"], with_env)
        log("run --with 3 / bare run (%d rounds)" % (2 * a.runs + 1))
        rw, rb = interleave([lambda: timed([PYENVFS, "run"] + three + [a.base, "--", "python", "-c", "pass"], with_env),
                             lambda: timed([PYENVFS, "run", a.base, "--", "python", "-c", "pass"], with_env)],
                            2 * a.runs + 1, warmup=2)
        res["run_with"] = {"with3": rw, "bare": rb}

        # ------------------------------------------- page cache, 10 envs
        if os.geteuid() == 0:
            log("page cache: 1 env, then 10 envs")
            envs10 = []
            for i in range(10):
                m = os.path.join(work, "pc-%02d" % i)
                os.mkdir(m)
                sh([PYENVFS, a.base, m, "--site", m + "-site", "--lock", lock], env=env)
                mounted.append(m)
                envs10.append(m)
            pc = {}
            for n in (1, 10):
                drop_caches()
                # what this run's processes brought in (its memory cgroup),
                # whatever else the machine does; else all of Cached
                before, cg_before = meminfo_kb("Cached"), cgroup_cache_kb()
                for m in envs10[:n]:
                    sh([os.path.join(m, "bin", "python" + a.python), "-c", code], env=dict(env, VIRTUAL_ENV=m))
                cg = cgroup_cache_kb()
                pc[n] = cg - cg_before if cg is not None and cg_before is not None else meminfo_kb("Cached") - before
            res["page_cache_kb"] = pc
            res["page_cache_by"] = "cgroup" if cgroup_cache_kb() is not None else "Cached"
            getx = os.getxattr(envs10[0], "user.pyenvfs.passthrough").decode()
            res["passthrough"] = getx
    finally:
        for m in mounted:
            unmount(m)
        res["took"] = time.time() - t_start
        res["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
        left = [m for m in mounted if mount_count(m)]
        if left:
            log("still mounted: %s (work directory kept: %s)" % (left, work))
        else:
            subprocess.run(["chmod", "-R", "u+w", work])
            shutil.rmtree(work, ignore_errors=True)
    md = report(a, res)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "store.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(a.out, "store.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    update(a.update, md)
    print(md)


def report(a, res):
    t = res["time"]
    f = res["files"]
    out = ["- Command: `tests/bench/store.py %s`" % res["argv"],
           "- Date: %s; kernel %s; base %s (Python %s); %d cores; load average %s at the start, %s at the end; "
           "took %.0f s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.uname().release, a.base, a.python,
                            os.cpu_count() or 0, res["load_start"], res["load_end"], res["took"]),
           "- %d distributions (%d with a C extension), %d files and %d kB in the store's entries (bytecode "
           "included); `store add` of all of them took %.1f s" % (
               res["dists"], EXT_DISTS, res["store_files"], res["store_kb"], res["store_add_s"]), ""]
    rows = [
        ("time to an env / (a) venv + `cp -al`", ratio(t["pyenvfs"], t["cp_al"]), 0.1, spread(t["pyenvfs"], t["cp_al"])),
        ("time to an env / (b) venv + `cp -a`", ratio(t["pyenvfs"], t["cp_a"]), None, spread(t["pyenvfs"], t["cp_a"])),
        ("time to an env / (c) venv + `pip install --no-index`", ratio(t["pyenvfs_with_pip_rounds"], t["pip"]), 0.01,
         spread(t["pyenvfs_with_pip_rounds"], t["pip"])),
        ("warm import of the %d packages / native venv (b)" % res["dists"],
         ratio(res["import"]["pyenvfs"], res["import"]["native"]), 1.10,
         spread(res["import"]["pyenvfs"], res["import"]["native"])),
        ("warm import of the %d packages, `-o open=kernel` / native venv (b)" % res["dists"],
         ratio(res["import"]["open_kernel"], res["import"]["native"]), None,
         spread(res["import"]["open_kernel"], res["import"]["native"])),
        ("`run --with` 3 stored dists / bare `run`, `python -c pass`",
         ratio(res["run_with"]["with3"], res["run_with"]["bare"]), 1.3,
         spread(res["run_with"]["with3"], res["run_with"]["bare"])),
    ]
    if "page_cache_kb" in res:
        pc = res["page_cache_kb"]
        rows.append(("page cache of 10 envs / 1 env (passthrough %s)" % res.get("passthrough", "?"),
                     pc[10] / float(max(pc[1], 1)), 1.2, "—"))
    out += ["| figure | ratio (IQR of pairs) | goal | met? |", "|---|---|---|---|"]
    for name, v, goal, sp in rows:
        out.append("| %s | **%.4g** (%s) | %s | %s |" % (name, v, sp, "≤ %g" % goal if goal else "—",
                                                          "—" if goal is None else ("yes" if v <= goal else "**no**")))
    out += ["", "| env | time to it (median) | entries it adds | disk it adds (du, kB) |", "|---|---|---|---|",
            "| pyenvfs `--lock` | %s | %d | %d |" % (ms(median(t["pyenvfs"])), f["pyenvfs"][0], f["pyenvfs"][1]),
            "| (a) venv + `cp -al` | %s | %d | %d (links: directories and the venv's own files) |" % (
                ms(median(t["cp_al"])), f["cp_al"][0], f["cp_al"][1]),
            "| (b) venv + `cp -a` | %s | %d | %d |" % (ms(median(t["cp_a"])), f["cp_a"][0], f["cp_a"][1]),
            "| (c) venv + pip install | %s | %d | %d |" % (ms(median(t["pip"])), f["pip"][0], f["pip"][1]),
            "", "What DIR holds after the mount and an import of every package: %s." % ", ".join(
                "`%s`" % p for p in f["pyenvfs_dir_list"]),
            "", "Warm import of the %d packages: pyenvfs %s, native venv %s. `run --with` of 3: %s, bare run %s." % (
                res["dists"], ms(median(res["import"]["pyenvfs"])), ms(median(res["import"]["native"])),
                ms(median(res["run_with"]["with3"])), ms(median(res["run_with"]["bare"])))]
    for name, req in sorted(res.get("requests", {}).items()):
        out.append("Requests of one warm import, %s: %s." % (
            name, ", ".join("%s %d" % kv for kv in sorted(req.items())) or "none"))
    if "page_cache_kb" in res:
        pc = res["page_cache_kb"]
        out.append("Page cache grown by the import in 1 env: %d kB; in 10 envs: %d kB (caches dropped before each; %s)."
                   % (pc[1], pc[10], "what this run's memory cgroup was charged" if res.get("page_cache_by") == "cgroup"
                      else "/proc/meminfo Cached, so other work on the machine counts too"))
    return "\n".join(out)


def update(path, md):
    if not path:
        return
    begin, end = block_markers("store.py")
    block = "\n".join([begin, "## An env from a lock: the store (issue 22)", "",
                       "Generated by `tests/bench/store.py` (kept as it is by `tests/bench/run`). Every ratio is",
                       "of medians of runs interleaved in one run (A B, B A, ...), with the quartiles of the",
                       "per-round ratios in parentheses.", "", md.rstrip("\n"), end])
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(with_block(text, block, "store.py"))


if __name__ == "__main__":
    main()
