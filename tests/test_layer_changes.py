"""A lower site layer changed under a mount by its owner (issue 11).

An env over two layers: L1, written by hand and owned by a user of its own
(root makes a throwaway user for it; otherwise it is this user's), and L2,
an env's DIR holding pip and libw 1.0.  After the env has imported from L1
and listed it, L1's owner, natively (not through the mount), adds a package,
removes one (a file of it held open through the mount meanwhile), replaces
libx 1.0 by 2.0 (its .dist-info renamed), and adds libw 2.0, which must
shadow L2's libw 1.0 as a whole: the distribution index notices that L1's
top directory changed.

The env must show each change: at once, as the daemon is told of it by
inotify (with -o lower_timeout=3600, so that nothing else can show it), and
with -o watch=off once the kernel's cache of the layers (-o lower_timeout=1)
has run out; polled until a deadline well past it, never a fixed sleep.  Then pip list shows the new state, each distribution once,
pip check is clean, the daemon is alive and says nothing about errors, and
L2 is unchanged."""

import json
import os
import subprocess

import pytest

import helpers_base as hb
import pkgs
import test_layers as tl
from conftest import mounted, without_venv_pth
from helpers_env import is_root, run_as, throwaway_users

# How the changes reach the kernel: notified (the timeout so long that only a
# notification can show them), or by the timeout with no notifications.
HOW = {"notified": ["-o", "lower_timeout=3600"], "timeout": ["-o", "lower_timeout=1,watch=off"]}
DEADLINE = 30              # seconds to wait for a change to show, far beyond either


def dist(name, version, files):
    """A distribution's tree: files {path: text}, its .dist-info with RECORD."""
    tree = dict(files)
    di = "%s-%s.dist-info" % (name, version)
    tree[di + "/METADATA"] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    tree[di + "/INSTALLER"] = "pip\n"
    record = sorted(files) + [di + "/METADATA", di + "/INSTALLER", di + "/RECORD"]
    tree[di + "/RECORD"] = "".join("%s,,\n" % p for p in record)
    return tree


def module(name, version):
    return {name + "/__init__.py": "VERSION = %r\n" % version}


# What L1's owner does, natively: a script run as that user, on L1.
CHANGE = r'''
import json, os, shutil, sys
L1 = sys.argv[1]
writes = json.loads(sys.argv[2])
j = lambda *p: os.path.join(L1, *p)
# remove oldpkg: its package and its metadata
shutil.rmtree(j("oldpkg"))
shutil.rmtree(j("oldpkg-1.0.dist-info"))
# replace libx 1.0 by 2.0: new files, then the .dist-info renamed and rewritten
os.unlink(j("libx", "old.py"))
os.rename(j("libx-1.0.dist-info"), j("libx-2.0.dist-info"))
for rel, text in sorted(writes.items()):
    p = j(rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, p)
'''


@pytest.fixture
def owner():
    """Who owns L1: a throwaway user (as root), else this user (None)."""
    if not is_root():
        yield None
        return
    with throwaway_users(1) as users:
        yield users[0]


@pytest.fixture(scope="module")
def pip_layer(tmp_path_factory):
    """L2: an env's DIR (over Debian's or the first single-version base)
    holding pip and libw 1.0, made through a mount."""
    import pythons
    bases = [b for b in pythons.discover().values() if len(pythons.versions_in(b.prefix)) == 1]
    bases.sort(key=lambda b: (b.kind != "usr", b.id))
    if not bases:
        pytest.skip("no single-version Python base found")
    b = bases[0]
    d = tmp_path_factory.mktemp("pip-layer")
    (d / "mnt").mkdir()
    (d / "home").mkdir()
    with mounted(b.prefix, d / "mnt", d / "L2", base=b) as m:
        e = tl.LEnv(m, b, str(d / "home"))
        tl.install_pip(e)
        libw = pkgs.make_wheel(str(d / "wheels"), "libw", "1.0", {
            "libw/__init__.py": "VERSION = '1.0'\n", "libw/old.py": "OLD = 1\n"})
        e.pip_run(["install", "--no-index", libw])
    return b, str(d / "L2")


