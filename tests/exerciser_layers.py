"""Model-based differential exerciser for stacked site layers (issue 11).

Each seed makes 2 or 3 random read-only layers (nested directories, files,
symlinks, the same names in several layers, a file in one layer where another
has a directory, and in the upper layers some whiteouts and opaque
directories).  They are written twice: in pyenvfs's format (records under
L/.pyenvfs/whiteouts) for `--lower-site`, and in overlayfs's (0/0 character
devices, trusted.overlay.opaque) for the kernel's overlayfs.

A seeded random sequence of operations (create, write, append, truncate,
open with O_TRUNC, chmod, utimens, unlink, rmdir, a whole-tree removal,
mkdir, rename of files and directories, hard links, symlinks, reads, mmap
writes, umask) at depths 1 to 4 of the env's site-packages is applied to:

- A: the site-packages of a pyenvfs mount over the layers (DIR fresh);
- C (optional): an overlayfs mount of the same layers (lowerdir = the
  layers, upperdir fresh, redirect_dir=off, index=off, metacopy=off);
- the model, M.  M is the union of the layers computed in Python
  (`union()`: the first layer answers, directories merge until an opaque
  one, a whiteout or a non-directory) written to a plain directory, plus the
  layer state in Python: which directories of the view have a part in a
  lower layer and which files, symlinks are still the layers' (not yet
  copied up).  Outside the union rule, a union behaves like a plain
  directory tree, so the plain directory gives the POSIX outcomes (errno
  values, link counts, contents, modes) and the Python part adds the union's
  own rules:
    * a removal hides the lower name (and everything below): the name
      leaves the lower state, so a name made again is new (a file from DIR,
      an opaque directory);
    * a change of a lower file (open for writing, truncate, chmod, utimens,
      a hard link to it) copies it up: it is DIR's from then on;
    * rename: EXDEV when the source is a directory with a lower part (as
      overlayfs without redirect_dir), after the checks the kernel makes
      before asking any file system (ENOENT, EINVAL, ENOTEMPTY for an
      ancestor, ENOTDIR/EISDIR, same inode); a lower file is copied up and
      renamed, and a directory may replace one with a lower part that shows
      nothing (it is opaque then), as overlayfs does.

After every step the outcome (return value or errno name) of A and of C must
equal M's; every check_every steps the trees (paths, types, contents, modes,
symlink targets, file link counts; not times or directory sizes) of A and C
must equal M's.  The layers must be unchanged at the end (the callers digest
them).

Where pyenvfs and overlayfs differ on purpose, the op is not applied to C
(and counted in stats["overlay_excluded"]); see OVERLAY_DIFFERS.

No pytest dependency.  tests/test_exerciser_layers.py (CI size) and
tests/stress/exerciser.py --layers (long runs) mount and call run_ops().
"""

import errno
import os
import random
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import exerciser as ex  # noqa: E402

# What a mount over Debian's Python writes into DIR (conftest.VENV_PTH): not
# part of the union the exerciser compares.
VENV_PTH = "pyenvfs-venv.pth"

DIRISH = ["a", "b", "kind", "sub"]      # "kind", "sub": the record format's own words
FILEISH = ["e", "f", "g"]
NAMES = DIRISH + FILEISH
FILE_MODES = [0o644, 0o600, 0o755, 0o444, 0o640, 0o4755]
DIR_MODES = [0o755, 0o700, 0o775, 0o555, 0o2755]
LAYER_DEPTH = 3

# Op classes where pyenvfs, by design, differs from overlayfs (redirect_dir=off):
# such an op is applied to the model and to pyenvfs, not to overlayfs. None
# since the one union engine (issue 19): a lower file is copied up and
# renamed, and a directory replaces an empty one with a lower part, as in
# overlayfs.
OVERLAY_DIFFERS = {}


# ---------------------------------------------------------------------------
# the layers

def random_layer(r, depth, bottom):
    """{name: ("file", data, mode) | ("symlink", target) | ("dir", mode, children, opaque)
    | ("whiteout",)}."""
    tree = {}
    for name in NAMES:
        x = r.random()
        if x < 0.38:
            continue
        if depth > 0 and x < (0.8 if name in DIRISH else 0.5):
            tree[name] = ("dir", r.choice(DIR_MODES), random_layer(r, depth - 1, bottom),
                          (not bottom) and r.random() < 0.12)
        elif x < 0.9 or bottom:
            if r.random() < 0.12:
                tree[name] = ("symlink", r.choice(NAMES + ["a/e", "b/kind/f", "nonexistent"]))
            else:
                n = r.choice([0, 1, 10, 100, 3000, r.randrange(0, 9000)])
                tree[name] = ("file", r.randbytes(n), r.choice(FILE_MODES))
        else:
            tree[name] = ("whiteout",)
    return tree


