"""mount(8), fstab (mount -T) and the systemd user unit template, for real.

mount(8) runs helpers with its own clean PATH: for the mount(8) tests the
binary under test is made findable as /usr/local/sbin/pyenvfs (a symlink made
for this module and removed afterwards, only if this module made it).

The systemd unit is not started through systemd (it is not running on these
machines): its ExecStartPre, ExecStart and ExecStop are expanded the way
systemd does (%h, %i, Environment=, EnvironmentFile=, $VAR and ${VAR}) and run.
"""

import os
import shutil
import subprocess
import time

import pytest

import pythons
from conftest import (EXIT_TIMEOUT, MARKER_FILE, PYENVFS, force_unmount, make_site_with_marker,
                      mount_count, read_log, run)
from helpers_env import (MOUNT_PATH, dev_fuse_mode, expand_command, fstab_line, is_root,
                         mountinfo_entry, parse_unit, run_as, stop_own, temp_symlink,
                         throwaway_users, unit_environment, unit_values, wait_for_mount_of,
                         wait_unmounted)

pytestmark = pytest.mark.skipif(not is_root(), reason="mount(8) of a FUSE file system needs root")

SBIN_LINK = "/usr/local/sbin/pyenvfs"
BUILD_DIR = os.environ.get("PYENVFS_BUILD_DIR") or os.path.dirname(PYENVFS)
UNIT = os.path.join(BUILD_DIR, "pyenvfs@.service")


