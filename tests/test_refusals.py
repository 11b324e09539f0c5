"""Every refusal: exit status 1, exactly one stderr line starting with
"pyenvfs: " that names what is wrong (the offending path or value), nothing
on stdout, nothing created or changed, nothing mounted.

tests/test_cli.py::test_bad_input covers many of these cases with a looser
check (non-zero exit, one line); here the cases it lacks are added, and the
message is checked for the path or value it is about.  The stale mount is in
tests/test_signals.py::test_stale_mount_refused_then_cleared.
"""

import os
import secrets

import pytest

from conftest import PYENVFS, force_unmount, fuse_mounts_under, mount_count, mounted, run, run_pyenvfs
from helpers_env import (assert_refusal, dev_fuse_mode, is_root, run_as, snapshot, suggested_arg,
                         throwaway_users)


@pytest.fixture(scope="module")
def user():
    with throwaway_users(1) as users:
        yield users[0]



def _p(*parts):
    return os.path.join(*parts)


# Each case: setup(ctx) -> (args, site, names).  ctx has .work, .base (Base),
# .user (when the case runs as the throwaway user), .mnt (made already).
class Ctx:
    pass


def case_dir_is_file(c):
    site = _p(c.work, "file")
    with open(site, "w") as f:
        f.write("x")
    return [c.base.prefix, c.mnt, "--site", site], site, [site]


def case_dir_owned_by_root_as_user(c):
    site = _p(c.work, "rootsite")
    os.mkdir(site, 0o755)
    return [c.base.prefix, c.mnt, "--site", site], site, [site]


def case_dir_0555_as_user(c):
    site = _p(c.work, "mysite")
    os.mkdir(site)
    os.chown(site, c.user.uid, c.user.gid)
    os.chmod(site, 0o555)
    return [c.base.prefix, c.mnt, "--site", site], site, [site]


def case_dir_parent_not_writable_as_user(c):
    parent = _p(c.work, "rootparent")
    os.mkdir(parent, 0o755)
    site = _p(parent, "sp", "ENV1")
    return [c.base.prefix, c.mnt, "--site", site], site, [site, parent]


def case_dir_parent_0555_as_user(c):
    parent = _p(c.work, "myparent")
    os.mkdir(parent)
    os.chown(parent, c.user.uid, c.user.gid)
    os.chmod(parent, 0o555)
    site = _p(parent, "ENV1")
    return [c.base.prefix, c.mnt, "--site", site], site, [site, parent]


def _ro_tmpfs(c):
    x = _p(c.work, "rofs")
    os.mkdir(x)
    r = run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", x])
    if r.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs: %s" % r.stderr.strip())
    c.cleanups.append(lambda: run(["umount", x]))
    return x


def case_dir_is_ro_fs(c):
    x = _ro_tmpfs(c)
    return [c.base.prefix, c.mnt, "--site", x], x, [x]


def case_dir_missing_on_ro_fs(c):
    x = _ro_tmpfs(c)
    site = _p(x, "sp", "ENV1")
    return [c.base.prefix, c.mnt, "--site", site], site, [site, x]


def case_dir_inside_base_missing(c):
    site = _p(c.base.prefix, "lib", "pyenvfs-test-" + secrets.token_hex(4))
    return [c.base.prefix, c.mnt, "--site", site], site, [site, c.base.prefix]


def case_dir_inside_base_existing(c):
    site = _p(c.base.prefix, "lib")
    return [c.base.prefix, c.mnt, "--site", site], site, [site, c.base.prefix]


def case_dir_is_base(c):
    site = c.base.prefix
    return [c.base.prefix, c.mnt, "--site", site], site, [site]


def case_o_python_abc(c):
    site = _p(c.work, "site")
    return [c.base.prefix, c.mnt, "-o", "site=%s,python=abc" % site], site, ["abc"]


def case_o_site_empty(c):
    site = _p(c.work, "site")
    return [c.base.prefix, c.mnt, "-o", "site="], site, ["site"]


def case_long_site_empty(c):
    site = _p(c.work, "site")
    return [c.base.prefix, c.mnt, "--site", ""], site, ["--site"]


def case_unknown_o_option_among_known(c):
    site = _p(c.work, "site")
    return [c.base.prefix, c.mnt, "-o", "ro,site=%s,bogus_opt,allow_other" % site], site, \
        ["bogus_opt"]


def case_mnt_missing(c):
    site = _p(c.work, "site")
    mnt = _p(c.work, "nomnt")
    return [c.base.prefix, mnt, "--site", site], site, [mnt]


def case_mnt_is_file(c):
    site = _p(c.work, "site")
    mnt = _p(c.work, "mntfile")
    with open(mnt, "w") as f:
        f.write("x")
    return [c.base.prefix, mnt, "--site", site], site, [mnt]


def case_base_missing(c):
    site = _p(c.work, "site")
    base = _p(c.work, "nobase")
    return [base, c.mnt, "--site", site], site, [base]


def case_base_without_python(c):
    site = _p(c.work, "site")
    base = _p(c.work, "emptybase")
    os.mkdir(base)
    return [base, c.mnt, "--site", site], site, [base]


def case_site_inside_mnt(c):
    site = _p(c.mnt, "site")
    return [c.base.prefix, c.mnt, "--site", site], site, [site, c.mnt]


def case_mnt_inside_site(c):
    site = _p(c.work, "site")
    os.mkdir(site)
    mnt = _p(site, "mnt")
    os.mkdir(mnt)
    return [c.base.prefix, mnt, "--site", site], site, [site, mnt]