def union(layers):
    """The view of the layers (top first): {rel: ("dir", mode) | ("file", data, mode)
    | ("symlink", target)}, and {rel of a directory: [layers that contribute]}."""
    view, contrib = {}, {"": list(range(len(layers)))}

    def merge(rel, nodes):
        names = sorted(set().union(*[set(ch) for _, ch in nodes]))
        for name in names:
            r = rel + "/" + name if rel else name
            dirs = []
            for i, ch in nodes:
                n = ch.get(name)
                if n is None:
                    continue
                if n[0] == "whiteout":
                    break
                if n[0] == "dir":
                    dirs.append((i, n))
                    if n[3]:
                        break           # opaque
                    continue
                if not dirs:
                    view[r] = n
                break                   # a non-directory ends the merge
            if dirs:
                view[r] = ("dir", dirs[0][1][1])
                contrib[r] = [i for i, _ in dirs]
                merge(r, [(i, n[2]) for i, n in dirs])

    merge("", list(enumerate(layers)))
    return view, contrib


def drop_idle_whiteouts(layers):
    """Removes whiteouts from directories that only one layer makes (nothing
    under them to hide). overlayfs passes such a directory straight through
    to readdir and lists its whiteouts (test_layers_overlay_oracle.py)."""
    _, contrib = union(layers)

    def rec(tree, rel, i):
        for name in list(tree):
            n = tree[name]
            r = rel + "/" + name if rel else name
            if n[0] == "whiteout" and contrib.get(rel) is not None and contrib[rel] == [i]:
                del tree[name]
            elif n[0] == "dir":
                rec(n[2], r, i)
    for i, t in enumerate(layers):
        rec(t, "", i)
    # directories no longer seen from this layer: their whiteouts are moot but
    # would be listed the same way if no other layer makes them; drop them all
    _, contrib = union(layers)

    def rec2(tree, rel, i):
        for name in list(tree):
            n = tree[name]
            r = rel + "/" + name if rel else name
            if n[0] == "whiteout" and i not in contrib.get(rel, []):
                del tree[name]
            elif n[0] == "dir":
                rec2(n[2], r, i)
    for i, t in enumerate(layers):
        rec2(t, "", i)


def make_layers(seed):
    r = random.Random(("layers", seed).__repr__())
    n = r.choice([2, 3])
    layers = [random_layer(r, LAYER_DEPTH, i == n - 1) for i in range(n)]
    drop_idle_whiteouts(layers)
    return layers


def _hide(top, rel_dir, name):
    """pyenvfs's record: NODE/kind -> whiteout (docs/LAYERS.md)."""
    node = os.path.join(top, ".pyenvfs", "whiteouts", "site")
    for comp in [c for c in rel_dir.split("/") if c] + [name]:
        node = os.path.join(node, "sub", comp)
    os.makedirs(node, exist_ok=True)
    os.symlink("whiteout", os.path.join(node, "kind"))


def _write_file(p, data, mode):
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)


def write_layer(root, tree, fmt, top=None, rel=""):
    """fmt "pyenvfs" (records in top/.pyenvfs) or "overlay"."""
    if top is None:
        top = root
        os.makedirs(root, exist_ok=True)
        if fmt == "pyenvfs":
            os.makedirs(os.path.join(root, ".pyenvfs"), exist_ok=True)
    dirs = []
    for name, n in sorted(tree.items()):
        p = os.path.join(root, name)
        r = rel + "/" + name if rel else name
        if n[0] == "file":
            _write_file(p, n[1], n[2])
        elif n[0] == "symlink":
            os.symlink(n[1], p)
        elif n[0] == "whiteout":
            if fmt == "overlay":
                os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            else:
                _hide(top, rel, name)
        else:
            os.mkdir(p)
            write_layer(p, n[2], fmt, top, r)
            if n[3]:
                if fmt == "overlay":
                    os.setxattr(p, "trusted.overlay.opaque", b"y")
                else:
                    _hide(top, rel, name)
            dirs.append((p, n[1]))
    for p, mode in dirs:
        os.chmod(p, mode)


