"""--lower-site / -o lower_site= (issue 11) are parsed but not mounted yet:
a real mount attempt with them is refused with one line, exit status 1, and
nothing created (not DIR, not its reserved area), nothing mounted, the layer
untouched.  When the layers work, these cases become the layer tests' set-up
and this file goes.  The parsing itself is in tests/unit/test_cli.c."""

import os

import pytest

from conftest import force_unmount, fuse_mounts_under, mount_count, run_pyenvfs
from helpers_env import assert_refusal, snapshot


def _layer(work):
    """A small layer laid out like an env's DIR: a package, its dist-info and
    a console script in .pyenvfs/upper/bin."""
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


@pytest.mark.parametrize("form", ["long", "long_eq", "mount_opt", "two_layers"])
def test_lower_site_refused_until_implemented(form, any_base, work):
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    site = os.path.join(work, "site")          # does not exist: must not be made
    layer = _layer(work)
    args = {
        "long": [any_base.prefix, mnt, "--site", site, "--lower-site", layer],
        "long_eq": ["--lower-site=" + layer, any_base.prefix, mnt, "--site", site],
        "mount_opt": [any_base.prefix, mnt, "-o", "site=%s,lower_site=%s" % (site, layer)],
        "two_layers": [any_base.prefix, mnt, "--site", site, "--lower-site", layer,
                       "--lower-site", "/nonexistent-second-layer"],
    }[form]
    before = snapshot(work)
    r = run_pyenvfs(args, timeout=20)
    try:
        line = assert_refusal(r, "--lower-site", layer)
        assert "not implemented" in line, line
        assert not os.path.lexists(site), "DIR created despite the refusal"
        assert snapshot(work) == before, "files created or changed despite the refusal"
        assert fuse_mounts_under(work) == [], "mounted despite the refusal"
        assert mount_count(mnt) == 0
    finally:
        for mp in sorted(fuse_mounts_under(work), key=len, reverse=True):
            force_unmount(mp)


def test_lower_site_parse_errors_come_first(any_base, work):
    """A malformed list is a parse error (it names the option value), not the
    'not implemented' refusal."""
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    site = os.path.join(work, "site")
    r = run_pyenvfs([any_base.prefix, mnt, "-o", "site=%s,lower_site=/a::/b" % site], timeout=20)
    line = assert_refusal(r, "lower_site=/a::/b")
    assert "not implemented" not in line, line
    assert not os.path.lexists(site)
