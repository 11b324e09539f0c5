"""A DIR remembers how it was made (issue 20, item 5): DIR/.pyenvfs/env holds
its base, Python X.Y and ABI tag, its lower site layers and whether it has
the pip layer, written as DIR's owner once mounted.

- mounted again with no --lower-site, DIR is stacked over the layers it
  remembers; over another X.Y, with layers that leave one of its own out,
  or with one of its layers gone, it is refused in one line that says what
  it was made over, and nothing is mounted or changed; --restack stacks it
  over the layers given and remembers those;
- `pyenvfs clone SRC DST`: DST over SRC and SRC's layers, nothing copied;
- `pyenvfs run --site DIR -- CMD` needs no BASE (test_envs_move.py runs it
  as a user).

Root, over Debian's /usr (and a pyenv base of another X.Y for the refusal);
about 15 s.
"""

import os

import pytest

import helpers_base as hb
import pkgs
import pythons
from conftest import mount_count, mounted, run, run_pyenvfs
from helpers_env import assert_refusal, is_root

BASE = "/usr"


def read_record(d):
    with open(os.path.join(d, ".pyenvfs", "env")) as f:
        rec = {"layer": []}
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            k, v = line.rstrip("\n").split(" ", 1)
            if k == "layer":
                rec["layer"].append(v)
            else:
                rec[k] = v
        return rec


def soabi(exe):
    r = run([exe, "-c", "import sysconfig; print(sysconfig.get_config_var('SOABI'))"])
    return r.stdout.strip()


def layer_with(path, module, value):
    """A small layer: a `pip install --target`-like directory with one module."""
    os.makedirs(path)
    with open(os.path.join(path, module + ".py"), "w") as f:
        f.write("V = %r\n" % value)
    return path


