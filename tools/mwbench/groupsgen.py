#!/usr/bin/python3
"""A `groups:` config of many client groups for benchmarks (issue 13's cost target: 1,000
groups and 10,000 client prefixes). Prefixes are spread over IPv4 /32, /28, /24, /20, /16 and
IPv6 /64, /48 (seven lengths, so a lookup probes several before the bench client's group
matches), never overlapping one another; the bench client (127.0.0.1 by default) is in the
last group through 127.0.0.0/8, the shortest prefix, so its lookup tries every IPv4 length
first: the costly end for the hit path. Every group has a forward zone and, with --list, the
list and an action override, so each group's policy differs from default's.

  tools/mwbench/groupsgen.py [--groups 1000] [--cidrs 10000] [--client-prefix 127.0.0.0/8]
                             [--list NAME:CATEGORY:PATH] [--upstream ADDR] > groups.yaml
"""

import argparse
import sys

V4_LENGTHS = (32, 28, 24, 20, 16)
V6_LENGTHS = (64, 48)


def prefixes(n):
    """n distinct, non-overlapping prefixes (IPv4 under 10/8, IPv6 under 2001:db8::/32)."""
    out = []
    lengths = V4_LENGTHS + V6_LENGTHS
    for i in range(n):
        plen = lengths[i % len(lengths)]
        k = i // len(lengths)
        if plen in V4_LENGTHS:
            # Each length in its own space (10.32/16 for /32, 10.28/16 for /28, 11/8 for /24,
            # 12/8 for /20, 13/8 upwards for /16), so prefixes of different lengths never nest.
            if plen == 32:
                a = (10 << 24) | (32 << 16) | k
            elif plen == 28:
                a = (10 << 24) | (28 << 16) | (k << 4)
            elif plen == 24:
                a = (11 << 24) | (k << 8)
            elif plen == 20:
                a = (12 << 24) | (k << 12)
            else:
                a = ((13 + (k >> 8)) << 24) | ((k & 255) << 16)
            out.append('%d.%d.%d.%d/%d' % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
                                            plen))
        elif plen == 64:
            out.append('2001:db8:%x:%x::/64' % (k >> 16, k & 0xffff))
        else:
            out.append('2001:db9:%x::/48' % k)
    return out


def groups_yaml(groups=1000, cidrs=10000, client_prefix='127.0.0.0/8', lst=None,
                upstream='192.0.2.53'):
    """The YAML text of a `groups:` key (and, with lst=(name, category, path), a `lists:`)."""
    pre = prefixes(cidrs - 1)
    lines = []
    if lst:
        lines += ['lists:', '  - {name: %s, category: %s, path: "%s"}' % lst]
    lines.append('groups:')
    per = max(1, len(pre) // groups)
    for g in range(groups):
        mine = pre[g * per:(g + 1) * per] if g < groups - 1 else pre[g * per:]
        if g == groups - 1:
            mine = mine + [client_prefix]
        lines.append('  g%04d:' % g)
        lines.append('    clients: [%s]' % ', '.join('"%s"' % p for p in mine))
        if lst:
            lines.append('    lists: [%s]' % lst[0])
            lines.append('    actions: {%s: log}' % lst[1])
        lines.append('    forward-zones: {"g%04d.corp.example": ["%s"]}' % (g, upstream))
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--groups', type=int, default=1000)
    ap.add_argument('--cidrs', type=int, default=10000)
    ap.add_argument('--client-prefix', default='127.0.0.0/8')
    ap.add_argument('--list', metavar='NAME:CATEGORY:PATH')
    ap.add_argument('--upstream', default='192.0.2.53')
    a = ap.parse_args()
    lst = tuple(a.list.split(':', 2)) if a.list else None
    sys.stdout.write(groups_yaml(a.groups, a.cidrs, a.client_prefix, lst, a.upstream))


if __name__ == '__main__':
    main()
