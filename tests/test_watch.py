"""Changes made outside the mount are seen through it at once (issue 21).

The kernel keeps DIR's and the layers' entries, attributes, pages and
listings for long; the daemon learns of changes made outside the mount from
inotify and has the kernel forget what changed.  Every mount here gives the
timeouts (-o site_timeout, -o lower_timeout) 3600 s, so a change can only
show within the tests' bound through a notification.  Each change is polled
for with a generous bound (no duration is asserted): a file made, rewritten
(same size), its mode changed, renamed, removed; a package directory made
and removed; Python importing the new module.

As root and as an unprivileged daemon (a throwaway user: the access through
the mount is the user's), without and with --lower-site (DIR changed, and a
layer owned by someone else changed by its owner).  Also: a second mount of
the same DIR; a warm import sends no LOOKUP once the default 1 s site_timeout
has passed (the cache is long); a layer behind bindfs (a FUSE file system:
changes made under it raise no event here) keeps -o lower_timeout.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import PYENVFS, force_unmount, mount_count, mounted
from helpers_env import dev_fuse_mode, is_root, run_as, throwaway_users
from procinfo import poll

BOUND = 30              # seconds to wait for a change to show: far above any notification
LONG = ["-o", "site_timeout=3600,lower_timeout=3600"]

OBSERVE = r"""
import json, os, sys
out = {}
for p in json.loads(sys.argv[1]):
    try:
        st = os.stat(p)
    except FileNotFoundError:
        out[p] = None
        continue
    if os.path.isdir(p):
        out[p] = {"names": sorted(os.listdir(p)), "mode": st.st_mode & 0o7777}
    else:
        with open(p, "rb") as f:
            out[p] = {"data": f.read(200).decode("latin-1"), "mode": st.st_mode & 0o7777}