def write_view(root, view):
    os.makedirs(root, exist_ok=True)
    dirs = []
    for rel in sorted(view):
        n = view[rel]
        p = os.path.join(root, rel)
        if n[0] == "dir":
            os.mkdir(p)
            dirs.append((p, n[1]))
        elif n[0] == "file":
            _write_file(p, n[1], n[2])
        else:
            os.symlink(n[1], p)
    for p, mode in dirs:
        os.chmod(p, mode)


class Stack:
    """A seed's layers on disk: .pyenvfs_layers and .overlay_layers (top first),
    .model (the model's directory, holding the union)."""

    def __init__(self, seed, work, overlay=True):
        self.seed = seed
        self.layers = make_layers(seed)
        self.view, self.contrib = union(self.layers)
        self.pyenvfs_layers, self.overlay_layers = [], []
        for i, t in enumerate(self.layers):
            p = os.path.join(work, "L%d" % i)
            write_layer(p, t, "pyenvfs")
            self.pyenvfs_layers.append(p)
            if overlay:
                o = os.path.join(work, "O%d" % i)
                write_layer(o, t, "overlay")
                self.overlay_layers.append(o)
        self.model = os.path.join(work, "model")
        write_view(self.model, self.view)

    def lower_args(self):
        out = []
        for p in self.pyenvfs_layers:
            out += ["--lower-site", p]
        return out

    def overlay_options(self, upper, work):
        return ("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,index=off,metacopy=off"
                % (":".join(self.overlay_layers), upper, work))

    def describe(self):
        kinds = {"dir": 0, "file": 0, "symlink": 0}
        for n in self.view.values():
            kinds[n[0]] += 1
        merged = sum(1 for v in self.contrib.values() if len(v) > 1)
        return "%d layers, view: %d dirs (%d merged), %d files, %d symlinks" % (
            len(self.layers), kinds["dir"], merged, kinds["file"], kinds["symlink"])


# ---------------------------------------------------------------------------
# the ops

KNOWN = []      # the paths of the seed's union, for gen_op (set by gen_ops)
KNOWN_DIRS = [] # its directories, and "" (the top)


def _path(r, leaf):
    """A path of depth 1 to 4: often one of the layers' (KNOWN), or a new name
    in one of their directories, so that most ops meet the layers."""
    if KNOWN and r.random() < 0.8:
        p = r.choice(KNOWN)
        x = r.random()
        if x < 0.25 and p.count("/") < 3:
            return p + "/" + r.choice(leaf)
        if x < 0.4:
            return (p.rsplit("/", 1)[0] + "/" if "/" in p else "") + r.choice(leaf)
        return p
    depth = r.choices([1, 2, 3, 4], weights=[25, 35, 28, 12])[0]
    parts = [r.choice(DIRISH) for _ in range(depth - 1)]
    parts.append(r.choice(NAMES) if r.random() < 0.3 else r.choice(leaf))
    return "/".join(parts)


def _new(r, leaf):
    """Mostly a name that the layers do not have, in one of their directories."""
    if KNOWN_DIRS and r.random() < 0.7:
        d = r.choice(KNOWN_DIRS)
        return (d + "/" if d else "") + r.choice(leaf)
    return _path(r, leaf)


def _fp(r):
    return _path(r, FILEISH)


def _dp(r):
    return _path(r, DIRISH)


def _any(r):
    return _path(r, NAMES)


OP_WEIGHTS = [
    ("create", 6), ("write", 5), ("pwrite", 3), ("append", 3), ("truncate", 4),
    ("open_trunc", 2), ("chmod", 5), ("utimens", 3), ("unlink", 8), ("rmdir", 7),
    ("rmtree", 2), ("mkdir", 7), ("rename", 12), ("link", 4), ("symlink", 3),
    ("read", 3), ("mmap_write", 1), ("umask", 1),
]
_OPS, _W = zip(*OP_WEIGHTS)


