#!/usr/bin/env bash
# pyenvfs: run every test.  Installs what is missing (apt), builds, runs the C
# unit tests (ctest), the fuzz targets and the integration tests (tests/run,
# pytest) on the normal build and on an ASan/UBSan build, checks that no
# pyenvfs mount was left behind, and prints a summary with the counts.  CI runs
# this through .ci/run.
#
#   sudo bash scripts/test.sh [--strict] [ARGS...]     # ARGS go to tests/run (pytest)
#
# --strict (implied by CI=true): what the tests need and this machine lacks
# (/dev/fuse, fusermount3, an expected Python, a unit test, a tool setup.sh
# installs) fails the run with a one-line reason instead of skipping tests,
# and each pass's skips must stay within tests/skip-budget for this machine kind.
#
# Environment:
#   PYENVFS_BUILD_DIR, PYENVFS_CMAKE_ARGS   as for scripts/setup.sh (the second
#                          also goes to the sanitizer build, BUILD_DIR-asan)
#   PYENVFS_TEST_TIMEOUT   if set, seconds after which tests/run is killed
#   PYENVFS_UNIT_TIMEOUT   per-test ctest timeout in seconds (default: 300)
#   PYENVFS_FUZZ_SECONDS   seconds per fuzz target (default: 15)
#   PYENVFS_SKIP_SANITIZE=1   no sanitizer pass (refused in strict mode)
#   PYENVFS_SANITIZE_BASES    the bases the sanitizer pass runs per-base tests
#                          for (default usr-3.11,pyenv-2.7,pyenv-3.7,pyenv-3.13;
#                          empty: all), as PYENVFS_TEST_ONLY_BASES
# Exported to tests/run:
#   PYENVFS_BUILD_DIR   absolute path of the build directory
#   PYENVFS             absolute path of the pyenvfs binary
#   PYENVFS_STRICT=1    in strict mode
#   PYENVFS_COUNTS_FILE, PYENVFS_SANITIZER_LOG_DIR   see tests/conftest.py
set -uo pipefail   # no -e: every step runs and is reported

STRICT=0
case "${CI:-}" in [Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss]) STRICT=1 ;; esac
ARGS=()
for a in "$@"; do
    if [[ "$a" == --strict ]]; then STRICT=1; else ARGS+=("$a"); fi
done
set -- ${ARGS[@]+"${ARGS[@]}"}
if ((STRICT)); then export PYENVFS_STRICT=1; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

BUILD_DIR="${PYENVFS_BUILD_DIR:-build}"
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
PY=/usr/bin/python3
# This run's own places: WORK holds pytest's temp dirs (--basetemp) and the
# counts; WORLD (0755, under /tmp) the directories tests share with other
# users (tests/helpers_env.py's world_tmpdir).  Only mounts under them are
# this run's: other mounts on the machine are never touched.
# (Short names: the tests' paths, and messages that quote them, stay as long
# as under pytest's default temp dir.)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pyenvfs.XXXXXX")" || exit 1
WORLD="$(mktemp -d /tmp/pyenvfs-world.XXXXXX)" && chmod 0755 "$WORLD" || exit 1
export PYENVFS_WORLD_TMPDIR="$WORLD"
trap 'rm -rf "$WORK"; rmdir "$WORLD" 2>/dev/null' EXIT

say() { printf '\n[test] %s\n' "$*"; }

declare -a STEP_NAMES=() STEP_RESULTS=() NOTES=()
FAILED=0
record() {   # record NAME PASS|FAIL|SKIP [detail]
    STEP_NAMES+=("$1")
    STEP_RESULTS+=("$2${3:+ ($3)}")
    [[ "$2" == FAIL ]] && FAILED=1
    return 0
}
note() { NOTES+=("$*"); }   # a line for the summary, under the steps

