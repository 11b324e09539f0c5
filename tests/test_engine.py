"""The one union engine (issue 19): the defects found at the join of the two
engines there were (one for DIR alone, one for --lower-site), each through a
real mount, each with a layer under DIR (and where it says so, without).

1. a removal outside the stacked areas (the base's bytecode redirect, an
   anchor of the env's area) reported success and removed nothing;
2. Debian's alias of site-packages (local/lib/pythonX.Y/dist-packages) kept a
   stale entry and listing after a change through site-packages;
3. a copy-up that failed (ENOSPC) was reported as EROFS;
4. layers past the 63rd were dropped silently;
5. a name too long gave ENOENT instead of ENAMETOOLONG;
6. a losing egg-info without a file list leaked its files into the winner;
7. `pip list` (importlib.metadata) still showed a distribution removed
   through site-packages, read through the alias in venv mode;
8. the sticky-directory check of a root daemon was skipped with layers.
"""

import errno
import os
import shutil
import subprocess

import pytest

import helpers_base as hb
import pkgs
from conftest import mounted, run
from helpers_env import is_root, run_as, throwaway_users


def extra_for(base):
    import pythons
    return ["--python", base.xy] if len(pythons.versions_in(base.prefix)) > 1 else []


def write_tree(root, tree):
    for rel, content in sorted(tree.items()):
        p = os.path.join(root, rel)
        if content is None:
            os.makedirs(p, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)


def site_of(m, base):
    return m.path("lib", "python" + base.xy, "site-packages")