def gen_op(r):
    k = r.choices(_OPS, weights=_W)[0]
    if k == "create":
        excl = r.random() < 0.4
        return (k, _new(r, FILEISH) if excl else _fp(r), excl, r.choice(FILE_MODES))
    if k == "write":
        return (k, _fp(r), r.choice([0, 0, r.randrange(0, 5000)]), ex._len(r), r.randrange(1 << 30))
    if k == "pwrite":
        return (k, _fp(r), r.randrange(0, 20000), ex._len(r), r.randrange(1 << 30))
    if k == "append":
        return (k, _fp(r), ex._len(r), r.randrange(1 << 30))
    if k == "truncate":
        return (k, _fp(r), r.choice([0, 1, 100, 4096, r.randrange(0, 12000)]))
    if k == "open_trunc":
        return (k, _fp(r), r.random() < 0.5, ex._len(r) if r.random() < 0.5 else 0, r.randrange(1 << 30))
    if k == "chmod":
        return (k, _any(r), r.choice(FILE_MODES + DIR_MODES))
    if k == "utimens":
        return (k, _any(r), r.randrange(1 << 40) * 1000, r.randrange(1 << 40) * 1000, r.random() < 0.7)
    if k == "unlink":
        return (k, _fp(r) if r.random() < 0.7 else _any(r))
    if k in ("rmdir", "rmtree"):
        return (k, _dp(r))
    if k == "mkdir":
        return (k, _new(r, NAMES) if r.random() < 0.6 else _dp(r), r.choice([0o755, 0o755, 0o700, 0o2775, 0o555]))
    if k == "rename":
        src = r.choice(KNOWN) if KNOWN and r.random() < 0.5 else _any(r)
        parent = src.rsplit("/", 1)[0] if "/" in src else ""
        dst = r.choice([_any(r), _fp(r), _dp(r), _new(r, NAMES), _new(r, NAMES), src + "/" + r.choice(DIRISH),
                        (parent + "/" if parent else "") + r.choice(NAMES),
                        parent or r.choice(DIRISH)])
        return (k, src, dst)
    if k == "link":
        return (k, _fp(r) if r.random() < 0.8 else _any(r), _new(r, NAMES))
    if k == "symlink":
        return (k, r.choice(NAMES + ["a/e", "sub/g", ".", "nonexistent", "/nonexistent-pyenvfs-ex/x"]), _new(r, NAMES))
    if k == "read":
        return (k, _fp(r), r.randrange(0, 9000), r.choice([1, 100, 4096, 9000]))
    if k == "mmap_write":
        return (k, _fp(r), r.randrange(0, 9000), ex._len(r), r.randrange(1 << 30))
    if k == "umask":
        return (k, r.choice(ex.UMASKS))
    raise AssertionError(k)


def gen_ops(seed, n_ops):
    """The ops of a seed: from the seed alone (the layers are the seed's too)."""
    view, _ = union(make_layers(seed))
    KNOWN[:] = sorted(view)
    KNOWN_DIRS[:] = [""] + sorted(p for p, n in view.items() if n[0] == "dir")
    try:
        r = random.Random(("ops", seed).__repr__())
        return [gen_op(r) for _ in range(n_ops)]
    finally:
        KNOWN[:] = []
        KNOWN_DIRS[:] = []


def _rmtree(p):
    """Bottom-up removal as shutil.rmtree does it (no symlink followed); the
    number of names removed."""
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(p)
        return 1
    n = 0
    for name in sorted(os.listdir(p)):
        n += _rmtree(os.path.join(p, name))
    os.rmdir(p)
    return n + 1


def _apply(side, op):
    k = op[0]
    if k == "utimens":
        _, rel, at, mt, follow = op
        p = side.p(rel)
        os.utime(p, ns=(at, mt), follow_symlinks=follow)
        st = os.stat(p, follow_symlinks=follow)
        # A merged directory shows the newest mtime of its layers' (so that a
        # layer's owner's change shows as one; docs/LAYERS.md), where
        # overlayfs shows its upper directory's: only that it succeeded.
        return "dir" if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
    if k == "rmtree":
        return _rmtree(side.p(op[1]))
    return ex._apply(side, op)


def apply(side, op):
    try:
        return _apply(side, op)
    except OSError as e:
        return ("ERR", errno.errorcode.get(e.errno, str(e.errno)))


def _err(name):
    return ("ERR", name)


def _failed(outcome):
    return isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] == "ERR"


# ---------------------------------------------------------------------------
# the model

COPY_UP = {"create", "write", "pwrite", "append", "truncate", "open_trunc", "chmod", "utimens",
           "mmap_write"}


def _under(p, root):
    return p == root or p.startswith(root + "/")


