"""Small helpers every part of the bench uses: logging to stderr, the error type that ends a
run with a message, number formatting and medians."""

import statistics
import sys
import time


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def tail(path, n=20):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


def median_of(rounds):
    med = {}
    for k in rounds[0]:
        vals = [r[k] for r in rounds if isinstance(r.get(k), (int, float)) and
                not isinstance(r.get(k), bool)]
        if len(vals) == len(rounds):
            med[k] = statistics.median(vals)
    return med


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def fmt(v, nd=0, width=0):
    if v is None:
        s = '-'
    elif isinstance(v, float):
        s = '{:,.{}f}'.format(v, nd)
    else:
        s = '{:,}'.format(v)
    return s.rjust(width) if width else s
