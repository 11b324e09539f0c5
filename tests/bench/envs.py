"""The environments the benchmark runs Python in: pyenvfs mounts, the native
references and the peers, all built once per run under one work directory.

Native references (on the same disk as the base, never through FUSE):
  - a venv: `python -m venv --without-pip` (venv mode's reference);
  - a copy tree: bin/pythonX.Y (a copy of the base interpreter, so that
    realpath(sys.executable) stays in the tree), lib/pythonX.Y copied from the
    base without its site-packages/dist-packages, and an empty site directory:
    the base "shaped like the env", used with PYTHONHOME (PYTHONHOME mode's
    reference, and the lower layer of the overlay peers).
Peers, each used with PYTHONHOME=<its mount> and <its mount>/bin/pythonX.Y:
  - fuse-overlayfs: lowerdir = the copy tree, an empty upperdir;
  - bindfs of the copy tree;
  - the seed's symlink tree: bin/pythonX.Y a copy, lib/pythonX.Y a symlink to
    the base's (the "poor man's virtualenv");
  - the kernel's overlayfs, same layers as fuse-overlayfs (in-kernel reference).
"""

import os
import shutil
import subprocess

from common import BenchError, Skip, IS_ROOT, sh, wait_mounted

IMPORTS = ("import asyncio, email, email.mime.text, http.client, decimal, ssl, sqlite3, json, "
           "re, collections, typing, dataclasses, pathlib, argparse, logging, subprocess, "
           "threading, urllib.request, xml.etree.ElementTree, csv, hashlib, datetime, textwrap, "
           "tempfile, zipfile")
PKG = "pyenvfs_bench300"
PKG_MODULES = 300

MODULE_TEXT = '''\
"""Module {i} of the benchmark's 300-module package."""
import os

CONSTANT_{i} = {i}
NAMES = ("alpha", "beta", "gamma", "delta")


class Thing{i}:
    """A small class."""

    def __init__(self, value=CONSTANT_{i}):
        self.value = value

    def double(self):
        return self.value * 2

    def describe(self):
        return "%s:%d" % (self.__class__.__name__, self.value)


def helper_{i}(x, y=1):
    total = 0
    for n in range(x):
        total += n * y
    return total


def path_of(name):
    return os.path.join("/", name, str(CONSTANT_{i}))
'''