# The cases that differ only in the options after BASE M --site DIR:
# name -> (options, what the message must name).
OPTION_CASES = {
    "python_slash": (["--python", "3.11/x"], ["3.11/x"]),
    "python_abc": (["--python", "abc"], ["abc"]),
    "base_timeout_nan": (["-o", "base_timeout=nan"], ["base_timeout=nan"]),
    "site_timeout_nan": (["-o", "site_timeout=nan"], ["site_timeout=nan"]),
    "base_timeout_negative": (["-o", "base_timeout=-1"], ["base_timeout=-1"]),
    "unknown_o_option": (["-o", "bogus_opt"], ["bogus_opt"]),
    "unknown_o_option_with_value": (["-o", "foo=bar"], ["foo=bar"]),
}


def _option_case(options, names):
    def case(c):
        site = _p(c.work, "site")
        return [c.base.prefix, c.mnt, "--site", site] + options, site, names
    return case


CASES = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")
}
CASES.update({name: _option_case(*spec) for name, spec in OPTION_CASES.items()})
AS_USER = {"dir_owned_by_root_as_user", "dir_0555_as_user", "dir_parent_not_writable_as_user",
           "dir_parent_0555_as_user"}
ROOT_ONLY = AS_USER | {"dir_is_ro_fs", "dir_missing_on_ro_fs"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused(case, any_base, work, request):
    if case in ROOT_ONLY and not is_root():
        pytest.skip("needs root")
    c = Ctx()
    c.work = work
    c.base = any_base
    c.cleanups = []
    c.mnt = _p(work, "mnt")
    os.mkdir(c.mnt)
    c.user = request.getfixturevalue("user") if case in AS_USER else None
    if c.user:
        os.chown(c.mnt, c.user.uid, c.user.gid)
    try:
        args, site, names = CASES[case](c)
        site_existed = os.path.lexists(site)
        before = snapshot(work)
        base_lib_before = sorted(os.listdir(_p(any_base.prefix, "lib")))
        if c.user:
            with dev_fuse_mode(0o666):      # so that the refusal is about DIR, not /dev/fuse
                r = run_as(c.user, [PYENVFS] + [str(a) for a in args], timeout=20)
        else:
            r = run_pyenvfs(args, timeout=20)
        try:
            assert_refusal(r, *names)
            if not site_existed:
                assert not os.path.lexists(site), "DIR %s created despite the refusal" % site
            assert snapshot(work) == before, "files created or changed despite the refusal"
            assert sorted(os.listdir(_p(any_base.prefix, "lib"))) == base_lib_before, \
                "BASE/lib changed"
            assert fuse_mounts_under(work) == [], "mounted despite the refusal"
            assert mount_count(c.mnt) == 0
        finally:
            for mp in sorted(fuse_mounts_under(work), key=len, reverse=True):
                force_unmount(mp)
    finally:
        for fn in reversed(c.cleanups):
            fn()


def test_already_mounted_names_mountpoint(any_base, work):
    mnt = _p(work, "mnt")
    os.mkdir(mnt)
    site = _p(work, "site")
    site2 = _p(work, "site2")
    with mounted(any_base.prefix, mnt, site):
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site2], timeout=20)
        try:
            line = assert_refusal(r, mnt)
            assert "fusermount3 -u" in line, line
            assert not os.path.lexists(site2)
            assert mount_count(mnt) == 1
        finally:
            while mount_count(mnt) > 1:
                run(["fusermount3", "-u", mnt])


def _usage_ok(out):
    for word in ("--site", "--python", "--system-site-packages", "BASE", "MOUNTPOINT"):
        assert word in out, "usage does not mention %s:\n%s" % (word, out)


def _version_ok(out):
    first = out.splitlines()[0]
    assert first.split()[0] == "pyenvfs" and first.split()[1][0].isdigit(), out


@pytest.mark.parametrize("opt,check", [("--help", _usage_ok), ("-h", _usage_ok),
                                       ("--version", _version_ok), ("-V", _version_ok)],
                         ids=["--help", "-h", "--version", "-V"])
def test_help_and_version_on_stdout(opt, check):
    """Exit 0, nothing on stderr, the usage (or the version) on stdout."""
    r = run_pyenvfs([opt])
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "%s wrote to stderr: %r" % (opt, r.stderr)
    check(r.stdout)


def test_help_wins_over_bad_input(tmp_path):
    """--help with otherwise bad arguments still prints the usage, exit 0, creates nothing."""
    site = tmp_path / "site"
    r = run_pyenvfs(["/nonexistent", str(tmp_path / "nomnt"), "--site", str(site), "--help"])
    assert r.returncode == 0, r.stderr
    assert "--site" in r.stdout
    assert not site.exists()


@pytest.mark.parametrize("case", ["mnt_missing", "already_mounted"])
def test_suggested_commands_quote_paths(case, any_base, work):
    """A path with a single quote: the command the message suggests
    (mkdir -p / fusermount3 -u), read by sh, names that path."""
    mnt = _p(work, "it's env")
    site = _p(work, "site")
    if case == "mnt_missing":
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site], timeout=20)
        line = assert_refusal(r, mnt)
        assert suggested_arg(line, "mkdir -p ") == mnt, line
        return
    os.mkdir(mnt)
    with mounted(any_base.prefix, mnt, site):
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site + "2"], timeout=20)
        try:
            line = assert_refusal(r, mnt)
            assert suggested_arg(line, "fusermount3 -u ") == mnt, line
        finally:
            while mount_count(mnt) > 1:
                run(["fusermount3", "-u", mnt])
