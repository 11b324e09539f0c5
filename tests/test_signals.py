"""Signals to the daemon, auto_unmount, and a stale mount after a crash.

Every daemon here is a `-f` child started with Popen, so its PID is ours;
nothing else is ever signalled.
"""

import errno
import os
import signal
import subprocess

import pytest

from conftest import (EXIT_TIMEOUT, FUSERMOUNT, force_unmount, mount_count, mounted, read_log,
                      run, run_pyenvfs)
from helpers_env import (assert_refusal, popen_daemon, stop_own, suggested_arg, wait_for_mount_of,
                         wait_unmounted)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_unmounts_cleanly(any_base, tmp_path, sig):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    log = tmp_path / "daemon.log"
    proc = popen_daemon([any_base.prefix, mnt, "--site", site, "-f"], log, restore_signals=True)
    try:
        wait_for_mount_of(proc, mnt, log)
        assert os.path.isfile(str(mnt / "pyvenv.cfg"))
        proc.send_signal(getattr(signal, sig))
        try:
            rc = proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("daemon still running %.0f s after %s; output:\n%s"
                        % (EXIT_TIMEOUT, sig, read_log(log)))
        assert rc == 0, "exit status %d after %s; output:\n%s" % (rc, sig, read_log(log))
        assert mount_count(mnt) == 0, "%s still mounted after %s" % (mnt, sig)
        assert os.listdir(str(mnt)) == [], "mount point not empty after unmount"
        bad = [l for l in read_log(log).splitlines() if "error" in l.lower()]
        assert not bad, "errors on stderr after %s: %s" % (sig, bad)
        # The site dir stays: the env's state.
        assert os.path.isdir(str(site))
    finally:
        force_unmount(mnt)
        stop_own(proc)


def test_auto_unmount_after_sigkill(any_base, tmp_path):
    """-o auto_unmount: SIGKILL of the daemon, and the mount goes away by itself."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    log = tmp_path / "daemon.log"
    proc = popen_daemon([any_base.prefix, mnt, "--site", site, "-f", "-o", "auto_unmount"], log)
    try:
        wait_for_mount_of(proc, mnt, log)
        assert os.path.isfile(str(mnt / "pyvenv.cfg"))
        proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)
        assert wait_unmounted(mnt, timeout=10), \
            "%s still mounted 10 s after SIGKILL with auto_unmount" % mnt
        os.stat(str(mnt))   # a plain directory again, not ENOTCONN
    finally:
        force_unmount(mnt)
        stop_own(proc)


def _crash_daemon(base, mnt, site, log, uncache_root=False):
    """Mount at mnt with a -f daemon, run the env's Python, SIGKILL the daemon.

    uncache_root: list M last before the kill; reading the directory makes
    the kernel drop M's cached attributes (atime), so that stat(M) afterwards
    fails with ENOTCONN instead of answering from the cache."""
    proc = popen_daemon([base.prefix, mnt, "--site", site, "-f"], log)
    try:
        wait_for_mount_of(proc, mnt, log)
        r = run([os.path.join(str(mnt), "bin", "python" + base.xy), "-c", "pass"], cwd="/")
        assert r.returncode == 0, r.stderr
        if uncache_root:
            os.listdir(str(mnt))
    finally:
        proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)


def _enotconn(mnt):
    """What a person sees first: `ls M` fails with ENOTCONN."""
    with pytest.raises(OSError) as ei:
        os.listdir(str(mnt))
    assert ei.value.errno == errno.ENOTCONN, ei.value


def _require_uncached(mnt):
    try:
        os.stat(str(mnt))
    except OSError as e:
        assert e.errno == errno.ENOTCONN, e
        return
    pytest.skip("this kernel still answers stat(M) from its cache after the crash")


def _refuse_again(base, mnt, site2):
    assert not os.path.lexists(str(site2))
    r = run_pyenvfs([base.prefix, mnt, "--site", site2], timeout=20)
    line = assert_refusal(r, mnt)
    assert not os.path.lexists(str(site2)), "site dir created despite the refusal"
    assert mount_count(mnt) == 1, "mount stacked on the stale one"
    return line, line.replace(str(mnt), "<M>")    # the path may hold any word


def test_stale_mount_refused_then_cleared(any_base, tmp_path):
    """SIGKILL without auto_unmount leaves a stale mount (ENOTCONN).  A new
    pyenvfs there exits 1 with one line naming M and how to clear it
    (fusermount3 -u), creates nothing; after fusermount3 -u a new mount works."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site2 = tmp_path / "site2"
    try:
        _crash_daemon(any_base, mnt, tmp_path / "site", tmp_path / "daemon.log")
        _enotconn(mnt)
        assert mount_count(mnt) == 1
        line, words = _refuse_again(any_base, mnt, site2)
        assert "fusermount3 -u" in words, line

        r = run([FUSERMOUNT, "-u", str(mnt)])
        assert r.returncode == 0, r.stderr
        assert mount_count(mnt) == 0
        with mounted(any_base.prefix, mnt, site2) as m:
            assert os.path.isfile(m.path("pyvenv.cfg"))
            r = run([m.path("bin", "python" + any_base.xy), "-c", "import sys; print(sys.prefix)"],
                    cwd="/")
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == m.mnt
        assert os.path.isdir(str(site2))
    finally:
        force_unmount(mnt)


