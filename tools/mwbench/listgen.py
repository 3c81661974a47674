"""The generated blocklist of the bench (and of any tool that needs a realistic list): unique
domain names like those of real blocklists (PERF.md: 60% registrable domains, 30% with one more
label, 10% with two; about 75 TLDs weighted like real lists), cached on disk between runs."""

import os
import random

from .util import log

BL_FORMAT = 1  # bump when the generator changes so cached lists are regenerated
BL_SEED = 20240917

# ~75 TLDs, weighted roughly like the TLDs of real blocklists (com first by far)
_BL_TLDS = (
    ('com', 380), ('net', 70), ('org', 40), ('ru', 35), ('xyz', 30), ('info', 25), ('top', 25),
    ('de', 20), ('io', 18), ('cn', 18), ('uk', 12), ('online', 12), ('site', 12), ('club', 10),
    ('br', 10), ('in', 9), ('pl', 8), ('fr', 8), ('it', 8), ('nl', 8), ('biz', 7), ('cc', 7),
    ('me', 7), ('us', 7), ('jp', 6), ('ir', 6), ('tk', 6), ('ml', 5), ('ga', 5), ('cf', 5),
    ('gq', 5), ('pw', 5), ('ws', 4), ('co', 4), ('tv', 4), ('ua', 4), ('es', 4), ('ca', 4),
    ('au', 4), ('kr', 3), ('vn', 3), ('tw', 3), ('hk', 3), ('store', 3), ('shop', 3), ('live', 3),
    ('app', 3), ('dev', 2), ('space', 2), ('website', 2), ('fun', 2), ('icu', 2), ('buzz', 2),
    ('cloud', 2), ('pro', 2), ('link', 2), ('click', 2), ('work', 2), ('win', 2), ('bid', 2),
    ('stream', 2), ('download', 1), ('party', 1), ('review', 1), ('trade', 1), ('date', 1),
    ('racing', 1), ('cz', 1), ('se', 1), ('ch', 1), ('at', 1), ('be', 1), ('id', 1), ('ro', 1),
    ('gr', 1))
_BL_HOSTS = ('www', 'mail', 'api', 'cdn', 'pool', 'xmr', 'eth', 'stratum', 'proxy', 'm', 'static',
             'img', 'ads', 'track', 'eu', 'us', 'asia', 'de', 'fr', 'ru', 'mine', 'web', 'app',
             'login', 'update', 'dl', 'files', 'ns1', 'mx', 'smtp', 'c2', 'panel', 'node', 'rpc')
_BL_SYL = ('ka', 'ro', 'min', 'ex', 'pool', 'co', 'in', 'net', 'xmr', 'hash', 'al', 'de', 'on',
           'tra', 'ver', 'go', 'lu', 'pa', 'sa', 'ti', 'mo', 'nex', 'ze', 'cry', 'pto', 'bit',
           'coin', 'ma', 're', 'li', 'to', 'fa', 'ste', 'ar', 'or', 'um', 'lo', 'vi', 'dy', 'ka')
_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
_ALPHA = 'abcdefghijklmnopqrstuvwxyz'


def _label(rng):
    r = rng.random()
    if r < 0.45:  # word-like
        return ''.join(rng.choice(_BL_SYL) for _ in range(rng.randint(2, 4)))
    if r < 0.70:  # random letters and digits (DGA-like)
        return rng.choice(_ALPHA) + ''.join(rng.choice(_ALNUM) for _ in range(rng.randint(5, 13)))
    if r < 0.85:  # word + number
        return ''.join(rng.choice(_BL_SYL) for _ in range(rng.randint(1, 3))) + \
            str(rng.randint(0, 9999))
    return '%s-%s' % (''.join(rng.choice(_BL_SYL) for _ in range(rng.randint(1, 3))),
                      ''.join(rng.choice(_BL_SYL) for _ in range(rng.randint(1, 3))))


def host_label(rng):
    if rng.random() < 0.5:
        return rng.choice(_BL_HOSTS)
    return ''.join(rng.choice(_ALNUM) for _ in range(rng.randint(2, 8)))


def generate_blocklist(count, seed, exclude=()):
    """count unique domain names: 60% registrable (label.tld), 30% one more label, 10% two."""
    rng = random.Random(seed)
    tlds = [t for t, _ in _BL_TLDS]
    cum, acc = [], 0
    for _, w in _BL_TLDS:
        acc += w
        cum.append(acc)
    seen = set(exclude)
    out = []
    while len(out) < count:
        tld = rng.choices(tlds, cum_weights=cum)[0]
        name = '%s.%s' % (_label(rng), tld)
        r = rng.random()
        if r >= 0.6:
            name = '%s.%s' % (host_label(rng), name)
            if r >= 0.9:
                name = '%s.%s' % (host_label(rng), name)
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
    return out


def ensure_blocklist(count, cache_dir):
    """Generate (or reuse) the list of count domains, one a line (plain format)."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, 'blocklist.v%d.%d.txt' % (BL_FORMAT, count))
    if os.path.exists(path):
        return path
    log('generating blocklist with %d domains -> %s' % (count, path))
    names = generate_blocklist(count, BL_SEED + count)
    tmp = path + '.%d.tmp' % os.getpid()
    with open(tmp, 'w') as f:
        f.write('\n'.join(names) + '\n')
    os.replace(tmp, path)
    return path


def read_list(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith('#')]


def write_list_files(path, names, kind):
    """The list as the server reads it (kind 'plain' or 'unbound'), written to path.tmp first;
    returns the temporary path (the caller renames it into place)."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        if kind == 'unbound':
            f.write('server:\n')
            f.write(''.join('local-zone: "%s." always_nxdomain\n' % n for n in names))
        else:
            f.write('\n'.join(names) + '\n')
    return tmp