class Ctx:
    def __init__(self, pyenvfs, base, xy, work, mounts, runs):
        self.pyenvfs = pyenvfs
        self.base = base
        self.xy = xy
        self.exe = os.path.join(base, "bin", "python" + xy)
        self.work = work
        self.mounts = mounts
        self.runs = runs
        self.home = self.path("home")
        os.makedirs(self.home, exist_ok=True)
        self.cache_home = self.path("xdg-cache")    # pyenvfs's layout cache
        os.makedirs(self.cache_home, exist_ok=True)
        self.cwd = self.path("cwd")                 # an empty cwd for every Python
        os.makedirs(self.cwd, exist_ok=True)
        self._memo = {}
        self.cleanups = []      # called last (after every mount is undone), in reverse

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def memo(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # --- environments for processes ------------------------------------------------

    def env(self, pythonhome=None, extra=None):
        e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": self.home}
        if pythonhome:
            e["PYTHONHOME"] = pythonhome
            e["PATH"] = os.path.join(pythonhome, "bin") + ":" + e["PATH"]
        if extra:
            e.update(extra)
        return e

    def pyenvfs_env(self, extra=None):
        e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": self.home,
             "XDG_CACHE_HOME": self.cache_home}
        if extra:
            e.update(extra)
        return e

    # --- pyenvfs -------------------------------------------------------------------

    def mount_argv(self, m, site, opts=()):
        return [self.pyenvfs, self.base, m, "--site", site, "--python", self.xy] + list(opts)

    def mount(self, m, site, opts=(), foreground=False, env=None, user=None):
        """Mount pyenvfs at m (its daemon run by user, a bench.User, if
        given); returns the daemon's Popen when foreground."""
        os.makedirs(m, exist_ok=True)
        argv = self.mount_argv(m, site, opts)
        if user is not None:
            os.chown(m, user.uid, user.gid)
            self.mounts.add(m)
            sh(argv, env=env or user.env(self), user=user)
            return None
        if not foreground:
            self.mounts.add(m)
            sh(argv, env=env or self.pyenvfs_env())
            return None
        logf = open(m.rstrip("/") + ".log", "wb")
        proc = subprocess.Popen(argv + ["-f"], env=env or self.pyenvfs_env(), stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf, cwd="/")
        logf.close()
        self.mounts.add(m)
        self.mounts.add_child(proc)
        wait_mounted(m, proc)
        return proc

    def main_env(self):
        """The default pyenvfs env the warm workloads share: (M, DIR)."""
        def make():
            m, site = self.path("env"), self.path("env-site")
            self.mount(m, site)
            return m, site
        return self.memo("main", make)

    def no_open_env(self):
        def make():
            m, site = self.path("env-no-open"), self.path("env-no-open-site")
            self.mount(m, site, ["-o", "no_open"])
            return m, site
        return self.memo("no_open", make)

    def python_in(self, root):
        return os.path.join(root, "bin", "python" + self.xy)

    # --- native references ---------------------------------------------------------

    def native_venv(self):
        def make():
            d = self.path("native-venv")
            sh([self.exe, "-m", "venv", "--without-pip", d], env=self.env())
            return d
        return self.memo("venv", make)

    def copy_tree(self):
        def make():
            d = self.path("native-tree")
            build_copy_tree(self.base, self.xy, d)
            return d
        return self.memo("tree", make)

    def seed_tree(self):
        def make():
            d = self.path("seed-tree")
            build_symlink_tree(self.base, self.xy, d)
            return d
        return self.memo("seed", make)

    def site_of(self, home):
        """The first site directory Python uses with PYTHONHOME=home (None if it
        would be outside home: the seed tree's lib is the base's)."""
        out = sh([self.python_in(home), "-c", "import site; print(site.getsitepackages()[0])"],
                 env=self.env(home)).stdout.strip()
        parent = out
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        rp, rh = os.path.realpath(parent), os.path.realpath(home)
        if rp != rh and not rp.startswith(rh + os.sep):
            return None
        return out

    def venv_site(self, venv):
        return sh([os.path.join(venv, "bin", "python3"), "-c",
                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  env=self.env()).stdout.strip()

    # --- peers -----------------------------------------------------------------

    def peer(self, name):
        """The mount point of a peer (made on first use), used with PYTHONHOME."""
        return self.memo("peer-" + name, lambda: self._make_peer(name))

    def _make_peer(self, name):
        tree = self.copy_tree()
        if name == "seed":
            return self.seed_tree()
        if name in ("fuse-overlayfs", "overlayfs"):
            upper, workdir, m = (self.path(name + "-" + x) for x in ("upper", "work", "mnt"))
            for d in (upper, workdir, m):
                os.makedirs(d, exist_ok=True)
            opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (tree, upper, workdir)
            if name == "fuse-overlayfs":
                if not shutil.which("fuse-overlayfs"):
                    raise Skip("fuse-overlayfs is not installed (apt install fuse-overlayfs)")
                self.mounts.add(m)
                sh(["fuse-overlayfs", "-o", opts, m])
            else:
                if not IS_ROOT:
                    raise Skip("mounting the kernel's overlayfs needs root")
                self.mounts.add(m)
                sh(["mount", "-t", "overlay", "overlay", "-o", opts, m])
            wait_mounted(m)
            return m
        if name == "bindfs":
            if not shutil.which("bindfs"):
                raise Skip("bindfs is not installed (apt install bindfs)")
            m = self.path("bindfs-mnt")
            os.makedirs(m, exist_ok=True)
            self.mounts.add(m)
            sh(["bindfs", tree, m])
            wait_mounted(m)
            return m
        raise BenchError("unknown peer %s" % name)


def build_copy_tree(base, xy, dest):
    os.makedirs(os.path.join(dest, "bin"))
    exe = os.path.realpath(os.path.join(base, "bin", "python" + xy))
    shutil.copy2(exe, os.path.join(dest, "bin", "python" + xy))
    os.symlink("python" + xy, os.path.join(dest, "bin", "python3"))
    os.symlink("python" + xy, os.path.join(dest, "bin", "python"))
    src = os.path.join(base, "lib", "python" + xy)
    shutil.copytree(src, os.path.join(dest, "lib", "python" + xy), symlinks=True,
                    ignore=lambda d, names: [n for n in names if d == src and
                                             n in ("site-packages", "dist-packages")])
    inc = os.path.join(base, "include", "python" + xy)
    if os.path.isdir(inc):
        os.makedirs(os.path.join(dest, "include"))
        os.symlink(inc, os.path.join(dest, "include", "python" + xy))


def build_symlink_tree(base, xy, dest):
    """The seed's tree: a copy of the interpreter, lib/pythonX.Y and include as symlinks."""
    for d in ("bin", "lib", "include"):
        os.makedirs(os.path.join(dest, d))
    exe = os.path.realpath(os.path.join(base, "bin", "python" + xy))
    shutil.copy2(exe, os.path.join(dest, "bin", "python" + xy))
    os.symlink("python" + xy, os.path.join(dest, "bin", "python3"))
    os.symlink(os.path.join(base, "lib", "python" + xy), os.path.join(dest, "lib", "python" + xy))
    inc = os.path.join(base, "include", "python" + xy)
    if os.path.isdir(inc):
        os.symlink(inc, os.path.join(dest, "include", "python" + xy))


def write_package(site):
    """The 300-module package: PKG/mNNN.py and an __init__ importing them all."""
    d = os.path.join(site, PKG)
    os.makedirs(d)
    for i in range(PKG_MODULES):
        with open(os.path.join(d, "m%03d.py" % i), "w") as f:
            f.write(MODULE_TEXT.format(i=i))
    with open(os.path.join(d, "__init__.py"), "w") as f:
        f.write('"""Imports all %d modules."""\n' % PKG_MODULES)
        for i in range(PKG_MODULES):
            f.write("from . import m%03d\n" % i)
    return d
