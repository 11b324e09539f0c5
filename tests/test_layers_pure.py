"""The pure modules of the stacked layers (issue 11, docs/LAYERS.md) against
what they must agree with, on real files: every RECORD of the installed
Pythons against Python's own csv module and os.path.normpath; every
metadata directory's name against the Name in its metadata; and console
scripts that real pip wrote into a real venv, moved away from the path they
name, rewritten by src/shebang.c and run.  No mount is involved: the C side
runs through build/layers_tool (tests/unit/layers_tool.c)."""

import csv
import glob
import io
import os
import posixpath
import re
import shutil
import subprocess

import pytest

import pythons
from conftest import PYENVFS

TOOL = os.path.join(os.path.dirname(PYENVFS), "layers_tool")


def tool(*args):
    assert os.access(TOOL, os.X_OK), "%s is missing: build the project (it is built with pyenvfs)" % TOOL
    return subprocess.run([TOOL] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)


def fields(out, n):
    parts = out.split(b"\0")
    assert parts[-1] == b"", "output does not end with a NUL"
    parts = [p.decode("utf-8", "surrogateescape") for p in parts[:-1]]
    assert len(parts) % n == 0
    return [tuple(parts[i:i + n]) for i in range(0, len(parts), n)]


def site_dirs():
    """(site directory, its place below the scheme's base) of every Python found."""
    found = []
    if os.path.isdir("/usr/lib/python3/dist-packages"):
        found.append(("/usr/lib/python3/dist-packages", "lib/python3/dist-packages"))
    for b in pythons.discover().values():
        if b.kind != "pyenv":
            continue
        rel = "lib/python%s/site-packages" % b.xy
        if os.path.isdir(os.path.join(b.prefix, rel)):
            found.append((os.path.join(b.prefix, rel), rel))
    return found


def expected_resolution(site_rel, raw):
    if raw.startswith("/"):
        return ("-", "")
    p = posixpath.normpath(posixpath.join(site_rel, raw))
    if p == ".." or p.startswith("../") or p == "." or p == site_rel or site_rel.startswith(p + "/"):
        return ("-", "")
    if p.startswith(site_rel + "/"):
        return ("site", p[len(site_rel) + 1:])
    return ("prefix", p)


def test_record_files_parse_as_csv_does():
    dirs = site_dirs()
    assert dirs, "no site directory found"
    checked = 0
    for site, rel in dirs:
        for record in sorted(glob.glob(os.path.join(site, "*.dist-info", "RECORD"))):
            with open(record, newline="", encoding="utf-8", errors="surrogateescape") as f:
                rows = [row for row in csv.reader(f) if row and row[0]]
            r = tool("record", record, rel)
            assert r.returncode == 0, (record, r.stderr)
            got = fields(r.stdout, 3)
            assert [g[0] for g in got] == [row[0] for row in rows], record
            for raw, area, path in got:
                assert (area, path) == expected_resolution(rel, raw), (record, raw)
            checked += 1
    assert checked >= 10, "only %d RECORD files found" % checked


