# SPDX-License-Identifier: GPL-2.0-or-later
# The store's use of the base's own pip (the pip layer of --with-pip, made
# from the base's bundled wheels), run by the base interpreter; embedded into
# the pyenvfs binary at build time. The user's pip configuration (pip.conf,
# PIP_* variables: indexes, --find-links) applies: that is what is asked.
#
#   python -E -s -c PROGRAM LAYER download DEST ARGS...
#       pip download --no-deps --only-binary :all: -d DEST ARGS (the wheels
#       of a lock that the store lacks)
#   python -E -s -c PROGRAM LAYER resolve REPORT REQUIREMENT...
#       pip install --dry-run --ignore-installed --report REPORT, then the
#       report as a pylock.toml (PEP 751) on stdout: every wheel pip chose,
#       with its URL and sha256 (computed here for a local file pip did not
#       hash)
import hashlib
import json
import os
import subprocess
import sys

layer, mode = sys.argv[1], sys.argv[2]
BOOT = ("import sys; sys.path.insert(0, %r); sys.argv[0] = 'pip'; import runpy; "
        "runpy.run_module('pip', run_name='__main__', alter_sys=True)" % layer)


def pip(args):
    return subprocess.call([sys.executable, '-E', '-s', '-c', BOOT, '--disable-pip-version-check'] + args,
                           stdout=sys.stderr)


def q(s):
    return json.dumps(s)


def local_path(url):
    if not url.startswith('file://'):
        return None
    try:
        from urllib.parse import unquote, urlparse
    except ImportError:
        from urllib import unquote
        from urlparse import urlparse
    return unquote(urlparse(url).path)


def sha256_of(path):
    h = hashlib.sha256()
    f = open(path, 'rb')
    try:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    finally:
        f.close()
    return h.hexdigest()


def resolve(report, reqs):
    rc = pip(['install', '--dry-run', '--ignore-installed', '--only-binary', ':all:', '--quiet',
              '--report', report] + reqs)
    if rc:
        return rc
    f = open(report)
    try:
        data = json.load(f)
    finally:
        f.close()
    out = ['lock-version = "1.0"', 'created-by = %s' % q('pyenvfs (pip %s)' % data.get('pip_version', '?'))]
    for item in data.get('install', []):
        meta = item['metadata']
        info = item['download_info']
        url = info['url']
        name = url.split('#')[0].split('?')[0].rstrip('/').split('/')[-1]
        if not name.endswith('.whl'):
            sys.stderr.write('ERROR: %s %s is not a wheel (%s): pyenvfs composes envs of wheels only\n'
                             % (meta['name'], meta['version'], url))
            return 1
        archive = info.get('archive_info') or {}
        sha = (archive.get('hashes') or {}).get('sha256')
        if not sha and archive.get('hash', '').startswith('sha256='):
            sha = archive['hash'][len('sha256='):]
        path = local_path(url)
        if not sha and path:
            sha = sha256_of(path)
        if not sha:
            sys.stderr.write('ERROR: pip gave no sha256 for %s\n' % url)
            return 1
        out += ['', '[[packages]]', 'name = %s' % q(meta['name']), 'version = %s' % q(meta['version']),
                'wheels = [{ name = %s, url = %s, hashes = { sha256 = %s } }]' % (q(name), q(url), q(sha))]
    sys.stdout.write('\n'.join(out) + '\n')
    return 0


if mode == 'download':
    sys.exit(pip(['download', '--no-deps', '--only-binary', ':all:', '-d', sys.argv[3]] + sys.argv[4:]))
elif mode == 'resolve':
    sys.exit(resolve(sys.argv[3], sys.argv[4:]))
sys.exit('unknown mode %r' % mode)
