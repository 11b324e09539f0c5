"""The store of installed distributions and envs from locks (issue 22).

An env from a lock is DIR on top of one read-only store entry per locked
wheel (a lower site layer each): these tests mount real envs over Debian's
Python and pyenv ones, from pylock.toml and pinned requirements files, in
both modes, and run the env's Python, its console scripts, a C extension and
pip in them.  Wheels are built in the test (storekit.py); nothing needs the
network.  The store's other promises are here too: entries made atomically
(kill -9 during store add), gc that leaves what a live mount uses, two users
over an admin's read-only store on squashfs, pip uninstall and upgrade in one
env leaving other envs and the store unchanged.
"""

import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

import pkgs
import pythons
import storekit as sk
from conftest import PYENVFS, VENV_PTH, base_or_skip, isolated_env, mounted
from helpers_base import squashfs_how, squashfs_mounted, tree_digest
from helpers_env import assert_refusal, dev_fuse_mode, run_as, throwaway_users, world_tmpdir, remove_tree

# Debian's 3.11, a pyenv 3.x, and 2.7 (both lock formats apply to all three)
LOCK_BASES = ["usr-3.11", "pyenv-3.12", "pyenv-2.7"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One XDG cache for the module: the pip layer and the layout answers are
    made once."""
    return str(tmp_path_factory.mktemp("storecache"))


def _py(m, b, code, home_mode, home):
    py = os.path.join(m.mnt, "bin", "python" + b.xy)
    extra = {"PATH": os.path.join(m.mnt, "bin") + ":/usr/bin:/bin"}
    if home_mode:
        extra["PYTHONHOME"] = m.mnt
        extra["PYTHONNOUSERSITE"] = "1"
    else:
        extra["VIRTUAL_ENV"] = m.mnt
    r = subprocess.run([py, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=isolated_env(home, extra), timeout=120, cwd="/")
    assert r.returncode == 0, r.stdout
    return r.stdout


CHECK = ("import pyenvfs_full, pyenvfs_fullext, pyenvfs_bulk_a, pyenvfs_bulk_b, sys\n"
         "sys.stdout.write('%d %s %s\\n' % (pyenvfs_fullext.answer(), pyenvfs_bulk_a.VERSION, pyenvfs_bulk_b.VERSION))\n"
         "sys.stdout.write('%s\\n' % pyenvfs_full.__file__.startswith(sys.prefix))\n")


def _check_env(m, b, tmp, home_modes):
    for home_mode in home_modes:
        out = _py(m, b, CHECK, home_mode, tmp).split("\n")
        assert out[0] == "42 1.0 2.0", out
        if not home_mode:
            assert out[1] == "True", out
        # the console script, naming this env's Python
        script = os.path.join(m.mnt, "bin", sk.FULL_SCRIPT)
        with open(script) as f:
            first = f.readline()
        assert first == "#!%s/bin/python%s\n" % (m.mnt, b.xy), first
        env = isolated_env(tmp, {"PYTHONHOME": m.mnt} if home_mode else {"VIRTUAL_ENV": m.mnt})
        r = subprocess.run([script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                           env=env, timeout=60, cwd="/")
        assert r.returncode == 0 and r.stdout == sk.FULL_OUTPUT + "\n", r.stdout
    with open(os.path.join(m.mnt, sk.FULL_DATA)) as f:
        assert f.read() == sk.FULL_DATA_TEXT


@pytest.mark.parametrize("fmt", ["pylock", "requirements"])
@pytest.mark.parametrize("param", LOCK_BASES)
def test_env_from_a_lock(param, fmt, tmp_path, cache, monkeypatch):
    b = base_or_skip(param)
    wh = tmp_path / "wheels"
    wheels = [sk.full_wheel(wh, b), sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0"),
              sk.small_wheel(wh, "pyenvfs_bulk_b", "2.0")]
    store = tmp_path / "store"
    env = sk.store_env(store, cache, tmp_path)
    if fmt == "pylock":
        lock = sk.write_pylock(tmp_path / "locks" / "pylock.toml", wheels)
    else:
        # a requirements file names no file: the base's pip fetches the
        # wheels from the --find-links it gives (its pip layer made first,
        # so that the mount comes within the harness's time)
        lock = sk.write_requirements(tmp_path / "requirements.txt", wheels, find_links=str(wh))
        r = sk.pyenvfs(["pip-layer", "--python", b.xy, b.prefix], env)
        assert r.returncode == 0, r.stderr
    mnt, site = tmp_path / "mnt", tmp_path / "site"
    mnt.mkdir()
    monkeypatch.setenv("PYENVFS_STORE", str(store))
    monkeypatch.setenv("XDG_CACHE_HOME", cache)
    # the first mount adds the wheels to the store
    with mounted(b.prefix, mnt, site, ["--python", b.xy, "--lock", lock], base=b) as m:
        assert len(sk.entries(store)) == 3, sk.entries(store)
        store_before = tree_digest(store / "entries")
        _check_env(m, b, str(tmp_path), [True] if b.major == 2 else [False, True])
        r = subprocess.run([PYENVFS, "list", "--json"], stdout=subprocess.PIPE, universal_newlines=True, timeout=30)
        assert r.returncode == 0
    # DIR holds nothing but its own few files: what it remembers (the lock,
    # how it was made, where it was mounted), the reserved area's empty
    # directories and, on Debian's Python, the venv .pth; no bytecode
    files = sk.dir_files(site)
    own = [".pyenvfs", ".pyenvfs/env", ".pyenvfs/mounts", ".pyenvfs/pylock.toml", ".pyenvfs/tmp", ".pyenvfs/upper"]
    if b.debian_patched:
        own.append(VENV_PTH)
    assert sorted(files) == sorted(own), files
    assert sum(files.values()) <= 64 * 1024
    # mounted again without --lock: DIR remembers it; the store is unchanged
    with mounted(b.prefix, mnt, site, ["--python", b.xy], base=b) as m:
        _check_env(m, b, str(tmp_path), [True])
    assert tree_digest(store / "entries") == store_before
    assert sorted(sk.dir_files(site)) == sorted(files)


def test_store_add_list_du_and_entries(tmp_path, cache):
    """store add: one read-only entry per wheel and Python, keyed by the
    wheel's sha256, the same entry when added again or by another store
    path; list and du see them."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    full = sk.full_wheel(wh, b)
    a = sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")
    store = tmp_path / "store"
    env = sk.store_env(store, cache, tmp_path)
    r = sk.pyenvfs(["store", "add", b.prefix, str(wh)], env)
    assert r.returncode == 0, r.stderr
    assert [l.split()[0] for l in r.stdout.splitlines()] == ["added", "added"], r.stdout
    names = sk.entries(store)
    assert len(names) == 2
    full_entry = next(n for n in names if n.startswith("pyenvfs_full-1.0-py3.11-"))
    assert full_entry.endswith(sk.sha256(full))
    e = store / "entries" / full_entry
    # laid out as a layer; nothing in it may be written
    assert (e / "pyenvfs_full" / "__init__.py").is_file()
    assert (e / ".pyenvfs" / "upper" / "bin" / sk.FULL_SCRIPT).is_file()
    assert (e / ".pyenvfs" / "upper" / sk.FULL_DATA).is_file()
    assert list((e / "pyenvfs_full" / "__pycache__").glob("__init__.cpython-311.pyc"))
    for dp, dns, fns in os.walk(str(e)):
        for n in dns + fns:
            assert not os.lstat(os.path.join(dp, n)).st_mode & 0o222, os.path.join(dp, n)
    with open(str(e / "pyenvfs_full-1.0.dist-info" / "RECORD")) as f:
        record = f.read()
    assert "../../../bin/%s," % sk.FULL_SCRIPT in record and "../../../%s," % sk.FULL_DATA in record
    assert "pyenvfs_full/__pycache__/__init__.cpython-311.pyc,sha256=" in record
    with open(str(e / "pyenvfs_full-1.0.dist-info" / "INSTALLER")) as f:
        assert f.read() == "pyenvfs\n"
    # added again: found, not made
    r = sk.pyenvfs(["store", "add", b.prefix, full, a], env)
    assert r.returncode == 0 and [l.split()[0] for l in r.stdout.splitlines()] == ["present", "present"], r.stdout
    assert sk.entries(store) == names
    r = sk.pyenvfs(["store", "list"], env)
    assert r.returncode == 0 and "pyenvfs-full" in r.stdout and "pyenvfs-bulk-a" in r.stdout, r.stdout
    r = sk.pyenvfs(["store", "du"], env)
    assert r.returncode == 0 and "2 entries" in r.stdout, r.stdout
    # a wheel for another Python is refused, and nothing is added
    p27 = pythons.find("pyenv-2.7")
    if p27:
        other = sk.full_wheel(tmp_path / "w27", p27)
        r = sk.pyenvfs(["store", "add", b.prefix, other], env)
        assert_refusal(r, "not for Python 3.11")
        assert sk.entries(store) == names
    assert os.listdir(str(store / "tmp")) == []


def _big_wheel(dest, n=3000):
    files = {"pyenvfs_big/__init__.py": "X = 1\n"}
    for i in range(n):
        files["pyenvfs_big/m%04d.py" % i] = "V = %d\n" % i
    return pkgs.make_wheel(dest, "pyenvfs_big", "1.0", files=files, tag="py3-none-any")


def _python_children_of(path):
    """PIDs of processes whose command line names path."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if path.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def test_kill_9_during_store_add(tmp_path, cache):
    """kill -9 while an entry is being made: no entry, no installer left
    running, and the next add succeeds (clearing the dead build)."""
    b = base_or_skip("usr-3.11")
    big = _big_wheel(tmp_path / "wheels")
    store = tmp_path / "store"
    env = sk.store_env(store, cache, tmp_path)
    killed_mid_build = 0
    for delay in (0.05, 0.5, 1.5):
        p = subprocess.Popen([PYENVFS, "store", "add", b.prefix, big], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd="/")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and p.poll() is None:
                if os.path.isdir(str(store / "tmp")) and os.listdir(str(store / "tmp")):
                    break
                time.sleep(0.005)
            time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed_mid_build += 1
        finally:
            p.wait(timeout=60)
        if p.returncode != -signal.SIGKILL:
            assert p.returncode == 0
            break
        assert sk.entries(store) == [], "a killed add left an entry: %r" % sk.entries(store)
        # the installer died with it (it would otherwise still write)
        deadline = time.monotonic() + 10
        while _python_children_of(str(store / "tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _python_children_of(str(store / "tmp")) == []
    assert killed_mid_build >= 1
    if sk.entries(store):
        shutil.rmtree(str(store / "entries"), onerror=lambda *a: None)
        subprocess.run(["chmod", "-R", "u+w", str(store)])
        shutil.rmtree(str(store))
    r = sk.pyenvfs(["store", "add", b.prefix, big], env)
    assert r.returncode == 0, r.stderr
    assert len(sk.entries(store)) == 1
    assert os.listdir(str(store / "tmp")) == [], "dead builds not cleared"
    e = store / "entries" / sk.entries(store)[0]
    assert len(os.listdir(str(e / "pyenvfs_big"))) == 3000 + 2   # modules, __init__.py, __pycache__


def test_gc_leaves_what_a_live_mount_uses(tmp_path, cache, monkeypatch):
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    a = sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")
    c = sk.small_wheel(wh, "pyenvfs_bulk_b", "2.0")
    store = tmp_path / "store"
    env = sk.store_env(store, cache, tmp_path)
    assert sk.pyenvfs(["store", "add", b.prefix, a, c], env).returncode == 0
    lock = sk.write_pylock(tmp_path / "pylock.toml", [a])
    mnt, site = tmp_path / "mnt", tmp_path / "site"
    mnt.mkdir()
    monkeypatch.setenv("PYENVFS_STORE", str(store))
    with mounted(b.prefix, mnt, site, ["--lock", lock], base=b) as m:
        r = sk.pyenvfs(["store", "list"], env)
        assert [l for l in r.stdout.splitlines() if "in use" in l][0].startswith("pyenvfs-bulk-a"), r.stdout
        r = sk.pyenvfs(["store", "gc", "--older-than", "0", "--dry-run"], env)
        assert r.returncode == 0 and "would remove pyenvfs_bulk_b" in r.stdout, r.stdout
        assert len(sk.entries(store)) == 2
        r = sk.pyenvfs(["store", "gc", "--older-than", "0"], env)
        assert r.returncode == 0, r.stderr
        assert "1 in use by live mounts" in r.stdout, r.stdout
        left = sk.entries(store)
        assert len(left) == 1 and left[0].startswith("pyenvfs_bulk_a-"), left
        # still served
        out = _py(m, b, "import pyenvfs_bulk_a; print(pyenvfs_bulk_a.VERSION)", False, str(tmp_path))
        assert out.strip() == "1.0"
        # a recent one stays with the default age
        r = sk.pyenvfs(["store", "gc"], env)
        assert r.returncode == 0 and len(sk.entries(store)) == 1
    # unmounted: nothing pins it
    r = sk.pyenvfs(["store", "gc", "--older-than", "0"], env)
    assert r.returncode == 0 and sk.entries(store) == [], r.stdout
    assert os.listdir(str(store / "tmp")) == [] and os.listdir(str(store / "used")) == []
    # a remount of the remembered env adds it again (from the lock's path)
    with mounted(b.prefix, mnt, site, [], base=b) as m:
        out = _py(m, b, "import pyenvfs_bulk_a; print(pyenvfs_bulk_a.VERSION)", False, str(tmp_path))
        assert out.strip() == "1.0"
    # a size cap: the least recently used go first
    assert sk.pyenvfs(["store", "add", b.prefix, c], env).returncode == 0
    r = sk.pyenvfs(["store", "gc", "--older-than", "3650", "--max-size", "0"], env)
    assert r.returncode == 0 and sk.entries(store) == [], r.stdout


def _pip(m, b, args, home):
    env = isolated_env(home, {"VIRTUAL_ENV": m.mnt, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                              "PATH": os.path.join(m.mnt, "bin") + ":/usr/bin:/bin"})
    r = subprocess.run([os.path.join(m.mnt, "bin", "python" + b.xy), "-m", "pip"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, env=env, timeout=600, cwd="/")
    assert r.returncode == 0, r.stdout
    return r.stdout


def test_pip_in_one_env_leaves_the_others_and_the_store(tmp_path, cache, monkeypatch):
    """pip uninstall and upgrade of a store distribution in one env: the
    other env from the same lock and the store are unchanged."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    wheels = [sk.full_wheel(wh, b), sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0"),
              sk.small_wheel(wh, "pyenvfs_bulk_b", "2.0")]
    newer = tmp_path / "newer"
    sk.small_wheel(newer, "pyenvfs_bulk_b", "3.0")
    store = tmp_path / "store"
    lock = sk.write_pylock(tmp_path / "pylock.toml", wheels)
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    m1.mkdir()
    m2.mkdir()
    monkeypatch.setenv("PYENVFS_STORE", str(store))
    monkeypatch.setenv("XDG_CACHE_HOME", cache)
    r = sk.pyenvfs(["pip-layer", b.prefix], sk.store_env(store, cache, tmp_path))
    assert r.returncode == 0, r.stderr
    with mounted(b.prefix, m1, tmp_path / "s1", ["--lock", lock, "--with-pip"], base=b) as e1, \
            mounted(b.prefix, m2, tmp_path / "s2", ["--lock", lock, "--with-pip"], base=b) as e2:
        before = tree_digest(store / "entries")
        listed = _pip(e1, b, ["list", "--format=freeze"], str(tmp_path))
        for w in ("pyenvfs_full==1.0", "pyenvfs_bulk_a==1.0", "pyenvfs_bulk_b==2.0"):
            assert w in listed.replace("-", "_"), listed
        _pip(e1, b, ["uninstall", "-y", "pyenvfs_bulk_a", "pyenvfs_full"], str(tmp_path))
        _pip(e1, b, ["install", "--no-index", "--find-links", str(newer), "-U", "pyenvfs_bulk_b"], str(tmp_path))
        after1 = _pip(e1, b, ["list", "--format=freeze"], str(tmp_path)).replace("-", "_")
        assert "pyenvfs_bulk_b==3.0" in after1 and "pyenvfs_bulk_a" not in after1 and "pyenvfs_full" not in after1
        assert not os.path.exists(os.path.join(e1.mnt, "bin", sk.FULL_SCRIPT))
        out = _py(e1, b, "import pyenvfs_bulk_b; print(pyenvfs_bulk_b.VERSION)", False, str(tmp_path))
        assert out.strip() == "3.0"
        # the other env sees the lock's versions
        after2 = _pip(e2, b, ["list", "--format=freeze"], str(tmp_path)).replace("-", "_")
        assert "pyenvfs_bulk_b==2.0" in after2 and "pyenvfs_bulk_a==1.0" in after2, after2
        _check_env(e2, b, str(tmp_path), [False])
        assert tree_digest(store / "entries") == before, "pip in an env changed the store"
    # remounted: env 1 keeps its changes
    with mounted(b.prefix, m1, tmp_path / "s1", ["--with-pip"], base=b) as e1:
        out = _py(e1, b, "import pyenvfs_bulk_b; print(pyenvfs_bulk_b.VERSION)", False, str(tmp_path))
        assert out.strip() == "3.0"