def mount_env():
    return {"PATH": MOUNT_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/root"}


@pytest.fixture(scope="module")
def on_mount_path():
    if not shutil.which("mount.fuse3", path=MOUNT_PATH) and not shutil.which(
            "mount.fuse", path=MOUNT_PATH):
        pytest.skip("mount.fuse3 not installed (Debian package fuse3)")
    for d in MOUNT_PATH.split(":"):
        p = os.path.join(d, "pyenvfs")
        if d != "/usr/local/sbin" and os.path.exists(p) and \
                os.path.realpath(p) != os.path.realpath(PYENVFS):
            pytest.skip("%s comes before the binary under test on mount(8)'s PATH" % p)
    with temp_symlink(SBIN_LINK, os.path.realpath(PYENVFS)):
        yield



def py_prefix(mnt, xy, **kw):
    r = run([os.path.join(mnt, "bin", "python" + xy), "-c",
             "import sys, pyenvfs_marker; print(sys.prefix); print(pyenvfs_marker.MARK)"],
            cwd="/", **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def umount(mnt):
    r = run(["umount", mnt], env=mount_env())
    assert r.returncode == 0, "umount %s failed: %s" % (mnt, r.stderr)
    assert wait_unmounted(mnt), "%s still mounted after umount" % mnt


# ---------------------------------------------------------------------------
# mount(8)

def _check_plain(b, mnt, site):
    ent = mountinfo_entry(mnt)
    assert ent and ent[1] == "fuse.pyenvfs" and ent[2] == b.prefix, ent
    assert py_prefix(mnt, b.xy) == [mnt, "pyenvfs-site-marker"]
    with open(os.path.join(mnt, "pyvenv.cfg")) as f:
        assert "include-system-site-packages = false" in f.read()


def _check_python_system_site(b, mnt, site):
    assert os.path.isdir(site), "site dir not created"
    with open(os.path.join(mnt, "pyvenv.cfg")) as f:
        cfg = f.read()
    assert "include-system-site-packages = true" in cfg, cfg
    assert "version = %s" % b.full_version in cfg, cfg
    r = run([os.path.join(mnt, "bin", "python" + b.xy), "-c",
             "import sys; print(sys.prefix)"], cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == mnt, r.stderr


def _check_allow_other_ro(b, mnt, site):
    ent = mountinfo_entry(mnt)
    assert ent[0].split(",")[0] == "ro", "not mounted read-only: %s" % (ent,)
    assert "allow_other" in ent[3], ent
    assert py_prefix(mnt, b.xy) == [mnt, "pyenvfs-site-marker"]
    with pytest.raises(OSError) as ei:
        open(os.path.join(mnt, b.stdlib_rel, "site-packages", "new.py"), "w")
    assert ei.value.errno == 30, ei.value
    # allow_other: another user can run it; nobody exists everywhere.
    r = run(["/usr/bin/python3", "-c", "import os; os.stat(%r); print('ok')" % mnt],
            preexec_fn=_as_nobody, cwd="/")
    assert r.stdout.strip() == "ok", r.stderr


# mount -t fuse.pyenvfs ARGS, one case each:
#   name: (ARGS given (base, mnt, site), DIR below the work dir, DIR has the
#          marker before mounting (else the mount creates DIR), checks)
MOUNT_CASES = {
    "plain": (lambda b, mnt, site: [b.prefix, mnt, "-o", "site=" + site],
              "site", True, _check_plain),
    "python-system-site": (lambda b, mnt, site: [b.prefix, mnt, "-o", "site=%s,python=%s,"
                                                 "system_site_packages" % (site, b.xy)],
                           os.path.join("sp", "ENV1"), False, _check_python_system_site),
    "ro-allow-other": (lambda b, mnt, site: ["-o", "ro,allow_other,site=" + site, b.prefix, mnt],
                       "site", True, _check_allow_other_ro),
}


@pytest.mark.parametrize("case", sorted(MOUNT_CASES))
def test_mount_t_fuse_pyenvfs(case, usr_base, on_mount_path, work):
    """mount(8) with the options of the case, the case's checks, umount(8)."""
    args, site_rel, marker, check = MOUNT_CASES[case]
    mnt = os.path.join(work, "mnt")
    site = os.path.join(work, site_rel)
    os.mkdir(mnt)
    if marker:
        make_site_with_marker(site)
    try:
        r = run(["mount", "-t", "fuse.pyenvfs"] + args(usr_base, mnt, site), env=mount_env())
        assert r.returncode == 0, "mount failed (%d): %s" % (r.returncode, r.stderr)
        check(usr_base, mnt, site)
        umount(mnt)
        if marker:
            assert os.path.isfile(os.path.join(site, MARKER_FILE))
    finally:
        force_unmount(mnt)


def _as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def test_mount_T_alternative_fstab(usr_base, on_mount_path, work):
    """A line like mount/fstab.example's, in a file given with mount -T."""
    mnt = os.path.join(work, "mnt")
    site = os.path.join(work, "site")
    os.mkdir(mnt)
    make_site_with_marker(site)
    fstab = os.path.join(work, "fstab")
    with open(fstab, "w") as f:
        f.write("# test fstab\n%s  %s  fuse.pyenvfs  site=%s,noauto  0 0\n"
                % (usr_base.prefix, mnt, site))
    try:
        r = run(["mount", "-T", fstab, mnt], env=mount_env())
        assert r.returncode == 0, "mount -T failed (%d): %s" % (r.returncode, r.stderr)
        assert mount_count(mnt) == 1
        assert py_prefix(mnt, usr_base.xy) == [mnt, "pyenvfs-site-marker"]
        umount(mnt)
    finally:
        force_unmount(mnt)


FSTAB_EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "mount", "fstab.example")


def _fstab_example_entries():
    try:
        with open(FSTAB_EXAMPLE) as f:
            return [l.split() for l in f if l.strip() and not l.lstrip().startswith("#")]
    except OSError:
        return []


def _user_noexec(opts):
    """mount(8)'s 'user' (and 'users') imply noexec unless a later 'exec' undoes it."""
    noexec = False
    for o in opts:
        if o in ("user", "users", "noexec"):
            noexec = True
        elif o == "exec":
            noexec = False
    return noexec


@pytest.mark.parametrize("index", range(max(1, len(_fstab_example_entries()))))
def test_fstab_example_entry(index, usr_base, on_mount_path, work, request):
    """Each entry of mount/fstab.example, with this test's paths, mounted with
    mount -T FILE M (as root): the env's Python runs."""
    entries = _fstab_example_entries()
    if not entries:
        pytest.skip("no entries in mount/fstab.example")
    e = entries[index]
    assert len(e) == 6, "fstab entry has %d fields: %s" % (len(e), e)
    assert e[2] == "fuse.pyenvfs", e
    opts = e[3].split(",")
    assert any(o.startswith("site=/") for o in opts), e
    want_py = [o.split("=", 1)[1] for o in opts if o.startswith("python=")]
    if e[0] == "/usr":
        base = usr_base
    else:
        base = pythons.pyenv_base(want_py[0]) if want_py else None
        if base is None:
            pytest.skip("no Python base to stand in for %s" % e[0])
    if want_py:
        assert want_py[0] == base.xy or e[0] != "/usr", e
    mnt = os.path.join(work, "mnt")
    site = os.path.join(work, "site")
    os.mkdir(mnt)
    make_site_with_marker(site)
    opts = ["site=" + site if o.startswith("site=") else o for o in opts]
    fstab = os.path.join(work, "fstab")
    with open(fstab, "w") as f:
        f.write("%s  %s  fuse.pyenvfs  %s  %s %s\n" % (base.prefix, mnt, ",".join(opts),
                                                       e[4], e[5]))
    try:
        r = run(["mount", "-T", fstab, mnt], env=mount_env())
        assert r.returncode == 0, "mount -T failed (%d): %s" % (r.returncode, r.stderr)
        assert mount_count(mnt) == 1
        assert py_prefix(mnt, base.xy) == [mnt, "pyenvfs-site-marker"]
        if "allow_other" in opts and base.prefix == "/usr":
            r = run([os.path.join(mnt, "bin", "python" + base.xy), "-c",
                     "import sys; print(sys.prefix)"], preexec_fn=_as_nobody, cwd="/")
            assert r.returncode == 0 and r.stdout.strip() == mnt, r.stderr
        umount(mnt)
    finally:
        force_unmount(mnt)


def test_mount_refusal_reported(usr_base, on_mount_path, work):
    """A refusal through mount(8): non-zero status, pyenvfs's message, nothing mounted."""
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    r = run(["mount", "-t", "fuse.pyenvfs", usr_base.prefix, mnt, "-o",
             "site=%s,bogus_opt" % os.path.join(work, "site")], env=mount_env())
    try:
        assert r.returncode != 0
        assert "pyenvfs: " in r.stderr and "bogus_opt" in r.stderr, r.stderr
        assert mount_count(mnt) == 0
        assert not os.path.exists(os.path.join(work, "site"))
    finally:
        force_unmount(mnt)


def test_fstab_user_mount_uses_the_users_home(usr_base, on_mount_path, work):
    """An fstab line with `user`, mounted by that user: mount(8) runs the
    daemon as the user with root's HOME; pyenvfs uses the user's own home
    (the passwd database's), so its caches are written there."""
    with throwaway_users(1) as (u,), dev_fuse_mode(0o666):
        home = os.path.join(work, "home")
        mnt = os.path.join(work, "mnt")
        for d in (home, mnt):
            os.mkdir(d, 0o755)
            os.chown(d, u.uid, u.gid)
        usermod = shutil.which("usermod") or shutil.which("usermod", path="/usr/sbin:/sbin")
        assert run([usermod, "-d", home, u.name]).returncode == 0
        site = os.path.join(home, "sp", "ENV1")
        with fstab_line("%s  %s  fuse.pyenvfs  site=%s,noauto,user,exec  0 0" % (usr_base.prefix, mnt, site)):
            try:
                r = run_as(u, ["mount", mnt], home="/root")
                assert r.returncode == 0, "mount %s as %s failed: %s" % (mnt, u.name, r.stderr)
                assert wait_for_mount_of_path(mnt)
                assert py_prefix_as(u, mnt, usr_base.xy) == mnt
                cache = os.path.join(home, ".cache", "pyenvfs")
                assert os.path.isdir(cache) and any(n.startswith("layout-") for n in os.listdir(cache)), \
                    "no layout cache in the user's home %s" % home
                assert os.stat(cache).st_uid == u.uid
                r = run_as(u, ["umount", mnt], home="/root")
                assert r.returncode == 0, r.stderr
                assert wait_unmounted(mnt)
            finally:
                force_unmount(mnt)


def wait_for_mount_of_path(mnt):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if mount_count(mnt):
            return True
        time.sleep(0.02)
    return False


def py_prefix_as(user, mnt, xy):
    r = run_as(user, [os.path.join(mnt, "bin", "python" + xy), "-c", "import sys; print(sys.prefix)"])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


# ---------------------------------------------------------------------------
# the systemd user unit

def _unit():
    if not os.path.isfile(UNIT):
        pytest.skip("%s not generated (run cmake)" % UNIT)
    with open(UNIT) as f:
        return f.read()


class UnitRun:
    """A unit's commands, expanded as systemd would for HOME=home, instance."""

    def __init__(self, home, instance):
        sec = parse_unit(_unit())
        assert unit_values(sec, "Service", "Type") == ["simple"], "Type=simple expected"
        self.sec = sec
        self.spec = {"h": home, "i": instance}
        self.env = unit_environment(sec, self.spec)
        self.proc_env = {"PATH": MOUNT_PATH, "HOME": home, "LANG": "C.UTF-8",
                         "LC_ALL": "C.UTF-8"}
        self.proc_env.update(self.env)
        self.mnt = os.path.join(home, "pythonenv", instance)
        self.site = os.path.join(home, "sp", instance)
        self.log = os.path.join(home, "daemon.log")
        self.proc = None

    def commands(self, key):
        """The unit's commands for key; pyenvfs named by absolute path (where
        cmake --install puts it) is the binary under test."""
        out = []
        for line in unit_values(self.sec, "Service", key):
            argv = expand_command(line, self.spec, self.env)
            if os.path.basename(argv[0]) == "pyenvfs":
                assert os.path.isabs(argv[0]), "%s must name pyenvfs by absolute path: %s" % (key, argv)
                argv[0] = PYENVFS
            out.append(argv)
        return out

    def start(self):
        """ExecStartPre, then ExecStart (Popen) and wait for the mount."""
        for argv in self.commands("ExecStartPre"):
            r = run(argv, env=self.proc_env, cwd="/")
            assert r.returncode == 0, "ExecStartPre %s failed: %s" % (argv, r.stderr)
        assert os.path.isdir(self.mnt), "ExecStartPre did not make %s" % self.mnt
        starts = self.commands("ExecStart")
        assert len(starts) == 1, starts
        argv = starts[0]
        assert argv[0] == PYENVFS, argv
        assert "-f" in argv or "-d" in argv, "Type=simple needs the foreground: %s" % argv
        prior = mount_count(self.mnt)
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(argv, env=self.proc_env, cwd="/",
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        wait_for_mount_of(self.proc, self.mnt, self.log, prior=prior)

    def stop(self):
        """ExecStop, then ExecStopPost; the daemon must exit 0 and the mount be gone."""
        for argv in self.commands("ExecStop"):
            r = run(argv, env=self.proc_env, cwd="/")
            assert r.returncode == 0, "ExecStop %s failed: %s" % (argv, r.stderr)
        try:
            rc = self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("daemon still running after ExecStop; log:\n%s" % read_log(self.log))
        assert rc == 0, "daemon exited %d after ExecStop; log:\n%s" % (rc, read_log(self.log))
        self.stop_post()
        assert mount_count(self.mnt) == 0

    def stop_post(self):
        """ExecStopPost, which systemd runs however the service ended."""
        for argv in self.commands("ExecStopPost"):
            r = run(argv, env=self.proc_env, cwd="/")
            assert r.returncode == 0, "ExecStopPost %s failed: %s" % (argv, r.stderr)

    def cleanup(self):
        force_unmount(self.mnt)
        stop_own(self.proc)


def _run_unit(home, instance, base_for_python):
    """Start the unit, run its Python, stop it; return the env's pyvenv.cfg."""
    u = UnitRun(home, instance)
    try:
        u.start()
        assert os.path.isdir(u.site), "DIR %s not created" % u.site
        r = run([os.path.join(u.mnt, "bin", "python" + base_for_python.xy), "-c",
                 "import sys; print(sys.prefix); print(sys.base_prefix)"], cwd="/")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [u.mnt, base_for_python.prefix], r.stdout
        with open(os.path.join(u.mnt, "pyvenv.cfg")) as f:
            cfg = f.read()
        u.stop()
        return cfg
    finally:
        u.cleanup()


def test_systemd_unit_defaults(usr_base, work):
    home = os.path.join(work, "home")
    os.mkdir(home)
    cfg = _run_unit(home, "ENV1", usr_base)
    assert "home = /usr/bin" in cfg, cfg
    assert "include-system-site-packages = false" in cfg, cfg


def test_systemd_unit_environment_file(work):
    """~/.config/pyenvfs/NAME.conf with PYENVFS_BASE (a pyenv prefix) and
    PYENVFS_OPTIONS (several words) overrides the defaults."""
    b = pythons.pyenv_base("3.12") or next(
        (x for x in pythons.discover().values()
         if x.kind == "pyenv" and len(pythons.versions_in(x.prefix)) == 1), None)
    if b is None:
        pytest.skip("no pyenv Python found")
    home = os.path.join(work, "home")
    os.makedirs(os.path.join(home, ".config", "pyenvfs"))
    with open(os.path.join(home, ".config", "pyenvfs", "py312.conf"), "w") as f:
        f.write("# for pyenvfs@py312\nPYENVFS_BASE=%s\nPYENVFS_OPTIONS=--python %s "
                "--system-site-packages\n" % (b.prefix, b.xy))
    cfg = _run_unit(home, "py312", b)
    assert "home = %s/bin" % b.prefix in cfg, cfg
    assert "include-system-site-packages = true" in cfg, cfg
    assert "version = %s" % b.full_version in cfg, cfg


@pytest.mark.parametrize("cleared_by", ["ExecStopPost", "ExecStartPre"])
def test_systemd_unit_restart_after_crash(cleared_by, usr_base, work):
    """Restart=on-failure: after the daemon dies (SIGKILL), its stale mount is
    cleared by ExecStopPost (what systemd runs when a service dies), or, if
    that did not run, by the restart's ExecStartPre; the restart brings the
    env back. The unit does not rely on auto_unmount (Debian 12's
    fusermount3 ignores it for a user's mount)."""
    home = os.path.join(work, "home")
    os.mkdir(home)
    sec = parse_unit(_unit())
    assert unit_values(sec, "Service", "Restart") == ["on-failure"]
    u = UnitRun(home, "ENV1")
    assert "auto_unmount" not in " ".join(u.commands("ExecStart")[0])
    try:
        u.start()
        u.proc.kill()
        u.proc.wait(timeout=EXIT_TIMEOUT)
        assert mount_count(u.mnt) == 1, "a killed daemon leaves its mount (stale)"
        if cleared_by == "ExecStopPost":
            u.stop_post()
            assert mount_count(u.mnt) == 0, "ExecStopPost left the stale mount"
        u.start()
        r = run([os.path.join(u.mnt, "bin", "python" + usr_base.xy), "-c",
                 "import sys; print(sys.prefix)"], cwd="/")
        assert r.returncode == 0 and r.stdout.strip() == u.mnt, r.stderr
        assert mount_count(u.mnt) == 1, "the stale mount is still under the new one"
        u.stop()
    finally:
        u.cleanup()


def test_systemd_analyze_verify(work):
    sa = shutil.which("systemd-analyze", path=MOUNT_PATH)
    if not sa:
        pytest.skip("systemd-analyze not installed")
    text = _unit()
    sec = parse_unit(text)
    exe = expand_command(unit_values(sec, "Service", "ExecStart")[0], {"h": "/h", "i": "x"},
                         {})[0]
    if not os.path.exists(exe):
        # Not installed (cmake --install): verify the unit with the binary under test.
        text = text.replace(exe, os.path.realpath(PYENVFS))
    home = os.path.join(work, "home")
    rundir = os.path.join(work, "run")
    os.mkdir(home)
    os.mkdir(rundir, 0o700)
    unit = os.path.join(work, "pyenvfs@ENV1.service")
    with open(unit, "w") as f:
        f.write(text)
    r = run([sa, "verify", "--user", "--man=no", unit],
            env={"PATH": MOUNT_PATH, "HOME": home, "XDG_RUNTIME_DIR": rundir,
                 "LANG": "C.UTF-8"}, timeout=60)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 and "Failed to initialize manager" in out:
        pytest.skip("systemd-analyze cannot run here: %s" % out)
    assert r.returncode == 0 and out == "", "systemd-analyze verify: %s" % out
