# SPDX-License-Identifier: GPL-2.0-or-later
# The store's wheel installer, run by the base interpreter itself (2.7 and
# 3.x) so that the bytecode it compiles is that interpreter's. Embedded into
# the pyenvfs binary at build time (src/store_install.py -> gen/); storeadd.c
# runs it as: python -E -s -B -c PROGRAM ROOT WHEEL DEST [WHEEL DEST ...]
#
# Each WHEEL (a file the C side has hashed already) is installed into DEST,
# an empty directory, laid out as a pyenvfs layer:
#   DEST/<packages, NAME-VER.dist-info>     purelib, platlib
#   DEST/.pyenvfs/upper/bin/                scripts, console and gui scripts
#   DEST/.pyenvfs/upper/<path>              data
#   DEST/.pyenvfs/upper/include/site/pythonX.Y/<name>/   headers
#   DEST/.pyenvfs/mounts                    ROOT: the root the scripts' first
#                                           lines name (ROOT/bin/pythonX.Y);
#                                           a mount shows them naming its own
# RECORD lists every file relative to the site directory, as pip writes it
# for a venv (../../../bin/x), so that pip in an env uninstalls it. Every
# file is checked against the wheel's RECORD; the files get the wheel's
# times, so that two hosts installing one wheel make the same entry.
#
# Output, one line per wheel as it is done: "ok N" or "error N why".
# With "--abiflags" instead: the interpreter's ABI flags, for wheel tags.
import base64
import calendar
import compileall
import csv
import hashlib
import os
import re
import sys
import zipfile

PY2 = sys.version_info[0] == 2
XY = '%d.%d' % sys.version_info[:2]


class Bad(Exception):
    pass


def abiflags():
    f = getattr(sys, 'abiflags', None)
    if f is not None:
        return f
    import sysconfig
    flags = ''
    if sysconfig.get_config_var('Py_DEBUG'):
        flags += 'd'
    if sysconfig.get_config_var('WITH_PYMALLOC') in (1, None):
        flags += 'm'
    if sys.maxunicode > 0xffff:
        flags += 'u'
    return flags


def b64digest(data):
    d = hashlib.sha256(data).digest()
    return 'sha256=' + base64.urlsafe_b64encode(d).rstrip(b'=').decode('ascii')


def makedirs(path):
    if not os.path.isdir(path):
        os.makedirs(path)


def text(data):
    return data.decode('utf-8')


def read_record(data):
    rows = {}
    lines = text(data).splitlines()
    if PY2:
        lines = [l.encode('utf-8') for l in lines]
    for row in csv.reader(lines):
        if not row:
            continue
        if PY2:
            row = [c.decode('utf-8') for c in row]
        if len(row) < 2:
            raise Bad('a malformed RECORD row')
        rows[row[0]] = row[1]
    return rows


def csv_field(s):
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def safe(path):
    parts = path.split('/')
    if path.startswith('/') or '\\' in path or any(p in ('', '.', '..') for p in parts):
        raise Bad('an unsafe path in the wheel: %r' % path)
    return path


def sections(data):
    out, cur = {}, None
    for line in text(data).splitlines():
        line = line.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            cur = out.setdefault(line[1:-1].strip(), [])
        elif cur is not None and '=' in line:
            k, v = line.split('=', 1)
            cur.append((k.strip(), v.strip()))
    return out


SCRIPT = '''#!%s/bin/python%s
# -*- coding: utf-8 -*-
import re
import sys
from %s import %s
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(%s())
'''
ENTRY = re.compile(r'^([A-Za-z_][\w.]*)\s*:\s*([A-Za-z_][\w.]*)\s*(\[.*\])?$')


def write(path, data, mode, when):
    makedirs(os.path.dirname(path))
    if os.path.lexists(path):
        raise Bad('a file twice in the wheel: %r' % path)
    f = open(path, 'wb')
    try:
        f.write(data)
    finally:
        f.close()
    os.chmod(path, mode)
    os.utime(path, (when, when))