def py(m, code):
    r = run([m.path("bin", "python3"), "-c", code], cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def usr():
    if not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("no Debian python3.11 in /usr")
    return BASE


def test_dir_remembers_its_layers_and_python(usr, tmp_path):
    L1 = layer_with(str(tmp_path / "L1"), "mod_l1", "one")
    L2 = layer_with(str(tmp_path / "L2"), "mod_l2", "two")
    d, mnt = str(tmp_path / "D"), tmp_path / "mnt"
    mnt.mkdir()
    with mounted(usr, mnt, d, ["--lower-site", L1, "--lower-site", L2]) as m:
        assert py(m, "import mod_l1, mod_l2; print(mod_l1.V, mod_l2.V)") == "one two"
    rec = read_record(d)
    assert rec["base"] == "/usr" and rec["python"] == "3.11"
    assert rec["abi"] == soabi("/usr/bin/python3.11")
    assert rec["layer"] == [L1, L2] and rec["with_pip"] == "no"
    with open(os.path.join(d, ".pyenvfs", "mounts")) as f:
        assert f.read() == str(mnt) + "\n"
    before = os.stat(os.path.join(d, ".pyenvfs", "env"))
    # no --lower-site: the layers it remembers; the record is not rewritten
    with mounted(usr, mnt, d) as m:
        assert py(m, "import mod_l1, mod_l2; print(mod_l1.V, mod_l2.V)") == "one two"
    after = os.stat(os.path.join(d, ".pyenvfs", "env"))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # a DIR of another owner's: its record is that owner's
    assert after.st_uid == os.stat(d).st_uid


def test_refusals_say_what_it_was_made_over(usr, tmp_path):
    L1 = layer_with(str(tmp_path / "L1"), "mod_l1", "one")
    L2 = layer_with(str(tmp_path / "L2"), "mod_l2", "two")
    d, mnt = str(tmp_path / "D"), tmp_path / "mnt"
    mnt.mkdir()
    with mounted(usr, mnt, d, ["--lower-site", L1]):
        pass
    digest = hb.tree_digest(d)
    # layers given that leave its own out
    r = run_pyenvfs([usr, mnt, "--site", d, "--lower-site", L2])
    assert_refusal(r, d, L1, "--restack")
    # another X.Y
    other = next((b for b in pythons.discover().values()
                  if b.kind == "pyenv" and b.xy != "3.11" and len(pythons.versions_in(b.prefix)) == 1), None)
    if other is not None:
        r = run_pyenvfs([other.prefix, mnt, "--site", d])
        assert_refusal(r, d, "Python 3.11", "not %s" % other.xy)
    # one of its layers gone
    os.rename(L1, L1 + ".gone")
    r = run_pyenvfs([usr, mnt, "--site", d])
    assert_refusal(r, d, L1, "not there now")
    os.rename(L1 + ".gone", L1)
    assert mount_count(mnt) == 0
    assert hb.tree_digest(d) == digest, "a refused mount changed DIR"
    # --restack: the layers given, remembered from then on
    with mounted(usr, mnt, d, ["--restack", "--lower-site", L2]) as m:
        assert py(m, "import mod_l2; print(mod_l2.V)") == "two"
        r = run([m.path("bin", "python3"), "-c", "import mod_l1"], cwd="/")
        assert r.returncode != 0
    assert read_record(d)["layer"] == [L2]


def test_clone(usr, tmp_path):
    """pyenvfs clone SRC DST: DST over SRC and SRC's layers, with SRC's base;
    what the clone removes stays in DST."""
    pip = pkgs.debian_pip_wheel()
    if not pip:
        pytest.skip("no pip wheel in %s" % pkgs.DEBIAN_WHEELS)
    L = layer_with(str(tmp_path / "L"), "mod_l", "layer")
    wheels = str(tmp_path / "wheels")
    pkgs.demo_wheel(wheels)
    src, dst, mnt = str(tmp_path / "SRC"), str(tmp_path / "DST"), tmp_path / "mnt"
    mnt.mkdir()
    env = pkgs.pip_env(tmp_path, mnt)
    with mounted(usr, mnt, src, ["--lower-site", L]) as m:
        pkgs.run_checked([m.path("bin", "python3"), os.path.join(pip, "pip"), "install", "--no-index",
                          "--find-links", wheels, pkgs.DEMO_NAME], env)
    digest = hb.tree_digest(src)
    r = run_pyenvfs(["clone", src, dst])
    assert r.returncode == 0 and r.stdout == "", r.stderr
    rec = read_record(dst)
    assert rec["layer"] == [src, L] and rec["base"] == "/usr" and rec["python"] == "3.11"
    with mounted(usr, mnt, dst) as m:
        assert py(m, "import mod_l, %s; print(mod_l.V)" % pkgs.DEMO_NAME) == "layer"
        r = run([m.path("bin", pkgs.DEMO_SCRIPT)], cwd="/")
        assert r.stdout.strip() == pkgs.DEMO_OUTPUT, r.stderr
        pkgs.run_checked([m.path("bin", "python3"), os.path.join(pip, "pip"), "uninstall", "-y",
                          pkgs.DEMO_NAME], env)
        assert not os.path.exists(m.path("bin", pkgs.DEMO_SCRIPT))
    assert hb.tree_digest(src) == digest, "the clone wrote SRC"
    # refusals: a DST that is not empty, a SRC that remembers nothing
    r = run_pyenvfs(["clone", src, dst])
    assert_refusal(r, dst, "not an empty directory")
    bare = str(tmp_path / "bare")
    os.mkdir(bare)
    r = run_pyenvfs(["clone", bare, str(tmp_path / "DST2")])
    assert_refusal(r, bare, "does not remember")
    assert not os.path.exists(str(tmp_path / "DST2"))
    r = run_pyenvfs(["clone", src])
    assert_refusal(r, "missing DST_DIR")


def test_a_root_daemon_writes_what_dir_remembers_as_its_owner(usr, work):
    """A root mount of a user's DIR (allow_other, a system unit): the record,
    the mount points and the .pth are born the user's, never chowned by name."""
    if not is_root():
        pytest.skip("needs root (a throwaway user)")
    from helpers_env import throwaway_users
    with throwaway_users(1) as (u,):
        d, mnt = os.path.join(work, "D"), os.path.join(work, "mnt")
        os.mkdir(d)
        os.chown(d, u.uid, u.gid)
        os.mkdir(mnt)
        with mounted(usr, mnt, d, ["-o", "allow_other"]):
            pass
        for name in (".pyenvfs/env", ".pyenvfs/mounts", "pyenvfs-venv.pth"):
            st = os.lstat(os.path.join(d, name))
            assert (st.st_uid, st.st_gid) == (u.uid, u.gid), name
        assert read_record(d)["python"] == "3.11"
