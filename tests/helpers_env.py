"""Helpers for the shell, mount(8)/systemd, user and signal tests.

Everything here undoes what it does, also on failure: users are deleted,
/dev/fuse and /etc/fuse.conf are put back as they were, symlinks made in
system directories are removed (only the ones made here), mounts are undone
(conftest.force_unmount: fusermount3 -u, then -uz).  Processes are only ever
signalled by the PID of a Popen made here.
"""

import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import _stop as conftest_stop  # noqa: E402
from conftest import (CMD_TIMEOUT, MOUNT_TIMEOUT, PYENVFS, WATCHED_DIRS, force_unmount,
                      fuse_mounts_under, mount_count, nonempty_lines, read_log, run)

# The PATH mount(8) gives its helpers (and a sane one for shells in tests: no
# pyenv shims, whose `deactivate` shim would hide the activate script's).
MOUNT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLEAN_PATH = "/usr/bin:/bin"

SHELL_TIMEOUT = 60


# ---------------------------------------------------------------------------
# small things

def is_root():
    return os.geteuid() == 0


def skip_unless_root():
    if not is_root():
        pytest.skip("needs root")


def world_tmpdir(prefix="pyenvfs-test-"):
    """A fresh directory under /tmp (or $PYENVFS_WORLD_TMPDIR, which
    scripts/test.sh sets) that every user can reach (0755).  The harness
    watches it for mounts left behind, as it does pytest's temp dir."""
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("PYENVFS_WORLD_TMPDIR") or "/tmp")
    os.chmod(d, 0o755)
    WATCHED_DIRS.append(d)
    return d


def remove_tree(d):
    """Unmount whatever is mounted under d, then remove it (never raises)."""
    for mp in sorted(fuse_mounts_under(d), key=len, reverse=True):
        force_unmount(mp)
    shutil.rmtree(d, ignore_errors=True)


def wait_unmounted(mnt, timeout=MOUNT_TIMEOUT):
    """Poll (bounded) until nothing is mounted at mnt; True if it went away."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mount_count(mnt) == 0:
            return True
        time.sleep(0.02)
    return mount_count(mnt) == 0


def wait_mounted(mnt, timeout=MOUNT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mount_count(mnt) > 0:
            return True
        time.sleep(0.02)
    return mount_count(mnt) > 0


def mountinfo_entry(mnt):
    """(mount options, fstype, source, super options) of the top mount at mnt, or None."""
    path = os.path.realpath(str(mnt))
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].encode().decode("unicode_escape")
            if mp == path:
                sep = fields.index("-")
                found = (fields[5], fields[sep + 1], fields[sep + 2], fields[sep + 3])
    return found


def assert_refusal(r, *must_name):
    """Exit status 1, stdout empty, exactly one non-empty stderr line that
    starts with 'pyenvfs: ' and names every string in must_name."""
    lines = nonempty_lines(r.stderr)
    assert r.returncode == 1, "exit status %d, expected 1; stderr=%r" % (r.returncode, r.stderr)
    assert len(lines) == 1, "expected exactly one stderr line, got %d: %r" % (len(lines), r.stderr)
    line = lines[0]
    assert line.startswith("pyenvfs: "), "message does not start with 'pyenvfs: ': %r" % line
    assert len(line) < 400, "message too long: %r" % line
    for s in must_name:
        assert str(s) in line, "message does not name %r: %r" % (str(s), line)
    assert r.stdout.strip() == "", "refusal printed on stdout: %r" % r.stdout
    return line


def default_signals():
    """preexec_fn: SIGINT, SIGHUP and SIGTERM back to their default action.
    A test run started in the background (`cmd &`, nohup) ignores SIGINT or
    SIGHUP, the daemon inherits that, and libfuse leaves an ignored signal
    ignored (as it should: that is what the one who started it asked for)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def popen_daemon(args, log_path, **kw):
    """Popen a foreground pyenvfs (args after the program name), output to
    log_path, with the default signal actions."""
    kw.setdefault("preexec_fn", default_signals)
    with open(str(log_path), "wb") as logf:
        return subprocess.Popen([PYENVFS] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf, cwd="/", **kw)


