"""The zone knotd serves for every workload: bench.test. with one A record per generated name,
cached on disk between runs, and query files over its names."""

import os

from .util import log

ZONE = 'bench.test'
ZONE_FORMAT = 1  # bump when zone_name()/zone contents change so cached files are regenerated


_SYL = ('ka', 'mo', 'ri', 'ten', 'su', 'lo', 'vex', 'na', 'pi', 'dor', 'el', 'qua', 'zi', 'bo',
        'ha', 'mit', 'ur', 'ge', 'shan', 'te')


def zone_name(i):
    """The i-th name of the zone: varied lengths, unique by the trailing number."""
    h = (i * 2654435761) & 0xFFFFFFFF
    parts = []
    for _ in range(1 + (h & 3)):
        parts.append(_SYL[h % len(_SYL)])
        h //= len(_SYL)
    return '%s%d.%s' % (''.join(parts), i, ZONE)


def ensure_zone(count, cache_dir):
    """Generate (or reuse) the zone file with count A records; returns its path."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, 'bench.test.v%d.%d.zone' % (ZONE_FORMAT, count))
    if os.path.exists(path):
        return path
    log('generating zone with %d names -> %s' % (count, path))
    tmp = path + '.%d.tmp' % os.getpid()
    with open(tmp, 'w') as f:
        f.write('$ORIGIN %s.\n$TTL 86400\n' % ZONE)
        f.write('@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 864000 86400\n' % (ZONE, ZONE))
        f.write('@ IN NS ns.%s.\nns IN A 127.0.0.1\n' % ZONE)
        step = 100000
        for base in range(0, count, step):
            f.write(''.join('%s. IN A 10.%d.%d.%d\n' % (zone_name(i), (i >> 16) & 255,
                                                        (i >> 8) & 255, i & 255)
                            for i in range(base, min(count, base + step))))
    os.replace(tmp, path)
    return path


def write_queries(path, indices, qtype='A'):
    with open(path, 'w') as f:
        f.write(''.join('%s %s\n' % (zone_name(i), qtype) for i in indices))
    return path
