#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/fuzz_view.c (view, cli),
# tests/fuzz/fuzz_layers.c (layers) and tests/fuzz/fuzz_lock.c (lock: toml,
# lockfile, pyspec) with clang and runs each for SECONDS on a fresh copy of
# its seed corpus.
#
#   tests/fuzz/run.sh [SECONDS] [view|cli|layers|lock|all]     (defaults: 30, all)
#
# Each target runs SECONDS (all: view, cli, layers, then lock). Exits non-zero if a target
# crashes (the input is kept in build-fuzz/artifacts/). Without clang (or
# without its libFuzzer runtime) it prints "skipped: ..." and exits 0, unless
# PYENVFS_FUZZ_REQUIRED=1. Environment:
#   CC                        the compiler (default: clang)
#   PYENVFS_FUZZ_REQUIRED=1   a missing clang is an error
#   PYENVFS_FUZZ_STRICT=0     fuzz_view does not check that every fixed entry
#                             and hidden name is a plain name (not "", ".", "..")
#   PYENVFS_FUZZ_JOBS=N       run N fuzzing processes in parallel (-fork=N)
#   PYENVFS_FUZZ_ARGS         extra libFuzzer flags
set -u

secs=${1:-30}
which=${2:-all}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [view|cli|layers|lock|all]" >&2; exit 2;; esac
case $which in
view|cli|layers|lock) targets=$which ;;
all) targets="view cli layers lock" ;;
*) echo "usage: $0 [SECONDS] [view|cli|layers|lock|all]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
out=build-fuzz
cc=${CC:-clang}

skip() {
	if [ "${PYENVFS_FUZZ_REQUIRED:-0}" = 1 ]; then
		echo "fuzz: error: $1 (PYENVFS_FUZZ_REQUIRED=1)" >&2
		exit 2
	fi
	echo "skipped: $1"
	exit 0
}

command -v "$cc" >/dev/null 2>&1 || skip "clang not installed"
mkdir -p "$out" || exit 2
probe_src=$out/probe-libfuzzer.c
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe_src"
"$cc" -fsanitize=fuzzer,address,undefined "$probe_src" -o "$out/probe-libfuzzer" >/dev/null 2>&1 ||
	skip "$cc cannot build libFuzzer targets (-fsanitize=fuzzer,address,undefined)"

build() {   # build OUTPUT [EXTRA-FLAGS...] SOURCES...
	o=$1
	shift
	"$cc" -g -O1 -std=gnu11 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Wall -Wextra -D_GNU_SOURCE -DPYENVFS_VERSION='"fuzz"' -Isrc "$@" \
		src/view.c src/layout.c src/safedir.c src/util.c src/cli.c -o "$o"
}
build "$out/fuzz_view" tests/fuzz/fuzz_view.c || exit 2
build "$out/fuzz_cli" -DFUZZ_CLI tests/fuzz/fuzz_view.c || exit 2
build "$out/fuzz_layers" src/dist.c src/whiteout.c src/merge.c src/shebang.c src/pycache.c \
	tests/fuzz/fuzz_layers.c || exit 2
build "$out/fuzz_lock" src/toml.c src/lockfile.c src/pyspec.c tests/fuzz/fuzz_lock.c || exit 2

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
for t in $targets; do
	corpus=$out/corpus/$t
	rm -rf "$corpus"
	mkdir -p "$corpus" "$out/artifacts" || exit 2
	cp tests/fuzz/corpus/"$t"/* "$corpus"/
	log=$out/fuzz_$t.log
	par=""
	[ -n "${PYENVFS_FUZZ_JOBS:-}" ] && par="-fork=$PYENVFS_FUZZ_JOBS"
	echo "fuzz: fuzz_$t for ${secs}s on a copy of tests/fuzz/corpus/$t (log: $log)"
	# shellcheck disable=SC2086
	"./$out/fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-dict="tests/fuzz/$t.dict" -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$t-" $par ${PYENVFS_FUZZ_ARGS:-} \
		"$corpus" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		status=1
		echo "fuzz: fuzz_$t FAILED (exit $rc); the end of its log:"
		tail -n 60 "$log"
		grep -h 'Test unit written to' "$log" | sed 's/^/fuzz: /'
		echo "fuzz: reproduce: ./$out/fuzz_$t <artifact>; minimize: ./$out/fuzz_$t -minimize_crash=1 -runs=100000 <artifact>"
	else
		grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
			sed "s/^/fuzz_$t: /"
		echo "fuzz_$t: corpus $(find "$corpus" -type f | wc -l) inputs (seeds: $(find tests/fuzz/corpus/"$t" -type f | wc -l))"
	fi
done
exit $status