if len(sys.argv) > 2:
    import subprocess
    r = subprocess.run([sys.argv[2], "-c", "import watched_new; print(watched_new.V)"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    out["import"] = r.stdout.strip() if r.returncode == 0 else None
print(json.dumps(out))
"""


class Env:
    """A mount over Debian's /usr with DIR (and optionally a layer L owned by
    root), its daemon run by root or by a throwaway user."""

    def __init__(self, base, work, user, layered, extra=()):
        self.base, self.work, self.user = base, work, user
        self.mnt = os.path.join(work, "mnt")
        self.site = os.path.join(work, "site")
        self.layer = os.path.join(work, "L") if layered else None
        self.home = os.path.join(work, "home")
        for d in (self.mnt, self.site, self.home):
            os.makedirs(d, 0o755)
            if user:
                os.chown(d, user.uid, user.gid)
        self.write_dir("kept.py", "K = 1\n")
        os.makedirs(os.path.join(self.site, "pkg"))
        if user:
            os.chown(os.path.join(self.site, "pkg"), user.uid, user.gid)
        self.write_dir("pkg/__init__.py", "")
        self.write_dir("pkg/mod.py", "M = 1\n")
        if self.layer:
            os.makedirs(os.path.join(self.layer, "lpkg"), 0o755)
            with open(os.path.join(self.layer, "lpkg", "__init__.py"), "w") as f:
                f.write("L = 1\n")
        args = [PYENVFS, base.prefix, self.mnt, "--site", self.site] + LONG + list(extra)
        if self.layer:
            args += ["--lower-site", self.layer]
        self.proc = None
        if user:
            r = run_as(user, args, home=self.home, timeout=30)
            assert r.returncode == 0, r.stderr
        else:
            self.proc = subprocess.Popen(args + ["-f"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            assert poll(lambda: mount_count(self.mnt) == 1 or self.proc.poll() is not None, 30)
            assert mount_count(self.mnt) == 1, self.proc.stderr.read()
        self.sp = os.path.join(self.mnt, base.stdlib_rel, "site-packages")

    def write_dir(self, rel, text):
        """As DIR's owner, natively (not through the mount)."""
        p = os.path.join(self.site, rel)
        tmp = p + ".tmp-write"
        with open(tmp, "w") as f:
            f.write(text)
        if self.user:
            os.chown(tmp, self.user.uid, self.user.gid)
        os.rename(tmp, p)

    def observe(self, rels, with_import=False):
        paths = [os.path.join(self.sp, r) for r in rels]
        args = ["/usr/bin/python3", "-I", "-c", OBSERVE, json.dumps(paths)]
        if with_import:
            args.append(os.path.join(self.mnt, "bin", "python3"))
        if self.user:
            r = run_as(self.user, args, home=self.home, timeout=60)
        else:
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        return dict((os.path.relpath(k, self.sp) if k != "import" else k, v) for k, v in out.items())

    def close(self):
        force_unmount(self.mnt)
        if self.proc is not None:
            self.proc.wait(timeout=30)
            err = self.proc.stderr.read().decode()
            assert self.proc.returncode == 0, err
            assert "error" not in err.lower(), err


def see(env, rels, want, with_import=False):
    """Polls until what the mount shows of rels is want (a dict of
    predicates or values); fails with the last state seen."""
    seen = []

    def ok():
        seen.append(env.observe(rels, with_import))
        cur = seen[-1]
        return all((v(cur.get(k)) if callable(v) else cur.get(k) == v) for k, v in want.items())
    assert poll(ok, BOUND, step=0.1), "not seen within %d s (timeouts 3600 s): want %r, saw %r" % (
        BOUND, want, seen[-1])


def change_and_see(env):
    """Each change made natively, then seen through the mount."""
    rels = ["kept.py", "new.py", "pkg", "pkg/mod.py", "newpkg", "newpkg/__init__.py", "renamed.py"]
    first = env.observe(rels)
    assert first["kept.py"]["data"] == "K = 1\n" and first["new.py"] is None and first["newpkg"] is None
    assert "mod.py" in first["pkg"]["names"]
    # a new file, where a miss was cached
    env.write_dir("new.py", "N = 1\n")
    see(env, ["new.py"], {"new.py": lambda v: v and v["data"] == "N = 1\n"})
    # the same size, another content (its pages were cached)
    p = os.path.join(env.site, "kept.py")
    with open(p, "r+") as f:
        f.write("K = 2\n")
    see(env, ["kept.py"], {"kept.py": lambda v: v and v["data"] == "K = 2\n"})
    # its mode
    os.chmod(p, 0o600)
    see(env, ["kept.py"], {"kept.py": lambda v: v and v["mode"] == 0o600})
    # renamed
    os.rename(p, os.path.join(env.site, "renamed.py"))
    see(env, ["kept.py", "renamed.py"], {"kept.py": None, "renamed.py": lambda v: v and v["data"] == "K = 2\n"})
    # a file removed from a package (its listing was cached)
    os.unlink(os.path.join(env.site, "pkg", "mod.py"))
    see(env, ["pkg", "pkg/mod.py"], {"pkg/mod.py": None, "pkg": lambda v: v and v["names"] == ["__init__.py"]})
    # a new package, that Python imports
    os.mkdir(os.path.join(env.site, "newpkg"))
    if env.user:
        os.chown(os.path.join(env.site, "newpkg"), env.user.uid, env.user.gid)
    env.write_dir("newpkg/__init__.py", "")
    env.write_dir("watched_new.py", "V = 'fresh'\n")
    see(env, ["newpkg"], {"newpkg": lambda v: v and v["names"] == ["__init__.py"], "import": "fresh"},
        with_import=True)
    # and removed again
    shutil.rmtree(os.path.join(env.site, "newpkg"))
    os.unlink(os.path.join(env.site, "new.py"))
    see(env, ["newpkg", "new.py"], {"newpkg": None, "new.py": None})


def change_layer_and_see(env):
    """L's owner (root) adds a module and a package, and removes one."""
    rels = ["lpkg", "lpkg/__init__.py", "lpkg/extra.py", "lnew"]
    first = env.observe(rels)
    assert first["lpkg"]["names"] == ["__init__.py"] and first["lnew"] is None
    with open(os.path.join(env.layer, "lpkg", "extra.py"), "w") as f:
        f.write("E = 1\n")
    see(env, ["lpkg", "lpkg/extra.py"], {"lpkg/extra.py": lambda v: v and v["data"] == "E = 1\n",
                                         "lpkg": lambda v: v and "extra.py" in v["names"]})
    os.makedirs(os.path.join(env.layer, "lnew"), 0o755)
    with open(os.path.join(env.layer, "lnew", "__init__.py"), "w") as f:
        f.write("")
    see(env, ["lnew"], {"lnew": lambda v: v and v["names"] == ["__init__.py"]})
    with open(os.path.join(env.layer, "lpkg", "__init__.py"), "w") as f:
        f.write("L = 2\n")
    see(env, ["lpkg/__init__.py"], {"lpkg/__init__.py": lambda v: v and v["data"] == "L = 2\n"})
    shutil.rmtree(os.path.join(env.layer, "lnew"))
    see(env, ["lnew"], {"lnew": None})


@pytest.mark.parametrize("layered", [False, True], ids=["plain", "layers"])
@pytest.mark.parametrize("who", ["root", "user"])
def test_changes_outside_the_mount_are_seen(usr_base, work, who, layered):
    if who == "user" and not is_root():
        pytest.skip("needs root (a throwaway user)")
    if who == "root" and not is_root():
        who = "self"            # the same test, this user's daemon
    ctx = throwaway_users(1) if who == "user" else None
    user = ctx.__enter__()[0] if ctx else None
    fuse = dev_fuse_mode(0o666) if user else None
    if fuse:
        fuse.__enter__()
    env = None
    try:
        env = Env(usr_base, work, user, layered)
        change_and_see(env)
        if layered:
            change_layer_and_see(env)
        st = env.observe([])  # still alive and answering
        assert st == {}
    finally:
        if env:
            env.close()
        if fuse:
            fuse.__exit__(None, None, None)
        if ctx:
            ctx.__exit__(None, None, None)


def test_view_directories_follow_the_env_area(usr_base, tmp_path):
    """M/bin shows the base's interpreter and the env's scripts, kept in
    DIR/.pyenvfs/upper/bin (made on first use): a script put there natively,
    the directory made too, shows in M/bin (and Debian's local/bin), and
    goes when removed."""
    site = tmp_path / "site"
    (tmp_path / "m").mkdir()
    with mounted(usr_base.prefix, tmp_path / "m", site, LONG, base=usr_base) as m:
        places = [m.path("bin")] + ([m.path("local", "bin")] if usr_base.debian_patched else [])
        for d in places:
            assert "direct-tool" not in os.listdir(d)
            assert not os.path.exists(os.path.join(d, "direct-tool"))
        ubin = site / ".pyenvfs" / "upper" / "bin"
        if ubin.exists():
            shutil.rmtree(str(ubin))
        ubin.mkdir()
        (ubin / "direct-tool").write_bytes(b"#!/bin/sh\necho hi\n")
        for d in places:
            assert poll(lambda: "direct-tool" in os.listdir(d) and os.path.exists(os.path.join(d, "direct-tool")),
                        BOUND), d
        assert "python3" in os.listdir(m.path("bin"))
        (ubin / "direct-tool").unlink()
        for d in places:
            assert poll(lambda: "direct-tool" not in os.listdir(d) and not os.path.exists(os.path.join(d, "direct-tool")),
                        BOUND), d


def stats(mnt):
    text = os.getxattr(mnt, "user.pyenvfs.stats").decode()
    return dict((k, int(v)) for k, v in (line.split() for line in text.splitlines()))


def test_a_second_mount_of_the_same_dir(usr_base, tmp_path):
    """What one mount writes into DIR, another mount of DIR shows."""
    site = tmp_path / "site"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with mounted(usr_base.prefix, tmp_path / "a", site, LONG, base=usr_base) as a, \
            mounted(usr_base.prefix, tmp_path / "b", site, LONG, base=usr_base) as b:
        spa = a.path(usr_base.stdlib_rel, "site-packages")
        spb = b.path(usr_base.stdlib_rel, "site-packages")
        assert not os.path.exists(os.path.join(spa, "shared.py"))
        with open(os.path.join(spb, "shared.py"), "w") as f:
            f.write("S = 1\n")

        def content():
            try:
                with open(os.path.join(spa, "shared.py")) as f:
                    return f.read()
            except FileNotFoundError:
                return None
        assert poll(lambda: content() == "S = 1\n", BOUND)
        with open(os.path.join(spb, "shared.py"), "a") as f:
            f.write("T = 2\n")
        assert poll(lambda: content() == "S = 1\nT = 2\n", BOUND)
        os.unlink(os.path.join(spb, "shared.py"))
        assert poll(lambda: content() is None and "shared.py" not in os.listdir(spa), BOUND)


def test_warm_imports_send_no_lookup(usr_base, tmp_path):
    """With the default options, a warm import of a 20-module package in DIR
    after the 1 s site_timeout has passed sends the daemon no LOOKUP (and no
    FLUSH: nothing was opened for writing): the kernel keeps the entries."""
    site = tmp_path / "site"
    pkg = site / "warmpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("".join("from . import m%d\n" % i for i in range(20)))
    for i in range(20):
        (pkg / ("m%d.py" % i)).write_text("X = %d\n" % i)
    (tmp_path / "m").mkdir()
    with mounted(usr_base.prefix, tmp_path / "m", site, base=usr_base) as m:
        py = m.path("bin", "python3")
        code = "import warmpkg, sys; assert len(sys.modules['warmpkg'].__dict__) > 20"
        for _ in range(2):          # the bytecode written, every name looked up
            r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        time.sleep(1.5)             # past the default site_timeout
        before = stats(m.mnt)
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        after = stats(m.mnt)
        d = dict((k, after.get(k, 0) - before.get(k, 0)) for k in after)
        assert d.get("lookup", 0) == 0, "a warm import sent LOOKUPs: %r" % d
        assert d.get("flush", 0) == 0, "FLUSH for files opened only for reading: %r" % d
        assert after["watching"] == 1 and after["watches"] > 0, after


def test_a_layer_behind_bindfs_keeps_its_timeout(usr_base, tmp_path):
    """A layer on a FUSE file system (bindfs of a directory): a change made
    under it raises no event here, so its names keep -o lower_timeout (1 s
    here) and the change shows once that has passed."""
    bindfs = shutil.which("bindfs")
    if not bindfs:
        pytest.skip("bindfs is not installed (scripts/setup.sh installs it)")
    src, lay = tmp_path / "src", tmp_path / "bound"
    (src / "bpkg").mkdir(parents=True)
    (src / "bpkg" / "__init__.py").write_text("B = 1\n")
    lay.mkdir()
    (tmp_path / "m").mkdir()
    r = subprocess.run([bindfs, str(src), str(lay)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    try:
        with mounted(usr_base.prefix, tmp_path / "m", tmp_path / "site",
                     ["--lower-site", str(lay), "-o", "lower_timeout=1,site_timeout=3600"],
                     base=usr_base) as m:
            sp = m.path(usr_base.stdlib_rel, "site-packages")
            assert os.listdir(os.path.join(sp, "bpkg")) == ["__init__.py"]
            (src / "bpkg" / "more.py").write_text("M = 1\n")
            assert poll(lambda: "more.py" in os.listdir(os.path.join(sp, "bpkg")), BOUND), \
                "a change under a bindfs layer did not show after lower_timeout"
    finally:
        force_unmount(str(lay))
