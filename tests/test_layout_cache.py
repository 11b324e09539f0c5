"""The cache of what the base interpreter says about its layout.

pyenvfs asks the base interpreter about its layout once, and keeps the answer
in $XDG_CACHE_HOME/pyenvfs (or ~/.cache/pyenvfs), keyed on the interpreter's
identity. These tests prove the cache is used (an edited answer shows in the
view), that a stale key is not, and that it is only written by a mount that
came up.
"""

import glob
import os

from conftest import MARKER_FILE, force_unmount, make_site_with_marker, run_pyenvfs


def cache_files(cache_home):
    return sorted(glob.glob(os.path.join(str(cache_home), "pyenvfs", "layout-*")))


def env_with_cache(cache_home):
    e = dict(os.environ)
    e["XDG_CACHE_HOME"] = str(cache_home)
    return e


def mount_daemon(base, mnt, site, cache_home):
    r = run_pyenvfs([base.prefix, mnt, "--site", site], env=env_with_cache(cache_home))
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(str(mnt))


def test_answer_is_cached_and_used(usr_base, tmp_path, cleanup_mounts):
    cache = tmp_path / "cache"
    mnt, site = tmp_path / "m", tmp_path / "s"
    mnt.mkdir()
    make_site_with_marker(site)
    xy = usr_base.xy

    mount_daemon(usr_base, mnt, site, cache)
    force_unmount(str(mnt))
    files = cache_files(cache)
    assert len(files) == 1, files
    text = open(files[0]).read()
    key, _, answer = text.partition("\n")
    assert key.startswith("pyenvfs-layout-1 ")
    assert "version=%s." % xy in answer
    assert os.stat(files[0]).st_mode & 0o077 == 0      # private to its owner

    # An answer edited in the cache shows in the next mount: it was used.
    edited = answer.replace("site=lib/python%s/site-packages" % xy,
                            "site=lib/python%s/site-cached" % xy)
    assert edited != answer
    with open(files[0], "w") as f:
        f.write(key + "\n" + edited)
    mount_daemon(usr_base, mnt, site, cache)
    try:
        assert os.path.isfile(str(mnt / "lib" / ("python" + xy) / "site-cached" / MARKER_FILE))
        assert not os.path.exists(str(mnt / "lib" / ("python" + xy) / "site-packages"))
    finally:
        force_unmount(str(mnt))

    # A key that no longer names the interpreter is a miss: the answer is
    # asked again and the entry rewritten.
    with open(files[0], "w") as f:
        f.write(key.replace("pyenvfs-layout-1", "pyenvfs-layout-0") + "\n" + edited)
    mount_daemon(usr_base, mnt, site, cache)
    try:
        assert os.path.isfile(str(mnt / "lib" / ("python" + xy) / "site-packages" / MARKER_FILE))
    finally:
        force_unmount(str(mnt))
    assert open(files[0]).read() == text


def test_no_cache_written_by_a_refused_mount(usr_base, tmp_path, cleanup_mounts):
    cache = tmp_path / "cache"
    site = tmp_path / "s"
    # MOUNTPOINT missing: refused before the interpreter is asked.
    r = run_pyenvfs([usr_base.prefix, tmp_path / "missing", "--site", site], env=env_with_cache(cache))
    assert r.returncode == 1
    assert not cache.exists()
    assert not site.exists()


def test_mounts_without_a_home(usr_base, tmp_path, cleanup_mounts):
    mnt, site = tmp_path / "m", tmp_path / "s"
    mnt.mkdir()
    e = dict(os.environ)
    e.pop("HOME", None)
    e.pop("XDG_CACHE_HOME", None)
    r = run_pyenvfs([usr_base.prefix, mnt, "--site", site], env=e)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.isfile(str(mnt / "pyvenv.cfg"))
    finally:
        force_unmount(str(mnt))
