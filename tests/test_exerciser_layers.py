"""The differential exerciser with stacked site layers (issue 11, "Proof"):
random operations at depths 1 to 4 of site-packages, over 2 or 3 random lower
layers made fresh per seed, through pyenvfs and through the kernel's overlayfs
(lowerdir = the same layers, redirect_dir=off, index=off, metacopy=off),
against a model of the union (tests/exerciser_layers.py): outcomes after
every step, trees every step; then the records after a remount, and the
layers unchanged.

Seeds are fixed for CI; PYENVFS_EXERCISER_SEEDS="1,2" and
PYENVFS_EXERCISER_OPS=N override them.  The long run is
`tests/stress/exerciser.py --layers`.  Needs root (overlayfs, trusted.*
xattrs and 0/0 devices for its layers)."""

import contextlib
import os
import sys

import pytest

import exerciser_layers as exl
import helpers_base as hb
import pythons
from conftest import mounted, run

DEFAULT_SEEDS = [1, 2, 3, 4]
DEFAULT_OPS = 500
FULL_EVERY = 10        # file contents re-hashed in full every N steps (else: when size or times changed)


def _seeds():
    v = os.environ.get("PYENVFS_EXERCISER_SEEDS")
    return [int(x) for x in v.replace(",", " ").split()] if v else DEFAULT_SEEDS


def _n_ops():
    return int(os.environ.get("PYENVFS_EXERCISER_OPS") or DEFAULT_OPS)


@contextlib.contextmanager
def overlay_mounted(options, mnt):
    """mount -t overlay; umount (then umount -l) on the way out, whatever happened."""
    r = run(["mount", "-t", "overlay", "overlay", "-o", options, mnt])
    if r.returncode != 0:
        raise AssertionError("mount -t overlay %s: %s" % (mnt, r.stderr.strip()))
    try:
        yield mnt
    finally:
        if run(["umount", mnt]).returncode != 0:
            run(["umount", "-l", mnt])


def site_of(m, base):
    return m.path("lib", "python" + base.xy, "site-packages")


def run_seed(base, work, seed, n_ops, overlay=True, check_every=1, full_every=1, log=None):
    """One seed: fresh layers, a pyenvfs mount over them (and an overlayfs
    mount), the ops, then the checks after a remount. Returns (stats, stack);
    raises AssertionError (exl.Mismatch) on a difference."""
    os.makedirs(work)
    stack = exl.Stack(seed, work, overlay=overlay)
    layer_dirs = stack.pyenvfs_layers + stack.overlay_layers
    before = [hb.tree_digest(p) for p in layer_dirs]
    model = exl.Model(stack)
    mnt, dirs = os.path.join(work, "mnt"), os.path.join(work, "D")
    os.mkdir(mnt)
    args = stack.lower_args() + pythons.python_args(base)
    st = {}
    with contextlib.ExitStack() as es:
        m = es.enter_context(mounted(base.prefix, mnt, dirs, args, base=base))
        sides = [("pyenvfs", site_of(m, base), False)]
        if overlay:
            omnt = os.path.join(work, "omnt")
            for d in ("omnt", "U", "W"):
                os.mkdir(os.path.join(work, d))
            es.enter_context(overlay_mounted(stack.overlay_options(
                os.path.join(work, "U"), os.path.join(work, "W")), omnt))
            sides.append(("overlayfs", omnt, True))
        for label, root, _ in sides:
            exl.compare_now(model, label + " before any op", root)
        exl.run_ops(exl.gen_ops(seed, n_ops), model, sides, seed=seed, check_every=check_every,
                    full_every=full_every, log=log, stats=st)
        for label, root, _ in sides:
            bad = exl.record_names_shown(root)
            assert not bad, "%s shows record names: %s" % (label, bad)
    # The whiteouts, opaque directories and copies are in DIR: a new daemon
    # shows the same tree.
    with mounted(base.prefix, mnt, dirs, args, base=base) as m:
        exl.compare_now(model, "pyenvfs after a remount", site_of(m, base))
    after = [hb.tree_digest(p) for p in layer_dirs]
    for p, b, a in zip(layer_dirs, before, after):
        assert a == b, "seed %d: the layer %s was changed" % (seed, p)
    return st, stack