summary() {
    echo
    echo "==================== pyenvfs test summary ===================="
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-28s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
    done
    if ((${#NOTES[@]})); then
        echo "--------------------------------------------------------------"
        printf '  %s\n' "${NOTES[@]}"
    fi
    echo "--------------------------------------------------------------"
    echo "  mode: $( ((STRICT)) && echo "strict (CI)" || echo "not strict (skips allowed)"); machine kind: $("$PY" "$ROOT/tests/ci.py" kind 2>/dev/null)"
    if ((FAILED)); then echo "  RESULT: FAILED"; else echo "  RESULT: PASSED"; fi
    echo "=============================================================="
}
fail_now() { summary; exit 1; }

# pyenvfs mounts currently in /proc/mounts, one line each: the fstype is
# fuse.pyenvfs (libfuse's default subtype is the program name), or a fuse
# mount whose source names pyenvfs.
pyenvfs_mounts() {
    awk '$3 ~ /^fuse(blk)?\.pyenvfs$/ || ($3 ~ /^fuse/ && $1 ~ /pyenvfs/) { print }' /proc/mounts 2>/dev/null | sort
}
# The lines of pyenvfs_mounts whose mount point is under WORK or WORLD.
own_mounts() {
    local line src target rest
    while IFS= read -r line; do
        read -r src target rest <<<"$line"
        case "$(proc_mounts_unescape "$target")" in "$WORK"/*|"$WORLD"/*) printf '%s\n' "$line" ;; esac
    done
}
# /proc/mounts escapes space, tab, newline and backslash as \ooo.
proc_mounts_unescape() { printf '%b' "${1//\\/\\0}"; }

# The counts of one pytest pass, from the JSON tests/conftest.py wrote:
# "N passed, N failed, N errors, N skipped, N deselected".
counts_of() {
    "$PY" - "$1" <<'PYEOF' 2>/dev/null
import json, sys
c = json.load(open(sys.argv[1]))
print("%(passed)d passed, %(failed)d failed, %(error)d errors, %(skipped)d skipped, "
      "%(deselected)d deselected" % c)
PYEOF
}
# Field NAME (a list) of the counts file, one item a line.
counts_list() {
    "$PY" -c 'import json, sys; [print(x) for x in json.load(open(sys.argv[1])).get(sys.argv[2], [])]' "$1" "$2" 2>/dev/null
}

os_name() { sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null; }
say "environment: $(uname -srm); $(os_name); uid $(id -u); CI=${CI:-}; strict=$STRICT"
MOUNTS_BEFORE="$(pyenvfs_mounts)"
if [[ -n "$MOUNTS_BEFORE" ]]; then
    say "pyenvfs mounts present before the tests (left alone):"
    printf '%s\n' "$MOUNTS_BEFORE"
fi

# --- set-up and build ------------------------------------------------------
say "setup: bash scripts/setup.sh"
bash "$ROOT/scripts/setup.sh" 2>&1 | tee "$WORK/setup.log"
rc=${PIPESTATUS[0]}
if ((rc == 0)); then
    record "setup + build" PASS
else
    # The reason: CMake's message (the line after "CMake Error"), else the
    # last line that says error.
    why="$(awk '/^CMake Error/ { on = 1; next } on && /^ *$/ { exit } on { sub(/^ +/, ""); printf "%s%s", sep, $0; sep = " " }' "$WORK/setup.log")"
    [[ -n "$why" ]] || why="$(grep -i 'error' "$WORK/setup.log" | tail -n1)"
    record "setup + build" FAIL "scripts/setup.sh exited $rc${why:+: $why}"
    fail_now
fi

export PYENVFS_BUILD_DIR="$BUILD_DIR"
export PYENVFS="$BUILD_DIR/pyenvfs"

# --- strict mode: what the suite needs must be here ------------------------
if ((STRICT)); then
    say "preflight (strict): /dev/fuse, fusermount3, the expected Pythons, the tools, the skip budget"
    "$PY" "$ROOT/tests/ci.py" preflight "$PYENVFS" >"$WORK/preflight" 2>&1
    if [[ -s "$WORK/preflight" ]]; then
        sed 's/^/[test] CI: /' "$WORK/preflight"
        n=$(wc -l <"$WORK/preflight")
        record "preflight (strict)" FAIL "$(head -n1 "$WORK/preflight")$( ((n > 1)) && echo "; and $((n - 1)) more")"
        fail_now
    fi
    if [[ -n "${PYENVFS_SKIP_SANITIZE:-}" ]]; then
        record "preflight (strict)" FAIL "PYENVFS_SKIP_SANITIZE is set: CI runs the sanitizer pass"
        fail_now
    fi
    record "preflight (strict)" PASS
fi

# --- C unit tests (ctest) ----------------------------------------------------
# Every tests/unit/test_NAME.c must be a registered test NAME (CMakeLists.txt
# refuses to configure otherwise; checked here again on what ctest runs).
registered="$(ctest --test-dir "$BUILD_DIR" -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *\([^ ]*\).*/\1/p' | sort)"
expected="$(cd "$ROOT/tests/unit" 2>/dev/null && ls test_*.c 2>/dev/null | sed 's/^test_\(.*\)\.c$/\1/' | sort)"
n_tests=$(printf '%s' "$registered" | grep -c . || true)
unregistered="$(comm -13 <(printf '%s\n' "$registered") <(printf '%s\n' "$expected") | sed '/^$/d' | tr '\n' ' ')"
if [[ -n "$unregistered" ]]; then
    say "unit: tests/unit has tests ctest does not run: $unregistered"
    record "unit tests (ctest)" FAIL "not registered with ctest: $unregistered"
elif ((n_tests == 0)); then
    if ((STRICT)); then
        record "unit tests (ctest)" FAIL "no unit tests registered with ctest (tests/unit is empty)"
    else
        say "unit: no tests registered with ctest; skipping"
        record "unit tests (ctest)" SKIP "none registered"
    fi
else
    say "unit: ctest --test-dir $BUILD_DIR --output-on-failure ($n_tests tests)"
    ctest --test-dir "$BUILD_DIR" --output-on-failure \
          --timeout "${PYENVFS_UNIT_TIMEOUT:-300}" -j"$(nproc 2>/dev/null || echo 2)" 2>&1 | tee "$WORK/ctest.log"
    rc=${PIPESTATUS[0]}
    c_pass=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$WORK/ctest.log" || true)
    c_fail=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(Failed|Exception|Timeout|Not Run)' "$WORK/ctest.log" || true)
    c_skip=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*Skipped' "$WORK/ctest.log" || true)
    counts="$c_pass passed, $c_fail failed, $c_skip skipped, of $n_tests"
    if ((rc == 0 && c_pass == n_tests)); then
        record "unit tests (ctest)" PASS "$counts"
    else
        record "unit tests (ctest)" FAIL "ctest exited $rc; $counts"
    fi
fi

# --- fuzzing: a short run of the view/layout and cli fuzz targets ------------
say "fuzz: tests/fuzz/run.sh ${PYENVFS_FUZZ_SECONDS:-15} (per target)"
if PYENVFS_FUZZ_REQUIRED=1 bash "$ROOT/tests/fuzz/run.sh" "${PYENVFS_FUZZ_SECONDS:-15}" all </dev/null; then
    record "fuzz (libFuzzer)" PASS "${PYENVFS_FUZZ_SECONDS:-15}s per target"
else
    record "fuzz (libFuzzer)" FAIL "tests/fuzz/run.sh failed"
fi

# --- integration tests (tests/run -> pytest) ---------------------------------
RUNNER="$ROOT/tests/run"
cmd=()
if [[ -x "$RUNNER" ]]; then
    cmd=("$RUNNER")
elif head -n1 "$RUNNER" 2>/dev/null | grep -q python; then
    cmd=("$PY" "$RUNNER")
else
    cmd=(bash "$RUNNER")
fi
if [[ -n "${PYENVFS_TEST_TIMEOUT:-}" ]]; then
    cmd=(timeout --kill-after=30 "$PYENVFS_TEST_TIMEOUT" "${cmd[@]}")
fi

# run_pass NAME TAG [ENV=VALUE...]: one pytest pass, its counts, its skip budget.
run_pass() {
    local name="$1" tag="$2"; shift 2
    local counts="$WORK/counts-$tag.json" rc detail line
    rm -f "$counts"
    say "integration ($tag): ${cmd[*]} ${ARGS[*]:-}"
    env PYENVFS_COUNTS_FILE="$counts" "$@" "${cmd[@]}" --basetemp="$WORK/$tag" \
        ${ARGS[@]+"${ARGS[@]}"} </dev/null
    rc=$?
    detail="$(counts_of "$counts")"
    if ((rc == 0)); then
        record "$name" PASS "$detail"
    elif ((rc == 124)) && [[ -n "${PYENVFS_TEST_TIMEOUT:-}" ]]; then
        record "$name" FAIL "timed out after ${PYENVFS_TEST_TIMEOUT}s"
    else
        line="$(counts_list "$counts" fatal | head -n1)"
        [[ -n "$line" ]] && line="CI: $line"
        [[ -n "$line" ]] || line="$(counts_list "$counts" leaks | head -n1 | sed 's/^/mount left behind by /')"
        [[ -n "$line" ]] || line="$(counts_list "$counts" sanitizer_reports | head -n1 | sed 's/^/sanitizer report /')"
        record "$name" FAIL "exited $rc${line:+: $line}${detail:+; $detail}"
    fi
    while read -r line; do
        [[ -n "$line" ]] && note "$tag: mount left behind by $line"
    done < <(counts_list "$counts" leaks)
    while read -r line; do
        [[ -n "$line" ]] && note "$tag: sanitizer report $line"
    done < <(counts_list "$counts" sanitizer_reports)
    if [[ -s "$counts" && -z "$(counts_list "$counts" fatal)" ]]; then
        say "skips of this pass against tests/skip-budget [$("$PY" "$ROOT/tests/ci.py" kind)]:"
        if "$PY" "$ROOT/tests/ci.py" budget "$counts" >"$WORK/budget-$tag" 2>&1; then
            cat "$WORK/budget-$tag"
            record "skip budget ($tag)" PASS "$(grep -c . "$WORK/budget-$tag") groups within their limits"
        else
            cat "$WORK/budget-$tag"
            line="$(sed -n 's/^FAIL: //p' "$WORK/budget-$tag" | head -n1)"
            if ((STRICT)); then
                record "skip budget ($tag)" FAIL "${line:-see above}"
            else
                record "skip budget ($tag)" SKIP "not strict: ${line:-see above}"
            fi
        fi
    fi
}

if [[ ! -e "$RUNNER" ]]; then
    record "integration (tests/run)" FAIL "tests/run missing"
else
    run_pass "integration (tests/run)" normal
fi

# --- the same integration tests against an ASan/UBSan build -------------------
# Every sanitizer report of every pyenvfs process (foreground or daemonized,
# whatever its environment) goes to ASAN_BUILD/sanitizer-logs/{asan,ubsan}.PID
# (tests/sanitizer_options.c); the session fails on any, and so does this
# script if one is there after the pass.  UBSan halts at its first report.
if [[ -n "${PYENVFS_SKIP_SANITIZE:-}" ]]; then
    record "integration (ASan/UBSan)" SKIP "PYENVFS_SKIP_SANITIZE set"
elif [[ -e "$RUNNER" ]]; then
    ASAN_BUILD="$BUILD_DIR-asan"
    # shellcheck disable=SC2206  # word splitting of the extra args is intended
    EXTRA_CMAKE_ARGS=(${PYENVFS_CMAKE_ARGS:-})
    say "sanitizers: build $ASAN_BUILD (-DPYENVFS_SANITIZE=ON ${EXTRA_CMAKE_ARGS[*]:-})"
    if cmake -S "$ROOT" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DPYENVFS_SANITIZE=ON \
             ${EXTRA_CMAKE_ARGS[@]+"${EXTRA_CMAKE_ARGS[@]}"} >/dev/null \
       && cmake --build "$ASAN_BUILD" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null; then
        SANLOG="$ASAN_BUILD/sanitizer-logs"
        mkdir -p "$SANLOG" && chmod 0777 "$SANLOG" && find "$SANLOG" -mindepth 1 -delete
        # Every test, but those run once per base only for the bases whose
        # layouts differ (Debian's patched 3.11, 2.7's legacy bytecode, 3.7's
        # "m" ABI, the newest): the daemon does the same for every 3.x.
        run_pass "integration (ASan/UBSan)" asan \
            PYENVFS="$ASAN_BUILD/pyenvfs" PYENVFS_SANITIZER_LOG_DIR="$SANLOG" \
            PYENVFS_TEST_ONLY_BASES="${PYENVFS_SANITIZE_BASES-usr-3.11,pyenv-2.7,pyenv-3.7,pyenv-3.13}"
        # Daemons write their reports when they exit, which may be after the
        # session: wait (bounded) for the last of them, then look.
        for _ in $(seq 1 300); do
            pgrep -f "^$ASAN_BUILD/pyenvfs( |\$)" >/dev/null || break
            sleep 0.1
        done
        reports="$(find "$SANLOG" -type f 2>/dev/null | sort)"
        if [[ -n "$reports" ]]; then
            n=$(printf '%s\n' "$reports" | wc -l)
            first="$(printf '%s\n' "$reports" | head -n1)"
            what="$(grep -m1 -E 'SUMMARY:|ERROR:|runtime error' "$first")"
            say "sanitizer reports in $SANLOG:"
            for f in $reports; do echo "== $f"; head -n 40 "$f"; done
            record "sanitizer reports" FAIL "$n report(s); $(basename "$first"): ${what:-see above}"
        else
            record "sanitizer reports" PASS "none in $SANLOG"
        fi
    else
        record "integration (ASan/UBSan)" FAIL "sanitizer build failed"
    fi
fi

# --- smoke: a build against the system's libfuse -------------------------------
# The main build links libfuse >= 3.17 for passthrough (scripts/libfuse.sh); a
# build against the system's own (3.14 on Debian 12: passthrough not built)
# must keep working. A few test files run with it. PYENVFS_SKIP_SYSTEM_LIBFUSE=1
# skips this step.
if [[ -n "${PYENVFS_SKIP_SYSTEM_LIBFUSE:-}" ]]; then
    record "smoke (system libfuse)" SKIP "PYENVFS_SKIP_SYSTEM_LIBFUSE set"
elif [[ -e "$RUNNER" ]]; then
    SYS_BUILD="$BUILD_DIR-system-libfuse"
    say "system libfuse: build $SYS_BUILD (-DPYENVFS_LIBFUSE_PREFIX=system)"
    if cmake -S "$ROOT" -B "$SYS_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYENVFS_LIBFUSE_PREFIX=system >/dev/null \
       && cmake --build "$SYS_BUILD" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null; then
        say "system libfuse: $("$SYS_BUILD/pyenvfs" --version)"
        PYENVFS="$SYS_BUILD/pyenvfs" "${cmd[@]}" tests/test_passthrough.py tests/test_writes.py tests/test_run.py \
            tests/test_cli.py </dev/null
        rc=$?
        if ((rc == 0)); then
            record "smoke (system libfuse)" PASS "$("$SYS_BUILD/pyenvfs" --version | sed -n 's/.*(libfuse \([^;]*\);.*/libfuse \1/p')"
        else
            record "smoke (system libfuse)" FAIL "exited $rc"
        fi
    else
        record "smoke (system libfuse)" FAIL "build against the system's libfuse failed"
    fi
fi

# --- nothing may stay mounted -------------------------------------------------
# Only this run's mounts count (and are detached); other mounts that appeared
# meanwhile belong to someone else on the machine and are left alone.
MOUNTS_AFTER="$(pyenvfs_mounts)"
NEW="$(comm -13 <(printf '%s\n' "$MOUNTS_BEFORE" | sed '/^$/d') \
                <(printf '%s\n' "$MOUNTS_AFTER"  | sed '/^$/d'))"
LEFT="$(printf '%s\n' "$NEW" | sed '/^$/d' | own_mounts)"
if [[ -n "$LEFT" ]]; then
    say "pyenvfs mounts left behind by the tests:"
    printf '%s\n' "$LEFT"
    record "no mounts left behind" FAIL "$(printf '%s\n' "$LEFT" | wc -l) left under $WORK or $WORLD; detached with fusermount3 -uz"
    # Detach them so that the machine (and a CI workspace clean-up) is not
    # stuck on them; the run still fails.
    while read -r _src target _rest; do
        [[ -n "$target" ]] || continue
        target="$(proc_mounts_unescape "$target")"
        fusermount3 -uz "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
    done <<<"$LEFT"
else
    record "no mounts left behind" PASS "none under $WORK or $WORLD"
fi

summary
exit "$FAILED"
