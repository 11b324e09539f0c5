"""pyenvfs run, list and umount: an env for one command, and the envs mounted.

Each run gets its own runtime directory (TMPDIR, XDG_RUNTIME_DIR unset) so
that "nothing of the run is left behind" is checked on a directory nobody
else writes.
"""

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

import pythons
from conftest import PYENVFS, CMD_TIMEOUT, force_unmount, fuse_mounts_under, nonempty_lines, run
from helpers_env import (MOUNT_PATH, dev_fuse_mode, is_root, remove_tree, run_as,
                         throwaway_users, world_tmpdir)

RUN_BASES = ["usr-3.11", "pyenv-3.8", "pyenv-3.13"]
HOME_BASES = ["usr-3.11", "pyenv-2.7", "pyenv-3.12"]


def base(param):
    b = pythons.find(param)
    if b is None:
        pytest.skip("no Python for %s on this machine" % param)
    return b


@pytest.fixture
def rt(tmp_path):
    """The runtime directory runs use; it must be empty afterwards."""
    d = tmp_path / "rt"
    d.mkdir()
    yield d
    for mp in sorted(fuse_mounts_under(str(d)), key=len, reverse=True):
        force_unmount(mp)


def run_env(rt, extra=None):
    e = {"PATH": MOUNT_PATH, "HOME": "/nonexistent", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
         "TMPDIR": str(rt)}
    if extra:
        e.update(extra)
    return e


def pyenvfs_run(rt, args, extra_env=None, **kw):
    return run([PYENVFS, "run"] + [str(a) for a in args], env=run_env(rt, extra_env),
               stdin=subprocess.DEVNULL, **kw)


def assert_left_nothing(rt):
    assert fuse_mounts_under(str(rt)) == [], "a mount is left: %s" % fuse_mounts_under(str(rt))
    assert os.listdir(str(rt)) == [], "left in the runtime dir: %s" % os.listdir(str(rt))


def python_args(b):
    return ["--python", b.xy] if len(pythons.versions_in(b.prefix)) > 1 else []


# ---------------------------------------------------------------------------
# the env CMD sees

PROBE = ("import os, sys; print(sys.prefix); print(sys.base_prefix if hasattr(sys, 'base_prefix') "
         "else '-'); print(os.environ.get('VIRTUAL_ENV', '-')); print(os.environ.get('PYTHONHOME', '-'));"
         "print(os.environ['PATH'].split(':')[0]); print([p for p in sys.path if p.endswith('-packages')][-1])")


@pytest.mark.parametrize("param", RUN_BASES)
def test_venv_mode(rt, param):
    b = base(param)
    r = pyenvfs_run(rt, python_args(b) + [b.prefix, "--", "python", "-c", PROBE],
                    extra_env={"PYTHONHOME": "/somewhere/else", "VIRTUAL_ENV_PROMPT": "(x) "})
    assert r.returncode == 0, r.stderr
    prefix, base_prefix, venv, home, path0, site = r.stdout.splitlines()
    assert prefix.startswith(str(rt) + "/pyenvfs-run."), prefix
    assert base_prefix == b.prefix
    assert venv == prefix and home == "-"
    assert path0 == prefix + "/bin"
    assert site.startswith(prefix + "/"), site
    assert_left_nothing(rt)


@pytest.mark.parametrize("param", HOME_BASES)
def test_home_mode(rt, param):
    b = base(param)
    r = pyenvfs_run(rt, ["--home"] + python_args(b) + [b.prefix, "--", "python" + b.xy, "-c", PROBE],
                    extra_env={"VIRTUAL_ENV": "/another/venv"})
    assert r.returncode == 0, r.stderr
    prefix, _, venv, home, path0, site = r.stdout.splitlines()
    assert prefix == home and prefix.startswith(str(rt) + "/pyenvfs-run.")
    assert venv == "-"
    assert path0 == prefix + "/bin"
    assert site.startswith(prefix + "/")
    assert_left_nothing(rt)