def summary(seed, st, stack):
    return ("seed %d (%s): %d ops, %d ok, %d errno (%d EXDEV), max %d entries, not applied to "
            "overlayfs: %s" % (seed, stack.describe(), st["ops"], st["ok"], st["err"], st["exdev"],
                               st["entries_max"], st["overlay_excluded"] or "none"))


@pytest.fixture
def base():
    b = pythons.preferred_base()
    if b is None:
        pytest.skip("no Python 3 base found")
    return b


@pytest.fixture(scope="module")
def overlay_ok(tmp_path_factory):
    if not hb.is_root():
        pytest.skip("needs root (overlayfs, mknod, trusted.* xattrs)")
    d = tmp_path_factory.mktemp("probe")
    for sub in ("l", "u", "w", "m"):
        os.mkdir(str(d / sub))
    try:
        with overlay_mounted("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,index=off,metacopy=off"
                             % (d / "l", d / "u", d / "w"), str(d / "m")):
            pass
    except AssertionError as e:
        pytest.skip("cannot mount overlayfs here: %s" % e)


@pytest.mark.parametrize("seed", _seeds())
def test_layers_exerciser(seed, base, overlay_ok, tmp_path):
    try:
        st, stack = run_seed(base, str(tmp_path / "w"), seed, _n_ops(), full_every=FULL_EVERY)
    except exl.Mismatch as e:
        pytest.fail("seed %r, %d ops (rerun: PYENVFS_EXERCISER_SEEDS=%r):\n%s" % (seed, _n_ops(), seed, e),
                    pytrace=False)
    sys.stderr.write(summary(seed, st, stack) + "\n")
    assert st["exdev"] > 0 and st["by_op"]["rename"][0] > 0


def test_union_model_pure():
    """The model's union rule on a fixed stack: whiteouts and opaque
    directories act on the layers under them only, a non-directory ends a
    merge, a layer's own object beats its own whiteout."""
    L0 = {"a": ("dir", 0o755, {"e": ("file", b"0", 0o644), "f": ("whiteout",)}, False),
          "b": ("dir", 0o700, {"e": ("file", b"0b", 0o644)}, True),
          "e": ("whiteout",), "kind": ("file", b"k", 0o600)}
    L1 = {"a": ("dir", 0o777, {"f": ("file", b"1f", 0o644), "g": ("file", b"1g", 0o644)}, False),
          "b": ("dir", 0o755, {"f": ("file", b"1", 0o644)}, False),
          "e": ("file", b"1e", 0o644), "kind": ("dir", 0o755, {}, False),
          "sub": ("dir", 0o755, {"g": ("symlink", "x")}, False)}
    view, contrib = exl.union([L0, L1])
    assert view == {"a": ("dir", 0o755), "a/e": ("file", b"0", 0o644), "a/g": ("file", b"1g", 0o644),
                    "b": ("dir", 0o700), "b/e": ("file", b"0b", 0o644), "kind": ("file", b"k", 0o600),
                    "sub": ("dir", 0o755), "sub/g": ("symlink", "x")}
    assert contrib["a"] == [0, 1] and contrib["b"] == [0] and contrib["sub"] == [1]


# ---------------------------------------------------------------------------
# what the exerciser found, each as a directed test

def _layered(base, tmp_path, layers):
    """Writes the layers ({name: tree} top first, exl's format) and returns
    (mounted() context manager, site-packages path getter, layer dirs)."""
    dirs = []
    for i, t in enumerate(layers):
        p = str(tmp_path / ("L%d" % i))
        exl.write_layer(p, t, "pyenvfs")
        dirs.append(p)
    (tmp_path / "mnt").mkdir()
    args = []
    for p in dirs:
        args += ["--lower-site", p]
    return mounted(base.prefix, tmp_path / "mnt", tmp_path / "D", args + pythons.python_args(base),
                   base=base), dirs


