#!/usr/bin/env bash
# pyenvfs: install what the build and the tests need (Debian/Ubuntu, via apt),
# then configure and build.  Idempotent: apt is only touched when a package is
# missing, and cmake rebuilds only what changed.
#
#   sudo bash scripts/setup.sh
#
# Environment:
#   PYENVFS_BUILD_DIR   build directory, relative to the repository root or
#                       absolute (default: build)
#   PYENVFS_CMAKE_ARGS  extra arguments for the cmake configure step, split on
#                       whitespace, e.g. "-DCMAKE_C_FLAGS=-fsanitize=address"
#   PYENVFS_SKIP_APT=1  never call apt-get; only report what is missing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${PYENVFS_BUILD_DIR:-build}"
# shellcheck disable=SC2206  # word splitting of the extra args is intended
EXTRA_CMAKE_ARGS=(${PYENVFS_CMAKE_ARGS:-})

PACKAGES=(
    build-essential cmake pkg-config
    libfuse3-dev fuse3
    python3 python3-dev python3-venv python3-pip python3-pytest
    python3-setuptools python3-wheel
    # modules the tests import from Debian's python3 (test_writes.py's
    # --system-site-packages tests use Debian's yaml and distro)
    python3-yaml python3-distro
    # the shells the activation scripts are tested under
    fish tcsh zsh dash
    # tests/test_mount_integration.py: systemd-analyze verify of the unit
    systemd
    # libFuzzer, for tests/fuzz
    clang libclang-rt-14-dev
    # read-only bases and layers (squashfs images; pyenvfs layer pack runs mksquashfs)
    squashfs-tools squashfuse
    # getfattr, which the docs use to read a mount's user.pyenvfs.* attributes
    attr
    # tests/bench: the peers it measures pyenvfs against, its plot, and its
    # heavy real-package import (numpy, scipy, matplotlib: benchmarks only;
    # tests/test_watch.py uses bindfs too)
    fuse-overlayfs bindfs python3-matplotlib python3-scipy
)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- packages -------------------------------------------------------------
command -v dpkg-query >/dev/null 2>&1 \
    || die "dpkg-query not found: this script supports Debian/Ubuntu only; install ${PACKAGES[*]} (or their equivalents) by hand"

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    say "missing packages: ${missing[*]}"
    if [[ "${PYENVFS_SKIP_APT:-}" == 1 ]]; then
        die "PYENVFS_SKIP_APT=1 is set; install them first: apt-get install ${missing[*]}"
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        die "installing packages needs root: run this as root or with sudo (sudo bash $0), or install them yourself: sudo apt-get install ${missing[*]}"
    fi
    say "apt-get update"
    apt-get update
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    say "all ${#PACKAGES[@]} packages present"
fi

# --- FUSE sanity (warnings only: building does not need it; in CI, CI=true
# or PYENVFS_STRICT=1, no FUSE device is an error: the tests need it) ---------
case "${CI:-}" in [Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss]) PYENVFS_STRICT=1 ;; esac
if [[ "${PYENVFS_STRICT:-}" == 1 && ! -c /dev/fuse ]]; then
    die "/dev/fuse is missing or not a device: the tests cannot mount (in a container, pass --device /dev/fuse --cap-add SYS_ADMIN)"
fi
if [[ ! -e /dev/fuse ]]; then
    say "warning: /dev/fuse does not exist; mounting will fail (in a container, pass --device /dev/fuse --cap-add SYS_ADMIN)"
elif [[ "$(id -u)" -ne 0 && ! ( -r /dev/fuse && -w /dev/fuse ) ]]; then
    say "warning: /dev/fuse is not readable and writable for you ($(stat -c %A /dev/fuse)); mount as root, or: sudo chmod 0666 /dev/fuse"
fi

# --- libfuse >= 3.17, for FUSE passthrough ---------------------------------
# scripts/libfuse.sh builds Debian's fuse3 3.18.3 into build-deps/ (once) when
# the system's libfuse is older; PYENVFS_LIBFUSE=system skips it, as does a
# -DPYENVFS_LIBFUSE_PREFIX in PYENVFS_CMAKE_ARGS.
if [[ "${PYENVFS_CMAKE_ARGS:-}" != *PYENVFS_LIBFUSE_PREFIX* ]]; then
    if [[ "${PYENVFS_LIBFUSE:-}" != system ]]; then
        for pkg in meson ninja-build; do
            if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
                [[ "$(id -u)" -eq 0 && "${PYENVFS_SKIP_APT:-}" != 1 ]] \
                    || die "building libfuse needs $pkg: apt-get install $pkg (or PYENVFS_LIBFUSE=system)"
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" \
                    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg"; }
            fi
        done
    fi
    libfuse_prefix="$(bash "$ROOT/scripts/libfuse.sh")" || die "scripts/libfuse.sh failed (PYENVFS_LIBFUSE=system builds with the system's libfuse, without passthrough)"
    say "libfuse: $libfuse_prefix"
    EXTRA_CMAKE_ARGS+=("-DPYENVFS_LIBFUSE_PREFIX=$libfuse_prefix")
fi

# --- build ------------------------------------------------------------------
[[ -f CMakeLists.txt ]] || die "no CMakeLists.txt in $ROOT"

say "cmake -S . -B $BUILD_DIR -DCMAKE_BUILD_TYPE=RelWithDebInfo ${EXTRA_CMAKE_ARGS[*]:-}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${EXTRA_CMAKE_ARGS[@]+"${EXTRA_CMAKE_ARGS[@]}"}

JOBS="$(nproc 2>/dev/null || echo 2)"
say "cmake --build $BUILD_DIR -j$JOBS"
cmake --build "$BUILD_DIR" -j"$JOBS"

BIN="$(cd "$BUILD_DIR" && pwd)/pyenvfs"
if [[ -x "$BIN" ]]; then
    say "built: $BIN"
else
    die "the build finished but $BIN does not exist"
fi