def wait_for_mount_of(proc, mnt, log_path, timeout=MOUNT_TIMEOUT, prior=0, touch=True):
    """Wait until proc has mounted at mnt: more than `prior` mounts stacked
    there (a stale mount, whose attributes the kernel may still have cached,
    does not count).  touch=False: look only at /proc/self/mountinfo, never
    at mnt itself (so that the kernel caches nothing of the new mount)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mount_count(mnt) > prior and (not touch or os.path.ismount(str(mnt))):
            return
        if proc.poll() is not None:
            pytest.fail("daemon exited with status %d before mounting %s; output:\n%s"
                        % (proc.returncode, mnt, read_log(log_path)))
        time.sleep(0.01)
    pytest.fail("%s not mounted after %.0f s; output:\n%s" % (mnt, timeout, read_log(log_path)))


def stop_own(proc):
    """SIGTERM, then SIGKILL, the one process we started (if still running)."""
    if proc is not None:
        conftest_stop(proc)


# ---------------------------------------------------------------------------
# shells

def find_shell(name):
    for d in ("/usr/bin", "/bin"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def run_shell_script(argv, script_path, text, env, timeout=SHELL_TIMEOUT):
    """Write text to script_path, run argv + [script_path]; return (CompletedProcess, dict).

    The dict holds every line of the form '@@KEY=value' printed on stdout
    (the last one wins)."""
    with open(str(script_path), "w") as f:
        f.write(text)
    r = run(list(argv) + [str(script_path)], timeout=timeout, env=env, cwd="/",
            stdin=subprocess.DEVNULL)
    vals = {}
    for line in r.stdout.splitlines():
        if line.startswith("@@") and "=" in line:
            k, v = line[2:].split("=", 1)
            vals[k] = v
    return r, vals


def quote_fish(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_csh(s):
    assert "!" not in s and "\n" not in s
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------
# users, /dev/fuse, /etc/fuse.conf, system symlinks

class ThrowawayUser:
    def __init__(self, name):
        self.name = name
        pw = pwd.getpwnam(name)
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid

    def __repr__(self):
        return "ThrowawayUser(%s, %d:%d)" % (self.name, self.uid, self.gid)


@contextlib.contextmanager
def throwaway_users(n):
    """n system users pyenvfs-test-<random>, deleted afterwards."""
    if not is_root():
        pytest.skip("needs root (to create a throwaway user)")
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    userdel = shutil.which("userdel") or shutil.which("userdel", path="/usr/sbin:/sbin")
    if not useradd or not userdel:
        pytest.skip("useradd/userdel not found")
    made = []
    try:
        for _ in range(n):
            name = "pyenvfs-test-" + secrets.token_hex(4)
            r = run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                     "--user-group", name])
            if r.returncode != 0:
                pytest.fail("useradd %s failed: %s" % (name, r.stderr))
            made.append(name)
        yield [ThrowawayUser(name) for name in made]
    finally:
        for name in made:
            run([userdel, name])


def as_user(user):
    """preexec_fn that drops to user (no supplementary groups), umask 022."""
    def drop():
        os.setgroups([])
        os.setgid(user.gid)
        os.setuid(user.uid)
        os.umask(0o022)
    return drop


def run_as(user, args, home="/nonexistent", timeout=CMD_TIMEOUT, env_extra=None, **kw):
    env = {"PATH": MOUNT_PATH, "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "USER": user.name, "LOGNAME": user.name}
    if env_extra:
        env.update(env_extra)
    return run([str(a) for a in args], timeout=timeout, env=env, cwd="/",
               preexec_fn=as_user(user), stdin=subprocess.DEVNULL, **kw)


@contextlib.contextmanager
def dev_fuse_mode(mode=0o666):
    """/dev/fuse at mode for the duration; the original mode is put back."""
    st = os.stat("/dev/fuse")
    old = stat.S_IMODE(st.st_mode)
    try:
        os.chmod("/dev/fuse", mode)
        yield
    finally:
        os.chmod("/dev/fuse", old)


@contextlib.contextmanager
def fuse_conf_user_allow_other(path="/etc/fuse.conf"):
    """Add 'user_allow_other' to /etc/fuse.conf; put the file back byte for byte."""
    existed = os.path.exists(path)
    old = None
    mode = 0o644
    if existed:
        with open(path, "rb") as f:
            old = f.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    try:
        text = old or b""
        if text and not text.endswith(b"\n"):
            text += b"\n"
        with open(path, "wb") as f:
            f.write(text + b"user_allow_other\n")
        os.chmod(path, mode)
        yield
    finally:
        if existed:
            with open(path, "wb") as f:
                f.write(old)
            os.chmod(path, mode)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


@contextlib.contextmanager
def fstab_line(line, path="/etc/fstab"):
    """line appended to /etc/fstab for the duration; the file is put back
    byte for byte (mount(8) reads only the real fstab for a user's mount)."""
    with open(path, "rb") as f:
        old = f.read()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    try:
        with open(path, "wb") as f:
            f.write(old + (b"" if not old or old.endswith(b"\n") else b"\n") + line.encode() + b"\n")
        yield
    finally:
        with open(path, "wb") as f:
            f.write(old)
        os.chmod(path, mode)


@contextlib.contextmanager
def temp_symlink(link, target):
    """A symlink link -> target for the duration, made and removed only if link
    did not exist; an existing symlink to the same binary is used as it is.
    Skips if something else is there."""
    if os.path.lexists(link):
        if os.path.realpath(link) == os.path.realpath(target):
            yield False
            return
        pytest.skip("%s exists and is not the binary under test (%s)" % (link, target))
    if not os.path.isdir(os.path.dirname(link)):
        pytest.skip("%s does not exist" % os.path.dirname(link))
    os.symlink(target, link)
    try:
        yield True
    finally:
        try:
            if os.path.islink(link) and os.readlink(link) == target:
                os.unlink(link)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# systemd unit files: just enough of systemd's syntax to run a unit's commands

def parse_unit(text):
    """{section: [(key, value), ...]} with line continuations joined."""
    sections = {}
    cur = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = sections.setdefault(line[1:-1], [])
            continue
        if cur is None or "=" not in line:
            continue
        k, v = line.split("=", 1)
        cur.append((k.strip(), v.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def expand_specifiers(s, spec):
    """%h, %i, ... from spec; %% is a %."""
    def sub(m):
        c = m.group(1)
        if c == "%":
            return "%"
        if c not in spec:
            raise AssertionError("unit uses specifier %%%s the test does not know" % c)
        return spec[c]
    return re.sub(r"%(.)", sub, s)


def parse_env_assignments(value):
    """Environment= value: one or more (optionally quoted) VAR=VALUE words."""
    res = {}
    for word in shlex.split(value):
        if "=" in word:
            k, v = word.split("=", 1)
            res[k] = v
    return res


def parse_env_file(path):
    """An EnvironmentFile: KEY=VALUE lines, # and ; comments, optional quotes."""
    res = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            k, v = k.strip(), v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            res[k] = v
    return res


def unit_environment(sections, spec):
    """The environment a unit's commands get from Environment= and EnvironmentFile=
    (files override Environment=, as in systemd)."""
    env = {}
    for v in unit_values(sections, "Service", "Environment"):
        env.update(parse_env_assignments(expand_specifiers(v, spec)))
    for v in unit_values(sections, "Service", "EnvironmentFile"):
        v = expand_specifiers(v, spec)
        optional = v.startswith("-")
        path = v[1:] if optional else v
        if not os.path.exists(path):
            if optional:
                continue
            raise AssertionError("EnvironmentFile %s missing" % path)
        env.update(parse_env_file(path))
    return env


def expand_command(line, spec, env):
    """systemd's command line: specifiers, quoting, '$VAR' alone as a word is
    split on whitespace (zero or more words), '${VAR}' is one word."""
    line = expand_specifiers(line, spec)
    words = shlex.split(line)
    exe = words[0].lstrip("-@:+!")
    out = [exe]
    for w in words[1:]:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            out.extend(env.get(m.group(1), "").split())
            continue
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                          lambda mm: env.get(mm.group(1), ""), w))
    return out


def snapshot(root):
    """{relative path: (type, mode, uid, size)} under root, not descending into mounts."""
    root = str(root)
    snap = {}
    for dp, dns, fns in os.walk(root):
        keep = []
        for d in dns:
            p = os.path.join(dp, d)
            st = os.lstat(p)
            snap[os.path.relpath(p, root)] = ("d", stat.S_IMODE(st.st_mode), st.st_uid, 0)
            if mount_count(p) == 0:
                keep.append(d)
        dns[:] = keep
        for f in fns:
            p = os.path.join(dp, f)
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "f"
            snap[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid,
                                              st.st_size)
    return snap


def suggested_arg(line, command):
    """The first shell word after `command` in a message, as sh would read it
    (None if the command is not in the message or the rest does not parse)."""
    i = line.find(command)
    if i < 0:
        return None
    lex = shlex.shlex(line[i + len(command):], posix=True, punctuation_chars=True)
    try:
        return lex.get_token()
    except ValueError:
        return None
