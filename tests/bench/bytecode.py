#!/usr/bin/python3
"""Start-up over a base without bytecode: with the bytecode redirect, and
without it (the binary before it, or -B), interleaved, in one run.

    sudo /usr/bin/python3 tests/bench/bytecode.py --old OLD_PYENVFS [--base PREFIX] [--runs 21]

The base is a copy of a pyenv version with every __pycache__ and
.pyc removed (tests/helpers_base.py), bind-mounted read-only. Each env runs
`M/bin/pythonX.Y -c 'import json, email, http.client, asyncio'` in PYTHONHOME
mode (the mode in which the standard library is read through the mount):

- "redirect": this build, DIR's bytecode area warm (written by the warm-up);
- "old": OLD_PYENVFS (a build without the redirect): EROFS, every start-up
  compiles again;
- "redirect, -B": this build with PYTHONDONTWRITEBYTECODE=1 and an empty
  area: the compile cost alone, without the failed writes.

(No native row: the pyenv version's own site-packages, which the env does not
show, runs its .pth files at every native start-up.)

Prints Markdown: the median wall time of each and the ratios with the
quartiles of the per-round ratios. Everything is unmounted at the end.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE)))
from common import REPO, interleave, median, pair_spread  # noqa: E402
import helpers_base as hb  # noqa: E402
import pythons  # noqa: E402

PYENVFS = os.environ.get("PYENVFS") or os.path.join(REPO, "build", "pyenvfs")
IMPORTS = "import json, email, http.client, asyncio"


def mount(binary, base, mnt, site, log):
    os.makedirs(mnt, exist_ok=True)
    with open(log, "wb") as f:
        p = subprocess.Popen([binary, base, mnt, "--site", site, "-f"], stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, cwd="/")
    t0 = time.time()
    while not os.path.exists(os.path.join(mnt, "pyvenv.cfg")):
        if p.poll() is not None or time.time() - t0 > 10:
            unmount(mnt, p)
            raise RuntimeError("mount of %s failed: %s" % (mnt, open(log).read()))
        time.sleep(0.02)
    return p


def unmount(mnt, p):
    if subprocess.run(["fusermount3", "-u", mnt]).returncode != 0:
        subprocess.run(["fusermount3", "-uz", mnt])
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def timed(argv, env):
    def run():
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="a pyenvfs binary without the redirect")
    ap.add_argument("--base", help="a pyenv version prefix (default: pyenv's 3.11)")
    ap.add_argument("--runs", type=int, default=21)
    a = ap.parse_args()
    src = pythons.Base("src", os.path.realpath(a.base), None, "pyenv") if a.base else pythons.pyenv_base("3.11")
    if src.xy is None:
        src.xy = pythons.versions_in(src.prefix)[0]
    work = tempfile.mkdtemp(prefix="pyenvfs-bench-bytecode-")
    copy, base = os.path.join(work, "copy"), os.path.join(work, "base")
    hb.copy_without_bytecode(src, copy)
    mounts = []
    try:
        with hb.ro_bind(copy, base):
            envs = {}
            for name, binary in (("redirect", PYENVFS), ("old", a.old), ("nowrite", PYENVFS)):
                mnt, site = os.path.join(work, name, "mnt"), os.path.join(work, name, "site")
                os.makedirs(site)
                mounts.append((mnt, mount(binary, base, mnt, site, os.path.join(work, name + ".log"))))
                env = {"PATH": os.path.join(mnt, "bin") + ":/usr/bin:/bin", "HOME": work,
                       "LC_ALL": "C.UTF-8", "PYTHONHOME": mnt}
                if name == "nowrite":
                    env["PYTHONDONTWRITEBYTECODE"] = "1"
                envs[name] = (timed([os.path.join(mnt, "bin", "python" + src.xy), "-c", IMPORTS], env), site)
            fns = [envs["redirect"][0], envs["old"][0], envs["nowrite"][0]]
            red, old, nowrite = interleave(fns, a.runs, warmup=3)
            area = os.path.join(envs["redirect"][1], ".pyenvfs", "pycache")
            npyc = sum(len([f for f in fs if f.endswith(".pyc")]) for _, _, fs in os.walk(area))
            assert not os.path.exists(os.path.join(envs["nowrite"][1], ".pyenvfs", "pycache"))
    finally:
        for mnt, p in mounts:
            unmount(mnt, p)
    load = os.getloadavg()[0]

    def row(label, xs):
        m = median(xs)
        sp = pair_spread(xs, red)
        return "| %s | %.1f ms | %.2f | %s |" % (label, m * 1e3, m / median(red),
                                                 "%.2f–%.2f" % sp if sp else "—")
    print("Base: pyenv %s copied without bytecode, read-only bind mount; `%s` in PYTHONHOME mode; "
          "%d interleaved rounds after 3 warm-up rounds; load average %.1f. DIR's area held %d .pyc files."
          % (src.xy, IMPORTS, a.runs, load, npyc))
    print()
    print("| start-up | median | against the redirect | per-round ratio, quartiles |")
    print("|---|---|---|---|")
    print(row("redirect: reads DIR's bytecode", red))
    print(row("before the redirect (EROFS, compiles every time)", old))
    print(row("the redirect's binary with PYTHONDONTWRITEBYTECODE=1", nowrite))


if __name__ == "__main__":
    main()
