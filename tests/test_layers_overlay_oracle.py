"""The union rule of the stacked layers (src/merge.c) and their whiteout
records (src/whiteout.c, src/records.c) against the kernel's overlayfs, before
any of it is in the mount (issue 11, docs/LAYERS.md).

Random layer stacks are made twice from one model: in pyenvfs's format (the
records under .pyenvfs/whiteouts) and in overlayfs's (0/0 character devices,
trusted.overlay.opaque).  The overlayfs stack is mounted read-only
(lowerdir=L0:L1:L2) and walked; the pyenvfs stack is merged by
build/layers_tool tree; the two trees (paths, types and file contents) must be
the same.  Needs root (overlayfs, mknod, trusted.* xattrs)."""

import os
import random
import stat
import subprocess

import pytest

from conftest import PYENVFS, run
from helpers_env import is_root

TOOL = os.path.join(os.path.dirname(PYENVFS), "layers_tool")
NAMES = ["a", "b", "c", "kind", "sub"]      # "kind" and "sub": the record format's own words
NLAYERS = 3
SEEDS = range(1, 41)


def random_layer(rng, depth, bottom):
    """{name: ("file", text) | ("dir", children, opaque) | ("whiteout",)}."""
    tree = {}
    for name in NAMES:
        r = rng.random()
        if r < 0.35:
            continue
        if r < 0.6 or depth == 0:
            tree[name] = ("file", "%08x" % rng.getrandbits(32))
        elif r < 0.9 or bottom:
            tree[name] = ("dir", random_layer(rng, depth - 1, bottom), (not bottom) and rng.random() < 0.2)
        else:
            tree[name] = ("whiteout",)
    return tree


def write_overlay(root, tree):
    os.makedirs(root, exist_ok=True)
    for name, node in tree.items():
        p = os.path.join(root, name)
        if node[0] == "file":
            with open(p, "w") as f:
                f.write(node[1])
        elif node[0] == "whiteout":
            os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        else:
            write_overlay(p, node[1])
            if node[2]:
                os.setxattr(p, "trusted.overlay.opaque", b"y")


def hide(top, rel_dir, name):
    """pyenvfs's record: NODE/kind -> whiteout (docs/LAYERS.md)."""
    node = os.path.join(top, ".pyenvfs", "whiteouts", "site")
    for comp in [c for c in rel_dir.split("/") if c] + [name]:
        node = os.path.join(node, "sub", comp)
    os.makedirs(node, exist_ok=True)
    os.symlink("whiteout", os.path.join(node, "kind"))


def write_pyenvfs(top, rel, tree):
    os.makedirs(os.path.join(top, rel), exist_ok=True)
    for name, node in tree.items():
        p = os.path.join(top, rel, name)
        if node[0] == "file":
            with open(p, "w") as f:
                f.write(node[1])
        elif node[0] == "whiteout":
            hide(top, rel, name)
        else:
            write_pyenvfs(top, os.path.join(rel, name) if rel else name, node[1])
            if node[2]:
                hide(top, rel, name)


def walk(root):
    """{relative path: ("d",) | ("f", content)} under root.  overlayfs passes
    a directory that only one layer has straight through to readdir, so a
    whiteout in it (one that hides nothing below) is listed, though a lookup
    of it fails: such names are left out (what can be looked up is the
    oracle; pyenvfs never lists a name it cannot look up)."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for d in dns:
            out[os.path.relpath(os.path.join(dp, d), root)] = ("d",)
        for f in fns:
            p = os.path.join(dp, f)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            assert stat.S_ISREG(st.st_mode), p
            with open(p) as fh:
                out[os.path.relpath(p, root)] = ("f", fh.read())
    return out


def merged_by_pyenvfs(tops):
    r = subprocess.run([TOOL, "tree"] + tops, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.decode().splitlines():
        path, kind, layer = line.split("\t")
        if kind == "d":
            out[path] = ("d",)
        else:
            with open(os.path.join(tops[int(layer)], path)) as fh:
                out[path] = ("f", fh.read())
    return out


@pytest.fixture(scope="module")
def overlay_ok(tmp_path_factory):
    if not is_root():
        pytest.skip("needs root (overlayfs, mknod, trusted.* xattrs)")
    assert os.access(TOOL, os.X_OK), "%s is missing: build the project" % TOOL
    d = tmp_path_factory.mktemp("probe")
    for sub in ("l0", "l1", "m"):
        os.mkdir(str(d / sub))
    r = run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s:%s" % (d / "l0", d / "l1"), str(d / "m")])
    if r.returncode != 0:
        pytest.skip("cannot mount overlayfs here: %s" % r.stderr.strip())
    run(["umount", str(d / "m")])


@pytest.mark.parametrize("seed", SEEDS)
def test_union_agrees_with_overlayfs(seed, overlay_ok, tmp_path):
    rng = random.Random(seed)
    layers = [random_layer(rng, 3, i == NLAYERS - 1) for i in range(NLAYERS)]
    ovl, ours = [], []
    for i, tree in enumerate(layers):
        o, p = str(tmp_path / ("ovl%d" % i)), str(tmp_path / ("pyenvfs%d" % i))
        write_overlay(o, tree)
        write_pyenvfs(p, "", tree)
        ovl.append(o)
        ours.append(p)
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    r = run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(ovl), mnt])
    assert r.returncode == 0, r.stderr
    try:
        want = walk(mnt)
    finally:
        assert run(["umount", mnt]).returncode == 0
    got = merged_by_pyenvfs(ours)
    assert got == want, "seed %d: only in overlayfs %s; only in pyenvfs %s; different %s" % (
        seed, sorted(set(want) - set(got)), sorted(set(got) - set(want)),
        sorted(k for k in set(want) & set(got) if want[k] != got[k]))