def test_refusals(tmp_path, cache):
    """Bad locks and untrusted stores: one line, exit 1, nothing made."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    a = sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")
    good = sk.write_pylock(tmp_path / "pylock.toml", [a])
    cases = []
    p = tmp_path / "bad.toml"
    p.write_text('lock-version = "1.0"\n[[packages]]\nname = "x"\nversion = \n')
    cases.append((["--lock", str(p)], ["bad.toml:4"]))
    p = tmp_path / "unpinned.txt"
    p.write_text("pyenvfs_bulk_a>=1.0\n")
    cases.append((["--lock", str(p)], ["unpinned.txt:1", "not pinned"]))
    p = tmp_path / "sdist.toml"
    p.write_text('lock-version = "1.0"\n[[packages]]\nname = "x"\nversion = "1"\n'
                 'sdist = { name = "x-1.tar.gz", path = "x-1.tar.gz", hashes = { sha256 = "%s" } }\n' % ("0" * 64))
    cases.append((["--lock", str(p)], ["wheels only"]))
    p = tmp_path / "wronghash.toml"
    p.write_text(open(good).read().replace(sk.sha256(a), "1" * 64))
    cases.append((["--lock", str(p)], ["sha256"]))
    cases.append((["--lock", str(tmp_path / "missing.toml")], ["missing.toml"]))
    open_store = tmp_path / "openstore"
    open_store.mkdir()
    os.chmod(str(open_store), 0o777)
    cases.append((["--lock", good, "--store", str(open_store)], ["writable by others"]))
    cases.append((["--lock", good, "--shared-store", str(open_store)], ["writable by others"]))
    for args, names in cases:
        store = tmp_path / "store"
        mnt, site = tmp_path / "mnt", tmp_path / "site"
        mnt.mkdir(exist_ok=True)
        r = sk.pyenvfs([b.prefix, mnt, "--site", site] + args, sk.store_env(store, cache, tmp_path))
        assert_refusal(r, *names)
        assert not site.exists(), args
        assert sk.entries(store) == [], args
        assert not os.path.ismount(str(mnt))
    # a store that is not yours
    if os.geteuid() == 0:
        with throwaway_users(1) as (u,):
            d = world_tmpdir()
            try:
                theirs = os.path.join(d, "theirs")
                os.mkdir(theirs, 0o700)
                os.chown(theirs, u.uid, u.gid)
                r = sk.pyenvfs(["store", "add", "--store", theirs, b.prefix, a], sk.store_env(theirs, cache, tmp_path))
                assert_refusal(r, "neither you nor root")
                assert os.listdir(theirs) == []
            finally:
                remove_tree(d)


def test_run_with_and_a_script(tmp_path, cache):
    """run --with and a PEP 723 script, resolved by the base's own pip
    through a --find-links wheelhouse (the user's pip configuration)."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    sk.full_wheel(wh, b)
    sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")
    sk.small_wheel(wh, "pyenvfs_bulk_a", "1.5")
    sk.small_wheel(wh, "pyenvfs_app", "0.1", requires=["pyenvfs_bulk_a<1.2"])
    store = tmp_path / "store"
    runtime = tmp_path / "rt"
    runtime.mkdir()
    env = sk.store_env(store, cache, tmp_path, {"PIP_FIND_LINKS": str(wh), "PIP_NO_INDEX": "1",
                                                "XDG_RUNTIME_DIR": str(runtime)})
    r = sk.pyenvfs(["run", "--with", "pyenvfs_full", "--with", "pyenvfs_app", b.prefix, "--",
                    sk.FULL_SCRIPT], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == sk.FULL_OUTPUT + "\n"
    assert len(sk.entries(store)) == 3, sk.entries(store)   # full, app, and app's dependency
    code = "import pyenvfs_app, pyenvfs_bulk_a; print(pyenvfs_bulk_a.VERSION)"
    r = sk.pyenvfs(["run", "--with", "pyenvfs_app", b.prefix, "--", "python", "-c", code], env)
    assert r.returncode == 0 and r.stdout.strip() == "1.0", r.stderr
    # a script with inline metadata
    script = tmp_path / "hello.py"
    script.write_text("# /// script\n# requires-python = \">=3.8\"\n# dependencies = [\"pyenvfs_app\"]\n# ///\n"
                      "import sys, pyenvfs_app, pyenvfs_bulk_a\n"
                      "print('hello', sys.argv[1:], pyenvfs_bulk_a.VERSION, sys.prefix != sys.base_prefix)\n")
    r = sk.pyenvfs(["run", b.prefix, str(script), "x", "--y"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello ['x', '--y'] 1.0 True\n"
    # its requires-python is checked against BASE
    old = tmp_path / "old.py"
    old.write_text("# /// script\n# requires-python = \"<3\"\n# ///\nprint('no')\n")
    r = sk.pyenvfs(["run", b.prefix, str(old)], env)
    assert r.returncode == 125 and r.stdout == ""
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "old.py needs Python <3" in lines[0], r.stderr
    # a requirement pip cannot find: pip's reason, one line
    r = sk.pyenvfs(["run", "--with", "pyenvfs_nonesuch", b.prefix, "--", "true"], env)
    assert r.returncode == 125
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "pyenvfs_nonesuch" in lines[0], r.stderr
    assert os.listdir(str(runtime)) == []


def test_two_users_and_an_admins_store_on_squashfs(tmp_path, cache):
    """An admin's root-owned store packed into squashfs, shared by two users
    who each have a store of their own: each gets the admin's entries from
    the image and adds what it lacks to their own store, which the other
    cannot write; the image is never written."""
    if os.geteuid() != 0:
        pytest.skip("needs root (throwaway users, a loop-mounted squashfs)")
    if squashfs_how() is None or shutil.which("mksquashfs") is None:
        pytest.skip("squashfs-tools or a way to mount squashfs missing")
    b = base_or_skip("usr-3.11")
    d = world_tmpdir()
    try:
        wh = os.path.join(d, "wheels")
        shared_wheels = [sk.full_wheel(wh, b), sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")]
        own_wheel = sk.small_wheel(wh, "pyenvfs_bulk_b", "2.0")
        os.chmod(wh, 0o755)
        admin = os.path.join(d, "admin-store")
        r = sk.pyenvfs(["store", "add", "--store", admin, b.prefix] + shared_wheels,
                       sk.store_env(admin, cache, tmp_path))
        assert r.returncode == 0, r.stderr
        os.chmod(admin, 0o755)
        image = squashfs_image_of(admin, os.path.join(d, "admin.sqfs"))
        sq = os.path.join(d, "shared")
        lock = sk.write_pylock(os.path.join(d, "pylock.toml"), shared_wheels + [own_wheel])
        os.chmod(lock, 0o644)
        with squashfs_mounted(image, sq), throwaway_users(2) as users, dev_fuse_mode():
            sq_before = tree_digest(sq)
            homes = []
            for u in users:
                h = os.path.join(d, "home-" + u.name)
                os.mkdir(h, 0o755)
                os.chown(h, u.uid, u.gid)
                homes.append(h)
            code = "import pyenvfs_fullext, pyenvfs_bulk_b; print(pyenvfs_fullext.answer(), pyenvfs_bulk_b.VERSION)"
            for u, h in zip(users, homes):
                r = run_as(u, [PYENVFS, "run", "--shared-store", sq, "--lock", lock, b.prefix, "--", "python", "-c",
                               code], home=h, timeout=300, env_extra={"TMPDIR": h})
                assert r.returncode == 0, r.stderr
                assert r.stdout.strip() == "42 2.0"
                own = os.path.join(h, ".cache", "pyenvfs", "store")
                st = os.stat(own)
                assert st.st_uid == u.uid and stat.S_IMODE(st.st_mode) == 0o700
                mine = sk.entries(own)
                assert len(mine) == 1 and mine[0].startswith("pyenvfs_bulk_b-2.0-"), mine
            # neither can write the other's store, nor name it as theirs
            a, bb = users
            other = os.path.join(homes[1], ".cache", "pyenvfs", "store")
            r = run_as(a, ["touch", os.path.join(other, "entries", "x")], home=homes[0])
            assert r.returncode != 0
            r = run_as(a, [PYENVFS, "store", "add", "--store", other, b.prefix, own_wheel], home=homes[0])
            assert_refusal(r, other)
            r = run_as(a, [PYENVFS, "store", "list", "--shared-store", sq], home=homes[0])
            assert r.returncode == 0 and "shared: " + sq in r.stdout, r.stdout
            assert tree_digest(sq) == sq_before
    finally:
        remove_tree(d)


def squashfs_image_of(src, image):
    r = subprocess.run(["mksquashfs", src, image, "-noappend", "-no-progress", "-quiet", "-comp", "lz4"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert r.returncode == 0, r.stdout
    return image


def test_a_thousand_distributions(tmp_path, cache, cleanup_mounts):
    """1,000 distributions in one env (issue 22, Scale): one layer each,
    stacked by the union engine, every one importable
    (PYENVFS_TEST_DISTS=N runs it with N)."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    n = int(os.environ.get("PYENVFS_TEST_DISTS", "1000"))
    wheels = [sk.small_wheel(wh, "pyenvfs_k%04d" % i, "1.0") for i in range(n)]
    lock = sk.write_pylock(tmp_path / "pylock.toml", wheels)
    store = tmp_path / "store"
    mnt, site = tmp_path / "mnt", tmp_path / "site"
    mnt.mkdir()
    env = sk.store_env(store, cache, tmp_path)
    # daemonized: the store is filled first (every wheel of the lock), then it mounts
    r = sk.pyenvfs([b.prefix, mnt, "--site", site, "--lock", lock], env, timeout=3600)
    assert r.returncode == 0, r.stderr
    try:
        assert len(sk.entries(store)) == n
        m = type("M", (), {"mnt": str(mnt)})
        code = ("import importlib\n"
                "for i in range(%d): assert importlib.import_module('pyenvfs_k%%04d' %% i).VERSION == '1.0'\n"
                "print('ok')\n" % n)
        assert _py(m, b, code, False, str(tmp_path)).strip() == "ok"
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], timeout=60)


def test_fstab_form_and_the_store_command_line(tmp_path, cache):
    """-o lock=,store= (the fstab form) compose the same env; pyenvfs store
    refuses a bad command line with one line and touches nothing."""
    b = base_or_skip("usr-3.11")
    wh = tmp_path / "wheels"
    a = sk.small_wheel(wh, "pyenvfs_bulk_a", "1.0")
    lock = sk.write_pylock(tmp_path / "pylock.toml", [a])
    store = tmp_path / "store"
    mnt, site = tmp_path / "mnt", tmp_path / "site"
    mnt.mkdir()
    with mounted(b.prefix, mnt, site, ["-o", "lock=%s,store=%s" % (lock, store)], base=b) as m:
        out = _py(m, b, "import pyenvfs_bulk_a; print(pyenvfs_bulk_a.VERSION)", False, str(tmp_path))
        assert out.strip() == "1.0"
        with open(os.path.join(m.mnt, "lib", "python" + b.xy, "site-packages", "pyenvfs_bulk_a-1.0.dist-info",
                               "INSTALLER")) as f:
            assert f.read() == "pyenvfs\n"
    assert len(sk.entries(store)) == 1
    env = sk.store_env(tmp_path / "other", cache, tmp_path)
    for args, names in ((["store"], ["missing a command"]), (["store", "frob"], ["unknown command 'frob'"]),
                        (["store", "add"], ["missing BASE"]), (["store", "add", b.prefix], ["missing WHEEL"]),
                        (["store", "gc", "--max-size", "lots"], ["--max-size"]),
                        (["store", "gc", "--older-than", "-1"], ["--older-than"]),
                        (["store", "list", "--nope"], ["unknown option '--nope'"])):
        r = sk.pyenvfs(args, env)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("pyenvfs: "), (args, r.stderr)
        for n in names:
            assert n in lines[0], (args, lines)
    assert not (tmp_path / "other").exists()
    r = sk.pyenvfs(["store", "--help"], env)
    assert r.returncode == 0 and "store gc" in r.stdout
