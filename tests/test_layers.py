"""Stacked read-only site layers (--lower-site, issue 11) through real mounts.

- the union against the kernel's overlayfs: the same trees (upperdir = a copy
  of DIR, lowerdir = the layer), the same operations at several depths
  through both, the same resulting trees;
- pip across layers with real pip on Debian's 3.11 and pyenv's 3.13 and 3.8:
  a layer L made by installing wheels into an env's DIR (pip itself included),
  a second env over it: pip list, import, an install that depends on L's
  package, uninstall and upgrade of L's package (whiteouts, copy-up);
- a clone: --lower-site of another env's DIR;
- layers on a squashfs image and on a read-only bind mount.

Every layer is digested before and after: it is never written."""

import os
import shutil
import subprocess
import time

import pytest

import helpers_base as hb
import pkgs
import pythons
from conftest import VENV_PTH, mounted, run, without_venv_pth

SITE_REL = None  # per base: the env's site-packages relative to M


def site_of(m, base):
    return m.path("lib", "python" + base.xy, "site-packages")


def extra_for(base):
    return ["--python", base.xy] if len(pythons.versions_in(base.prefix)) > 1 else []


# ---------------------------------------------------------------------------
# the union and the changes, against overlayfs

def write_tree(root, tree):
    for rel, content in sorted(tree.items()):
        p = os.path.join(root, rel)
        if content is None:
            os.makedirs(p, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)


def walk(root, skip_top=(".pyenvfs", VENV_PTH)):
    """{relative path: ("d",) | ("f", content, mode) | ("l", target)}, via os.scandir."""
    out = {}

    def rec(d, rel):
        with os.scandir(d) as it:
            for e in it:
                r = os.path.join(rel, e.name) if rel else e.name
                if not rel and e.name in skip_top:
                    continue
                if e.is_symlink():
                    out[r] = ("l", os.readlink(e.path))
                elif e.is_dir():
                    out[r] = ("d",)
                    rec(e.path, r)
                else:
                    with open(e.path) as f:
                        out[r] = ("f", f.read(), oct(os.lstat(e.path).st_mode & 0o7777))
    rec(root, "")
    return out


def tree_digest(root):
    return hb.tree_digest(root)


LOWER = {
    "pkg/__init__.py": "X = 1\n",
    "pkg/sub/deep/mod.py": "D = 1\n",
    "pkg/sub/other.py": "O = 1\n",
    "pkg/__pycache__/__init__.cpython-311.pyc": "lower-bytecode\n",
    "ns/a/mod_a.py": "A = 1\n",
    "pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n",
    "pkg-1.0.dist-info/RECORD": "pkg/__init__.py,,\n",
    "gone/x.py": "x\n",
    "gone/y/z.py": "z\n",
    "both.py": "lower\n",
    "top.py": "top\n",
    "emptydir": None,
    "emptydir2": None,
    "lone.py": "lone\n",
    "mv/x.py": "x\n",
}
UPPER = {
    "ns/b/mod_b.py": "B = 1\n",
    "pkg/sub/mine.py": "M = 1\n",
    "both.py": "upper\n",
    "own/o.py": "o\n",
}


