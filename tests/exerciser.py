"""Model-based random file-operation exerciser (differential: mount vs native).

The same seeded random sequence of file operations is applied to two
directories -- A, a directory inside the mounted site-packages (through the
pyenvfs mount), and B, a plain directory on the native disk -- and after
every step both the operation's outcome (return value, or errno name) and the
whole tree under each directory (relative paths, types, sizes, content hashes,
mode & 0o7777, symlink targets, st_nlink) must be the same.  atime/mtime and
inode numbers are not compared.

No pytest dependency.  Entry points:

    run(seed, n_ops, dir_a, dir_b, log=None)   -> stats dict, or AssertionError
    gen_ops(seed, n_ops)                        -> the list of ops (plain tuples)
    run_ops(ops, dir_a, dir_b, ...)             -> replay an explicit list
    shrink(seed, n_ops, make_dirs)              -> minimal failing list of ops

B must be on the same kind of file system as the directory behind A (DIR):
directory sizes and link counts are the file system's own and are compared.

`make_dirs` for shrink() is a callable returning a fresh, empty
(dir_a, dir_b) pair on every call.

Ops are generated from the seed alone (never from the state), so any
sub-sequence of them is still a valid program; that is what the shrinker
relies on.  Data written is derived from a per-op seed stored in the op, so a
printed op list is a complete reproducer.

Command line (replay a printed reproducer against two directories):

    /usr/bin/python3 tests/exerciser.py DIR_A DIR_B SEED N_OPS
    /usr/bin/python3 tests/exerciser.py DIR_A DIR_B --ops FILE   (FILE holds a Python list literal)
"""

import ast
import errno
import hashlib
import mmap
import os
import random
import re
import stat
import sys
import time

NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"]
MAX_DEPTH = 3
MAX_FILE = 128 * 1024        # keep hashing cheap: offsets/sizes stay below this
N_SLOTS = 3                  # long-lived open file descriptors
UMASKS = [0o022, 0o002, 0o000, 0o077]


class Mismatch(AssertionError):
    """A difference between A and B.  .signature identifies the kind of failure
    (used by the shrinker so that it keeps chasing the same bug)."""

    def __init__(self, msg, signature):
        AssertionError.__init__(self, msg)
        self.signature = signature


# ---------------------------------------------------------------------------
# generation

DIRISH, FILEISH = NAMES[:4], NAMES[4:]


def _path(r, leaf=None):
    """A path of depth 1..3.  Parent components come from the first half of
    the pool (the names mkdir prefers); the leaf prefers the pool half given
    (dirs or files) but can be any name, so that files and dirs collide."""
    depth = r.choices([1, 2, 3], weights=[50, 35, 15])[0]
    parts = [r.choice(DIRISH) for _ in range(depth - 1)]
    if leaf is None or r.random() < 0.25:
        parts.append(r.choice(NAMES))
    else:
        parts.append(r.choice(leaf))
    return "/".join(parts)


def _fpath(r):
    return _path(r, FILEISH)


def _dpath(r):
    return _path(r, DIRISH)


def _size(r):
    return r.choice([0, 1, 7, 100, 4095, 4096, 4097, 8192, 12000, 65536 + 3,
                     r.randrange(0, 20000), r.randrange(0, MAX_FILE)])


def _len(r):
    return r.choice([1, 3, 17, 100, 511, 4096, 5000, r.randrange(1, 9000)])


def _mode(r, d=False):
    m = r.choice([0o644, 0o600, 0o755, 0o700, 0o666, 0o777, 0o444, 0o000, 0o640,
                  0o4755, 0o2755, 0o1777, 0o2775, r.randrange(0, 0o10000)])
    return m


def _target(r):
    return r.choice([_path(r), r.choice(NAMES), r.choice(NAMES[:4]) + "/" + r.choice(NAMES[:4]),
                     ".", "nonexistent", "/nonexistent-pyenvfs-ex/x"])  # parent never exists: nothing outside root is ever created


OP_WEIGHTS = [
    ("create", 8), ("write", 7), ("pwrite", 8), ("append", 5), ("truncate", 3),
    ("ftruncate", 3), ("open_trunc", 3), ("rename", 7), ("link", 4),
    ("symlink", 3), ("unlink", 5), ("mkdir", 4), ("rmdir", 4), ("chmod", 4),
    ("mmap_write", 4), ("fsync", 2), ("read", 5), ("umask", 1),
    ("slot_open", 6), ("slot_write", 4), ("slot_read", 2), ("slot_fstat", 2),
    ("slot_truncate", 1), ("slot_close", 3),
]
_OPS, _W = zip(*OP_WEIGHTS)


