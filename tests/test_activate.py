"""The generated activation scripts: bin/activate (bash, zsh, dash),
bin/activate.fish (fish) and bin/activate.csh (tcsh), run for real.

Two envs are mounted for the module: one at a plain path (.../ENV1) and one
whose path holds a space and a single quote (.../a b'c/my env's).  Each shell
runs a script FILE (tcsh does not see an alias made by `source` later on the
same -c line) that prints @@KEY=value lines, compared here.
"""

import contextlib
import os

import pytest

import pythons
from conftest import mounted, run
from helpers_env import CLEAN_PATH, find_shell, quote_csh, quote_fish, run_shell_script

UNSET = "<unset>"
# The PATH the shells start with: a directory with a space and a quote in it
# (need not exist) checks that PATH is restored exactly.
START_PATH = CLEAN_PATH + ":/opt/a b'c"
START_PROMPT = "myprompt> "
OLD_PYTHONHOME = "/opt/some home/it's"

ENV_NAMES = {"plain": "ENV1", "quoted": "my env's"}

SHELLS = {
    # name: (executable, extra args, kind, activate script)
    "bash": ("bash", ["--norc", "--noprofile"], "sh", "activate"),
    "zsh": ("zsh", ["-f"], "sh", "activate"),
    "dash": ("dash", [], "sh", "activate"),
    "fish": ("fish", ["--no-config"], "fish", "activate.fish"),
    "tcsh": ("tcsh", ["-f"], "csh", "activate.csh"),
}


# ---------------------------------------------------------------------------
# fixtures

def _pick_base():
    """A single-version pyenv base (pip can be put into the env with ensurepip),
    else /usr."""
    bases = [b for b in pythons.discover().values() if len(pythons.versions_in(b.prefix)) == 1]
    if not bases:
        return None
    pref = {"3.12": 0, "3.11": 1, "3.13": 2}
    bases.sort(key=lambda b: (b.kind != "pyenv", b.major != 3, pref.get(b.xy, 9), b.id))
    return bases[0]


def _other_python(base):
    """Another Python (other X.Y) to run by full path from an activated shell."""
    others = [b for b in pythons.discover().values() if b.xy != base.xy and b.major == 3]
    others.sort(key=lambda b: (b.kind != "usr", b.id))
    return others[0] if others else None


class Env:
    def __init__(self, mount, name, base):
        self.mount = mount
        self.mnt = mount.mnt
        self.name = name
        self.base = base

    def bin(self, name):
        return os.path.join(self.mnt, "bin", name)


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    base = _pick_base()
    if base is None:
        pytest.skip("no single-version Python base found")
    root = tmp_path_factory.mktemp("activate")
    paths = {"plain": root / "ENV1", "quoted": root / "a b'c" / "my env's"}
    with contextlib.ExitStack() as stack:
        res = {}
        for key, mnt in paths.items():
            mnt.mkdir(parents=True)
            site = root / ("site-" + key)
            m = stack.enter_context(mounted(base.prefix, mnt, site, base=base))
            # A console script, written through the mount into the env's bin.
            script = os.path.join(m.mnt, "bin", "myscript")
            with open(script, "w") as f:
                f.write("#!/bin/sh\necho myscript-ran\n")
            os.chmod(script, 0o755)
            r = run([os.path.join(m.mnt, "bin", "python" + base.xy), "-m", "ensurepip",
                     "--default-pip"], timeout=180, cwd="/",
                    env={"PATH": CLEAN_PATH, "HOME": str(root), "LC_ALL": "C.UTF-8"})
            # pip is part of what the tests check: ensurepip must work.
            assert r.returncode == 0, ("ensurepip into the env over %s failed (%d): %s"
                                       % (base.id, r.returncode, (r.stderr or r.stdout)[-2000:]))
            assert os.path.exists(os.path.join(m.mnt, "bin", "pip")), \
                "ensurepip into the env over %s made no bin/pip: %s" % (base.id, r.stdout[-2000:])
            res[key] = Env(m, ENV_NAMES[key], base)
        yield res


