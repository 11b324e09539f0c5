"""What CI requires of the machine, and the skip budget.

Strict mode (CI=true, or PYENVFS_STRICT=1, which ``scripts/test.sh --strict``
exports): a missing prerequisite of the tests is a failure with a one-line
reason, not a skip.  Outside it, tests skip with their reasons as before.

Used by tests/conftest.py and by scripts/test.sh:

    python3 tests/ci.py preflight            # one line per missing prerequisite; exit 1 if any
    python3 tests/ci.py budget COUNTS.json   # the skip counts against tests/skip-budget
    python3 tests/ci.py kind                 # this machine's kind (a section of the budget)
"""

import json
import os
import re
import shutil
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGET_FILE = os.path.join(HERE, "skip-budget")
FUSE_DEV = "/dev/fuse"
FUSE_RDEV = (10, 229)   # the misc device the kernel's fuse module registers

# Commands the suite runs, from packages scripts/setup.sh installs: in CI a
# missing one fails the run instead of skipping the tests that need it.
REQUIRED_TOOLS = {
    "fusermount3": "fuse3", "mount.fuse3": "fuse3", "cc": "build-essential",
    "pkg-config": "pkg-config", "fish": "fish", "tcsh": "tcsh", "zsh": "zsh",
    "dash": "dash", "mksquashfs": "squashfs-tools", "squashfuse": "squashfuse",
    "useradd": "passwd", "userdel": "passwd", "systemd-analyze": "systemd",
}
# Python modules the suite imports from Debian's python3 (setup.sh's packages).
REQUIRED_MODULES = {"yaml": "python3-yaml", "distro": "python3-distro",
                    "pytest": "python3-pytest"}


def strict():
    """True in CI: CI=true (or 1/yes), or PYENVFS_STRICT=1."""
    if os.environ.get("PYENVFS_STRICT", "") == "1":
        return True
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def machine_kind():
    """<os id>-<os version>-<root|user>, e.g. debian-12-root: a section of the budget."""
    osid, ver = "unknown", ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                v = v.strip('"')
                if k == "ID":
                    osid = v
                elif k == "VERSION_ID":
                    ver = v
    except OSError:
        pass
    who = "root" if os.geteuid() == 0 else "user"
    return "-".join(x for x in (osid, ver, who) if x)


def fuse_problem():
    """Why FUSE cannot be used here (one line), or None."""
    try:
        st = os.stat(FUSE_DEV)
    except OSError as e:
        return "%s is missing (%s)" % (FUSE_DEV, e.strerror)
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != FUSE_RDEV:
        kind = ("char %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
                if stat.S_ISCHR(st.st_mode) else "not a character device")
        return "%s is not the FUSE device (%s, expected char %d:%d)" % ((FUSE_DEV, kind) + FUSE_RDEV)
    if not os.access(FUSE_DEV, os.R_OK | os.W_OK):
        return "%s is not readable and writable for uid %d" % (FUSE_DEV, os.geteuid())
    if not shutil.which("fusermount3", path=os.environ.get("PATH", "") + ":/usr/bin:/bin"):
        return "fusermount3 not found (Debian package fuse3)"
    return None


def missing_pythons():
    """One line per expected base Python (pythons.EXPECTED_*) not found here."""
    sys.path.insert(0, HERE)
    import pythons
    out = []
    root = pythons.pyenv_root()
    for v in pythons.EXPECTED_USR:
        if pythons.find("usr-" + v) is None:
            out.append("expected Python usr-%s not found (/usr/bin/python%s)" % (v, v))
    for v in pythons.EXPECTED_PYENV:
        if pythons.find("pyenv-" + v) is None:
            out.append("expected Python pyenv-%s not found (pyenv root: %s)"
                       % (v, root or "none found: `pyenv root`, $PYENV_ROOT and ~/.pyenv all fail"))
    return out


def missing_tools():
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    out = ["%s not found (Debian package %s, scripts/setup.sh installs it)" % (t, p)
           for t, p in sorted(REQUIRED_TOOLS.items()) if not shutil.which(t, path=path)]
    for mod, pkg in sorted(REQUIRED_MODULES.items()):
        if not _debian_python_has(mod):
            out.append("Python module %s not importable by /usr/bin/python3 (Debian package %s, "
                       "scripts/setup.sh installs it)" % (mod, pkg))
    return out


def _debian_python_has(mod):
    import subprocess
    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import " + mod],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def preflight(pyenvfs=None):
    """Every reason (one line each) this machine cannot run the whole suite."""
    out = []
    p = fuse_problem()
    if p:
        out.append(p)
    if pyenvfs is not None and not (os.path.isfile(pyenvfs) and os.access(pyenvfs, os.X_OK)):
        out.append("pyenvfs binary not built (%s)" % pyenvfs)
    out += missing_pythons()
    out += missing_tools()
    if budget_for(machine_kind()) is None:
        out.append("no skip budget for machine kind %s in %s" % (machine_kind(), BUDGET_FILE))
    return out


# ---------------------------------------------------------------------------
# the skip budget

class Group:
    def __init__(self, limit, pattern, why):
        self.limit = limit
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.why = why


def budget_for(kind, path=BUDGET_FILE):
    """The groups of the section [kind] of the budget file, or None without one.

    A group line is `MAX | REGEX | WHY`: at most MAX skips per pass whose
    reason REGEX matches (re.search), and why they are expected."""
    groups, cur = {}, None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                cur = groups.setdefault(m.group(1), [])
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            if cur is None or len(parts) != 3 or not parts[0].isdigit() or not parts[2]:
                raise ValueError("%s:%d: expected [KIND] or `MAX | REGEX | WHY`: %r"
                                 % (path, n, line))
            cur.append(Group(int(parts[0]), parts[1], parts[2]))
    return groups.get(kind)


def classify(reason, groups):
    """The first group whose pattern the skip reason matches, or None."""
    for g in groups or ():
        if g.regex.search(reason):
            return g
    return None


def check_budget(counts, groups):
    """Lines describing the skips per group; (lines, over) where over lists
    the one-line failures (a group over its MAX, a skip outside every group)."""
    by_group = counts.get("skip_groups", {})
    lines, over = [], []
    for g in groups:
        n = by_group.get(g.pattern, 0)
        lines.append("%4d of %4d  %s" % (n, g.limit, g.why))
        if n > g.limit:
            over.append("skip budget exceeded: %d skips > %d for %r (%s)"
                        % (n, g.limit, g.pattern, g.why))
    for reason in counts.get("skip_unbudgeted", []):
        over.append("skip outside the budget: %s" % reason)
    return lines, over


def _main(argv):
    if len(argv) >= 1 and argv[0] == "kind":
        print(machine_kind())
        return 0
    if len(argv) >= 1 and argv[0] == "preflight":
        probs = preflight(argv[1] if len(argv) > 1 else None)
        for p in probs:
            print(p)
        return 1 if probs else 0
    if len(argv) == 2 and argv[0] == "budget":
        with open(argv[1]) as f:
            counts = json.load(f)
        groups = budget_for(machine_kind())
        if groups is None:
            print("no skip budget for machine kind %s in %s" % (machine_kind(), BUDGET_FILE))
            return 1
        lines, over = check_budget(counts, groups)
        for line in lines:
            print("  " + line)
        for line in over:
            print("FAIL: " + line)
        return 1 if over else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