def _f(data):
    return ("file", data, 0o644)


def _d(children, opaque=False):
    return ("dir", 0o755, children, opaque)


def test_no_lookup_below_a_hidden_directory(base, tmp_path):
    """A name is found only in the layers its directory merges: an opaque
    directory of a layer above, a non-directory of a layer in between, or
    DIR's rmdir and mkdir hide the lower layers' names below, for a lookup as
    for a listing (lookups used to probe every layer at the full path)."""
    L0 = {"op": _d({"mine": _f(b"0")}, opaque=True), "mid": _d({}), "re": _d({"x": _f(b"0")})}
    L1 = {"mid": _f(b"file in between")}
    L2 = {"op": _d({"sub": _d({"x": _f(b"2")}), "y": _f(b"2")}),
          "mid": _d({"z": _f(b"2")}), "re": _d({"old": _d({"x": _f(b"2")}), "f": _f(b"2")})}
    cm, dirs = _layered(base, tmp_path, [L0, L1, L2])
    with cm as m:
        sp = site_of(m, base)
        assert sorted(os.listdir(os.path.join(sp, "op"))) == ["mine"]
        assert sorted(os.listdir(os.path.join(sp, "mid"))) == []
        for rel in ("op/sub", "op/sub/x", "op/y", "mid/z"):
            assert not os.path.lexists(os.path.join(sp, rel)), rel
            with pytest.raises(FileNotFoundError):
                open(os.path.join(sp, rel), "rb")
        # opaque in DIR: removed (everything in it first) and made again
        for rel in ("re/old/x", "re/f", "re/x"):
            os.unlink(os.path.join(sp, rel))
        os.rmdir(os.path.join(sp, "re/old"))
        os.rmdir(os.path.join(sp, "re"))
        os.mkdir(os.path.join(sp, "re"))
        assert os.listdir(os.path.join(sp, "re")) == []
        for rel in ("re/old", "re/old/x", "re/f"):
            assert not os.path.lexists(os.path.join(sp, rel)), rel
        # a whiteout of DIR's in a directory DIR has no part of still hides
        os.unlink(os.path.join(sp, "op/mine"))
        assert not os.path.lexists(os.path.join(sp, "op/mine"))
        with open(os.path.join(sp, "op", "sub"), "w") as f:      # a new name there: DIR's
            f.write("new")
        assert sorted(os.listdir(os.path.join(sp, "op"))) == ["sub"]
        assert open(os.path.join(sp, "op", "sub")).read() == "new"


def test_hard_link_to_a_copied_up_file_is_one_inode(base, tmp_path):
    """A layer's file copied up (by a link, a write or a chmod) and a hard
    link to it are one file in the kernel: the link count and the size seen
    through one name follow a change through the other (the copy used to be
    a second inode, keyed by the layer's file, with stale attributes)."""
    L0 = {"p": _d({"a": _f(b"x" * 3000), "b": _f(b"y" * 100)})}
    cm, dirs = _layered(base, tmp_path, [L0])
    with cm as m:
        sp = site_of(m, base)
        a, la = os.path.join(sp, "p", "a"), os.path.join(sp, "link_a")
        os.stat(a)
        os.link(a, la)                                  # copies a up
        assert os.stat(a).st_nlink == 2 and os.stat(la).st_nlink == 2
        with open(la, "ab") as f:
            f.write(b"tail")
        assert os.stat(a).st_size == 3004
        assert open(a, "rb").read() == b"x" * 3000 + b"tail"
        # copied up by a change first, then linked, then looked up again
        b, lb = os.path.join(sp, "p", "b"), os.path.join(sp, "p", "link_b")
        os.chmod(b, 0o600)
        os.link(b, lb)
        assert os.stat(b).st_nlink == 2
        with open(b, "ab") as f:
            f.write(b"more")
        assert os.stat(lb).st_size == 104 and open(lb, "rb").read() == b"y" * 100 + b"more"
        os.unlink(la)
        assert os.stat(a).st_nlink == 1
