#!/usr/bin/env bash
# pyenvfs: a libfuse new enough for FUSE passthrough (>= 3.17), when the
# system's is older (Debian 12 ships 3.14).  Builds Debian's own fuse3 source
# package, fetched from the Debian mirror apt uses, into a project-local
# prefix that the cmake build then links statically:
#
#   build-deps/libfuse-VERSION/      (gitignored; kept across runs)
#
# Only the library is built: no fusermount3 is installed there, so mounting
# as a normal user keeps using the system's setuid /usr/bin/fusermount3.
# Prints the prefix to use on its last line ("system" when the system's
# libfuse is new enough already).
#
# Environment:
#   PYENVFS_DEBIAN_MIRROR  Debian archive base URL (default: apt's, else
#                          http://deb.debian.org/debian)
#   PYENVFS_LIBFUSE=system never build; use the system's libfuse, whatever it is
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=3.18.3
DEBREV=1
# The .orig tarball's sha256 as Debian's fuse3_3.18.3-1.dsc states it; the
# downloaded .dsc must agree, and so must the tarball.
SHA256=bcd19582c5e30f7fe45dd86a5540e998590aa01903afc7ebcbeea6c8ac5421ee
# Bumped when the build below changes: a prefix built otherwise is rebuilt.
BUILD_REV=4
PREFIX="$ROOT/build-deps/libfuse-$VERSION"
SRC="$ROOT/build-deps/src"

say() { printf '[libfuse] %s\n' "$*" >&2; }
die() { printf '[libfuse] error: %s\n' "$*" >&2; exit 1; }

if [[ "${PYENVFS_LIBFUSE:-}" == system ]]; then
    echo system
    exit 0
fi
sysver="$(pkg-config --modversion fuse3 2>/dev/null || echo 0)"
if dpkg --compare-versions "$sysver" ge 3.17 2>/dev/null; then
    say "the system's libfuse $sysver is new enough"
    echo system
    exit 0
fi
if [[ -f "$PREFIX/.complete" && "$(cat "$PREFIX/.complete")" == "$BUILD_REV" ]]; then
    say "libfuse $VERSION already built in $PREFIX"
    echo "$PREFIX"
    exit 0
fi

command -v meson >/dev/null && command -v ninja >/dev/null \
    || die "meson and ninja are needed to build libfuse $VERSION (apt-get install meson ninja-build)"

mirror="${PYENVFS_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    # apt's main archive: the first Debian URI that is not the security one.
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -Eo 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
fi
mirror="${mirror%/}"
pool="$mirror/pool/main/f/fuse3"
dsc="fuse3_$VERSION-$DEBREV.dsc"
tarball="fuse3_$VERSION.orig.tar.gz"

mkdir -p "$SRC"
fetch() {
    [[ -s "$SRC/$1" ]] && return 0
    say "fetching $pool/$1"
    curl -fsSL --retry 3 -o "$SRC/$1.part" "$pool/$1" || die "cannot fetch $pool/$1"
    mv "$SRC/$1.part" "$SRC/$1"
}
fetch "$dsc"
fetch "$tarball"

# The tarball's checksum, as the .dsc lists it under Checksums-Sha256.
listed="$(awk '/^Checksums-Sha256:/ {on=1; next} /^[^ ]/ {on=0} on && $3 == "'"$tarball"'" {print $1}' "$SRC/$dsc")"
actual="$(sha256sum "$SRC/$tarball" | cut -d' ' -f1)"
if [[ "$listed" != "$SHA256" || "$actual" != "$SHA256" ]]; then
    rm -f "$SRC/$dsc" "$SRC/$tarball"
    die "checksum mismatch for $tarball (expected $SHA256, .dsc says ${listed:-nothing}, file is $actual); removed, run again"
fi
say "sha256 of $tarball matches $dsc"

work="$SRC/fuse-$VERSION"
rm -rf "$work" "$PREFIX"
tar -xzf "$SRC/$tarball" -C "$SRC"
[[ -d "$work" ]] || die "$tarball did not unpack to fuse-$VERSION"

# One change to the source, so that the system's fusermount3 keeps serving
# every mount: since 3.17, a root daemon with -o auto_unmount mounts by
# itself and then runs `fusermount3 --auto-unmount`, an option older
# fusermount3s (Debian 12's 3.14) refuse, which leaves the mount behind when
# the daemon dies. As 3.14 did, such a mount goes through fusermount3.
auto_unmount_guard='	if (mo->auto_unmount)\n\t\treturn -2;  /* pyenvfs: through fusermount3, as libfuse 3.14 did */\n'
sed -i "/^static int fuse_mount_sys(/,/^}/ s|^\tres = stat(mnt, &stbuf);|${auto_unmount_guard}\n\tres = stat(mnt, \&stbuf);|" "$work/lib/mount.c"
grep -q 'pyenvfs: through fusermount3' "$work/lib/mount.c" || die "could not adapt lib/mount.c for auto_unmount"

# Static, library only: no examples, tests or utilities (fusermount3 stays the
# system's), and no io_uring (measured: no win inside a real start-up).
# IGNORE_MTAB (3.18.3's meson option disable-mtab sets nothing): as root, 3.18
# runs `mount -f` after every mount and `umount` before every unmount to keep
# /run/mount/utab (measured: 15 ms of a 22 ms `pyenvfs run`); Debian's 3.14
# skipped that where /etc/mtab is a symlink to /proc/mounts, as it is on
# every current system.
say "building libfuse $VERSION into $PREFIX"
meson setup "$work/build" "$work" --prefix="$PREFIX" --libdir=lib --buildtype=release \
    -Ddefault_library=static -Dutils=false -Dexamples=false -Dtests=false \
    -Denable-io-uring=false -Dc_args=-DIGNORE_MTAB -Dinitscriptdir= >&2
ninja -C "$work/build" >&2
ninja -C "$work/build" install >&2
rm -rf "$work"
echo "$BUILD_REV" > "$PREFIX/.complete"
echo "$PREFIX"
