"""Command line: help, version, option forms, daemonizing, unmount, bad input."""

import os
import pathlib
import signal
import subprocess
import time

import pytest

import pythons
from procinfo import daemon_pids_for
from conftest import (FUSERMOUNT, PYENVFS, EXIT_TIMEOUT, MARKER_FILE, force_unmount,
                      make_site_with_marker, mount_count, mounted, nonempty_lines, read_log,
                      run, run_pyenvfs, wait_for_mount, without_venv_pth)


# ---------------------------------------------------------------------------
# helpers

def tree_snapshot(root):
    """Set of (relative path, type) under root; does not descend into mount points."""
    root = str(root)
    snap = set()
    for dp, dns, fns in os.walk(root):
        keep = []
        for d in dns:
            p = os.path.join(dp, d)
            snap.add((os.path.relpath(p, root), "d"))
            if not os.path.ismount(p) and mount_count(p) == 0:
                keep.append(d)
        dns[:] = keep
        for f in fns:
            p = os.path.join(dp, f)
            kind = "l" if os.path.islink(p) else "f"
            snap.add((os.path.relpath(p, root), kind))
    return snap


def make_symlink_base(prefix, versions):
    """A prefix whose bin/pythonX.Y and lib/pythonX.Y are symlinks into real bases."""
    os.makedirs(os.path.join(str(prefix), "bin"))
    os.makedirs(os.path.join(str(prefix), "lib"))
    for b in versions:
        os.symlink(b.exe, os.path.join(str(prefix), "bin", "python" + b.xy))
        os.symlink(b.stdlib, os.path.join(str(prefix), "lib", "python" + b.xy))
        inc = b.include_rel
        if inc:
            os.makedirs(os.path.join(str(prefix), "include"), exist_ok=True)
            os.symlink(os.path.join(b.prefix, inc), os.path.join(str(prefix), inc))


def assert_refused(r, what=""):
    """Non-zero exit and exactly one non-empty line on stderr."""
    lines = nonempty_lines(r.stderr)
    assert r.returncode != 0, "pyenvfs accepted %s (exit 0); stderr=%r" % (what, r.stderr)
    assert len(lines) == 1, ("expected exactly one stderr line for %s, got %d:\n%s"
                             % (what, len(lines), r.stderr))
    assert len(lines[0]) < 400, "stderr line too long: %r" % lines[0]
    return lines[0]


# ---------------------------------------------------------------------------
# help and version

@pytest.mark.parametrize("opt", ["--help", "-h"])
def test_help(opt):
    r = run_pyenvfs([opt])
    assert r.returncode == 0, r.stderr
    assert "--site" in r.stdout, "usage on stdout does not mention --site:\n" + r.stdout
    assert "usage" in r.stdout.lower(), r.stdout


@pytest.mark.parametrize("opt", ["--version", "-V"])
def test_version(opt):
    r = run_pyenvfs([opt])
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("pyenvfs") for line in r.stdout.splitlines()), \
        "no line starting with 'pyenvfs' on stdout: %r" % r.stdout


# ---------------------------------------------------------------------------
# mounting, option forms

