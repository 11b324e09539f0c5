#!/usr/bin/env bash
# pyenvfs quick start: install what is missing (apt), build, mount a demo
# environment over the system Python, and show it working.
#
#   sudo bash scripts/demo.sh          # mount, show, unmount
#   sudo bash scripts/demo.sh --keep   # leave the env mounted to play with
#
# Environment:
#   PYENVFS_DEMO_DIR   where to put the demo (DIR/env = mount point, DIR/site =
#                      the env's site-packages); default: a fresh mktemp -d
#                      directory, removed again at the end unless --keep
#   PYENVFS_DEMO_BASE  the base Python prefix (default: /usr)
#   PYENVFS_BUILD_DIR, PYENVFS_CMAKE_ARGS   passed on to scripts/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) printf 'demo.sh: unknown argument: %s (try --help)\n' "$arg" >&2; exit 2 ;;
    esac
done

bash "$ROOT/scripts/setup.sh"

BUILD_DIR="${PYENVFS_BUILD_DIR:-build}"
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
PYENVFS="$BUILD_DIR/pyenvfs"
BASE="${PYENVFS_DEMO_BASE:-/usr}"

CREATED_DEMO=0
if [[ -n "${PYENVFS_DEMO_DIR:-}" ]]; then
    mkdir -p "$PYENVFS_DEMO_DIR"
    DEMO="$(realpath "$PYENVFS_DEMO_DIR")"
else
    DEMO="$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/pyenvfs-demo.XXXXXX")")"
    CREATED_DEMO=1
fi
ENV="$DEMO/env"
SITE="$DEMO/site"
mkdir -p "$ENV"

# /proc/mounts escapes space, tab, newline and backslash as octal.
proc_mounts_escape() {
    local s="$1"
    s="${s//\\/\\134}"; s="${s// /\\040}"; s="${s//$'\t'/\\011}"; s="${s//$'\n'/\\012}"
    printf '%s' "$s"
}
is_mounted() {
    # Reads /proc/mounts instead of stat()ing the path: works on a dead
    # ("Transport endpoint is not connected") mount too.
    local want
    want="$(proc_mounts_escape "$1")"
    awk -v m="$want" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

MOUNTED=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # --keep keeps only an env that works; after a failure, clean up anyway.
    ((rc == 0)) || KEEP=0
    if ((MOUNTED)) && ((!KEEP)) && is_mounted "$ENV"; then
        echo
        printf '$ fusermount3 -u %q\n' "$ENV"
        if ! fusermount3 -u "$ENV"; then
            sleep 0.5
            fusermount3 -u "$ENV" 2>/dev/null || {
                echo "demo.sh: normal unmount failed; detaching lazily (fusermount3 -uz)" >&2
                fusermount3 -uz "$ENV" || true
            }
        fi
    fi
    if ((CREATED_DEMO)) && ((!KEEP)); then
        # Never remove anything while something is still mounted under it.
        if ! is_mounted "$ENV"; then
            rm -rf -- "$DEMO"
        else
            echo "demo.sh: $ENV is still mounted; leaving $DEMO in place" >&2
        fi
    fi
    if ((rc != 0)); then
        echo >&2
        echo "demo.sh: FAILED (exit status $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Show a command (with the paths spelled out) and run it.
run() {
    echo
    printf '$ %s\n' "$1"
    eval "$1"
}

if is_mounted "$ENV"; then
    echo "demo.sh: $ENV is already mounted (an earlier --keep run?); unmount it first: fusermount3 -u $ENV" >&2
    exit 1
fi

q_bin="$(printf %q "$PYENVFS")"
q_base="$(printf %q "$BASE")"
q_env="$(printf %q "$ENV")"
q_site="$(printf %q "$SITE")"

echo
echo "== mounting a Python environment at $ENV"
echo "   base (never written): $BASE    site-packages (writable): $SITE"
MOUNTED=1   # from here on, cleanup unmounts $ENV if it is mounted
t0="$(date +%s%N)"
run "$q_bin $q_base --site $q_site $q_env"
t1="$(date +%s%N)"
if ! is_mounted "$ENV"; then
    echo "demo.sh: pyenvfs exited successfully but $ENV is not mounted" >&2
    exit 1
fi
echo "(mounted in $(( (t1 - t0) / 1000000 )) ms)"

echo
echo "== what the environment looks like"
run "ls $q_env $q_env/bin"
run "cat $q_env/pyvenv.cfg"

echo
echo "== venv mode: run the env's interpreter (PEP 405: sys.prefix is the env, sys.base_prefix the base)"
run "$q_env/bin/python3 -c 'import sys; print(sys.prefix, sys.base_prefix)'"

echo
echo "== PYTHONHOME mode: everything, standard library included, read through the mount"
run "PYTHONHOME=$q_env PATH=$q_env/bin:\$PATH python3 -c 'import sys, json, ssl, sqlite3; print(sys.prefix); print(sys.path)'"

echo
if ((KEEP)); then
    cat <<EOF
== the env stays mounted at $ENV
   Its site-packages live in $SITE (they survive unmounting).

   Use it in venv mode:
     $ENV/bin/python
     $ENV/bin/python -m ensurepip && $ENV/bin/python -m pip install ...   # into $SITE
   or in PYTHONHOME mode (a shell of its own: an exported PYTHONHOME affects
   every Python started from that shell):
     PYTHONHOME=$ENV PATH=$ENV/bin:\$PATH python3

   Unmount it when done:
     fusermount3 -u $ENV
EOF
    if ((CREATED_DEMO)); then
        echo "   and then remove the demo directory: rm -rf $DEMO"
    fi
else
    echo "== done; unmounting (pass --keep to leave the env mounted)"
fi
