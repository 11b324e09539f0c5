#!/bin/bash
# ThreadSanitizer run of the daemon (opt-in; a few minutes).
#
#   tests/stress/tsan.sh                       # build build-tsan, exerciser + concurrent load
#   OPS=1000 LOAD_SECONDS=20 tests/stress/tsan.sh
#   SKIP_BUILD=1 TSAN_LOG_DIR=/tmp/t tests/stress/tsan.sh
#
# Builds the daemon with -fsanitize=thread (clang if present, else gcc) in
# build-tsan, then runs against it, each daemon writing its reports to
# $TSAN_LOG_DIR/tsan.PID (halt_on_error=0: a report does not stop it):
#   1. the differential exerciser (tests/stress/exerciser.py), OPS ops per
#      seed, default and -o no_open, and with layers (--layers);
#   2. a concurrent load for LOAD_SECONDS on a mount per mode of LOAD_MODES
#      (default, no_open, layers: two --lower-site layers, whose files the
#      writers also change (copy-up), rename and remove (whiteouts); all
#      timeouts 0, so that every walk reaches the daemon): Python
#      processes importing in loops in both modes, parallel stat/readdir of
#      DIR (by both of its paths on Debian) and of the standard library,
#      writers creating, renaming and removing files in DIR and bin/,
#      readers of the files being written (by both paths), and
#      drop_caches (root only) so that FORGETs race with lookups.
# Prints how many warnings there were and where (first frames in src/), in two
# groups:
#   - "teardown after a request": the reporting access frees or closes an
#     object (node_forget, op_release, op_releasedir) that an earlier request
#     used in another thread.  The kernel orders these: it sends FORGET only
#     for an evicted inode (no open file, every READ replied to) and RELEASE
#     only after the last request on the handle.  TSan cannot see that order
#     through /dev/fuse (libfuse is not instrumented), so it reports them.
#     They are counted and listed, not suppressed.
#   - anything else: a race to look at.
# Exit status: 0 nothing in the second group, 1 something, 2 the run itself
# failed.  OPS=0 skips the exerciser.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${TSAN_BUILD:-$root/build-tsan}"
OPS="${OPS:-3000}"
LOAD_SECONDS="${LOAD_SECONDS:-60}"
LOAD_MODES="${LOAD_MODES:-default,no_open,layers}"
log_dir="${TSAN_LOG_DIR:-$(mktemp -d /tmp/pyenvfs-tsan-XXXXXX)}"
mkdir -p "$log_dir"
py=/usr/bin/python3

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cc=clang
    command -v clang >/dev/null || cc=gcc
    echo "tsan: building $build with $cc -fsanitize=thread"
    cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS="-fsanitize=thread -g -O1 -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >"$log_dir/build.log" 2>&1 &&
    cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target pyenvfs >>"$log_dir/build.log" 2>&1 ||
        { echo "tsan: build failed, see $log_dir/build.log"; exit 2; }
fi
[[ -x "$build/pyenvfs" ]] || { echo "tsan: no $build/pyenvfs"; exit 2; }

export PYENVFS="$build/pyenvfs"
export TSAN_OPTIONS="log_path=$log_dir/tsan halt_on_error=0 second_deadlock_stack=1 exitcode=0 ${TSAN_EXTRA_OPTIONS:-}"
export PYTHONDONTWRITEBYTECODE=1
echo "tsan: reports go to $log_dir/tsan.PID; TSAN_OPTIONS=$TSAN_OPTIONS"

status=0
if [[ "$OPS" != 0 ]]; then
echo "tsan: 1. exerciser, $OPS ops x seeds 1,2, default and no_open"
timeout 1800 "$py" "$root/tests/stress/exerciser.py" --ops "$OPS" --seeds 1,2 \
    --modes default,no_open >"$log_dir/exerciser.log" 2>&1 || status=2
tail -n 5 "$log_dir/exerciser.log"
echo "tsan: 1b. layers exerciser, $OPS ops x seed 3"
timeout 1800 "$py" "$root/tests/stress/exerciser.py" --layers --ops "$OPS" --seeds 3 \
    $( [[ $(id -u) == 0 ]] || echo --no-overlay ) >"$log_dir/exerciser-layers.log" 2>&1 || status=2
tail -n 5 "$log_dir/exerciser-layers.log"
fi