def metadata_name(path):
    """The Name: header of a metadata directory (or egg-info file)."""
    for cand in ("METADATA", "PKG-INFO"):
        f = os.path.join(path, cand) if os.path.isdir(path) else path
        if os.path.isfile(f):
            with open(f, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.lower().startswith("name:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break
    return None


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_metadata_directory_names_match_their_metadata():
    checked = 0
    for site, _ in site_dirs():
        entries = sorted(e for e in os.listdir(site) if e.endswith((".dist-info", ".egg-info")))
        if not entries:
            continue
        got = fields(tool("entry", *entries).stdout, 3)
        assert len(got) == len(entries)
        for entry, (name, version, key) in zip(entries, got):
            meta = metadata_name(os.path.join(site, entry))
            if meta is None:
                continue
            assert key == canonical(meta), (site, entry, meta, key)
            assert version == "" or version[0].isdigit(), (site, entry, version)
            checked += 1
    assert checked >= 10, "only %d metadata directories checked" % checked


SCRIPT_BASES = ["usr-3.11", "pyenv-3.8", "pyenv-3.13"]


@pytest.mark.parametrize("spaces", ["plain-to-space", "space-to-plain"])
@pytest.mark.parametrize("param", SCRIPT_BASES)
def test_pip_console_script_follows_a_moved_env(param, spaces, tmp_path):
    """pip's own console script in a venv made at A names A's Python (as a
    plain #! line, or distlib's /bin/sh trampoline when A has a space).  Moved
    to B it no longer runs; rewritten for B by shebang.c it runs B's pip."""
    base = pythons.find(param)
    if base is None:
        pytest.skip("%s not installed" % param)
    a_name, b_name = ("env", "moved env") if spaces == "plain-to-space" else ("orig env", "moved")
    a, b = str(tmp_path / a_name), str(tmp_path / b_name)
    exe = os.path.join(base.prefix, "bin", "python" + base.xy)
    r = subprocess.run([exe, "-m", "venv", a], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    if r.returncode != 0 and b"ensurepip" in r.stdout:
        pytest.skip("%s cannot make a venv with pip: %s" % (param, r.stdout[-200:]))
    assert r.returncode == 0, r.stdout
    pip = os.path.join(a, "bin", "pip")
    with open(pip, "rb") as f:
        head = f.read(300)
    if " " in a:
        assert head.startswith(b"#!/bin/sh\n'''exec' "), head     # what pip writes for such a path
    else:
        assert head.startswith(("#!%s/bin/python" % a).encode()), head

    os.rename(a, b)
    moved_pip = os.path.join(b, "bin", "pip")
    env = dict(os.environ, PATH="/usr/bin:/bin")
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    try:    # execve fails (ENOENT: no interpreter), or the trampoline's sh does
        before = subprocess.run([moved_pip, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env, timeout=120)
        assert before.returncode != 0, "the moved script ran before the rewrite: %r" % before.stdout
    except FileNotFoundError:
        pass

    r = tool("shebang", moved_pip, b, a)
    assert r.returncode == 0, (r.returncode, r.stderr)
    shown = r.stdout
    with open(moved_pip, "rb") as f:
        orig = f.read()
    assert shown.split(b"\n")[-3:] == orig.split(b"\n")[-3:], "the body changed"
    if " " in b or " " in a:     # made a trampoline, or kept one (its path replaced)
        assert shown.startswith(('#!/bin/sh\n\'\'\'exec\' "%s/bin/python' % b).encode()), shown[:200]
    else:
        assert shown.startswith(("#!%s/bin/python" % b).encode()), shown[:200]
    with open(moved_pip, "wb") as f:
        f.write(shown)
    after = subprocess.run([moved_pip, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=120)
    assert after.returncode == 0, after.stdout
    assert (b + "/lib/python").encode() in after.stdout, after.stdout

    # Rewritten once is enough; other files of bin/ are left alone.
    assert tool("shebang", moved_pip, b, a).returncode == 3
    assert tool("shebang", moved_pip, b, b).returncode == 3
    assert tool("shebang", os.path.join(b, "bin", "activate"), b, a).returncode == 3
    shutil.rmtree(b)


SPY = r"""
import os, sys
made = []
try:
    import posix
    real_open, real_mkdir = posix.open, posix.mkdir
    def spy_open(path, flags, *a, **k):
        made.append(path)
        return real_open(path, flags, *a, **k)
    def spy_mkdir(path, *a, **k):
        made.append(path)
        return real_mkdir(path, *a, **k)
    posix.open, posix.mkdir = spy_open, spy_mkdir
except Exception:
    pass
sys.path.insert(0, sys.argv[1])
import plain_mod
import pkg.sub
sys.stdout.write("\n".join(str(m) for m in made))
"""


@pytest.mark.parametrize("param", pythons.params())
def test_bytecode_names_python_writes_are_redirected(param, tmp_path):
    """Every file and directory a real interpreter makes when it writes
    bytecode (and, on 3.x, importlib's temporary names, seen by spying on
    posix.open) is one that pycache_classify lets through; the sources are not."""
    base = pythons.find(param)
    if base is None:
        pytest.skip("%s not installed" % param)
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "plain_mod.py").write_text("X = 1\n")
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "sub.py").write_text("Y = 2\n")
    before = set(os.listdir(str(src))) | {"pkg/" + n for n in os.listdir(str(src / "pkg"))}
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    exe = os.path.join(base.prefix, "bin", "python" + base.xy)
    r = subprocess.run([exe, "-E", "-s", "-c", SPY, str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    legacy = "legacy" if base.major == 2 else ""
    made = []
    for dp, dns, fns in os.walk(str(src)):
        for n in dns + fns:
            rel = os.path.relpath(os.path.join(dp, n), str(src))
            if rel not in before:
                made.append((os.path.basename(dp), n, os.path.isdir(os.path.join(dp, n))))
    assert made, "%s wrote no bytecode" % param
    spied = [p for p in r.stdout.decode().splitlines() if p.startswith(str(src))]
    if base.major >= 3:
        temps = [p for p in spied if not p.endswith(".pyc") and "__pycache__" in p and not p.endswith("__pycache__")]
        assert temps, "no temporary bytecode name seen: %r" % spied
        made += [(os.path.basename(os.path.dirname(p)), os.path.basename(p), False) for p in temps]
    for dir_name, name, is_dir in made:
        out = tool("pyc", dir_name, name, legacy).stdout.decode().strip()
        assert out == ("dir" if is_dir else "file"), (param, dir_name, name, out)
    for name in ("plain_mod.py", "__init__.py", "sub.py"):
        assert tool("pyc", "__pycache__", name, legacy).stdout.decode().strip() == "no"
        assert tool("pyc", "pkg", name, legacy).stdout.decode().strip() == "no"