def test_daemonized_mount(any_base, tmp_path, cleanup_mounts):
    """Default mode: exit 0 once the mount is up; site dir created; unmount ends the daemon."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "sp" / "env1"
    assert not site.exists()
    r = run_pyenvfs([any_base.prefix, mnt, "--site", site], timeout=20)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(str(mnt)), "command returned but %s is not mounted" % mnt
    assert site.is_dir(), "--site directory was not created"
    assert os.path.isfile(str(mnt / "pyvenv.cfg"))
    pids = daemon_pids_for(mnt)
    assert pids, "no pyenvfs daemon process found for %s" % mnt
    r = run([FUSERMOUNT, "-u", str(mnt)])
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(str(mnt))
    deadline = time.monotonic() + EXIT_TIMEOUT
    while daemon_pids_for(mnt) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not daemon_pids_for(mnt), "daemon still running after unmount"


def _foreground_daemon(base, tmp_path):
    """A `-f` daemon of ours on tmp_path/mnt, mounted: (proc, mnt, log)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    log = tmp_path / "log"
    with open(str(log), "wb") as logf:
        proc = subprocess.Popen([PYENVFS, base.prefix, str(mnt), "--site", str(site), "-f"],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    return proc, mnt, log


def _end_by_unmount(proc, mnt):
    r = run([FUSERMOUNT, "-u", str(mnt)])
    assert r.returncode == 0, r.stderr


def _end_by_sigterm(proc, mnt):
    proc.send_signal(signal.SIGTERM)


@pytest.mark.parametrize("end", [_end_by_unmount, _end_by_sigterm], ids=["fusermount3-u", "sigterm"])
def test_foreground_daemon_ends_cleanly(any_base, tmp_path, end):
    """-f: fusermount3 -u, or SIGTERM (as sshfs/libfuse do), unmounts and
    ends the daemon with status 0."""
    proc, mnt, log = _foreground_daemon(any_base, tmp_path)
    try:
        wait_for_mount(proc, mnt, log)
        assert proc.poll() is None, "foreground daemon exited while mounted"
        end(proc, mnt)
        rc = proc.wait(timeout=EXIT_TIMEOUT)
        assert rc == 0, "daemon exit status %d after %s; stderr:\n%s" % (rc, end.__name__, read_log(log))
        assert mount_count(mnt) == 0, "still mounted after %s" % end.__name__
    finally:
        force_unmount(mnt)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.parametrize("form", ["options_first", "o_site", "o_site_python", "python_opt",
                                  "single_threaded"])
def test_option_forms(any_base, tmp_path, form):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    b = any_base.prefix
    argv = {
        "options_first": ["--site", site, "-f", b, mnt],
        "o_site": [b, mnt, "-o", "site=%s" % site, "-f"],
        "o_site_python": ["-f", "-o", "site=%s,python=%s" % (site, any_base.xy), b, mnt],
        "python_opt": [b, mnt, "--site", site, "--python", any_base.xy, "-f"],
        "single_threaded": [b, mnt, "--site", site, "-s", "-f"],
    }[form]
    with mounted(b, mnt, site, argv=argv) as m:
        assert os.path.isdir(m.site), "site dir not created"
        with open(m.path("pyvenv.cfg")) as f:
            assert "version = %s" % any_base.full_version in f.read()
        assert os.path.isfile(m.path("bin", "python" + any_base.xy))


def test_relative_paths(any_base, tmp_path):
    """BASE, DIR and MOUNTPOINT may be relative: made absolute before daemonizing."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (tmp_path / "site").mkdir()
    make_site_with_marker(tmp_path / "site")
    rel_base = os.path.relpath(any_base.prefix, str(tmp_path))
    log = tmp_path / "rel.log"
    with open(str(log), "wb") as logf:
        r = subprocess.run([PYENVFS, rel_base, "mnt", "--site", "site"], cwd=str(tmp_path),
                           stdout=logf, stderr=logf, timeout=20)
    try:
        assert r.returncode == 0, read_log(log)
        assert os.path.ismount(str(mnt))
        sp = mnt / any_base.stdlib_rel / "site-packages"
        assert without_venv_pth(os.listdir(str(sp))) == [MARKER_FILE]
        with open(str(mnt / "pyvenv.cfg")) as f:
            assert "home = %s/bin" % any_base.prefix in f.read()
    finally:
        force_unmount(mnt)


# ---------------------------------------------------------------------------
# several Pythons in one base

@pytest.fixture
def multi_base(tmp_path):
    usr = pythons.find("usr-3.11")
    p12 = pythons.pyenv_base("3.12")
    if usr is None or p12 is None:
        pytest.skip("needs /usr python3.11 and a pyenv 3.12")
    prefix = tmp_path / "multi"
    make_symlink_base(prefix, [usr, p12])
    assert pythons.versions_in(str(prefix)) == ["3.11", "3.12"]
    return prefix


def test_several_pythons_need_choice(multi_base, tmp_path, cleanup_mounts):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    before = tree_snapshot(tmp_path)
    r = run_pyenvfs([multi_base, mnt, "--site", site], timeout=20)
    line = assert_refused(r, "a base with two Pythons and no --python")
    assert "3.11" in line and "3.12" in line, "message does not list both versions: %r" % line
    assert not site.exists(), "site dir created despite the error"
    assert mount_count(mnt) == 0
    assert tree_snapshot(tmp_path) == before


def test_several_pythons_choose(multi_base, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    with mounted(multi_base, mnt, site, ["--python", "3.12"]) as m:
        assert os.path.isfile(m.path("bin", "python3.12"))
        assert not os.path.lexists(m.path("bin", "python3.11"))
        assert os.path.isdir(m.path("lib", "python3.12"))
        assert not os.path.lexists(m.path("lib", "python3.11"))
        with open(m.path("pyvenv.cfg")) as f:
            cfg = f.read()
        assert "version = 3.12." in cfg, cfg


def test_several_pythons_absent_choice(multi_base, tmp_path, cleanup_mounts):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    r = run_pyenvfs([multi_base, mnt, "--site", site, "--python", "3.9"], timeout=20)
    assert_refused(r, "--python 3.9 on a base with 3.11 and 3.12")
    assert not site.exists()
    assert mount_count(mnt) == 0


# ---------------------------------------------------------------------------
# bad input

BAD_CASES = [
    "base_missing", "base_without_python", "missing_site", "mnt_missing", "mnt_is_file",
    "site_inside_mnt", "mnt_inside_site", "base_inside_mnt", "unknown_option",
    "unknown_o_option", "python_absent", "site_parent_is_file", "no_arguments",
    "one_positional", "three_positionals", "site_is_mnt", "site_inside_mnt_via_symlink",
    "base_is_mnt", "base_inside_mnt_via_symlink", "site_is_file", "empty_o_site",
    "site_unwritable", "site_uncreatable",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input(case, any_base, tmp_path, cleanup_mounts):
    b = any_base.prefix
    mnt = tmp_path / "mnt"
    site = tmp_path / "site"
    if case not in ("mnt_missing", "mnt_is_file"):
        mnt.mkdir()
    if case == "base_missing":
        args = [tmp_path / "nobase", mnt, "--site", site]
    elif case == "base_without_python":
        (tmp_path / "empty").mkdir()
        args = [tmp_path / "empty", mnt, "--site", site]
    elif case == "missing_site":
        args = [b, mnt]
    elif case == "mnt_missing":
        args = [b, mnt, "--site", site]
    elif case == "mnt_is_file":
        mnt.write_text("x")
        args = [b, mnt, "--site", site]
    elif case == "site_inside_mnt":
        site = mnt / "site"
        args = [b, mnt, "--site", site]
    elif case == "mnt_inside_site":
        make_site_with_marker(site)
        mnt = site / "mnt"
        mnt.mkdir()
        args = [b, mnt, "--site", site]
    elif case == "base_inside_mnt":
        inner = mnt / "base"
        make_symlink_base(inner, [any_base])
        args = [inner, mnt, "--site", site]
    elif case == "unknown_option":
        args = [b, mnt, "--site", site, "--bogus"]
    elif case == "unknown_o_option":
        args = [b, mnt, "--site", site, "-o", "bogus_opt"]
    elif case == "python_absent":
        absent = next(v for v in ("3.9", "3.8", "3.7") if v not in pythons.versions_in(b))
        args = [b, mnt, "--site", site, "--python", absent]
    elif case == "site_parent_is_file":
        (tmp_path / "afile").write_text("x")
        site = tmp_path / "afile" / "site"
        args = [b, mnt, "--site", site]
    elif case == "no_arguments":
        args = []
    elif case == "one_positional":
        args = [b, "--site", site]
    elif case == "three_positionals":
        (tmp_path / "extra").mkdir()
        args = [b, mnt, tmp_path / "extra", "--site", site]
    elif case == "site_is_mnt":
        site = mnt
        args = [b, mnt, "--site", site]
    elif case == "site_inside_mnt_via_symlink":
        os.symlink(str(mnt), str(tmp_path / "lnk"))
        site = mnt / "site"
        args = [b, mnt, "--site", tmp_path / "lnk" / "site"]
    elif case == "base_is_mnt":
        make_symlink_base(tmp_path / "tmpbase", [any_base])
        for n in os.listdir(str(tmp_path / "tmpbase")):
            os.rename(str(tmp_path / "tmpbase" / n), str(mnt / n))
        os.rmdir(str(tmp_path / "tmpbase"))
        args = [mnt, mnt, "--site", site]
    elif case == "base_inside_mnt_via_symlink":
        make_symlink_base(mnt / "base", [any_base])
        os.symlink(str(mnt / "base"), str(tmp_path / "blink"))
        args = [tmp_path / "blink", mnt, "--site", site]
    elif case == "site_is_file":
        site.write_text("x")
        args = [b, mnt, "--site", site]
    elif case == "empty_o_site":
        args = [b, mnt, "-o", "site="]
    elif case == "site_unwritable":
        site = pathlib.Path("/proc/sys")     # exists, nothing can be created in it
        args = [b, mnt, "--site", site]
    elif case == "site_uncreatable":
        site = pathlib.Path("/proc/pyenvfs-test-%d" % os.getpid())
        args = [b, mnt, "--site", site]
    else:
        raise AssertionError(case)

    site_existed = site.exists()
    before = tree_snapshot(tmp_path)
    r = run_pyenvfs(args, timeout=20)
    try:
        assert_refused(r, case)
        if not site_existed:
            assert not os.path.lexists(str(site)), "site dir %s created despite the error" % site
        if mnt.is_dir():
            assert mount_count(mnt) == 0, "%s got mounted despite the error" % mnt
        assert tree_snapshot(tmp_path) == before, "files created or removed despite the error"
    finally:
        if mnt.is_dir():
            force_unmount(mnt)


def test_already_mounted(any_base, tmp_path, cleanup_mounts):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    site2 = tmp_path / "site2"
    with mounted(any_base.prefix, mnt, site) as m:
        assert mount_count(mnt) == 1
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site2], timeout=20)
        try:
            assert_refused(r, "an already mounted mount point")
            assert not site2.exists(), "second site dir created despite the error"
            assert mount_count(mnt) == 1, "mount stacked on top of the existing one"
            assert os.path.isfile(m.path("pyvenv.cfg")), "first mount broken"
        finally:
            while mount_count(mnt) > 1:
                run([FUSERMOUNT, "-u", str(mnt)], timeout=EXIT_TIMEOUT)


def test_stale_mount(any_base, tmp_path):
    """A dead daemon leaves 'Transport endpoint is not connected': refuse, say how to clear it."""
    site2 = tmp_path / "site2"
    proc, mnt, log = _foreground_daemon(any_base, tmp_path)
    try:
        wait_for_mount(proc, mnt, log)
        proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)
        with pytest.raises(OSError):
            os.stat(str(mnt / "pyvenv.cfg"))
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site2], timeout=20)
        line = assert_refused(r, "a stale mount point")
        assert "fusermount" in line or "umount" in line, \
            "message does not say how to clear the stale mount: %r" % line
        assert not site2.exists()
        assert mount_count(mnt) == 1
    finally:
        force_unmount(mnt)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.parametrize("form", ["long", "o"])
def test_system_site_packages_cfg(any_base, tmp_path, form):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    site = tmp_path / "site"
    argv = {"long": [any_base.prefix, mnt, "--site", site, "--system-site-packages", "-f"],
            "o": [any_base.prefix, mnt, "-f", "-o", "site=%s,system_site_packages" % site]}[form]
    with mounted(any_base.prefix, mnt, site, argv=argv) as m:
        with open(m.path("pyvenv.cfg")) as f:
            cfg = f.read()
        assert "include-system-site-packages = true" in cfg, cfg