@pytest.mark.parametrize("how", sorted(HOW))
def test_a_layer_changed_under_the_mount(pip_layer, owner, work, tmp_path, how):
    b, L2 = pip_layer
    t = str(tmp_path)
    L1 = os.path.join(work, "L1")          # where the owner can reach it
    tree = {}
    tree.update(dist("libx", "1.0", dict(module("libx", "1.0"), **{"libx/old.py": "OLD = 1\n"})))
    tree.update(dist("oldpkg", "1.0", module("oldpkg", "1.0")))
    tl.write_tree(L1, tree)
    if owner is not None:
        for dp, dns, fns in os.walk(L1):
            for n in [dp] + [os.path.join(dp, x) for x in fns]:
                os.chown(n, owner.uid, owner.gid)
    l2_digest = hb.tree_digest(L2)
    os.mkdir(os.path.join(t, "mnt"))
    os.mkdir(os.path.join(t, "home"))
    with mounted(b.prefix, os.path.join(t, "mnt"), os.path.join(t, "D"),
                 ["--lower-site", L1, "--lower-site", L2] + HOW[how] + tl.extra_for(b), base=b) as m:
        e = tl.LEnv(m, b, os.path.join(t, "home"))
        sp = tl.site_of(m, b)

        def state():
            # (a set: on Debian's Python DIR is on sys.path twice, at
            # lib/.../site-packages and local/lib/.../dist-packages)
            code = ("import importlib, importlib.metadata as md, json, os, sys\n"
                    "out = {}\n"
                    "for n in ('libx', 'newpkg', 'oldpkg', 'libw'):\n"
                    "    try:\n"
                    "        out[n] = importlib.import_module(n).VERSION\n"
                    "    except ImportError:\n"
                    "        out[n] = None\n"
                    "out['dists'] = sorted({'%s==%s' % (d.metadata['Name'], d.version)\n"
                    "                       for d in md.distributions()\n"
                    "                       if d.metadata['Name'] in ('libx', 'newpkg', 'oldpkg', 'libw')})\n"
                    "out['libw_files'] = sorted(os.listdir(os.path.dirname(sys.modules['libw'].__file__)))"
                    " if out['libw'] else None\n"
                    "print(json.dumps(out, sort_keys=True))\n")
            r = e.run([e.python, "-B", "-c", code])
            return json.loads(r.stdout)

        before = state()
        assert "old.py" in before.pop("libw_files"), before
        assert before == {"libx": "1.0", "newpkg": None, "oldpkg": "1.0", "libw": "1.0",
                          "dists": ["libw==1.0", "libx==1.0", "oldpkg==1.0"]}, before
        assert "old.py" in os.listdir(os.path.join(sp, "libx"))
        held = open(os.path.join(sp, "oldpkg", "__init__.py"))

        writes = {}
        writes.update(module("libx", "2.0"))
        writes["libx/new.py"] = "NEW = 2\n"
        writes["libx-2.0.dist-info/METADATA"] = "Metadata-Version: 2.1\nName: libx\nVersion: 2.0\n"
        writes["libx-2.0.dist-info/RECORD"] = "".join("%s,,\n" % p for p in (
            "libx/__init__.py", "libx/new.py", "libx-2.0.dist-info/METADATA",
            "libx-2.0.dist-info/INSTALLER", "libx-2.0.dist-info/RECORD"))
        writes.update(dist("newpkg", "1.0", module("newpkg", "1.0")))
        writes.update(dist("libw", "2.0", module("libw", "2.0")))
        args = ["/usr/bin/python3", "-I", "-c", CHANGE, L1, json.dumps(writes)]
        if owner is not None:
            r = run_as(owner, args)
        else:
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60)
        assert r.returncode == 0, r.stderr

        # an open file of a removed package stays readable
        assert held.read() == "VERSION = '1.0'\n"
        held.close()

        want = {"libx": "2.0", "newpkg": "1.0", "oldpkg": None, "libw": "2.0",
                "dists": ["libw==2.0", "libx==2.0", "newpkg==1.0"],
                "libw_files": ["__init__.py"]}
        seen = []

        def listed_as_wanted():
            # the site directory's own listing: the kernel keeps it until it
            # sees the directory's new mtime (within the same timeouts)
            names = os.listdir(sp)
            return ([n for n in names if n.startswith("libx-")] == ["libx-2.0.dist-info"] and
                    [n for n in names if n.startswith("libw-")] == ["libw-2.0.dist-info"] and
                    not [n for n in names if n.startswith("oldpkg")])

        def changed():
            seen.append(state())
            return seen[-1] == want and sorted(os.listdir(os.path.join(sp, "libx"))) == \
                ["__init__.py", "new.py"] and listed_as_wanted()
        assert hb.poll(changed, DEADLINE, step=0.2), \
            "the env did not show L1's changes within %d s (%s): %r" % (DEADLINE, how, seen[-1])
        names = os.listdir(sp)
        assert [n for n in names if n.startswith("libx-")] == ["libx-2.0.dist-info"], names
        assert [n for n in names if n.startswith("libw-")] == ["libw-2.0.dist-info"], names
        assert not [n for n in names if n.startswith("oldpkg")], names

        r = e.pip_run(["list", "--format=freeze"])
        listed = sorted(x.strip() for x in r.stdout.splitlines() if x.strip())
        for name, line in (("libx", "libx==2.0"), ("libw", "libw==2.0"), ("newpkg", "newpkg==1.0")):
            assert [x for x in listed if x.split("==")[0] == name] == [line], listed
        assert not [x for x in listed if x.startswith("oldpkg")], listed
        assert len([x for x in listed if x.startswith("pip==")]) == 1, listed
        assert "error" not in r.stderr.lower(), r.stderr
        e.pip_run(["check"])
        assert m.proc.poll() is None, "the daemon died"
        assert without_venv_pth(os.listdir(m.site)) == [".pyenvfs"], "DIR was written: %r" % os.listdir(m.site)
    assert hb.tree_digest(L2) == l2_digest