def errno_of(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return errno.errorcode[e.errno]
    return "ok"


def soon(check, deadline=10.0):
    """check() becomes true: the other places learn a change from the
    invalidation thread, after the reply (bounded poll, not a timing)."""
    import time
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def dist_info(name, version, files):
    tree = dict(files)
    di = "%s-%s.dist-info" % (name, version)
    tree[di + "/METADATA"] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    record = sorted(files) + [di + "/METADATA", di + "/RECORD"]
    tree[di + "/RECORD"] = "".join("%s,,\n" % p for p in record)
    return tree


@pytest.fixture
def layer(tmp_path):
    L = str(tmp_path / "L")
    write_tree(L, {"lpkg/__init__.py": "L = 1\n", "lpkg/sub/m.py": "M = 1\n"})
    return L


# ---------------------------------------------------------------------------
# 1. removals outside the stacked areas

@pytest.mark.parametrize("layered", [False, True], ids=["dir", "layers"])
def test_bytecode_of_the_base_is_removed(any_base, layer, tmp_path, layered):
    """A .pyc written into a base __pycache__ (redirected into DIR) and
    removed again: gone from the listing and from DIR."""
    b = any_base
    (tmp_path / "mnt").mkdir()
    D = str(tmp_path / "D")
    extra = extra_for(b) + (["--lower-site", layer] if layered else [])
    tag = "cpython-%d%d" % (b.major, b.minor)
    with mounted(b.prefix, tmp_path / "mnt", D, extra, base=b) as m:
        pc = m.path("lib", "python" + b.xy, "json", "__pycache__")
        name = "zz." + tag + ".pyc"
        with open(os.path.join(pc, name), "w") as f:
            f.write("x")
        assert name in os.listdir(pc)
        stored = [os.path.join(dp, name) for dp, _, fns in os.walk(os.path.join(D, ".pyenvfs", "pycache"))
                  if name in fns]
        assert len(stored) == 1, "the redirect area holds it once"
        os.unlink(os.path.join(pc, name))
        assert name not in os.listdir(pc)
        assert not os.path.exists(stored[0]), "still in DIR's redirect area"
        assert errno_of(os.lstat, os.path.join(pc, name)) == "ENOENT"


@pytest.mark.parametrize("layered", [False, True], ids=["dir", "layers"])
def test_debian_local_bin_is_removed(usr_base, layer, tmp_path, layered):
    """Debian's local/bin anchors the env's bin: rmdir of it (empty) removes
    DIR/.pyenvfs/upper/bin, as without layers."""
    b = usr_base
    if not b.debian_patched:
        pytest.skip("not a Debian-patched Python")
    (tmp_path / "mnt").mkdir()
    D = str(tmp_path / "D")
    extra = extra_for(b) + (["--lower-site", layer] if layered else [])
    with mounted(b.prefix, tmp_path / "mnt", D, extra, base=b) as m:
        lb = m.path("local", "bin")
        assert os.path.isdir(lb)
        assert os.path.isdir(os.path.join(D, ".pyenvfs", "upper", "bin"))
        os.rmdir(lb)
        assert not os.path.exists(os.path.join(D, ".pyenvfs", "upper", "bin")), "rmdir said 0, kept it"


# ---------------------------------------------------------------------------
# 2 and 7. Debian's alias of site-packages

@pytest.mark.parametrize("layered", [False, True], ids=["dir", "layers"])
def test_debian_alias_follows_changes(usr_base, layer, tmp_path, layered):
    """A name made and removed through site-packages shows at once through
    local/lib/pythonX.Y/dist-packages (entry and listing), long timeouts
    notwithstanding."""
    b = usr_base
    if not b.debian_patched:
        pytest.skip("not a Debian-patched Python")
    (tmp_path / "mnt").mkdir()
    extra = extra_for(b) + ["-o", "site_timeout=60,lower_timeout=60"]
    extra += ["--lower-site", layer] if layered else []
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", extra, base=b) as m:
        sp = site_of(m, b)
        dp = m.path("local", "lib", "python" + b.xy, "dist-packages")
        for where in ("", "lpkg" if layered else "sub"):
            if where == "sub":
                os.mkdir(os.path.join(sp, "sub"))
            a, other = os.path.join(sp, where), os.path.join(dp, where)
            assert errno_of(os.lstat, os.path.join(other, "newmod.py")) == "ENOENT"
            assert "newmod.py" not in os.listdir(other)
            with open(os.path.join(a, "newmod.py"), "w") as f:
                f.write("N = 1\n")
            new = os.path.join(other, "newmod.py")
            assert soon(lambda: os.path.isfile(new)), "stale entry in %s" % (where or "the top")
            assert "newmod.py" in os.listdir(other)
            os.unlink(os.path.join(a, "newmod.py"))
            assert soon(lambda: errno_of(os.lstat, new) == "ENOENT")
            assert "newmod.py" not in os.listdir(other)
        if layered:
            # a layer's file removed through one place is gone at the other
            os.unlink(os.path.join(dp, "lpkg", "sub", "m.py"))
            assert soon(lambda: errno_of(os.lstat, os.path.join(sp, "lpkg", "sub", "m.py")) == "ENOENT")
            assert os.listdir(os.path.join(sp, "lpkg", "sub")) == []


def test_distribution_removed_through_site_packages_is_gone_in_venv_mode(usr_base, tmp_path):
    """importlib.metadata (pip list) reads site-packages and Debian's
    dist-packages (the alias of DIR): a distribution of a layer removed
    through site-packages (as pip's uninstall does) is gone from both."""
    b = usr_base
    if not b.debian_patched:
        pytest.skip("not a Debian-patched Python")
    L = str(tmp_path / "L")
    write_tree(L, dist_info("libx", "2.0", {"libx/__init__.py": "V = 2\n", "libx/util.py": "U = 1\n"}))
    (tmp_path / "mnt").mkdir()
    extra = extra_for(b) + ["--lower-site", L, "-o", "site_timeout=60,lower_timeout=60"]
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", extra, base=b) as m:
        env = pkgs.pip_env(str(tmp_path), m.mnt)
        py = m.path("bin", "python3")
        # Both of DIR's places, whatever sys.path holds (a mount over
        # Debian's Python keeps the dist-packages alias off it in venv mode,
        # issue 20; PYTHONHOME mode reads it).
        alias = m.path("local", "lib", "python" + b.xy, "dist-packages")
        code = ("import importlib.metadata as md; "
                "print(sorted('%%s==%%s' %% (d.metadata['Name'], d.version) for d in md.distributions(path=[%r, %r])))"
                % (site_of(m, b), alias))
        assert "'libx==2.0'" in pkgs.run_checked([py, "-c", code], env).stdout
        sp = site_of(m, b)
        shutil.rmtree(os.path.join(sp, "libx"))
        shutil.rmtree(os.path.join(sp, "libx-2.0.dist-info"))
        assert soon(lambda: "libx" not in pkgs.run_checked([py, "-c", code], env).stdout)


# ---------------------------------------------------------------------------
# 3. a copy-up's errno

def test_copy_up_keeps_its_errno(any_base, tmp_path):
    """DIR on a full file system: writing to a layer's file that does not fit
    is ENOSPC (the file system is not read-only); the layer is unchanged."""
    if not is_root():
        pytest.skip("needs root (a small tmpfs)")
    b = any_base
    L = str(tmp_path / "L")
    os.makedirs(os.path.join(L, "pkg"))
    with open(os.path.join(L, "pkg", "big.bin"), "wb") as f:
        f.write(b"x" * (2 << 20))
    digest = hb.tree_digest(L)
    small = str(tmp_path / "small")
    os.mkdir(small)
    r = run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small])
    if r.returncode:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    try:
        (tmp_path / "mnt").mkdir()
        with mounted(b.prefix, tmp_path / "mnt", os.path.join(small, "D"),
                     extra_for(b) + ["--lower-site", L], base=b) as m:
            big = os.path.join(site_of(m, b), "pkg", "big.bin")
            assert errno_of(open, big, "r+b") == "ENOSPC"
            assert errno_of(os.chmod, big, 0o600) == "ENOSPC"
            assert errno_of(os.truncate, big, 0) == "ok", "a truncation to nothing copies no data"
            assert os.path.getsize(big) == 0
    finally:
        run(["umount", small])
    assert hb.tree_digest(L) == digest