@pytest.fixture(params=sorted(SHELLS))
def shell(request):
    exe, args, kind, script = SHELLS[request.param]
    path = find_shell(exe)
    if path is None:
        pytest.skip("%s is not installed (scripts/setup.sh installs fish, tcsh, zsh)" % exe)
    return Shell(request.param, [path] + args, kind, script)


@pytest.fixture(params=sorted(ENV_NAMES))
def env(request, envs):
    return envs[request.param]


# ---------------------------------------------------------------------------
# script builders, one per kind of shell

class Shell:
    def __init__(self, name, argv, kind, activate):
        self.name = name
        self.argv = argv
        self.kind = kind
        self.activate_name = activate

    # -- setting up the shell before activation
    def setup(self, prompt=START_PROMPT, pythonhome=None, disable_prompt=False):
        k = self.kind
        out = []
        if k == "sh":
            out.append("PATH=%s; export PATH" % quote_csh(START_PATH))
            out.append("unset PS1" if prompt is None else "PS1=%s" % quote_csh(prompt))
            out.append("unset PYTHONHOME" if pythonhome is None
                       else "PYTHONHOME=%s; export PYTHONHOME" % quote_csh(pythonhome))
            if disable_prompt:
                out.append("VIRTUAL_ENV_DISABLE_PROMPT=1; export VIRTUAL_ENV_DISABLE_PROMPT")
        elif k == "fish":
            out.append("set -gx PATH " + " ".join(quote_fish(p) for p in START_PATH.split(":")))
            if prompt is not None:
                out.append("function fish_prompt; printf '%%s' %s; end" % quote_fish(prompt))
            out.append("set -e PYTHONHOME" if pythonhome is None
                       else "set -gx PYTHONHOME %s" % quote_fish(pythonhome))
            if disable_prompt:
                out.append("set -gx VIRTUAL_ENV_DISABLE_PROMPT 1")
        else:
            out.append("setenv PATH %s" % quote_csh(START_PATH))
            out.append("unset prompt" if prompt is None else "set prompt=%s" % quote_csh(prompt))
            out.append("unsetenv PYTHONHOME" if pythonhome is None
                       else "setenv PYTHONHOME %s" % quote_csh(pythonhome))
            if disable_prompt:
                out.append("setenv VIRTUAL_ENV_DISABLE_PROMPT 1")
        return "\n".join(out) + "\n"

    def activate(self, var="PE_M"):
        if self.kind == "sh":
            dot = "." if self.name == "dash" else "source"
            return '%s "$%s/bin/%s"\n' % (dot, var, self.activate_name)
        if self.kind == "fish":
            return 'source "$%s/bin/%s"\n' % (var, self.activate_name)
        return 'source "$%s/bin/%s"\n' % (var, self.activate_name)

    def deactivate(self):
        return "deactivate\n"

    # -- printing state
    def _var(self, tag, key, var):
        if self.kind == "sh":
            return ("if [ -n \"${%s+x}\" ]; then printf '@@%%s=%%s\\n' %s_%s \"$%s\"; "
                    "else printf '@@%%s=%%s\\n' %s_%s '%s'; fi\n"
                    % (var, tag, key, var, tag, key, UNSET))
        if self.kind == "fish":
            val = '(string join : $%s)' % var if var == "PATH" else '"$%s"' % var
            return ("if set -q %s; printf '@@%%s=%%s\\n' %s_%s %s; "
                    "else; printf '@@%%s=%%s\\n' %s_%s '%s'; end\n"
                    % (var, tag, key, val, tag, key, UNSET))
        return ("if ($?%s) then\n  printf '@@%%s=%%s\\n' %s_%s \"$%s\"\nelse\n"
                "  printf '@@%%s=%%s\\n' %s_%s '%s'\nendif\n"
                % (var, tag, key, var, tag, key, UNSET))

    def _which(self, tag, key, cmd):
        if self.kind == "csh":
            return "printf '@@%%s=' %s_%s; which %s\n" % (tag, key, cmd)
        return "printf '@@%%s=' %s_%s; command -v %s || echo\n" % (tag, key, cmd)

    def dump(self, tag, commands=True):
        k = self.kind
        s = self._var(tag, "PATH", "PATH")
        s += self._var(tag, "PH", "PYTHONHOME")
        s += self._var(tag, "VE", "VIRTUAL_ENV")
        s += self._var(tag, "VEP", "VIRTUAL_ENV_PROMPT")
        if k == "sh":
            s += self._var(tag, "PROMPT", "PS1")
            s += ("if type deactivate 2>/dev/null | grep -q function; then "
                  "printf '@@%%s=yes\\n' %s_DEACT; else printf '@@%%s=no\\n' %s_DEACT; fi\n"
                  % (tag, tag))
        elif k == "fish":
            s += ("if functions -q fish_prompt; set -l p (fish_prompt); "
                  "printf '@@%%s=%%s\\n' %s_PROMPT \"$p\"; "
                  "else; printf '@@%%s=%%s\\n' %s_PROMPT '%s'; end\n" % (tag, tag, UNSET))
            s += ("if functions -q deactivate; printf '@@%%s=yes\\n' %s_DEACT; "
                  "else; printf '@@%%s=no\\n' %s_DEACT; end\n" % (tag, tag))
        else:
            s += self._var(tag, "PROMPT", "prompt")
            s += ("set _n=`alias deactivate | wc -c`\n"
                  "if ($_n > 0) then\n  printf '@@%%s=yes\\n' %s_DEACT\nelse\n"
                  "  printf '@@%%s=no\\n' %s_DEACT\nendif\n" % (tag, tag))
        if commands:
            for key, cmd in (("PY", "python"), ("PY3", "python3"), ("PIP", "pip"),
                             ("SCRIPT", "myscript")):
                s += self._which(tag, key, cmd)
        return s

    def run(self, tmp_path, body, env_extra):
        env = {"HOME": str(tmp_path), "PATH": START_PATH, "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "TERM": "dumb"}
        env.update(env_extra)
        script = tmp_path / ("script." + self.name)
        r, vals = run_shell_script(self.argv, script, body, env)
        return r, vals


def sh_run(shell, tmp_path, body, envs_by_var):
    r, vals = shell.run(tmp_path, body, envs_by_var)
    assert "@@END=1" in r.stdout, ("%s script did not run to its end (exit %d)\nstdout:\n%s\n"
                                  "stderr:\n%s\nscript:\n%s"
                                  % (shell.name, r.returncode, r.stdout, r.stderr, body))
    return r, vals


def env_vars(*envs):
    d = {"PE_M": envs[0].mnt}
    if len(envs) > 1:
        d["PE_M2"] = envs[1].mnt
    return d


def expected_path(shell, mnt, before):
    return os.path.join(mnt, "bin") + ":" + before


END = "printf '@@END=1\\n'\n"


def show(vals, r):
    return "values: %r\nstderr: %s" % (vals, r.stderr)


# ---------------------------------------------------------------------------
# tests

def test_activate_resolves_into_env(shell, env, tmp_path):
    """python, python3, pip and a console script resolve into M/bin; VIRTUAL_ENV
    is M; VIRTUAL_ENV_PROMPT is basename(M); python's sys.prefix is M."""
    body = shell.setup()
    # Let the shell remember where python3 was before (hash -r / rehash must forget it).
    body += "python3 -c pass\n"
    body += shell.activate()
    body += shell.dump("A")
    body += "printf '@@%s=' A_PREFIX; python -c 'import sys; print(sys.prefix)'\n"
    body += "printf '@@%s=' A_RUN; myscript\n"
    body += END
    r, v = sh_run(shell, tmp_path, body, env_vars(env))
    ctx = show(v, r)
    assert v["A_PY"] == env.bin("python"), ctx
    assert v["A_PY3"] == env.bin("python3"), ctx
    assert v["A_SCRIPT"] == env.bin("myscript"), ctx
    assert v["A_RUN"] == "myscript-ran", ctx
    assert v["A_VE"] == env.mnt, ctx
    assert v["A_VEP"] == os.path.basename(env.mnt) == env.name, ctx
    assert v["A_PREFIX"] == env.mnt, ctx
    assert v["A_PATH"] == expected_path(shell, env.mnt, START_PATH), ctx
    assert v["A_PIP"] == env.bin("pip"), ctx


# One activate/deactivate cycle per case: the shell is set up, its state
# dumped (B), activated (once or twice), dumped (D), deactivated, dumped (F).
# Each case says how to set up and what B, D and F must hold:
#   name: (docstring, setup arguments, activations, extra setup line, expect)
# where expect(shell, env) gives (key, value, what a mismatch means) triples.

def _active(shell, env):
    return "(%s) %s" % (env.name, START_PROMPT)


def _expect_pythonhome(old_home):
    def expect(shell, env):
        return [("B_PROMPT", START_PROMPT, ""), ("B_PH", old_home, ""),
                ("D_PROMPT", _active(shell, env), ""),
                ("D_PH", UNSET, "PYTHONHOME still set while active"),
                ("D_VE", env.mnt, ""), ("D_DEACT", "yes", ""),
                ("B_PATH", START_PATH, ""), ("F_PATH", START_PATH, ""),
                ("F_PROMPT", START_PROMPT, ""), ("F_PH", old_home, ""),
                ("F_VE", UNSET, ""), ("F_VEP", UNSET, ""),
                ("F_DEACT", "no", "deactivate still defined after deactivating")]
    return expect


def _expect_disable_prompt(shell, env):
    return [("D_VE", env.mnt, ""), ("B_PROMPT", START_PROMPT, ""),
            ("D_PROMPT", START_PROMPT, ""), ("F_PROMPT", START_PROMPT, ""),
            ("F_PATH", START_PATH, "")]


def _unset_prompt(shell):
    """Where the shell allows it, no prompt at all before activating."""
    return shell.kind in ("sh", "csh")


def _expect_unset(shell, env):
    want = [("B_PH", UNSET, ""), ("D_PH", UNSET, ""), ("F_PH", UNSET, "PYTHONHOME set by deactivate"),
            ("D_VE", env.mnt, ""), ("F_PATH", START_PATH, "")]
    if _unset_prompt(shell):
        want += [("B_PROMPT", UNSET, ""), ("F_PROMPT", UNSET, "prompt set by deactivate")]
    return want


def _expect_twice(shell, env):
    return [("D_PATH", expected_path(shell, env.mnt, START_PATH), "PATH grew"),
            ("D_PROMPT", _active(shell, env), ""), ("D_PH", UNSET, ""),
            ("F_PATH", START_PATH, ""), ("F_PROMPT", START_PROMPT, ""),
            ("F_PH", OLD_PYTHONHOME, ""), ("F_VE", UNSET, ""), ("F_DEACT", "no", "")]


def _expect_nounset(shell, env):
    return [("D_VE", env.mnt, ""), ("F_PATH", START_PATH, ""), ("F_PROMPT", UNSET, ""),
            ("F_PH", UNSET, ""), ("F_DEACT", "no", "")]


CYCLES = {
    "pythonhome": ("Prompt prefix '(NAME) '; an exported PYTHONHOME is unset while active; "
                   "deactivate restores PATH, prompt and PYTHONHOME exactly and removes itself.",
                   {"pythonhome": OLD_PYTHONHOME}, 1, "", _expect_pythonhome(OLD_PYTHONHOME)),
    "empty-pythonhome": ("The same with an exported empty PYTHONHOME.",
                         {"pythonhome": ""}, 1, "", _expect_pythonhome("")),
    "disable-prompt": ("VIRTUAL_ENV_DISABLE_PROMPT: the prompt stays as it was.",
                       {"disable_prompt": True}, 1, "", _expect_disable_prompt),
    "unset": ("No PYTHONHOME (and, where the shell allows, no prompt) before: none after.",
              {"pythonhome": None, "prompt": "unset-if-allowed"}, 1, "", _expect_unset),
    "twice": ("Activating twice: PATH does not grow; one deactivate restores everything.",
              {"pythonhome": OLD_PYTHONHOME}, 2, "", _expect_twice),
    "nounset": ("sh-compatible activate and deactivate work under `set -u`, PS1 and "
                "PYTHONHOME unset.", {"pythonhome": None, "prompt": None}, 1, "set -u\n",
                _expect_nounset),
}


def not_applicable(item):
    """`set -u` is for sh-compatible shells: the nounset case is deselected
    for fish and tcsh."""
    cs = getattr(item, "callspec", None)
    return (cs is not None and cs.params.get("cycle") == "nounset"
            and SHELLS[cs.params["shell"]][2] != "sh")


@pytest.mark.parametrize("cycle", sorted(CYCLES))
def test_activate_deactivate_cycle(shell, env, tmp_path, cycle):
    """One row of CYCLES (its first field says what it checks)."""
    _doc, setup, activations, extra, expect = CYCLES[cycle]
    setup = dict(setup)
    if setup.get("prompt") == "unset-if-allowed":
        setup["prompt"] = None if _unset_prompt(shell) else START_PROMPT
    body = shell.setup(**setup) + extra
    body += shell.dump("B", commands=False)
    body += shell.activate() * activations
    body += shell.dump("D", commands=False)
    body += shell.deactivate()
    body += shell.dump("F", commands=False)
    body += END
    r, v = sh_run(shell, tmp_path, body, env_vars(env))
    ctx = show(v, r)
    for key, want, meaning in expect(shell, env):
        assert v[key] == want, "%s%s: %r, expected %r; %s" % (
            meaning + ": " if meaning else "", key, v[key], want, ctx)


def test_switch_between_envs(shell, envs, tmp_path):
    """Activating a second env leaves the first; deactivate restores the start."""
    e1, e2 = envs["plain"], envs["quoted"]
    body = shell.setup(pythonhome=OLD_PYTHONHOME)
    body += shell.activate("PE_M")
    body += shell.activate("PE_M2")
    body += shell.dump("D")
    body += shell.deactivate()
    body += shell.dump("F", commands=False)
    body += END
    r, v = sh_run(shell, tmp_path, body, env_vars(e1, e2))
    ctx = show(v, r)
    assert v["D_VE"] == e2.mnt, ctx
    assert v["D_PATH"] == expected_path(shell, e2.mnt, START_PATH), ctx
    assert v["D_PROMPT"] == "(%s) %s" % (e2.name, START_PROMPT), ctx
    assert v["D_PY"] == e2.bin("python"), ctx
    assert v["F_PATH"] == START_PATH, ctx
    assert v["F_PROMPT"] == START_PROMPT, ctx
    assert v["F_PH"] == OLD_PYTHONHOME, ctx
    assert v["F_DEACT"] == "no", ctx


def test_other_python_still_runs(shell, env, tmp_path):
    """Activation does not export PYTHONHOME (the documented decision): another
    Python, started by full path from the activated shell, starts and runs."""
    other = _other_python(env.base)
    if other is None:
        pytest.skip("no second Python of another version found")
    body = shell.setup()
    body += shell.activate()
    body += shell.dump("D", commands=False)
    body += "printf '@@%%s=' O_VER; %s -c 'import sys; print(\"%%d.%%d\" %% sys.version_info[:2])'\n" \
        % other.exe
    body += "printf '@@%%s=' O_PREFIX; %s -c 'import sys; print(sys.prefix)'\n" % other.exe
    body += "printf '@@%s=' E_VER; python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'\n"
    body += END
    r, v = sh_run(shell, tmp_path, body, env_vars(env))
    ctx = show(v, r)
    assert v["D_PH"] == UNSET, ctx
    assert v["O_VER"] == other.xy, "%s did not run from the activated shell: %s" % (other.exe, ctx)
    assert v["O_PREFIX"] == other.prefix, ctx
    assert v["E_VER"] == env.base.xy, ctx


def test_pip_runs_from_env(envs, tmp_path):
    """bash: `pip --version` after activation is the env's pip, importing from M."""
    env = envs["quoted"]
    bash = find_shell("bash")
    sh = Shell("bash", [bash, "--norc", "--noprofile"], "sh", "activate")
    body = sh.setup() + sh.activate()
    body += "printf '@@%s=' PIP; pip --version\n" + END
    r, v = sh_run(sh, tmp_path, body, env_vars(env))
    assert v["PIP"].startswith("pip "), show(v, r)
    assert " from %s/lib/python%s/site-packages/pip " % (env.mnt, env.base.xy) in v["PIP"], \
        show(v, r)