def ops_sequence(root):
    """The same operations, through pyenvfs's site-packages or overlayfs's root."""
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    log = []

    def step(name, fn):
        try:
            fn()
            log.append((name, "ok"))
        except OSError as e:
            log.append((name, e.errno))
    step("append lower deep", lambda: open(j("pkg/sub/deep/mod.py"), "a").write("E = 2\n"))
    step("chmod lower", lambda: os.chmod(j("pkg/sub/other.py"), 0o600))
    step("rm lower file", lambda: os.unlink(j("top.py")))
    step("rm shadowing file", lambda: os.unlink(j("both.py")))
    step("rmtree lower dir", lambda: shutil.rmtree(j("gone")))
    step("remake removed dir", lambda: os.mkdir(j("gone")))
    step("file in remade dir", lambda: open(j("gone/new.py"), "w").write("new\n"))
    step("rm from namespace", lambda: os.unlink(j("ns/a/mod_a.py")))
    step("create deep in lower", lambda: open(j("pkg/sub/deep/new.py"), "w").write("n\n"))
    step("mkdir in lower", lambda: os.mkdir(j("ns/a/sub")))
    step("rename own file onto lower", lambda: os.rename(j("own/o.py"), j("pkg/sub/other.py")))
    step("rename own dir", lambda: os.rename(j("own"), j("own2")))
    step("rename lower dir", lambda: os.rename(j("ns/a"), j("ns/a2")))
    step("move lower dir", lambda: shutil.move(j("pkg/sub/deep"), j("pkg/deep2")))
    step("rmdir lower empty", lambda: os.rmdir(j("emptydir")))
    step("rmdir nonempty", lambda: os.rmdir(j("pkg")))
    step("recreate lower name", lambda: open(j("top.py"), "w").write("again\n"))
    step("pycache in lower", lambda: open(j("pkg/__pycache__/x.cpython-311.pyc"), "w").write("b\n"))
    step("link lower", lambda: os.link(j("pkg/__init__.py"), j("pkg/init_link.py")))
    step("rename lower file", lambda: os.rename(j("lone.py"), j("lone2.py")))
    step("rename lower file to another dir", lambda: os.rename(j("mv/x.py"), j("own2/x.py")))
    step("rename lower file back", lambda: os.rename(j("own2/x.py"), j("mv/x.py")))
    step("mkdir own3", lambda: os.mkdir(j("own3")))
    step("rename own dir onto empty lower dir", lambda: os.rename(j("own3"), j("emptydir2")))
    step("file in it", lambda: open(j("emptydir2/in.py"), "w").write("in\n"))
    step("mkdir own4", lambda: os.mkdir(j("own4")))
    step("rename own dir onto lower dir", lambda: os.rename(j("own4"), j("pkg")))
    return log


@pytest.fixture(scope="module")
def overlay_ok(tmp_path_factory):
    if not hb.is_root():
        pytest.skip("needs root (overlayfs)")
    d = tmp_path_factory.mktemp("probe")
    for sub in ("l", "u", "w", "m"):
        os.mkdir(str(d / sub))
    r = run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s"
             % (d / "l", d / "u", d / "w"), str(d / "m")])
    if r.returncode != 0:
        pytest.skip("cannot mount overlayfs here: %s" % r.stderr.strip())
    run(["umount", str(d / "m")])