# ---------------------------------------------------------------------------
# 4. many layers

def test_seventy_layers_all_show(any_base, tmp_path):
    b = any_base
    layers = []
    for i in range(70):
        L = str(tmp_path / ("L%02d" % i))
        write_tree(L, {"mod%d.py" % i: "N = %d\n" % i, "shared/part%d.py" % i: ""})
        layers.append(L)
    extra = extra_for(b)
    for L in layers:
        extra += ["--lower-site", L]
    (tmp_path / "mnt").mkdir()
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", extra, base=b) as m:
        sp = site_of(m, b)
        names = set(os.listdir(sp))
        assert {"mod%d.py" % i for i in range(70)} <= names
        assert sorted(os.listdir(os.path.join(sp, "shared"))) == sorted("part%d.py" % i for i in range(70))
        code = "import sys; print(sum(__import__('mod%d' % i).N for i in range(70)))"
        r = subprocess.run([m.path("bin", "python3"), "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, env=pkgs.pip_env(str(tmp_path)))
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == sum(range(70))


# ---------------------------------------------------------------------------
# 5. names too long

@pytest.mark.parametrize("layered", [False, True], ids=["dir", "layers"])
def test_a_name_too_long(any_base, layer, tmp_path, layered):
    b = any_base
    (tmp_path / "mnt").mkdir()
    extra = extra_for(b) + (["--lower-site", layer] if layered else [])
    long = "n" * 256
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", extra, base=b) as m:
        for d in ("", "lpkg" if layered else "own"):
            base = os.path.join(site_of(m, b), d)
            os.makedirs(base, exist_ok=True)
            p = os.path.join(base, long)
            own = os.path.join(base, "own.py")
            with open(own, "w") as f:
                f.write("")
            got = {
                "lstat": errno_of(os.lstat, p),
                "unlink": errno_of(os.unlink, p),
                "rmdir": errno_of(os.rmdir, p),
                "rename": errno_of(os.rename, p, os.path.join(base, "x")),
                "rename to": errno_of(os.rename, own, p),
                "link": errno_of(os.link, own, p),
                "chmod": errno_of(os.chmod, p, 0o644),
                "chown": errno_of(os.chown, p, 0, 0),
                "truncate": errno_of(os.truncate, p, 0),
                "create": errno_of(open, p, "w"),
                "mkdir": errno_of(os.mkdir, p),
            }
            assert set(got.values()) == {"ENAMETOOLONG"}, got


# ---------------------------------------------------------------------------
# 6. a losing egg-info without a file list

def test_a_losing_egg_info_without_file_list(any_base, tmp_path):
    """Debian installs .egg-info directories without RECORD or
    installed-files.txt: the losing click's files (its top_level.txt names
    them, as pip's own uninstall reads them) do not leak into the winner's."""
    b = any_base
    L1, L2 = str(tmp_path / "L1"), str(tmp_path / "L2")
    write_tree(L1, dist_info("click", "9.0.0", {"click/__init__.py": "V = '9.0.0'\n", "click/core.py": ""}))
    write_tree(L2, {
        "click-8.1.3.egg-info/PKG-INFO": "Metadata-Version: 2.1\nName: click\nVersion: 8.1.3\n",
        "click-8.1.3.egg-info/top_level.txt": "click\n",
        "click/__init__.py": "V = '8.1.3'\n",
        "click/_winconsole.py": "",
        "click/core.py": "",
        "unrelated.py": "",
    })
    (tmp_path / "mnt").mkdir()
    extra = extra_for(b) + ["--lower-site", L1, "--lower-site", L2]
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", extra, base=b) as m:
        sp = site_of(m, b)
        assert sorted(os.listdir(os.path.join(sp, "click"))) == ["__init__.py", "core.py"]
        assert errno_of(os.lstat, os.path.join(sp, "click", "_winconsole.py")) == "ENOENT"
        names = os.listdir(sp)
        assert "click-8.1.3.egg-info" not in names and "unrelated.py" in names
        # removed through the mount (pip's uninstall), nothing of either stays
        shutil.rmtree(os.path.join(sp, "click"))
        shutil.rmtree(os.path.join(sp, "click-9.0.0.dist-info"))
        assert "click" not in os.listdir(sp)


# ---------------------------------------------------------------------------
# 8. the sticky check of a root daemon

@pytest.mark.parametrize("layered", [False, True], ids=["dir", "layers"])
def test_sticky_directory_checked_on_what_is_there(any_base, layer, tmp_path, layered):
    """A root daemon (allow_other) over a sticky directory of DIR: user A's
    remove or rename of a name that B's file replaced natively (the kernel
    still believes it A's, or absent) is refused, with and without layers."""
    if not is_root():
        pytest.skip("needs root (allow_other and other users)")
    from helpers_env import world_tmpdir, remove_tree
    b = any_base
    work = world_tmpdir()
    try:
        mnt, D = os.path.join(work, "mnt"), os.path.join(work, "D")
        os.mkdir(mnt)
        extra = extra_for(b) + ["-o", "allow_other,site_timeout=60,lower_timeout=60"]
        if layered:
            L = os.path.join(work, "L")
            shutil.copytree(layer, L)
            os.chmod(L, 0o755)
            extra += ["--lower-site", L]
        with throwaway_users(2) as (A, B):
            with mounted(b.prefix, mnt, D, extra, base=b) as m:
                sp = site_of(m, b)
                t = os.path.join(sp, "t")
                os.mkdir(t)
                os.chmod(t, 0o1777)
                py = "/usr/bin/python3"
                as_a = lambda code: run_as(A, [py, "-c", code])  # noqa: E731
                r = as_a("import os\nfor n in ('mine', 'y'): open(os.path.join(%r, n), 'w').close()\n"
                         "try:\n    os.lstat(os.path.join(%r, 'x'))\nexcept FileNotFoundError:\n    pass\n"
                         "os.lstat(os.path.join(%r, 'y'))\n" % (t, t, t))
                assert r.returncode == 0, r.stderr
                # natively in DIR: B's x, and B's file replaces A's y
                for n in ("x", "by"):
                    with open(os.path.join(D, "t", n), "w") as f:
                        f.write("B's\n")
                    os.chown(os.path.join(D, "t", n), B.uid, B.gid)
                os.rename(os.path.join(D, "t", "by"), os.path.join(D, "t", "y"))
                code = ("import errno, os\n"
                        "def e(f, *a):\n    try:\n        f(*a)\n        return 'ok'\n"
                        "    except OSError as x:\n        return errno.errorcode[x.errno]\n"
                        "print(e(os.rename, %r, %r), e(os.unlink, %r))\n"
                        % (os.path.join(t, "mine"), os.path.join(t, "x"), os.path.join(t, "y")))
                r = as_a(code)
                assert r.returncode == 0, r.stderr
                assert r.stdout.split() == ["EPERM", "EPERM"]
                for n in ("x", "y"):
                    assert os.stat(os.path.join(D, "t", n)).st_uid == B.uid
    finally:
        remove_tree(work)
