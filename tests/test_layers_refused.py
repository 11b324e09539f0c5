"""--lower-site / -o lower_site= refusals (issue 11): each bad layer gets one
line naming it, exit status 1, and nothing created (not DIR, not its
reserved area), nothing mounted, the layer untouched.  The parsing itself is
in tests/unit/test_cli.c; the working layers in tests/test_layers.py."""

import os

import pytest

from conftest import force_unmount, fuse_mounts_under, mount_count, run_pyenvfs
from helpers_env import assert_refusal, snapshot


def _layer(work):
    """A small layer laid out like an env's DIR."""
    layer = os.path.join(work, "layer")
    for d in ("pkg", "pkg-1.0.dist-info", ".pyenvfs/upper/bin"):
        os.makedirs(os.path.join(layer, d))
    files = {
        "pkg/__init__.py": "X = 1\n",
        "pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
        "pkg-1.0.dist-info/RECORD": "pkg/__init__.py,,\n../../../bin/pkg-tool,,\n",
        ".pyenvfs/upper/bin/pkg-tool": "#!/old/mount/bin/python3\nimport pkg\n",
    }
    for rel, text in files.items():
        with open(os.path.join(layer, rel), "w") as f:
            f.write(text)
    return layer


CASES = ["missing", "file", "in_mountpoint", "mountpoint_in_layer", "is_dir", "in_dir", "twice",
         "twice_mount_opt"]


@pytest.mark.parametrize("case", CASES)
def test_bad_layer_refused(case, any_base, work):
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    site = os.path.join(work, "site")          # does not exist: must not be made
    layer = _layer(work)
    named = layer
    if case == "missing":
        named = os.path.join(work, "no-such-layer")
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", named]
        words = ["does not exist"]
    elif case == "file":
        named = os.path.join(layer, "pkg", "__init__.py")
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", named]
        words = ["not a directory"]
    elif case == "in_mountpoint":
        named = os.path.join(mnt, "sub")
        os.mkdir(named)
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", named]
        words = ["inside", "MOUNTPOINT"]
    elif case == "mountpoint_in_layer":
        mnt = os.path.join(layer, "pkg")
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", layer]
        words = ["MOUNTPOINT", "inside"]
    elif case == "is_dir":
        site = layer
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", layer]
        words = ["DIR itself"]
    elif case == "in_dir":
        site = os.path.join(work, "site2")
        os.mkdir(site)
        named = os.path.join(site, "inner")
        os.mkdir(named)
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", named]
        words = ["inside", "DIR"]
    elif case == "twice":
        args = [any_base.prefix, mnt, "--site", site, "--lower-site", layer,
                "--lower-site", layer + "/."]
        words = ["twice"]
    else:
        args = [any_base.prefix, mnt, "-o", "site=%s,lower_site=%s:%s" % (site, layer, layer)]
        words = ["twice"]
    before = snapshot(work)
    r = run_pyenvfs(args, timeout=20)
    try:
        line = assert_refusal(r, "--lower-site", named)
        for w in words:
            assert w in line, line
        if case not in ("is_dir", "in_dir"):
            assert not os.path.lexists(site), "DIR created despite the refusal"
        assert snapshot(work) == before, "files created or changed despite the refusal"
        assert fuse_mounts_under(work) == [], "mounted despite the refusal"
        assert mount_count(mnt) == 0
    finally:
        for mp in sorted(fuse_mounts_under(work), key=len, reverse=True):
            force_unmount(mp)


def test_lower_site_parse_errors_come_first(any_base, work):
    """A malformed list is a parse error (it names the option value)."""
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    site = os.path.join(work, "site")
    r = run_pyenvfs([any_base.prefix, mnt, "-o", "site=%s,lower_site=/a::/b" % site], timeout=20)
    assert_refusal(r, "lower_site=/a::/b")
    assert not os.path.lexists(site)


def test_more_layers_than_descriptors_refused(any_base, work):
    """The one hard limit on layers is descriptors: more layers than the
    open-file limit can hold (for a user who cannot raise it) are refused
    with one line naming RLIMIT_NOFILE, nothing created, nothing mounted."""
    import resource
    from helpers_env import as_user, dev_fuse_mode, is_root, throwaway_users
    if not is_root():
        pytest.skip("needs root (a throwaway user whose hard limit is low)")
    layers = []
    for i in range(40):
        L = os.path.join(work, "L%02d" % i)
        os.makedirs(os.path.join(L, "m%d" % i))
        layers += ["--lower-site", L]
    with throwaway_users(1) as (user,), dev_fuse_mode():
        own = os.path.join(work, "own")     # the user's: DIR may be made there
        mnt = os.path.join(own, "mnt")
        site = os.path.join(own, "site")
        os.mkdir(own)
        os.mkdir(mnt)
        for d in (own, mnt):
            os.chown(d, user.uid, user.gid)
        before = snapshot(work)
        drop = as_user(user)

        def low_limit_then_drop():
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
            drop()
        r = run_pyenvfs([any_base.prefix, mnt, "--site", site] + layers, timeout=20,
                        preexec_fn=low_limit_then_drop)
    line = assert_refusal(r, "40 lower site layers", "RLIMIT_NOFILE")
    assert "1024" in line, line
    assert not os.path.lexists(site), "DIR created despite the refusal"
    assert snapshot(work) == before
    assert fuse_mounts_under(work) == []