def test_union_and_changes_agree_with_overlayfs(overlay_ok, any_base, tmp_path):
    t = str(tmp_path)
    for name in ("L", "D", "oL", "oU", "oW", "mnt", "omnt"):
        os.mkdir(os.path.join(t, name))
    write_tree(os.path.join(t, "L"), LOWER)
    write_tree(os.path.join(t, "oL"), LOWER)
    write_tree(os.path.join(t, "D"), UPPER)
    write_tree(os.path.join(t, "oU"), UPPER)
    layer_digest = tree_digest(os.path.join(t, "L"))
    r = run(["mount", "-t", "overlay", "overlay", "-o",
             "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,index=off,metacopy=off"
             % (os.path.join(t, "oL"), os.path.join(t, "oU"), os.path.join(t, "oW")),
             os.path.join(t, "omnt")])
    assert r.returncode == 0, r.stderr
    try:
        with mounted(any_base.prefix, os.path.join(t, "mnt"), os.path.join(t, "D"),
                     ["--lower-site", os.path.join(t, "L")] + extra_for(any_base), base=any_base) as m:
            sp = site_of(m, any_base)
            assert walk(sp) == walk(os.path.join(t, "omnt")), "the union before any change"
            ours = ops_sequence(sp)
            theirs = ops_sequence(os.path.join(t, "omnt"))
            assert ours == theirs
            got, want = walk(sp), walk(os.path.join(t, "omnt"))
            assert got == want
            # find and ls never show a whited-out name
            found = subprocess.run(["find", sp], stdout=subprocess.PIPE, universal_newlines=True).stdout
            assert "/gone/x.py" not in found and "/top.py" in found
            assert "mod_a.py" not in found
            ls = subprocess.run(["ls", "-a", sp], stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
            assert ".pyenvfs" not in ls and "both.py" not in ls
        # the same again after a remount: the records and copies are in DIR
        with mounted(any_base.prefix, os.path.join(t, "mnt"), os.path.join(t, "D"),
                     ["--lower-site", os.path.join(t, "L")] + extra_for(any_base), base=any_base) as m:
            assert walk(site_of(m, any_base)) == want
        # DIR holds no overlay-style markers, and the whiteouts are not in its site
        assert not any(n.startswith(".wh.") for n in os.listdir(os.path.join(t, "D")))
    finally:
        run(["umount", os.path.join(t, "omnt")])
    assert tree_digest(os.path.join(t, "L")) == layer_digest, "the layer was written"


# ---------------------------------------------------------------------------
# pip across layers

PIP_BASES = ["usr-3.11", "pyenv-3.13", "pyenv-3.8"]
LIBX_EP = "[console_scripts]\nlibx-tool = libx:main\n"


def libx_wheel(d, version):
    return pkgs.make_wheel(d, "libx", version, {
        "libx/__init__.py": "VERSION = %r\ndef main():\n    print('libx-tool', VERSION)\n" % version,
        "libx/util.py": "U = 1\n",
        "nsp/x/__init__.py": "",
    }, entry_points=LIBX_EP)


def app_wheel(d):
    return pkgs.make_wheel(d, "app", "1.0", {
        "app/__init__.py": "import libx\nV = libx.VERSION\ndef main():\n    print('app', V)\n",
        "nsp/y/__init__.py": "",
    }, entry_points="[console_scripts]\napp-tool = app:main\n", requires=["libx>=1.0"])


class LEnv:
    def __init__(self, m, base, home):
        self.m, self.base, self.home = m, base, home
        self.python = m.path("bin", "python3")
        self.env = pkgs.pip_env(home, m.mnt)
        self.pip = [self.python, "-m", "pip"]
        self.site = site_of(m, base)

    def run(self, args, ok=True):
        return pkgs.run_checked(args, self.env, cwd=self.home, ok=ok)

    def pip_run(self, args, ok=True):
        return self.run(self.pip + list(args), ok=ok)

    def listed(self):
        out = self.pip_run(["list", "--format=freeze"]).stdout
        return sorted(line.strip() for line in out.splitlines() if line.strip())


def install_pip(e):
    if e.base.kind == "pyenv":
        e.run([e.python, "-m", "ensurepip"])
    else:
        whl = pkgs.debian_pip_wheel()
        if whl is None:
            pytest.skip("no pip wheel in %s" % pkgs.DEBIAN_WHEELS)
        e.run([e.python, os.path.join(whl, "pip"), "install", "--no-index", whl])


@pytest.fixture(scope="module", params=PIP_BASES)
def layer(request, tmp_path_factory):
    """An env's DIR with pip and libx 1.0 installed through a mount, now unmounted."""
    b = pythons.find(request.param)
    if b is None:
        pytest.skip("no Python for %s on this machine" % request.param)
    d = tmp_path_factory.mktemp("layer-" + b.id)
    (d / "mnt").mkdir()
    (d / "home").mkdir()
    (d / "wheels").mkdir()
    with mounted(b.prefix, d / "mnt", d / "L", extra_for(b), base=b) as m:
        e = LEnv(m, b, str(d / "home"))
        install_pip(e)
        e.pip_run(["install", "--no-index", libx_wheel(str(d / "wheels"), "1.0")])
    return b, str(d / "L"), str(d / "wheels"), tree_digest(str(d / "L"))


@pytest.fixture
def lenv(layer, tmp_path):
    b, L, wheels, digest = layer
    (tmp_path / "mnt").mkdir()
    (tmp_path / "home").mkdir()
    with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", ["--lower-site", L] + extra_for(b), base=b) as m:
        yield LEnv(m, b, str(tmp_path / "home")), L, wheels
    assert tree_digest(L) == digest, "the layer was written"


def dist_infos(site, name):
    return sorted(n for n in os.listdir(site) if n.lower().startswith(name + "-") and n.endswith(".dist-info"))


def test_pip_sees_the_layer(lenv):
    e, L, wheels = lenv
    listed = e.listed()
    assert [x for x in listed if x.startswith("libx==")] == ["libx==1.0"]
    assert len([x for x in listed if x.startswith("pip==")]) == 1
    r = e.run([e.python, "-c", "import libx, libx.util, nsp.x; print(libx.VERSION, libx.__file__)"])
    assert r.stdout.split()[0] == "1.0" and r.stdout.split()[1].startswith(e.m.mnt)
    assert "libx-tool" in os.listdir(e.m.path("bin"))
    assert sorted(without_venv_pth(os.listdir(e.m.site))) == [".pyenvfs"]


def test_console_scripts_follow_the_env(lenv):
    """The layer's script named the layer env's mount (unmounted now): shown
    here it names this env's Python, with the size shown matching the bytes."""
    e, L, wheels = lenv
    raw = open(os.path.join(L, ".pyenvfs", "upper", "bin", "libx-tool"), "rb").read()
    assert not raw.startswith(("#!" + e.m.mnt).encode())
    tool = e.m.path("bin", "libx-tool")
    shown = open(tool, "rb").read()
    assert shown.splitlines()[0].startswith(("#!" + e.m.path("bin", "python")).encode()), shown[:120]
    assert os.stat(tool).st_size == len(shown)
    assert shown.splitlines()[1:] == raw.splitlines()[1:]
    r = e.run([tool])
    assert r.stdout.strip() == "libx-tool 1.0"
    # through PATH, as a user runs it
    r = e.run(["libx-tool"])
    assert r.stdout.strip() == "libx-tool 1.0"


def test_pip_install_depending_on_the_layer(lenv, tmp_path):
    e, L, wheels = lenv
    only_app = str(tmp_path / "only-app")
    app = app_wheel(only_app)
    # libx is not offered: pip must find it satisfied in the layer
    r = e.pip_run(["install", "--no-index", "--find-links", only_app, app])
    assert "libx" not in r.stdout.lower().split("successfully installed")[-1]
    assert dist_infos(e.m.site, "libx") == []
    assert dist_infos(e.m.site, "app") == ["app-1.0.dist-info"]
    r = e.run([e.python, "-c", "import app, nsp.x, nsp.y; print(app.V)"])
    assert r.stdout.strip() == "1.0"
    assert sorted(os.listdir(os.path.join(e.site, "nsp"))) == ["x", "y"]
    e.pip_run(["check"])


def test_pip_uninstall_a_layer_package(lenv):
    e, L, wheels = lenv
    e.pip_run(["uninstall", "-y", "libx"])
    assert not [x for x in e.listed() if x.startswith("libx")]
    r = e.run([e.python, "-c", "import libx"], ok=False)
    assert r.returncode != 0
    assert "libx-tool" not in os.listdir(e.m.path("bin"))
    assert dist_infos(e.site, "libx") == []
    assert not os.path.exists(os.path.join(e.site, "libx"))
    # still there in the layer
    assert os.path.exists(os.path.join(L, "libx", "__init__.py"))
    # installing it again works and shows
    e.pip_run(["install", "--no-index", os.path.join(wheels, "libx-1.0-py3-none-any.whl")])
    assert [x for x in e.listed() if x.startswith("libx==")] == ["libx==1.0"]


def test_pip_upgrade_a_layer_package(lenv, tmp_path):
    e, L, wheels = lenv
    new = libx_wheel(str(tmp_path / "w2"), "2.0")
    e.pip_run(["install", "--no-index", "-U", new])
    assert [x for x in e.listed() if x.startswith("libx")] == ["libx==2.0"]
    assert dist_infos(e.site, "libx") == ["libx-2.0.dist-info"]
    assert dist_infos(e.m.site, "libx") == ["libx-2.0.dist-info"]
    r = e.run([e.python, "-c", "import libx, libx.util; print(libx.VERSION)"])
    assert r.stdout.strip() == "2.0"
    assert "libx-tool" in os.listdir(e.m.path("bin"))


def test_clone_of_an_env(lenv, tmp_path):
    """--lower-site of another env's DIR: its packages and console scripts."""
    e, L, wheels = lenv
    only_app = str(tmp_path / "only-app")
    e.pip_run(["install", "--no-index", "--find-links", only_app, app_wheel(only_app)])
    (tmp_path / "cmnt").mkdir()
    digest = tree_digest(e.m.site)
    with mounted(e.base.prefix, tmp_path / "cmnt", tmp_path / "C",
                 ["--lower-site", e.m.site, "--lower-site", L] + extra_for(e.base), base=e.base) as m:
        c = LEnv(m, e.base, e.home)
        listed = c.listed()
        assert "app==1.0" in listed and "libx==1.0" in listed
        assert {"app-tool", "libx-tool"} <= set(os.listdir(m.path("bin")))
        r = c.run([c.python, "-c", "import app; print(app.V)"])
        assert r.stdout.strip() == "1.0"
        assert c.run([m.path("bin", "app-tool")]).stdout.strip() == "app 1.0"
        c.pip_run(["uninstall", "-y", "app"])
        assert "app-tool" not in os.listdir(m.path("bin"))
    assert tree_digest(e.m.site) == digest


# ---------------------------------------------------------------------------
# layers on read-only file systems

@pytest.mark.parametrize("kind", ["squashfs", "ro_bind"])
def test_layer_on_a_read_only_file_system(kind, layer, tmp_path):
    b, L, wheels, digest = layer
    if not hb.is_root():
        pytest.skip("needs root (loop and bind mounts)")
    mp = str(tmp_path / "layer-ro")
    if kind == "squashfs":
        if shutil.which("mksquashfs") is None or hb.squashfs_how() != "loop":
            pytest.skip("no mksquashfs or no loop mounts")
        image = str(tmp_path / "layer.sqfs")
        r = run(["mksquashfs", L, image, "-noappend", "-no-progress", "-quiet"])
        assert r.returncode == 0, r.stderr
        image_sum = hb.file_sha256(image)
        cm = hb.squashfs_mounted(image, mp, "loop")
    else:
        image = None
        cm = hb.ro_bind(L, mp)
    (tmp_path / "mnt").mkdir()
    (tmp_path / "home").mkdir()
    with cm:
        ro_digest = tree_digest(mp)
        with mounted(b.prefix, tmp_path / "mnt", tmp_path / "D", ["--lower-site", mp] + extra_for(b),
                     base=b) as m:
            e = LEnv(m, b, str(tmp_path / "home"))
            assert [x for x in e.listed() if x.startswith("libx")] == ["libx==1.0"]
            e.run([e.python, "-c", "import libx.util"])
            e.pip_run(["install", "--no-index", "-U", libx_wheel(str(tmp_path / "w2"), "2.0")])
            assert [x for x in e.listed() if x.startswith("libx")] == ["libx==2.0"]
            un = e.pip_run(["uninstall", "-y", "libx"])
            left = [x for x in e.listed() if x.startswith("libx")]
            assert not left, "pip uninstall said:\n%s%s\nsite-packages: %s\nDIR: %s" % (
                un.stdout, un.stderr, sorted(os.listdir(e.site)), sorted(os.listdir(m.site)))
            assert "libx-tool" not in os.listdir(m.path("bin"))
        assert tree_digest(mp) == ro_digest
    if image:
        assert hb.file_sha256(image) == image_sum
    assert tree_digest(L) == digest


def test_pip_install_target_dir_as_a_layer(lenv, tmp_path):
    """A `pip install --target T` directory: its packages in site-packages,
    its bin/ as the env's scripts (not in site-packages), the scripts run."""
    e, L, wheels = lenv
    T = str(tmp_path / "target")
    e.pip_run(["install", "--no-index", "--target", T, app_wheel(str(tmp_path / "w")),
               os.path.join(wheels, "libx-1.0-py3-none-any.whl")])
    assert os.path.exists(os.path.join(T, "bin", "app-tool"))
    digest = tree_digest(T)
    (tmp_path / "tmnt").mkdir()
    with mounted(e.base.prefix, tmp_path / "tmnt", tmp_path / "C", ["--lower-site", T] + extra_for(e.base),
                 base=e.base) as m:
        c = LEnv(m, e.base, e.home)
        site = site_of(m, e.base)
        assert "bin" not in os.listdir(site)
        assert "app" in os.listdir(site) and "libx" in os.listdir(site)
        assert {"app-tool", "libx-tool"} <= set(os.listdir(m.path("bin")))
        assert c.run([m.path("bin", "app-tool")]).stdout.strip() == "app 1.0"
        r = c.run([c.python, "-c", "import app, libx; print(app.V, libx.__file__)"])
        assert r.stdout.split()[0] == "1.0" and r.stdout.split()[1].startswith(site)
    assert tree_digest(T) == digest


# ---------------------------------------------------------------------------
# a copy-up killed half-way

def test_kill_during_a_large_copy_up(any_base, tmp_path):
    """The daemon is killed (SIGKILL) while it copies a 64 MB file of the layer
    up for a writer, at several moments: after a remount the file is the
    layer's or the whole copy (with the writer's bytes if it got that far),
    never a part; DIR holds no partial file and no temporary stays."""
    import hashlib
    import signal
    import sys
    import time
    from conftest import PYENVFS, force_unmount, wait_for_mount
    L = str(tmp_path / "L")
    os.makedirs(os.path.join(L, "pkg"))
    block = hashlib.sha256(b"x").digest() * 2048     # 64 KiB
    with open(os.path.join(L, "pkg", "big.bin"), "wb") as f:
        for _ in range(1024):
            f.write(block)
    original = hb.file_sha256(os.path.join(L, "pkg", "big.bin"))
    digest = tree_digest(L)
    size = 1024 * len(block)
    writer = ("import sys\nf = open(sys.argv[1], 'r+b')\nf.seek(0, 2)\nf.write(b'tail')\nf.close()\n"
              "print('written')\n")
    outcomes = set()
    for k, delay in enumerate((0.0, 0.01, 0.03, 0.08, 0.2, 0.5)):
        D, mnt = str(tmp_path / ("D%d" % k)), str(tmp_path / ("mnt%d" % k))
        os.mkdir(mnt)
        args = [PYENVFS, any_base.prefix, mnt, "--site", D, "-f", "--lower-site", L] + extra_for(any_base)
        log = mnt + ".log"
        with open(log, "wb") as lf:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, cwd="/")
        try:
            wait_for_mount(proc, mnt, log)
            target = os.path.join(mnt, "lib", "python" + any_base.xy, "site-packages", "pkg", "big.bin")
            w = subprocess.Popen([sys.executable, "-c", writer, target], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            w.communicate(timeout=60)
        finally:
            force_unmount(mnt)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        in_dir = os.path.join(D, "pkg", "big.bin")
        if os.path.exists(in_dir):
            assert os.path.getsize(in_dir) in (size, size + 4), "a partial copy in DIR"
        with mounted(any_base.prefix, mnt, D, ["--lower-site", L] + extra_for(any_base), base=any_base) as m:
            shown = os.path.join(site_of(m, any_base), "pkg", "big.bin")
            got = hb.file_sha256(shown)
            with open(shown, "rb") as f:
                f.seek(size)
                tail = f.read()
            if tail == b"tail":
                outcomes.add("written")
            else:
                assert tail == b"" and got == original, "neither the layer's file nor the whole copy"
                outcomes.add("copied" if os.path.exists(in_dir) else "untouched")
            assert os.listdir(os.path.join(D, ".pyenvfs", "tmp")) == []
    assert tree_digest(L) == digest
    print("outcomes:", sorted(outcomes))


# ---------------------------------------------------------------------------
# a distribution wins as a whole

def dist_tree(version, files, script=None):
    """An env DIR's tree holding libx at version: files {path: text}, with its
    dist-info and RECORD (and a console script in the upper area)."""
    tree = dict(files)
    di = "libx-%s.dist-info" % version
    tree[di + "/METADATA"] = "Metadata-Version: 2.1\nName: libx\nVersion: %s\n" % version
    tree[di + "/INSTALLER"] = "pip\n"
    record = sorted(files) + [di + "/METADATA", di + "/INSTALLER", di + "/RECORD"]
    if script:
        tree[".pyenvfs/upper/bin/" + script] = "#!/bin/sh\necho %s\n" % version
        record.append("../../../bin/" + script)
    tree[di + "/RECORD"] = "".join("%s,,\n" % p for p in record)
    return tree


def test_a_distribution_installed_in_steps_wins_when_its_metadata_comes(any_base, tmp_path):
    """pip makes a .dist-info directory, then writes METADATA into it: the
    second step does not change site-packages' times. The distribution
    index, read in between (the metadata directory did not count yet), is
    read again when it comes, and the layer's version goes as a whole."""
    t = str(tmp_path)
    write_tree(os.path.join(t, "L"), dist_tree("1.0", {
        "libx/__init__.py": "VERSION = '1.0'\n", "libx/old.py": "O = 1\n"}))
    os.mkdir(os.path.join(t, "mnt"))
    with mounted(any_base.prefix, os.path.join(t, "mnt"), os.path.join(t, "D"),
                 ["--lower-site", os.path.join(t, "L"), "-o", "site_timeout=0,lower_timeout=0,watch=off"]
                 + extra_for(any_base), base=any_base) as m:
        sp = site_of(m, any_base)
        di = os.path.join(sp, "libx-2.0.dist-info")
        os.mkdir(di)
        # read between the steps: 1.0 still wins, nothing of 2.0 counts yet
        names = sorted(os.listdir(sp))
        assert "libx-1.0.dist-info" in names and "libx-2.0.dist-info" in names, names
        assert os.path.exists(os.path.join(sp, "libx", "old.py"))
        time.sleep(0.05)        # past a clock tick: not the race of one
        with open(os.path.join(di, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: libx\nVersion: 2.0\n")
        with open(os.path.join(di, "RECORD"), "w") as f:
            f.write("libx-2.0.dist-info/METADATA,,\nlibx-2.0.dist-info/RECORD,,\n")
        names = sorted(os.listdir(sp))
        assert [n for n in names if n.startswith("libx-")] == ["libx-2.0.dist-info"], names
        assert not os.path.exists(os.path.join(sp, "libx", "old.py"))


def test_a_distribution_wins_as_a_whole(any_base, tmp_path):
    t = str(tmp_path)
    write_tree(os.path.join(t, "L1"), dist_tree("2.0", {
        "libx/__init__.py": "VERSION = '2.0'\n", "libx/new.py": "N = 2\n"}))
    write_tree(os.path.join(t, "L2"), dist_tree("1.0", {
        "libx/__init__.py": "VERSION = '1.0'\n", "libx/old.py": "O = 1\n", "libx_helper.py": "H = 1\n",
        "other/__init__.py": ""}, script="libx-old"))
    with open(os.path.join(t, "L2", "unrelated.py"), "w") as f:
        f.write("K = 1\n")
    digests = [tree_digest(os.path.join(t, n)) for n in ("L1", "L2")]
    os.mkdir(os.path.join(t, "mnt"))
    with mounted(any_base.prefix, os.path.join(t, "mnt"), os.path.join(t, "D"),
                 ["--lower-site", os.path.join(t, "L1"), "--lower-site", os.path.join(t, "L2"),
                  "-o", "site_timeout=0,watch=off"] + extra_for(any_base), base=any_base) as m:
        sp = site_of(m, any_base)
        names = sorted(os.listdir(sp))
        assert "libx-2.0.dist-info" in names and "libx-1.0.dist-info" not in names, names
        assert "libx_helper.py" not in names          # listed by 1.0's RECORD only
        assert sorted(os.listdir(os.path.join(sp, "libx"))) == ["__init__.py", "new.py"]
        assert not os.path.exists(os.path.join(sp, "libx", "old.py"))
        assert not os.path.exists(os.path.join(sp, "libx-1.0.dist-info"))
        assert "libx-old" not in os.listdir(m.path("bin"))
        # the directories of its files go with it; what nothing lists stays
        assert "other" not in names and "unrelated.py" in names
        code = ("import importlib.metadata as md, libx; print(md.version('libx'), libx.VERSION, "
                "sorted({d.version for d in md.distributions() if d.metadata['Name'] == 'libx'}))")
        r = subprocess.run([m.path("bin", "python3"), "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, env=pkgs.pip_env(t, m.mnt))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["2.0", "2.0", "['2.0']"]
        # DIR's own install (made natively: seen at once with site_timeout=0)
        # shadows both, found when DIR's top changes
        write_tree(m.site, dist_tree("3.0", {"libx/__init__.py": "VERSION = '3.0'\n"}))
        names = sorted(os.listdir(sp))
        assert [n for n in names if n.startswith("libx-")] == ["libx-3.0.dist-info"], names
        # (the import above wrote its bytecode into DIR's part of libx/)
        assert sorted(os.listdir(os.path.join(sp, "libx"))) == ["__init__.py", "__pycache__"]
        assert os.path.isdir(os.path.join(m.site, "libx", "__pycache__"))
    assert [tree_digest(os.path.join(t, n)) for n in ("L1", "L2")] == digests