# The stale-mount message, per way the crash can look:
#   name: (mount point's name, list M before the kill, what the message must offer)
STALE_CASES = {
    # the usual crash (the env was in use): `ls M` fails with ENOTCONN
    "in-use": ("mnt", False, "command"),
    # stat(M) itself fails with ENOTCONN
    "root-uncached": ("mnt", True, "command"),
    # the suggested command, read by sh, names M even when its path holds a space
    "path-with-space": ("my env", True, "usable-command"),
}


@pytest.mark.parametrize("case", sorted(STALE_CASES))
def test_stale_mount_message(any_base, tmp_path, case):
    """After a crash, a new mount at M is refused with one line that says
    'stale' and how to clear it (fusermount3 -u M)."""
    name, uncache_root, offer = STALE_CASES[case]
    mnt = tmp_path / name
    mnt.mkdir()
    try:
        _crash_daemon(any_base, mnt, tmp_path / "site", tmp_path / "daemon.log",
                      uncache_root=uncache_root)
        if uncache_root:
            _require_uncached(mnt)
        else:
            _enotconn(mnt)
        line, words = _refuse_again(any_base, mnt, tmp_path / "site2")
        assert "stale" in words, line
        if offer == "command":
            assert "fusermount3 -u" in words, line
        else:
            assert suggested_arg(line, "fusermount3 -u ") == str(mnt), line
    finally:
        force_unmount(mnt)


def test_dir_under_a_stale_mount_names_the_mount(any_base, tmp_path):
    """DIR below a dead mount: the message names the stale mount point (the
    one to unmount), not DIR, and its suggested command clears it."""
    dead = tmp_path / "dead env"
    dead.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        _crash_daemon(any_base, dead, tmp_path / "site", tmp_path / "daemon.log",
                      uncache_root=True)
        _require_uncached(dead)
        site = os.path.join(str(dead), "lib", "x")
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site], timeout=20)
        line = assert_refusal(r, site)
        words = line.replace(str(dead), "<DEAD>")
        assert "stale" in words, line
        assert suggested_arg(line, "fusermount3 -u ") == str(dead), line
        assert mount_count(mnt) == 0
        r = run(["fusermount3", "-u", suggested_arg(line, "fusermount3 -u ")])
        assert r.returncode == 0, r.stderr
        assert mount_count(dead) == 0
    finally:
        force_unmount(dead)
        force_unmount(mnt)