def install(root, whl, dest):
    z = zipfile.ZipFile(whl)
    names = z.namelist()
    infos = set(n.split('/')[0] for n in names
                if n.count('/') == 1 and n.endswith('/WHEEL') and n.split('/')[0].endswith('.dist-info'))
    if len(infos) != 1:
        raise Bad('not one .dist-info directory with a WHEEL file')
    info = infos.pop()
    dist = info[:-len('.dist-info')]
    data_dir = dist + '.data'
    meta = dict(l.split(':', 1) for l in text(z.read(info + '/WHEEL')).splitlines() if ':' in l)
    version = meta.get('Wheel-Version', '1.0').strip()
    if version.split('.')[0] != '1':
        raise Bad('Wheel-Version %s (pyenvfs reads 1.x)' % version)
    if info + '/RECORD' not in names:
        raise Bad('no RECORD')
    record = read_record(z.read(info + '/RECORD'))
    name = dist.split('-')[0]
    out = []                        # RECORD rows: (path relative to the site dir, data)
    newest = 315532800              # 1980-01-01, the zip format's first day
    for zi in z.infolist():
        n = zi.filename
        if n.endswith('/'):
            continue
        safe(n)
        if n in (info + '/RECORD', info + '/RECORD.jws', info + '/RECORD.p7s', info + '/INSTALLER'):
            continue
        data = z.read(zi)
        want = record.get(n)
        if not want:
            raise Bad('%s is not in the RECORD' % n)
        algo = want.split('=', 1)[0]
        if algo not in ('sha256', 'sha384', 'sha512'):
            raise Bad('%s: hash %r (sha256, sha384 or sha512 expected)' % (n, algo))
        got = algo + '=' + base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b'=').decode('ascii')
        if got != want:
            raise Bad('%s does not match its hash in the RECORD' % n)
        when = calendar.timegm(tuple(zi.date_time) + (0, 0, 0)) if zi.date_time[0] >= 1980 else 315532800
        newest = max(newest, when)
        mode = 0o755 if (zi.external_attr >> 16) & 0o111 else 0o644
        if n.startswith(data_dir + '/'):
            kind, _, rest = n[len(data_dir) + 1:].partition('/')
            if not rest:
                raise Bad('a file directly in %s' % data_dir)
            if kind in ('purelib', 'platlib'):
                rel, path = rest, os.path.join(dest, rest)
            elif kind == 'scripts':
                if '/' in rest:
                    raise Bad('a script in a subdirectory: %s' % n)
                m = re.match(br'^#!pythonw?(\s[^\n]*)?\n', data)
                if m:
                    data = ('#!%s/bin/python%s' % (root, XY)).encode('ascii') + (m.group(1) or b'') + b'\n' + data[m.end():]
                rel, path, mode = '../../../bin/' + rest, os.path.join(dest, '.pyenvfs', 'upper', 'bin', rest), 0o755
            elif kind == 'data':
                rel, path = '../../../' + rest, os.path.join(dest, '.pyenvfs', 'upper', rest)
            elif kind == 'headers':
                sub = 'include/site/python%s/%s/%s' % (XY, name, rest)
                rel, path = '../../../' + sub, os.path.join(dest, '.pyenvfs', 'upper', sub)
            else:
                raise Bad('unknown data directory %s' % kind)
        else:
            rel, path = n, os.path.join(dest, n)
        write(path, data, mode, when)
        out.append((rel, data))
    eps = info + '/entry_points.txt'
    if eps in names:
        secs = sections(z.read(eps))
        for sec in ('console_scripts', 'gui_scripts'):
            for script, ref in secs.get(sec, []):
                if '/' in script or script in ('', '.', '..') or script.startswith('.'):
                    raise Bad('a script name %r in entry_points.txt' % script)
                m = ENTRY.match(ref)
                if not m:
                    raise Bad('an entry point %r in entry_points.txt' % ref)
                mod, attr = m.group(1), m.group(2)
                body = (SCRIPT % (root, XY, mod, attr.split('.')[0], attr)).encode('utf-8')
                path = os.path.join(dest, '.pyenvfs', 'upper', 'bin', script)
                if os.path.lexists(path):
                    continue        # the wheel's own script of that name wins, as in pip
                write(path, body, 0o755, newest)
                out.append(('../../../bin/' + script, body))
    inst = b'pyenvfs\n'
    write(os.path.join(dest, info, 'INSTALLER'), inst, 0o644, newest)
    out.append((info + '/INSTALLER', inst))
    # The bytecode, by this interpreter, named as the env's files would be;
    # a file that does not compile (a Python 2 file in a py2.py3 wheel) is
    # skipped, as pip does.
    rx = re.compile(r'[/\\]\.pyenvfs([/\\]|$)')
    kw = {'quiet': 1}
    if not PY2:
        kw['workers'] = 1
    compileall.compile_dir(dest, maxlevels=1000, ddir='/pyenvfs-store', force=True, rx=rx, **kw)
    for d, dirs, files in os.walk(dest):
        if d == dest and '.pyenvfs' in dirs:
            dirs.remove('.pyenvfs')
        for f in files:
            if f.endswith('.pyc'):
                p = os.path.join(d, f)
                fh = open(p, 'rb')
                try:
                    out.append((os.path.relpath(p, dest).replace(os.sep, '/'), fh.read()))
                finally:
                    fh.close()
    rows = ['%s,%s,%d' % (csv_field(rel), b64digest(data), len(data)) for rel, data in out]
    rows.append('%s,,' % csv_field(info + '/RECORD'))
    write(os.path.join(dest, info, 'RECORD'), ('\n'.join(rows) + '\n').encode('utf-8'), 0o644, newest)
    if os.path.isdir(os.path.join(dest, '.pyenvfs', 'upper')):
        write(os.path.join(dest, '.pyenvfs', 'mounts'), (root + '\n').encode('utf-8'), 0o644, newest)


def main():
    if sys.argv[1:] == ['--abiflags']:
        sys.stdout.write('abiflags=%s\n' % abiflags())
        return 0
    root, jobs = sys.argv[1], sys.argv[2:]
    # stdout is the protocol: what compileall prints goes to stderr
    out, sys.stdout = sys.stdout, sys.stderr
    for i in range(0, len(jobs) - 1, 2):
        try:
            install(root, jobs[i], jobs[i + 1])
            out.write('ok %d\n' % (i // 2))
        except (Bad, zipfile.BadZipfile, KeyError, ValueError, IOError, OSError) as e:
            out.write('error %d %s\n' % (i // 2, str(e).replace('\n', ' ')[:300]))
        out.flush()
    return 0


sys.exit(main())