echo "tsan: 2. concurrent load, $LOAD_SECONDS s per mode ($LOAD_MODES)"
for mode in ${LOAD_MODES//,/ }; do
timeout $((LOAD_SECONDS + 300)) "$py" - "$root" "$LOAD_SECONDS" "$mode" >"$log_dir/load-$mode.log" 2>&1 <<'EOF' || status=2
import os, subprocess, sys, tempfile, threading, time
root, seconds, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
sys.path.insert(0, os.path.join(root, "tests"))
import pythons
from conftest import mounted

b = pythons.preferred_base()
top = tempfile.mkdtemp(prefix="pyenvfs-tsan-load-")
mnt, site = os.path.join(top, "mnt"), os.path.join(top, "site")
os.mkdir(mnt)
os.makedirs(os.path.join(site, "pkg", "sub"))
for i in range(200):
    with open(os.path.join(site, "pkg", "sub", "m%d.py" % i), "w") as f:
        f.write("X = %d\n" % i)
with open(os.path.join(site, "pkg", "__init__.py"), "w") as f:
    f.write("")
layers = []
if mode == "layers":
    # L1 holds lpkg (200 modules), L2 lpkg too (merged) and a package of its own
    for n, pkg in (("L1", "lpkg"), ("L2", "lpkg"), ("L2", "l2pkg")):
        d = os.path.join(top, n)
        os.makedirs(os.path.join(d, pkg, "sub"), exist_ok=True)
        for i in range(200 if n == "L1" else 20):
            with open(os.path.join(d, pkg, "sub", "m%d%s.py" % (i, "" if n == "L1" else n)), "w") as f:
                f.write("X = %d\n" % i)
        open(os.path.join(d, pkg, "__init__.py"), "w").close()
        if os.path.join(top, n) not in layers:
            layers.append(os.path.join(top, n))
counts = {}
errors = []
stop = time.monotonic() + seconds


def count(k):
    counts[k] = counts.get(k, 0) + 1


def importer(mode):
    env = {"PATH": "/usr/bin:/bin", "HOME": top, "PYTHONDONTWRITEBYTECODE": "1"}
    exe = os.path.join(mnt, "bin", "python3")
    if mode == "home":
        env["PYTHONHOME"] = mnt
    code = ("import json, email.mime.text, http.client, decimal, argparse, pkg, "
            "importlib; [importlib.import_module('pkg.sub.m%d' % i) for i in range(0, 200, 7)]")
    if layers:
        # a writer removes and renames these meanwhile: a miss is no error
        code += ("\nimport lpkg, l2pkg\nfor i in range(0, 200, 9):\n    try:\n"
                 "        importlib.import_module('lpkg.sub.m%d' % i)\n"
                 "    except (ImportError, OSError):\n        pass\n")
    while time.monotonic() < stop:
        r = subprocess.run([exe, "-c", code], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if r.returncode:
            errors.append("import (%s): %s" % (mode, r.stderr[-500:]))
        count("import-" + mode)


def walker(paths):
    while time.monotonic() < stop:
        for p in paths:
            for dp, dns, fns in os.walk(p):
                for n in fns:
                    try:
                        os.stat(os.path.join(dp, n))
                    except FileNotFoundError:
                        pass        # a writer removed it meanwhile
        count("walk")


def writer(d, tag):
    i = 0
    while time.monotonic() < stop:
        i += 1
        p = os.path.join(d, "w%s-%d" % (tag, i % 50))
        try:
            with open(p, "wb") as f:
                f.write(b"x" * (i % 5000))
            os.rename(p, p + ".r")
            os.listdir(d)
            if i % 3:
                os.unlink(p + ".r")
            os.mkdir(p + ".d")
            os.rmdir(p + ".d")
            os.setxattr(d, "user.t", b"%d" % i) if i % 11 == 0 and os.path.basename(d) != "bin" else None
        except FileNotFoundError:
            pass
        except OSError as e:
            errors.append("write %s: %s" % (p, e))
        count("write-" + tag)


def layer_writer(d):
    """Changes to a merged directory's layer files: copy-ups, renames of a
    layer's file (copied up), removals (whiteouts), names made again."""
    i = 0
    while time.monotonic() < stop:
        i += 1
        n = "m%d.py" % (i % 200)
        p = os.path.join(d, n)
        try:
            if i % 4 == 0:
                with open(p, "a") as f:
                    f.write("Y = %d\n" % i)
            elif i % 4 == 1:
                os.rename(p, p + ".moved")
                os.rename(p + ".moved", p)
            elif i % 4 == 2:
                os.unlink(p)
            else:
                with open(p, "w") as f:
                    f.write("X = %d\n" % i)
            os.listdir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            errors.append("layer write %s: %s" % (p, e))
        count("layer-write")


def reader(dirs):
    while time.monotonic() < stop:
        for d in dirs:
            try:
                names = os.listdir(d)
            except OSError as e:
                errors.append("listdir %s: %s" % (d, e))
                continue
            for n in names:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        f.read()
                except (FileNotFoundError, IsADirectoryError):
                    pass
                except OSError as e:
                    errors.append("read %s: %s" % (n, e))
        count("read")


def dropper():
    while time.monotonic() < stop:
        time.sleep(2)
        if os.geteuid() == 0:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            count("drop_caches")


opts = "site_timeout=0,base_timeout=0" + (",no_open" if mode == "no_open" else "")
extra = []
for L in layers:
    extra += ["--lower-site", L]
if layers:
    opts += ",lower_timeout=0"
with mounted(b.prefix, mnt, site, pythons.python_args(b) + ["-o", opts] + extra, base=b) as m:
    sp = m.path(b.stdlib_rel, "site-packages")
    sites = [sp]
    if b.debian_patched:
        sites.append(m.path("local", "lib", "python" + b.xy, "dist-packages"))
    ts = [threading.Thread(target=importer, args=("venv",)),
          threading.Thread(target=importer, args=("home",)),
          threading.Thread(target=importer, args=("home",)),
          threading.Thread(target=walker, args=(sites,)),
          threading.Thread(target=walker, args=([m.path(b.stdlib_rel, "json"), m.path("bin")] + sites,)),
          threading.Thread(target=writer, args=(os.path.join(sp, "pkg"), "a")),
          threading.Thread(target=writer, args=(os.path.join(sites[-1], "pkg"), "b")),
          threading.Thread(target=writer, args=(m.path("bin"), "c")),
          threading.Thread(target=reader, args=([os.path.join(x, "pkg") for x in sites],)),
          threading.Thread(target=reader, args=([m.path("bin"), os.path.join(sites[-1], "pkg")],)),
          threading.Thread(target=dropper)]
    if layers:
        ts += [threading.Thread(target=layer_writer, args=(os.path.join(sp, "lpkg", "sub"),)),
               threading.Thread(target=layer_writer, args=(os.path.join(sites[-1], "lpkg", "sub"),)),
               threading.Thread(target=walker, args=([os.path.join(x, "lpkg") for x in sites],)),
               threading.Thread(target=reader, args=([os.path.join(x, "lpkg", "sub") for x in sites],))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
log_lines = m.log().splitlines()       # after the unmount: the daemon's last words too
print("load (%s): %r" % (mode, sorted(counts.items())))
noise = [l for l in log_lines if not l.startswith(("==", "WARNING: ThreadSanitizer"))]
print("daemon stderr: %d line(s)%s" % (len(log_lines), "".join("\n  " + l for l in sorted(set(noise))[:10])))
for e in errors[:20]:
    print("load error:", e)
import shutil
shutil.rmtree(top, ignore_errors=True)
sys.exit(1 if errors else 0)
EOF
tail -n 5 "$log_dir/load-$mode.log"
done

echo "tsan: summary"
"$py" - "$log_dir" <<'EOF'
import collections, glob, os, re, sys
logs = sorted(glob.glob(os.path.join(sys.argv[1], "tsan.*")))
total = 0
where = collections.Counter()
kinds = collections.Counter()
suppressed = collections.Counter()
teardown = collections.Counter()
TEARDOWN = ("node_forget", "op_release", "op_releasedir", "listing_free")
with_reports = 0
for p in logs:
    text = open(p, errors="replace").read()
    with_reports += "WARNING: ThreadSanitizer" in text
    for n, what in re.findall(r"^\s*(\d+) (\S+:\S+)$", text.split("Matched")[-1] if "Matched" in text else "", re.M):
        suppressed[what] += int(n)
    for block in text.split("==================")[1:]:
        m = re.search(r"WARNING: ThreadSanitizer: ([^(\n]+)", block)
        if not m:
            continue
        frames = re.findall(r"#\d+ (\S+) (\S*/src/[^ :]+:\d+)", block)
        first = re.split(r"\n\s*Previous ", block)[0]
        here = " / ".join("%s %s" % (f, os.path.basename(l)) for f, l in frames[:2]) or "outside src/"
        other = re.findall(r"#\d+ (\S+) (\S*/src/[^ :]+:\d+)", block.split("Previous ", 1)[-1].split("Location is", 1)[0].split("Thread T", 1)[0])
        pair = "%s, after %s" % (here, " / ".join("%s %s" % (f, os.path.basename(l)) for f, l in other[:2]) or "libfuse")
        if any(t in first for t in TEARDOWN):
            teardown[pair] += 1
            continue
        total += 1
        kinds[m.group(1).strip()] += 1
        where[pair] += 1
print("tsan: %d daemon log(s), %d with reports; %d teardown-after-request report(s), %d other warning(s)"
      % (len(logs), with_reports, sum(teardown.values()), total))
for k, n in teardown.most_common():
    print("  %4d  teardown: %s" % (n, k))
for k, n in suppressed.most_common():
    print("  suppressed (print_suppressions=1): %d x %s" % (n, k))
for k, n in kinds.most_common():
    print("  %4d  %s" % (n, k))
for k, n in where.most_common():
    print("  %4d  at %s" % (n, k))
sys.exit(1 if total else 0)
EOF
rc=$?
[[ $status -ne 0 ]] && { echo "tsan: the run itself failed (see $log_dir/*.log)"; exit 2; }
exit $rc