def gen_op(r):
    k = r.choices(_OPS, weights=_W)[0]
    if k == "create":
        return (k, _fpath(r), r.random() < 0.5, _mode(r))
    if k == "write":
        return (k, _fpath(r), r.choice([0, 0, r.randrange(0, 10000)]), _len(r), r.randrange(1 << 30))
    if k == "pwrite":
        return (k, _fpath(r), r.randrange(0, MAX_FILE // 2), _len(r), r.randrange(1 << 30))
    if k == "append":
        return (k, _fpath(r), _len(r), r.randrange(1 << 30))
    if k in ("truncate", "ftruncate"):
        return (k, _fpath(r), _size(r))
    if k == "open_trunc":
        return (k, _fpath(r), r.random() < 0.5, _len(r) if r.random() < 0.5 else 0, r.randrange(1 << 30))
    if k in ("rename", "link"):
        src = _path(r) if k == "rename" else _fpath(r)
        # bias: into a subdir of itself / sibling / same name
        dst = r.choice([_path(r), _fpath(r), _dpath(r), src + "/" + r.choice(NAMES[:4]),
                        src.rsplit("/", 1)[0] + "/" + r.choice(NAMES) if "/" in src else r.choice(NAMES)])
        return (k, src, dst)
    if k == "symlink":
        return (k, _target(r), _fpath(r))
    if k in ("unlink", "fsync"):
        return (k, _fpath(r))
    if k == "rmdir":
        return (k, _dpath(r))
    if k == "mkdir":
        return (k, _dpath(r), r.choice([0o755, 0o755, 0o700, 0o777, 0o2775, 0o1777, 0o500]))
    if k == "chmod":
        return (k, _path(r), _mode(r))
    if k == "mmap_write":
        return (k, _fpath(r), r.randrange(0, MAX_FILE), _len(r), r.randrange(1 << 30))
    if k == "read":
        return (k, _fpath(r), r.randrange(0, 70000), r.choice([1, 100, 4096, 9000, 70000]))
    if k == "umask":
        return (k, r.choice(UMASKS))
    if k == "slot_open":
        fl = r.choice(["r", "w", "rw", "rwc", "rwc", "rwc", "wa", "rwt", "rwce"])
        return (k, r.choice([0, 0, 1, 2]), _fpath(r), fl, _mode(r))
    if k == "slot_write":
        return (k, r.choice([0, 0, 1, 2]), r.randrange(0, MAX_FILE // 4), _len(r), r.randrange(1 << 30))
    if k == "slot_read":
        return (k, r.choice([0, 0, 1, 2]), r.randrange(0, 70000), r.choice([1, 100, 4096, 9000]))
    if k == "slot_fstat":
        return (k, r.choice([0, 0, 1, 2]))
    if k == "slot_truncate":
        return (k, r.choice([0, 0, 1, 2]), _size(r))
    if k == "slot_close":
        return (k, r.choice([0, 0, 1, 2]))
    raise AssertionError(k)


def gen_ops(seed, n_ops):
    r = random.Random(seed)
    return [gen_op(r) for _ in range(n_ops)]


def _data(dseed, n):
    return random.Random(dseed).randbytes(n)


# ---------------------------------------------------------------------------
# execution

_SLOT_FLAGS = {
    "r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
    "rwc": os.O_RDWR | os.O_CREAT, "wa": os.O_WRONLY | os.O_APPEND,
    "rwt": os.O_RDWR | os.O_TRUNC, "rwce": os.O_RDWR | os.O_CREAT | os.O_EXCL,
}


class Side:
    """One of the two directories, with its open slots."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.slots = [None] * N_SLOTS

    def p(self, rel):
        return os.path.join(self.root, rel)

    def close_all(self):
        for i, fd in enumerate(self.slots):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                self.slots[i] = None


def _with_fd(path, flags, fn, mode=0o644):
    fd = os.open(path, flags | os.O_CLOEXEC, mode)
    try:
        return fn(fd)
    finally:
        os.close(fd)


def _h(b):
    return "%d:%s" % (len(b), hashlib.sha1(b).hexdigest()[:12])


def _apply(side, op):
    k = op[0]
    p = side.p
    if k == "create":
        _, rel, excl, mode = op
        fl = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if excl else 0)
        return _with_fd(p(rel), fl, lambda fd: "ok", mode)
    if k == "write":
        _, rel, off, n, ds = op
        def f(fd):
            os.lseek(fd, off, os.SEEK_SET)
            return os.write(fd, _data(ds, n))
        return _with_fd(p(rel), os.O_WRONLY, f)
    if k == "pwrite":
        _, rel, off, n, ds = op
        return _with_fd(p(rel), os.O_WRONLY, lambda fd: os.pwrite(fd, _data(ds, n), off))
    if k == "append":
        _, rel, n, ds = op
        def f(fd):
            w = os.write(fd, _data(ds, n))
            return (w, os.lseek(fd, 0, os.SEEK_CUR))
        return _with_fd(p(rel), os.O_WRONLY | os.O_APPEND, f)
    if k == "truncate":
        _, rel, size = op
        os.truncate(p(rel), size)
        return "ok"
    if k == "ftruncate":
        _, rel, size = op
        def f(fd):
            os.ftruncate(fd, size)
            return os.fstat(fd).st_size
        return _with_fd(p(rel), os.O_WRONLY, f)
    if k == "open_trunc":
        _, rel, creat, n, ds = op
        fl = os.O_WRONLY | os.O_TRUNC | (os.O_CREAT if creat else 0)
        def f(fd):
            r = [os.fstat(fd).st_size]
            if n:
                r.append(os.write(fd, _data(ds, n)))
            return tuple(r)
        return _with_fd(p(rel), fl, f)
    if k == "rename":
        os.rename(p(op[1]), p(op[2]))
        return "ok"
    if k == "link":
        os.link(p(op[1]), p(op[2]), follow_symlinks=False)
        return "ok"
    if k == "symlink":
        os.symlink(op[1], p(op[2]))
        return "ok"
    if k == "unlink":
        os.unlink(p(op[1]))
        return "ok"
    if k == "mkdir":
        os.mkdir(p(op[1]), op[2])
        return "ok"
    if k == "rmdir":
        os.rmdir(p(op[1]))
        return "ok"
    if k == "chmod":
        os.chmod(p(op[1]), op[2])
        return "ok"
    if k == "fsync":
        def f(fd):
            os.fsync(fd)
            return "ok"
        return _with_fd(p(op[1]), os.O_RDONLY, f)
    if k == "mmap_write":
        _, rel, off, n, ds = op
        def f(fd):
            size = os.fstat(fd).st_size
            if size == 0:
                return "empty"
            o = off % size
            data = _data(ds, min(n, size - o))
            with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
                mm[o:o + len(data)] = data
                mm.flush()                      # msync(MS_SYNC)
                back = _h(mm[:size])
            return (size, o, len(data), back)
        return _with_fd(p(rel), os.O_RDWR, f)
    if k == "read":
        _, rel, off, n = op
        return _with_fd(p(rel), os.O_RDONLY, lambda fd: _h(os.pread(fd, n, off)))
    if k == "umask":
        return "ok"             # set once for both sides by run_ops (process-wide)
    if k.startswith("slot_"):
        i = op[1]
        fd = side.slots[i]
        if k == "slot_open":
            _, i, rel, fl, mode = op
            if fd is not None:
                os.close(fd)
                side.slots[i] = None
            side.slots[i] = os.open(p(rel), _SLOT_FLAGS[fl] | os.O_CLOEXEC, mode)
            return "ok"
        if fd is None:
            return "no-slot"
        if k == "slot_write":
            _, i, off, n, ds = op
            return os.pwrite(fd, _data(ds, n), off)
        if k == "slot_read":
            _, i, off, n = op
            return _h(os.pread(fd, n, off))
        if k == "slot_fstat":
            st = os.fstat(fd)
            return (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777, st.st_size, st.st_nlink)
        if k == "slot_truncate":
            os.ftruncate(fd, op[2])
            return "ok"
        if k == "slot_close":
            os.close(fd)
            side.slots[i] = None
            return "ok"
    raise AssertionError("unknown op %r" % (op,))


def apply(side, op):
    """Run op on side; the outcome is the return value or ('ERR', errno name)."""
    try:
        return _apply(side, op)
    except OSError as e:
        return ("ERR", errno.errorcode.get(e.errno, str(e.errno)))


# ---------------------------------------------------------------------------
# tree snapshots

def snapshot(root, cache=None):
    """{relpath: description} for everything under root (symlinks not followed).

    cache, a dict, lets file contents be re-hashed only when (inode, size,
    mtime, ctime) changed -- a speed-up for long runs, which must still do
    uncached snapshots now and then (run_ops(full_every=N)).  The times and
    inode are only a cache key, never compared."""
    out = {}

    def walk(d, rel):
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            out[rel + "/<listdir>"] = ("ERR", errno.errorcode.get(e.errno, e.errno))
            return
        for name in names:
            r = rel + "/" + name if rel else name
            full = os.path.join(d, name)
            try:
                st = os.lstat(full)
            except OSError as e:
                out[r] = ("lstat-ERR", errno.errorcode.get(e.errno, e.errno))
                continue
            perm = oct(st.st_mode & 0o7777)
            if stat.S_ISDIR(st.st_mode):
                out[r] = ("dir", perm, st.st_nlink, st.st_size)
                walk(full, r)
            elif stat.S_ISLNK(st.st_mode):
                out[r] = ("symlink", st.st_nlink, st.st_size, os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                if cache is not None and cache.get(r, (None,))[0] == key:
                    out[r] = ("file", perm, st.st_nlink, st.st_size, cache[r][1])
                    continue
                try:
                    with open(full, "rb") as f:
                        data = f.read()
                    h = _h(data)
                except OSError as e:
                    h = ("read-ERR", errno.errorcode.get(e.errno, e.errno))
                out[r] = ("file", perm, st.st_nlink, st.st_size, h)
                if cache is not None:
                    cache[r] = (key, h)
            else:
                out[r] = ("other", stat.S_IFMT(st.st_mode), perm, st.st_nlink)
    walk(root, "")
    return out


def diff_snapshots(sa, sb):
    """[(path, a, b)] for the paths that differ."""
    res = []
    for k in sorted(set(sa) | set(sb)):
        a, b = sa.get(k, "<missing>"), sb.get(k, "<missing>")
        if a != b:
            res.append((k, a, b))
    return res


# ---------------------------------------------------------------------------
# the loop

def _emit(log, msg):
    if log is None:
        return
    if callable(log):
        log(msg)
    else:
        log.write(msg + "\n")


def run_ops(ops, dir_a, dir_b, log=None, seed=None, dir_a_backing=None, check_every=1,
            views=(), full_every=1):
    """Apply ops to A and B, comparing after every step (every check_every-th
    step for the tree; outcomes always).  dir_a_backing, if given, is the real
    directory behind A (in DIR): it is compared with B as well (what a call
    wrote must be in DIR when the call returns).  views: more (label, path)
    pairs that show the same directory as A (another path through the
    mount); each is compared with B too.  full_every=N (N > 1): file
    contents are re-hashed only for files whose size/times changed, except
    on every N-th step (a speed-up for very long runs).

    Returns a stats dict; raises Mismatch (an AssertionError) on a difference.
    """
    a, b = Side(dir_a), Side(dir_b)
    old_umask = os.umask(0o022)
    st = {"ops": 0, "ok": 0, "err": 0, "by_op": {}, "entries_max": 0}
    caches = {}
    try:
        for i, op in enumerate(ops):
            if op[0] == "umask":
                os.umask(op[1])
            ra = apply(a, op)
            rb = apply(b, op)
            st["ops"] += 1
            failed = isinstance(rb, tuple) and rb and rb[0] == "ERR"
            st["err" if failed else "ok"] += 1
            c = st["by_op"].setdefault(op[0], [0, 0])
            c[0 if not failed else 1] += 1
            _emit(log, "%6d %-60r A=%r B=%r" % (i, op, ra, rb))
            if ra != rb:
                raise Mismatch(
                    "pyenvfs exerciser: OUTCOME differs\n  seed=%r step=%d op=%r\n"
                    "  A (mount) -> %r\n  B (native) -> %r\n"
                    "  reproduce: gen_ops(%r, %d)[:%d]  (then shrink())"
                    % (seed, i, op, ra, rb, seed, len(ops), i + 1),
                    ("outcome", op[0]))
            if check_every and (i % check_every == 0 or i == len(ops) - 1):
                full = full_every <= 1 or i % full_every == 0 or i == len(ops) - 1
                sb = snapshot(b.root, None if full else caches.setdefault(b.root, {}))
                st["entries_max"] = max(st["entries_max"], len(sb))
                for label, root in [("A (mount)", a.root), ("A backing (DIR)", dir_a_backing)] + list(views):
                    if root is None:
                        continue
                    sa = snapshot(root, None if full else caches.setdefault(root, {}))
                    d = diff_snapshots(sa, sb)
                    if d and (label, root) in views:
                        # Another path of DIR: the daemon has the kernel forget the
                        # changed name there, sent just after its reply. Mount with a
                        # long site_timeout, so that only that can make it agree.
                        deadline = time.monotonic() + ALIAS_SETTLE
                        while d and time.monotonic() < deadline:
                            time.sleep(0.005)
                            d = diff_snapshots(snapshot(root, None), sb)
                    if d:
                        lines = "\n".join("    %s:\n      A=%r\n      B=%r" % x for x in d[:20])
                        raise Mismatch(
                            "pyenvfs exerciser: TREE differs (%s vs native)\n"
                            "  seed=%r step=%d op=%r\n  outcome (both sides) -> %r\n"
                            "  differing paths (%d):\n%s\n"
                            "  reproduce: gen_ops(%r, %d)[:%d]  (then shrink())"
                            % (label, seed, i, op, ra, len(d), lines, seed, len(ops), i + 1),
                            ("tree", label, op[0]))
    finally:
        a.close_all()
        b.close_all()
        os.umask(old_umask)
    return st


# How long another path of DIR may take to agree after an operation (seconds).
ALIAS_SETTLE = 2.0


def run(seed, n_ops, dir_a, dir_b, log=None, **kw):
    """Run the seeded sequence of n_ops operations on dir_a and dir_b."""
    return run_ops(gen_ops(seed, n_ops), dir_a, dir_b, log=log, seed=seed, **kw)


# ---------------------------------------------------------------------------
# shrinking

def _fails(ops, make_dirs, signature):
    dirs = make_dirs()
    dir_a, dir_b = dirs[0], dirs[1]
    kw = {"dir_a_backing": dirs[2]} if len(dirs) > 2 else {}
    try:
        run_ops(ops, dir_a, dir_b, **kw)
    except Mismatch as e:
        return signature is None or e.signature == signature, e
    return False, None


def shrink(seed, n_ops, make_dirs, time_budget=60.0, ops=None, out=sys.stdout):
    """Find a short sub-sequence of gen_ops(seed, n_ops) that still fails the
    same way; print it as a reproducible Python list and return it (None if
    the full sequence does not fail).

    make_dirs() must return a fresh, empty (dir_a, dir_b[, dir_a_backing]).
    Delta debugging (ddmin) over the list of ops, bounded by time_budget s.
    """
    if ops is None:
        ops = gen_ops(seed, n_ops)
    ok, err = _fails(ops, make_dirs, None)
    if not ok:
        return None
    sig = err.signature
    # 1. the prefix up to the failing step
    step = _failing_step(err)
    if step is not None:
        ops = ops[:step + 1]
    deadline = time.monotonic() + time_budget
    # 2. ddmin
    n = 2
    while len(ops) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(ops) // n)
        reduced = False
        for start in range(0, len(ops), chunk):
            if time.monotonic() >= deadline:
                break
            cand = ops[:start] + ops[start + chunk:]
            ok, e = _fails(cand, make_dirs, sig)
            if ok:
                ops = cand
                s = _failing_step(e)
                if s is not None:
                    ops = ops[:s + 1]
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(ops), n * 2)
    ok, e = _fails(ops, make_dirs, sig)
    if out is not None:
        out.write("\n# pyenvfs exerciser: minimal reproducer (seed %r, %d ops, %s)\n"
                  % (seed, len(ops), "still fails" if ok else "NOT reproduced on final run"))
        out.write("OPS = [\n" + "".join("    %r,\n" % (o,) for o in ops) + "]\n")
        out.write("# replay: exerciser.run_ops(OPS, dir_a, dir_b)\n")
        if e is not None:
            out.write("# failure:\n# " + str(e).replace("\n", "\n# ") + "\n")
        out.flush()
    return ops


def _failing_step(err):
    m = re.search(r"step=(\d+)", str(err))
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------

def main(argv):
    if len(argv) >= 4 and argv[2] == "--ops":
        with open(argv[3]) as f:
            text = f.read()
        m = re.search(r"\[.*?^\]", text, re.S | re.M)
        ops = ast.literal_eval(m.group(0) if m else text)
        st = run_ops(ops, argv[0], argv[1], log=sys.stdout)
    elif len(argv) == 4:
        st = run(int(argv[2]), int(argv[3]), argv[0], argv[1])
    else:
        sys.stderr.write(__doc__)
        return 2
    print("ok", st)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