def test_without_double_dash(rt):
    r = pyenvfs_run(rt, ["/usr", "python3", "-c", "import sys; print(sys.prefix)"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(rt))
    assert_left_nothing(rt)


def test_writes_go_to_temp_site_and_go(rt):
    """A temporary DIR takes what CMD installs, and is deleted afterwards
    (read-only directories in it included)."""
    code = ("import os, site, sys; sp = [p for p in sys.path if p.endswith('-packages')][0];"
            "os.makedirs(sp + '/pkg/ro'); open(sp + '/pkg/ro/f.py', 'w').write('x = 1\\n');"
            "os.chmod(sp + '/pkg/ro', 0o555); sys.path.insert(0, sp + '/pkg/ro'); import f; print(f.x)")
    r = pyenvfs_run(rt, ["/usr", "--", "python", "-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    assert_left_nothing(rt)


def test_site_kept(rt, tmp_path):
    site = tmp_path / "keep"
    code = ("import sys; sp = [p for p in sys.path if p.endswith('-packages')][0];"
            "open(sp + '/kept_mod.py', 'w').write('V = 42\\n')")
    r = pyenvfs_run(rt, ["--site", site, "/usr", "--", "python", "-c", code])
    assert r.returncode == 0, r.stderr
    assert (site / "kept_mod.py").read_text() == "V = 42\n"
    assert_left_nothing(rt)
    # the next run over the same DIR sees it
    r = pyenvfs_run(rt, ["-o", "site=%s" % site, "/usr", "--", "python", "-c",
                         "import kept_mod; print(kept_mod.V)"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"
    assert_left_nothing(rt)


# ---------------------------------------------------------------------------
# exit statuses and bad input

@pytest.mark.parametrize("cmd, status", [
    (["sh", "-c", "exit 7"], 7),
    (["sh", "-c", "exit 0"], 0),
    (["sh", "-c", "kill -9 $$"], 128 + 9),
    (["python", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], 128 + 15),
])
def test_exit_status_is_cmds(rt, cmd, status):
    r = pyenvfs_run(rt, ["/usr", "--"] + cmd)
    assert r.returncode == status, r.stderr
    assert_left_nothing(rt)


def test_cmd_not_found(rt):
    r = pyenvfs_run(rt, ["/usr", "--", "no-such-command-here"])
    assert r.returncode == 127
    assert nonempty_lines(r.stderr) == ["pyenvfs: run: no-such-command-here: command not found"]
    assert_left_nothing(rt)


def test_cmd_not_executable(rt, tmp_path):
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o644)
    r = pyenvfs_run(rt, ["/usr", "--", str(f)], extra_env=None)
    assert r.returncode == 126, r.stderr      # no x bit: EACCES, for root too
    assert len(nonempty_lines(r.stderr)) == 1
    assert_left_nothing(rt)


@pytest.mark.parametrize("args, names", [
    (["/usr"], "missing CMD"),
    (["--", "python"], "missing BASE"),
    (["/no/such/base", "--", "true"], "/no/such/base"),
    (["-o", "nonsense_option", "/usr", "--", "true"], "nonsense_option"),
    (["--python", "9.9", "/usr", "--", "true"], "9.9"),
    (["--site"], "--site"),
    (["-f", "/usr", "true"], "-f"),
])
def test_bad_input(rt, args, names):
    r = pyenvfs_run(rt, args)
    assert r.returncode == 125, (r.returncode, r.stderr)
    lines = nonempty_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert names in lines[0] and lines[0].startswith("pyenvfs: ")
    assert_left_nothing(rt)


def test_refused_by_the_mount_leaves_nothing(rt, tmp_path):
    """A refusal only the mount can make (DIR below a regular file): one
    line, 125, and nothing created, neither DIR nor anything in the runtime
    directory."""
    f = tmp_path / "file"
    f.write_text("")
    before = sorted(os.listdir(str(tmp_path)))
    r = pyenvfs_run(rt, ["--site", str(f / "sub" / "dir"), "/usr", "--", "true"])
    assert r.returncode == 125
    assert len(nonempty_lines(r.stderr)) == 1, r.stderr
    assert f.read_text() == "" and sorted(os.listdir(str(tmp_path))) == before
    assert_left_nothing(rt)


def test_help():
    r = run([PYENVFS, "run", "--help"])
    assert r.returncode == 0 and "usage: pyenvfs run" in r.stdout
    for sub in ("list", "umount", "clone", "pip-layer"):
        r = run([PYENVFS, sub, "--help"])
        assert r.returncode == 0 and ("usage: pyenvfs " + sub) in r.stdout
    r = run([PYENVFS, "layer", "pack", "--help"])
    assert r.returncode == 0 and "usage: pyenvfs layer pack" in r.stdout


# ---------------------------------------------------------------------------
# signals

WAIT_SIG = ("import signal, sys, time\n"
            "got = []\n"
            "def h(s, f): got.append(s)\n"
            "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, h)\n"
            "print('ready', flush=True)\n"
            "while not got: time.sleep(0.01)\n"
            "time.sleep(0.5)\n"
            "print('got', len(got), got[0], flush=True)\n"
            "sys.exit(5)\n")


def wait_line(proc, text, timeout=CMD_TIMEOUT):
    line = proc.stdout.readline()
    assert line.strip() == text, (line, proc.stderr.read() if proc.stderr else "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_to_run_goes_to_cmd(rt, sig):
    p = subprocess.Popen([PYENVFS, "run", "/usr", "--", "python", "-c", WAIT_SIG], env=run_env(rt),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    try:
        wait_line(p, "ready")
        p.send_signal(sig)
        out, err = p.communicate(timeout=CMD_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out.split() == ["got", "1", str(int(sig))], (out, err)
    assert p.returncode == 5, err
    assert_left_nothing(rt)


def test_ctrl_c_in_a_terminal(rt):
    """Ctrl-C in the terminal reaches CMD once (from the terminal), not
    twice, and the env still comes down after CMD has handled it."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(PYENVFS, [PYENVFS, "run", "/usr", "--", "python", "-c", WAIT_SIG], run_env(rt))
        finally:
            os._exit(99)
    out = b""
    try:
        deadline = time.monotonic() + CMD_TIMEOUT
        while b"ready" not in out and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                out += os.read(fd, 1024)
        assert b"ready" in out, out
        os.write(fd, b"\x03")
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"got 1 2" in out, out
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 5, (status, out)
    assert_left_nothing(rt)


def test_kill9_of_run(rt):
    """kill -9 of pyenvfs run: its daemon takes the mount down (it dies with
    run), and the next run clears what was left in the runtime dir."""
    pidfile = rt.parent / "cmd.pid"
    code = "import os, time; open(%r, 'w').write(str(os.getpid())); time.sleep(60)" % str(pidfile)
    p = subprocess.Popen([PYENVFS, "run", "/usr", "--", "python", "-c", code], env=run_env(rt),
                         stdin=subprocess.DEVNULL)
    cmd_pid = None
    try:
        deadline = time.monotonic() + CMD_TIMEOUT
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        cmd_pid = int(pidfile.read_text())
        assert len(fuse_mounts_under(str(rt))) == 1
        p.kill()
        p.wait()
        deadline = time.monotonic() + CMD_TIMEOUT
        while fuse_mounts_under(str(rt)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fuse_mounts_under(str(rt)) == [], "the daemon did not take the mount down"
        assert len(os.listdir(str(rt))) == 1        # the run's directory, cleared next time
    finally:
        if cmd_pid:
            try:
                os.kill(cmd_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    r = pyenvfs_run(rt, ["/usr", "--", "true"])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert_left_nothing(rt)


def test_parallel_runs(rt):
    procs = [subprocess.Popen([PYENVFS, "run", "/usr", "--", "python", "-c",
                               "import sys; print(sys.prefix)"], env=run_env(rt),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)
             for _ in range(8)]
    outs = [p.communicate(timeout=CMD_TIMEOUT * 2) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 8          # eight envs, eight mount points
    assert_left_nothing(rt)


def test_unprivileged_run(tmp_path):
    if not is_root():
        pytest.skip("needs root (to make a throwaway user)")
    d = world_tmpdir()
    try:
        os.chmod(d, 0o1777)
        with throwaway_users(1) as (user,), dev_fuse_mode(0o666):
            r = run_as(user, [PYENVFS, "run", "/usr", "--", "python", "-c",
                              "import os, sys; print(os.getuid(), sys.prefix)"],
                       env_extra={"TMPDIR": d})
            assert r.returncode == 0, r.stderr
            uid, prefix = r.stdout.split()
            assert int(uid) == user.uid and prefix.startswith(d + "/pyenvfs-run.")
            assert os.listdir(d) == []
            # and its list shows only its own envs (none now)
            r = run_as(user, [PYENVFS, "list", "--json"])
            assert r.returncode == 0 and json.loads(r.stdout) == []
            # root's list shows a user's env as unknown: without allow_other
            # its daemon answers its user only; what it would say is null
            mnt, site = os.path.join(d, "m"), os.path.join(d, "s")
            for p in (mnt, site):
                os.mkdir(p)
                os.chown(p, user.uid, user.gid)
            r = run_as(user, [PYENVFS, "/usr", mnt, "--site", site])
            assert r.returncode == 0, r.stderr
            try:
                r = run([PYENVFS, "list", "--json"])
                rows = [e for e in json.loads(r.stdout) if e["mountpoint"] == mnt]
                assert len(rows) == 1 and rows[0]["state"] == "unknown", r.stdout
                assert rows[0]["base"] == "/usr" and rows[0]["pid"] is None and rows[0]["layers"] is None
                r = run_as(user, [PYENVFS, "list", "--json"])
                mine = json.loads(r.stdout)
                assert [(e["state"], e["layers"]) for e in mine] == [("live", [])], r.stdout
                assert type(mine[0]["pid"]) is int
            finally:
                run_as(user, [PYENVFS, "umount", mnt])
                force_unmount(mnt)
    finally:
        remove_tree(d)


# ---------------------------------------------------------------------------
# list and umount

def test_list_shows_the_run_env(rt):
    r = pyenvfs_run(rt, ["/usr", "--", PYENVFS, "list", "--json"])
    assert r.returncode == 0, r.stderr
    rows = [e for e in json.loads(r.stdout) if e["mountpoint"].startswith(str(rt))]
    assert len(rows) == 1, r.stdout
    e = rows[0]
    assert e["state"] == "live" and e["base"] == "/usr"
    assert e["python"].startswith("3.11."), e
    assert e["site"].startswith(str(rt)) and e["site"].endswith("/site")
    # numbers as numbers, the layers an array
    assert type(e["pid"]) is int and e["pid"] > 0
    assert e["layers"] == [] and isinstance(e["options"], str)
    r2 = pyenvfs_run(rt, ["/usr", "--", PYENVFS, "list"])
    header = r2.stdout.splitlines()[0].split()
    assert header == ["mountpoint", "python", "base", "site", "layers", "state", "pid", "options"]
    assert_left_nothing(rt)


def test_list_shows_layers(rt, tmp_path):
    """A run over two lower layers: list names them, top first."""
    l1, l2 = tmp_path / "l1", tmp_path / "l2"
    l1.mkdir()
    l2.mkdir()
    r = pyenvfs_run(rt, ["--lower-site", l1, "-o", "lower_site=%s" % l2, "/usr", "--",
                         PYENVFS, "list", "--json"])
    assert r.returncode == 0, r.stderr
    rows = [e for e in json.loads(r.stdout) if e["mountpoint"].startswith(str(rt))]
    assert [e["layers"] for e in rows] == [[str(l1), str(l2)]], r.stdout
    assert_left_nothing(rt)


def daemon_pid(mnt):
    info = os.getxattr(str(mnt), "user.pyenvfs.info").decode()
    return int([line.split()[1] for line in info.splitlines() if line.startswith("pid ")][0])


@contextlib.contextmanager
def daemonized_mount(tmp_path):
    """A daemonized mount of /usr at tmp_path/m: (mount point, daemon pid);
    whatever is still mounted under tmp_path is unmounted afterwards."""
    mnt, site = tmp_path / "m", tmp_path / "s"
    mnt.mkdir()
    r = run([PYENVFS, "/usr", str(mnt), "--site", str(site)])
    assert r.returncode == 0, r.stderr
    try:
        yield mnt, daemon_pid(mnt)
    finally:
        for mp in fuse_mounts_under(str(tmp_path)):
            force_unmount(mp)


def wait_gone(pid):
    deadline = time.monotonic() + CMD_TIMEOUT
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.exists("/proc/%d" % pid)


def test_stale_mount_listed_and_cleared(tmp_path):
    with daemonized_mount(tmp_path) as (mnt, pid):
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        r = run([PYENVFS, "list", "--json"])
        rows = [e for e in json.loads(r.stdout) if e["mountpoint"] == str(mnt)]
        assert [e["state"] for e in rows] == ["stale"], r.stdout
        # what the dead daemon would have said is unknown: null, not "-"
        assert rows[0]["base"] == "/usr" and rows[0]["pid"] is None and rows[0]["python"] is None
        assert rows[0]["layers"] is None and rows[0]["site"] is None
        r = run([PYENVFS, "umount", str(mnt)])
        assert r.returncode == 0, r.stderr
        assert "stale" in r.stderr and "cleared" in r.stderr and len(nonempty_lines(r.stderr)) == 1
        assert not os.path.ismount(str(mnt))
        assert fuse_mounts_under(str(tmp_path)) == []


def test_umount_stale_only(tmp_path):
    """umount --stale (a unit's ExecStartPre): a live mount is left, nothing
    mounted is no error, a stale one is cleared."""
    with daemonized_mount(tmp_path) as (mnt, pid):
        r = run([PYENVFS, "umount", "--stale", str(mnt)])
        assert r.returncode == 0 and r.stderr == "" and os.path.ismount(str(mnt)), r.stderr
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        r = run([PYENVFS, "umount", "--stale", str(mnt)])
        assert r.returncode == 0 and "stale" in r.stderr, r.stderr
        assert fuse_mounts_under(str(tmp_path)) == []
        r = run([PYENVFS, "umount", "--stale", str(mnt)])
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_umount_live_and_refusals(tmp_path):
    with daemonized_mount(tmp_path) as (mnt, pid):
        r = run([PYENVFS, "stop", str(mnt)], cwd=str(tmp_path))
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert fuse_mounts_under(str(tmp_path)) == []
        assert wait_gone(pid), "the daemon did not exit"
    # one exit status for a refusal, usage errors included: 1 (run: 125)
    for args in (["umount", str(mnt)], ["umount", str(tmp_path / "nope")], ["umount"],
                 ["umount", "/"], ["list", "extra"], ["umount", "-x", "/m"], ["pip-layer"],
                 ["pip-layer", "--bogus", "/usr"], ["clone", "/nonexistent", str(tmp_path / "c")],
                 ["layer"], ["layer", "pack", "/nonexistent", str(tmp_path / "i")], ["--bogus"]):
        r = run([PYENVFS] + args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert len(nonempty_lines(r.stderr)) == 1, (args, r.stderr)
        assert r.stderr.startswith("pyenvfs: "), (args, r.stderr)
    r = run([PYENVFS, "run", "--bogus-run-option"])
    assert r.returncode == 125 and len(nonempty_lines(r.stderr)) == 1