class Model:
    """The model's plain directory (POSIX outcomes) and the union's state."""

    def __init__(self, stack):
        self.side = ex.Side(stack.model)
        self.root = self.side.root
        # directories with a part in a lower layer (EXDEV for rename)
        self.lower_dirs = {r for r, n in stack.view.items() if n[0] == "dir"}
        # files and symlinks still the layers' own (not copied up)
        self.lower_nondirs = {r for r, n in stack.view.items() if n[0] != "dir"}

    # -- the object a path names in the view (a relative path; "" the root)
    def obj(self, rel, follow):
        full = os.path.join(self.root, rel)
        parent = os.path.realpath(os.path.dirname(full))
        if not _under(parent, self.root):
            return None
        p = os.path.join(parent, os.path.basename(full))
        if follow and os.path.islink(p):
            p = os.path.realpath(p)
            if not _under(p, self.root):
                return None
        r = os.path.relpath(p, self.root)
        return "" if r == "." else r

    def _lstat(self, rel):
        try:
            return os.lstat(os.path.join(self.root, rel))
        except OSError:
            return None

    def drop(self, rel):
        """rel and everything below leave the lower state (a whiteout)."""
        for s in (self.lower_dirs, self.lower_nondirs):
            for p in [p for p in s if _under(p, rel)]:
                s.discard(p)

    def rename_rule(self, src, dst):
        """None (a plain rename: the directory decides), or (outcome, class):
        the outcome the union gives without touching the model, and the
        OVERLAY_DIFFERS class if overlayfs differs there."""
        st_s = self._lstat(src)
        if st_s is None:
            return None
        s = self.obj(src, False)
        try:
            st_dp = os.stat(os.path.dirname(os.path.join(self.root, dst)))
        except OSError:
            return None
        if not stat.S_ISDIR(st_dp.st_mode) or s is None:
            return None
        d = self.obj(dst, False)
        if d is None:
            return None
        st_d = self._lstat(dst)
        s_dir = stat.S_ISDIR(st_s.st_mode)
        if not (s_dir and s in self.lower_dirs):
            return None                 # a plain rename (a lower file is copied up first)
        # What the kernel checks before asking the file system (do_renameat2,
        # vfs_rename): the same for pyenvfs, overlayfs and the model.
        if s_dir and _under(d, s) and d != s:
            return None                 # EINVAL from the directory
        if _under(s, d) and s != d:
            return None                 # ENOTEMPTY (an ancestor) from the directory
        if st_d is not None and (st_d.st_ino, st_d.st_dev) == (st_s.st_ino, st_s.st_dev):
            return None                 # the same inode: nothing happens
        if st_d is not None and stat.S_ISDIR(st_d.st_mode) != s_dir:
            return None                 # ENOTDIR / EISDIR from the directory
        return _err("EXDEV"), None

    def apply(self, op):
        """(outcome, overlay class or None)."""
        k = op[0]
        if k == "rename":
            rule = self.rename_rule(op[1], op[2])
            if rule is not None:
                return rule
            s, d = self.obj(op[1], False), self.obj(op[2], False)
            st_s, st_d = self._lstat(op[1]), self._lstat(op[2])
            same = st_s is not None and st_d is not None and \
                (st_s.st_ino, st_s.st_dev) == (st_d.st_ino, st_d.st_dev)
            out = apply(self.side, op)
            if not _failed(out) and not same and d is not None:
                self.drop(d)            # the target was replaced (opaque, if a directory)
                if s is not None:
                    self.lower_nondirs.discard(s)   # copied up, renamed: DIR's
            self.prune()
            return out, None
        target = None
        if k in COPY_UP:
            target = self.obj(op[1], k != "utimens" or op[4])
        elif k == "link":
            target = self.obj(op[1], False)
        out = apply(self.side, op)
        if not _failed(out) and target is not None:
            self.lower_nondirs.discard(target)
        self.prune()
        return out, None

    def prune(self):
        """Names gone from the view leave the lower state: made again, they are new."""
        for s in (self.lower_dirs, self.lower_nondirs):
            for p in list(s):
                st = self._lstat(p)
                if st is None or stat.S_ISDIR(st.st_mode) != (s is self.lower_dirs):
                    s.discard(p)


# ---------------------------------------------------------------------------
# snapshots

def snapshot(root, cache=None):
    """{rel: description}: types, modes, contents, symlink targets, file link
    counts. Not times, inode numbers, directory sizes or link counts (a
    merged directory's are its top part's)."""
    out = {}
    for r, d in ex.snapshot(root, cache).items():
        if r == VENV_PTH:       # a mount over Debian's Python writes it into DIR
            continue
        if d[0] == "dir":
            out[r] = ("dir", d[1])
        elif d[0] == "symlink":
            out[r] = ("symlink", d[1], d[3])
        else:
            out[r] = d
    return out


class Mismatch(ex.Mismatch):
    pass


def run_ops(ops, model, sides, seed=None, check_every=1, full_every=1, log=None, stats=None):
    """Apply ops to the model and to each side ((label, root, is_overlay));
    raise Mismatch at the first difference. Returns a stats dict."""
    st = stats if stats is not None else {}
    st.setdefault("ops", 0)
    st.setdefault("ok", 0)
    st.setdefault("err", 0)
    st.setdefault("exdev", 0)
    st.setdefault("by_op", {})
    st.setdefault("overlay_excluded", {})
    st.setdefault("entries_max", 0)
    objs = [ex.Side(root) for _, root, _ in sides]
    caches = {}
    old_umask = os.umask(0o022)
    try:
        for i, op in enumerate(ops):
            if op[0] == "umask":
                os.umask(op[1])
            want, differs = model.apply(op)
            st["ops"] += 1
            failed = _failed(want)
            st["err" if failed else "ok"] += 1
            if want == _err("EXDEV"):
                st["exdev"] += 1
            c = st["by_op"].setdefault(op[0], [0, 0])
            c[1 if failed else 0] += 1
            if differs:
                st["overlay_excluded"][differs] = st["overlay_excluded"].get(differs, 0) + 1
            got = []
            for (label, root, is_overlay), side in zip(sides, objs):
                if is_overlay and differs:
                    got.append(None)
                    continue
                got.append(apply(side, op))
            ex._emit(log, "%6d %-60r model=%r %s" % (
                i, op, want, " ".join("%s=%r" % (s[0], g) for s, g in zip(sides, got))))
            bad = [s[0] for s, g in zip(sides, got) if g is not None and g != want]
            if bad:
                raise Mismatch(
                    "layers exerciser: OUTCOME differs (%s)\n  seed=%r step=%d op=%r\n%s"
                    "  model -> %r\n  reproduce: gen_ops(%r, %d)[:%d] on Stack(%r)"
                    % (", ".join(bad), seed, i, op, "".join(
                        "  %s -> %r\n" % (s[0], "(not applied)" if g is None else g)
                        for s, g in zip(sides, got)), want, seed, len(ops), i + 1, seed),
                    ("outcome", bad[0], op[0]))
            if check_every and (i % check_every == 0 or i == len(ops) - 1):
                full = full_every <= 1 or i % full_every == 0 or i == len(ops) - 1
                sm = snapshot(model.root, None if full else caches.setdefault("model", {}))
                st["entries_max"] = max(st["entries_max"], len(sm))
                diffs = []
                for label, root, _ in sides:
                    sa = snapshot(root, None if full else caches.setdefault(root, {}))
                    d = ex.diff_snapshots(sa, sm)
                    if d:
                        diffs.append((label, d))
                if diffs:
                    text = "".join(
                        "  %s vs model, differing paths (%d):\n%s\n" % (label, len(d), "\n".join(
                            "    %s:\n      %s=%r\n      model=%r" % (p, label, a, b) for p, a, b in d[:20]))
                        for label, d in diffs)
                    raise Mismatch(
                        "layers exerciser: TREE differs (%s)\n"
                        "  seed=%r step=%d op=%r\n  outcome -> %r\n%s"
                        "  reproduce: gen_ops(%r, %d)[:%d] on Stack(%r)"
                        % (", ".join(x[0] for x in diffs), seed, i, op, want, text, seed, len(ops), i + 1, seed),
                        ("tree", diffs[0][0], op[0]))
    finally:
        os.umask(old_umask)
    return st


def compare_now(model, label, root):
    """The tree at root against the model's, now (after a remount, say)."""
    d = ex.diff_snapshots(snapshot(root), snapshot(model.root))
    if d:
        lines = "\n".join("    %s:\n      %s=%r\n      model=%r" % (p, label, a, b) for p, a, b in d[:20])
        raise Mismatch("layers exerciser: TREE differs (%s vs model)\n%s" % (label, lines),
                       ("tree", label, "final"))


def record_names_shown(root):
    """Paths under root whose name is the records' own (.pyenvfs at the top,
    overlayfs's .wh. prefix): must be none."""
    bad = []
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            if n.startswith(".wh.") or (dp == root and n == ".pyenvfs"):
                bad.append(os.path.relpath(os.path.join(dp, n), root))
    return bad
