"""The run: command line, the order of servers and workloads, the summary table and JSON.
tools/bench is the entry point; everything it does is here and in the modules this imports."""

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from .proc import CLK_TCK, proc_rss_kb, proc_threads, stop_process
from .servers import BASE, OTHERS, SERVERS, start_server, stop_server
from .util import BenchError, fmt, log, median_of, ratio
from .workloads import (BL_WORKLOADS, DETECT_WORKLOADS, GROUPS_WORKLOADS, JOURNAL_WORKLOADS,
                        METRICS_WORKLOADS, OBSERVE_WORKLOADS, REDIS_WORKLOADS,
                        UPSTREAM_WORKLOADS, WORKLOADS)
from .workloads.blocklist import BL_PROBE, bl_prepare, bl_summary, bl_targets, print_blocklist, \
    run_blocklist
from .workloads.detect import print_detect, run_detect
from .workloads.journal import print_journal, run_journal
from .workloads.groups import print_groups, run_groups
from .workloads.metrics import print_metrics, run_metrics
from .workloads.observe import print_observe, run_observe
from .workloads.redis import print_redis, run_redis
from .workloads.upstreams import print_upstreams, run_dot, run_threads
from .zone import ZONE, ensure_zone, write_queries, zone_name

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESCRIPTION = 'Benchmark minewall side by side with Unbound and dnsdist, in one run.'


class Ctx:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.handles = []
        self.clients = []
        self.ports = set()
        self.files = {}
        self.knot = None
        self.ready_name = None
        self.bins = {}
        self.warm_passes = {}
        self._id = 0
        self.miss_slots = 0
        self.bl_names = None
        self._bl_set = None

    def bl_set(self):
        if self._bl_set is None:
            self._bl_set = set(self.bl_names)
        return self._bl_set

    def next_id(self):
        self._id += 1
        return self._id

    def miss_slice(self, server, rnd):
        """Disjoint slices of the shuffled zone beyond the hit names: one per server and round
        (or one per round shared by all servers with --miss-shared). Returns (throughput indices,
        latency indices)."""
        a = self.args
        servers = 1 if a.miss_shared else len(self.servers)
        k = (0 if a.miss_shared else self.servers.index(server)) + servers * rnd
        size = self.miss_slice_size
        sl = self.perm[a.hit_names + k * size:a.hit_names + (k + 1) * size]
        if a.latency != 'separate':
            return sl, []
        cut = int(len(sl) * (1 - a.miss_latency_share))
        return sl[:cut], sl[cut:]


def find_bins(args):
    bins = {}
    for name in ('knotd', 'knotc', 'unbound', 'dnsdist', 'dnsperf'):
        p = shutil.which(name) or shutil.which(name, path='/usr/sbin:/sbin:/usr/bin')
        bins[name] = p
    mw = args.minewall_bin or os.environ.get('MINEWALL_BIN') or \
        os.path.join(REPO, 'build', 'minewall')
    bins['minewall'] = mw
    if args.baseline:
        bins[BASE] = args.baseline
    need = ['knotd', 'dnsperf'] + [s for s in args.servers]
    for n in need:
        p = bins.get(n)
        if not p or not os.access(p, os.X_OK):
            raise BenchError('%s not found (%s)%s' % (n, p, '; set MINEWALL_BIN or build it: '
                                                      'ninja -C build minewall' if n == 'minewall'
                                                      else ''))
    return bins


def version_of(argv):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        out = (r.stdout + r.stderr).decode(errors='replace').strip().splitlines()
        return next((l.strip() for l in out if l.strip()), None)
    except (OSError, subprocess.TimeoutExpired):
        return None


def baseline_commit(binary):
    """The commit a baseline binary was built from, when a file COMMIT lies next to it."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(binary)), 'COMMIT')) as f:
            return f.read().strip() or None
    except OSError:
        return None




# Workloads that run on every server, each with instances of their own (an upstream over TLS,
# one and two threads), after the generic and blocklist ones.
SIDE_WORKLOADS = (('dot-miss', run_dot), ('threads', run_threads))

# Workloads that measure minewall alone, each with its own instances, in this order after the
# generic and blocklist ones.
MW_ONLY_WORKLOADS = (('redis', run_redis), ('journal', run_journal), ('metrics', run_metrics),
                     ('groups', run_groups), ('observe', run_observe), ('detect', run_detect))


def round_order(servers, rnd):
    """The servers in the order of round rnd: rotated each round so that no server always goes
    first. minewall and minewall-base stay back to back (a pair whose order alternates), so
    that each round compares the two under the same conditions."""
    groups = []
    for s in servers:
        if s == BASE and 'minewall' in servers:
            continue
        groups.append([s, BASE] if s == 'minewall' and BASE in servers else [s])
    k = rnd % len(groups)
    order = []
    for g in groups[k:] + groups[:k]:
        order += reversed(g) if rnd % 2 and len(g) > 1 else g
    return order


def run(args, tmp):
    ctx = Ctx(args, tmp)
    ctx.servers = list(args.servers)
    ctx.bins = find_bins(args)
    generic = args.generic_workloads
    blw = [w for w in args.workloads if w in BL_WORKLOADS]
    mw_docs = {}  # the minewall-only workloads' results, by workload
    results = {s: {w: {'rounds': []} for w in generic} for s in ctx.servers}
    meta = {
        'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'host': platform.node(), 'cpus': os.cpu_count(), 'clk_tck': CLK_TCK,
        'kernel': platform.release(),
        'args': {k: v for k, v in vars(args).items() if k != 'json'},
        'dnsperf': '-T 1 -c %d -q %d -l %g -t %d' % (args.clients, args.outstanding, args.seconds,
                                                     args.query_timeout),
        'versions': {
            'knotd': version_of([ctx.bins['knotd'], '--version']),
            'dnsperf': 'dnsperf 2.10' if ctx.bins['dnsperf'] else None,
        },
    }
    if 'unbound' in ctx.servers:
        meta['versions']['unbound'] = version_of([ctx.bins['unbound'], '-V'])
    if 'dnsdist' in ctx.servers:
        meta['versions']['dnsdist'] = version_of([ctx.bins['dnsdist'], '--version'])
    if 'minewall' in ctx.servers:
        meta['versions']['minewall'] = version_of([ctx.bins['minewall'], '--version'])
        meta['minewall_bin'] = ctx.bins['minewall']
    if BASE in ctx.servers:
        meta['versions'][BASE] = version_of([ctx.bins[BASE], '--version'])
        meta['minewall_base_bin'] = ctx.bins[BASE]
        commit = baseline_commit(ctx.bins[BASE])
        if commit:
            meta['minewall_base_commit'] = commit

    # names: a fixed shuffle of the zone; the first hit_names are the hit set, the rest is cut
    # into disjoint miss slices
    n = args.names
    ctx.perm = list(range(n))
    random.Random(20240601 + n).shuffle(ctx.perm)
    ctx.files['hit'] = write_queries(os.path.join(tmp, 'hit.txt'), ctx.perm[:args.hit_names])
    ctx.ready_name = zone_name(ctx.perm[0])
    # slices of never-asked names: first the miss workload's, then bl-miss's (one per server and
    # round, asked of the instance with the list and the one without)
    ctx.miss_slots = (args.rounds * (1 if args.miss_shared else len(ctx.servers))
                      if 'miss' in args.workloads else 0)
    slots = ctx.miss_slots + (args.rounds * len(ctx.servers) if 'bl-miss' in blw else 0)
    ctx.journal_slot0 = slots
    if 'journal' in args.workloads and 'minewall' in ctx.servers:
        slots += args.rounds  # one slice per round, asked of both journal instances
    ctx.observe_slot0 = slots
    if 'observe' in args.workloads and 'minewall' in ctx.servers:
        # two slices per round: the first asked of all three observe instances, the second of
        # the instance with neither, whose second run closes the round; then one per instance
        # to fill its cache before the rounds (observe.py)
        slots += 2 * args.rounds + 3
    ctx.dot_slot0 = slots
    if 'dot-miss' in args.workloads:
        slots += args.rounds * len(ctx.servers)  # one slice per server and round
    ctx.threads_slot0 = slots
    if 'threads' in args.workloads:
        # per server: a slice per thread count and round, and one per thread count for the
        # fetch-once check
        slots += 2 * len(ctx.servers) * (args.rounds + 1)
    ctx.miss_slice_size = (n - args.hit_names) // slots if slots else 0
    if slots:
        meta['miss_slice_names'] = ctx.miss_slice_size
        if ctx.miss_slice_size < 10000:
            raise BenchError('only %d names per miss slice: raise --names' % ctx.miss_slice_size)

    try:
        zone = ensure_zone(n, args.cache_dir)
        if blw:
            bl_prepare(ctx)
        t0 = time.monotonic()
        ctx.knot = start_server(ctx, 'knotd', {'zone_file': zone},
                                ready_name=zone_name(n - 1), ready_timeout=300)
        meta['knotd_load_s'] = time.monotonic() - t0
        meta['knotd_rss_kb'] = proc_rss_kb(ctx.knot.pid)

        handles = {}
        for s in (ctx.servers if generic else []):
            h = start_server(ctx, s)
            handles[s] = h
            meta.setdefault('startup', {})[s] = {'ready_s': h.ready_s,
                                                 'rss_kb_idle': proc_rss_kb(h.pid),
                                                 'threads': proc_threads(h.pid)}
        for w in generic:
            prep = WORKLOADS[w][1]
            if prep:
                for s in ctx.servers:
                    log('%s: preparing %s' % (s, w))
                    prep(ctx, handles[s])
        # all rounds of one workload before the next, so that the RSS after a workload reflects
        # that workload and the ones before it in --workloads order
        for w in generic:
            for rnd in range(args.rounds):
                for s in round_order(ctx.servers, rnd):
                    m = WORKLOADS[w][2](ctx, handles[s], rnd)
                    results[s][w]['rounds'].append(m)
                    log('round %d %-5s %-9s qps %9.0f  cpu %6.1f us/q  p99 %s ms  lost %d  '
                        'rss %d MB' % (rnd + 1, w, s, m['qps'], m['cpu_us_per_q'],
                                       fmt(m.get('p99_ms'), 2), m['lost'], m['rss_kb'] // 1024))
        for s in handles:
            if handles[s].proc.poll() is not None:
                raise BenchError('%s exited early' % s)
        if blw:
            for s in list(handles):  # only one server and its list in memory from here on
                stop_server(ctx, handles.pop(s))
            bl = run_blocklist(ctx, blw)
            summ = bl_summary(bl)
            doc_bl = {'meta': {'list_domains': len(ctx.bl_names) + 1, 'list_file': ctx.bl_file,
                               'file_bytes_per_domain': ctx.bl_file_bytes / len(ctx.bl_names),
                               'blocked_query_names': min(args.blocked_names, len(ctx.bl_names)),
                               'blocked_subdomain_queries': ctx.bl_subdomain_queries,
                               'probe_name': BL_PROBE, 'workloads': blw},
                      'servers': bl, 'summary': summ, 'ratios': {}, 'targets': {}}
            if 'minewall' in summ:
                doc_bl['targets']['minewall'] = bl_targets(summ['minewall'])
                for o in OTHERS:
                    if o in summ:
                        doc_bl['ratios']['minewall/%s' % o] = {
                            k: ratio(v, summ[o].get(k)) for k, v in summ['minewall'].items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool) and
                            isinstance(summ[o].get(k), (int, float))}
            meta['blocklist'] = doc_bl['meta']
        for w, run_w in SIDE_WORKLOADS:
            if w in args.workloads:
                for s in list(handles):
                    stop_server(ctx, handles.pop(s))
                mw_docs[w] = run_w(ctx)
        for w, run_w in MW_ONLY_WORKLOADS:
            if w not in args.workloads:
                continue
            for s in list(handles):
                stop_server(ctx, handles.pop(s))
            if 'minewall' not in ctx.servers:
                log('%s workload skipped: it measures minewall only' % w)
            else:
                mw_docs[w] = run_w(ctx)
    finally:
        for p in list(ctx.clients):
            stop_process(p, grace=1)
        for h in reversed(list(ctx.handles)):
            stop_server(ctx, h)
        meta['finished'] = time.strftime('%Y-%m-%dT%H:%M:%S%z')

    meta['hit_warm_passes'] = ctx.warm_passes
    for s in ctx.servers:
        for w in generic:
            results[s][w]['median'] = median_of(results[s][w]['rounds'])
    ratios = {}
    if 'minewall' in ctx.servers:
        for other in OTHERS:
            if other not in ctx.servers:
                continue
            for w in generic:
                a, b = results['minewall'][w]['median'], results[other][w]['median']
                ratios['minewall/%s' % other] = ratios.get('minewall/%s' % other, {})
                ratios['minewall/%s' % other][w] = {
                    'qps': ratio(a.get('qps'), b.get('qps')),
                    'cpu_us_per_q': ratio(a.get('cpu_us_per_q'), b.get('cpu_us_per_q')),
                    'p99_ms': ratio(a.get('p99_ms'), b.get('p99_ms')),
                    'rss_kb': ratio(a.get('rss_kb'), b.get('rss_kb')),
                }
                if other == BASE:
                    # measured back to back in each round: the per-round ratios are the least
                    # noisy comparison of the two builds
                    rr = [ratio(x.get('cpu_us_per_q'), y.get('cpu_us_per_q'))
                          for x, y in zip(results['minewall'][w]['rounds'],
                                          results[other][w]['rounds'])]
                    rr = [x for x in rr if x is not None]
                    ratios['minewall/%s' % other][w]['cpu_per_round'] = rr
                    ratios['minewall/%s' % other][w]['cpu_round_median'] = \
                        statistics.median(rr) if rr else None
    doc = {'meta': meta, 'results': results, 'ratios': ratios}
    if blw:
        doc['blocklist'] = doc_bl
    doc.update({w: d for w, d in mw_docs.items() if d})
    return doc


def print_table(doc, args):
    res, meta = doc['results'], doc['meta']
    print()
    print('minewall bench: %d names in %s., dnsperf %s, %d round(s) (medians), threads %d, '
          '%d CPUs, latency %s' % (args.names, ZONE, meta['dnsperf'], args.rounds, args.threads,
                                   meta['cpus'], args.latency))
    if meta.get('minewall_base_bin'):
        print('%s: %s (%s)%s; minewall: %s (%s)' % (
            BASE, meta['minewall_base_bin'], meta['versions'].get(BASE),
            ', commit %s' % meta['minewall_base_commit'][:12]
            if meta.get('minewall_base_commit') else '',
            meta.get('minewall_bin'), meta['versions'].get('minewall')))
    if 'miss_slice_names' in meta:
        print('cache-miss: %s unique names per %s' % (
            fmt(meta['miss_slice_names']),
            'round (the same for every server)' if args.miss_shared else 'server and round'))
    hdr = ('workload', 'server', 'QPS', 'CPU us/q', 'cores', 'p50 ms', 'p99 ms', 'lost',
           'answered', 'secs', 'RSS MB', 'knot us/q', 'fwd %')
    widths = (8, max([9] + [len(s) for s in args.servers]), 10, 9, 6, 7, 7, 7, 10, 6, 8, 9, 6)
    line = '  '.join(h.rjust(w) if i > 1 else h.ljust(w)
                     for i, (h, w) in enumerate(zip(hdr, widths)))
    if args.generic_workloads:
        print(line)
        print('-' * len(line))
    for w in args.generic_workloads:
        for s in args.servers:
            m = res[s][w]['median']
            rss = m.get('rss_kb')
            cells = (w, s, fmt(m.get('qps')), fmt(m.get('cpu_us_per_q'), 1),
                     fmt(m.get('server_cores'), 2), fmt(m.get('p50_ms'), 3),
                     fmt(m.get('p99_ms'), 3), fmt(m.get('lost')), fmt(m.get('completed')),
                     fmt(m.get('runtime_s'), 1), fmt(rss / 1024.0 if rss else None, 1),
                     fmt(m.get('upstream_cpu_us_per_q'), 1), fmt(m.get('forwarded_pct'), 1))
            print('  '.join(c.rjust(wd) if i > 1 else c.ljust(wd)
                            for i, (c, wd) in enumerate(zip(cells, widths))))
    if doc['ratios']:
        print()
        print('ratios (medians)        QPS   CPU/query   p99   RSS')
        for pair, per in doc['ratios'].items():
            for w, r in per.items():
                print('%-*s %-5s %5s  %9s  %5s  %5s' % (
                    max(18, len(pair)), pair, w, fmt(r['qps'], 2), fmt(r['cpu_us_per_q'], 2),
                    fmt(r['p99_ms'], 2), fmt(r['rss_kb'], 2)))
                if r.get('cpu_per_round'):
                    print('%*s CPU/query per round: %s (median %s, %+.1f%%)' % (
                        max(18, len(pair)) + 6, '', ', '.join(
                            'x%s' % fmt(x, 3) for x in r['cpu_per_round']),
                        fmt(r['cpu_round_median'], 3), (r['cpu_round_median'] - 1) * 100))
    st = meta.get('startup', {})
    if st:
        print()
        print('start-up: ' + ', '.join('%s %.2fs %s MB idle' % (
            s, v['ready_s'], fmt(v['rss_kb_idle'] / 1024.0, 1)) for s, v in st.items()) +
            '; knotd loaded the zone in %.1fs' % meta.get('knotd_load_s', 0))
    print_blocklist(doc, args)
    print_upstreams(doc, args)
    print_redis(doc, args)
    print_journal(doc, args)
    print_metrics(doc, args)
    print_groups(doc, args)
    print_observe(doc, args)
    print_detect(doc, args)
    others = [m.get('other_cores') for s in args.servers for w in args.generic_workloads
              for m in res[s][w]['rounds'] if m.get('other_cores') is not None]
    for r in doc.get('blocklist', {}).get('servers', {}).values():
        for k in ('hit', 'blocked', 'miss_list', 'miss_nolist'):
            others += [m['other_cores'] for m in r.get(k, {}).get('rounds', [])
                       if m.get('other_cores') is not None]
        if r.get('reload', {}).get('other_cores') is not None:
            others.append(r['reload']['other_cores'])
    if others:
        print('other load on the machine during the runs: median %.2f, max %.2f cores%s' % (
            statistics.median(others), max(others),
            '  <- NOISY: something else was running' if max(others) > args.busy_warn else ''))
    print('CPU us/q = server utime+stime (all threads) / answered queries; cores = server CPU '
          'seconds per second; knot us/q = upstream CPU per answered query;\n'
          'fwd % = share of answered queries forwarded upstream, from loopback UDP datagram counts '
          '(2 per hit, 4 per forward; other loopback traffic adds a little).')


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='about two minutes: 300k names, 250k-domain blocklist, 4 s runs, 1 round')
    p.add_argument('--seconds', type=float, help='dnsperf -l per measured run (default 8, quick 4)')
    p.add_argument('--rounds', type=int, help='rounds; medians are reported (default 3, quick 1)')
    p.add_argument('--only', default=','.join(SERVERS),
                   help='servers, comma separated (default %(default)s)')
    p.add_argument('--workloads', default=','.join(WORKLOADS),
                   help='workloads, comma separated, from: %s; "blocklist" = all bl-* '
                        '(default: all)' % ', '.join(WORKLOADS))
    p.add_argument('--blocklist-size', type=int,
                   help='generated domains in the blocklist (default 1000000, quick 250000)')
    p.add_argument('--blocked-names', type=int, default=100000,
                   help='distinct names in the blocked query file (default %(default)s)')
    p.add_argument('--reload-rate', type=int, default=2000,
                   help='bl-reload: cache-hit queries per second (default %(default)s)')
    p.add_argument('--reload-seconds', type=float,
                   help='bl-reload: length of the query loop (default 10, quick 6)')
    p.add_argument('--reload-at', type=float, default=2.0,
                   help='bl-reload: seconds into the loop when the list is replaced '
                        '(default %(default)s)')
    p.add_argument('--reloads', type=int, default=10,
                   help='bl-reloads: reloads of the same list (default %(default)s)')
    p.add_argument('--redis-size', type=int,
                   help='redis: entries of the synced list (default 1000000, quick 250000)')
    p.add_argument('--redis-changes', type=int, default=10000,
                   help='redis: additions pushed for the propagation test (default %(default)s)')
    p.add_argument('--redis-sample', type=int, default=200,
                   help='redis: changed names polled per resolver (default %(default)s)')
    p.add_argument('--redis-sync-timeout', type=float, default=120,
                   help='redis: bound on the initial sync, seconds (default %(default)s)')
    p.add_argument('--pin', action='store_true',
                   help='the server under test on the last CPU, the load generator, upstream '
                        'and readers on the others (taskset)')
    p.add_argument('--detect-rate', type=int, default=0,
                   help='detect: queries per second of every run (dnsperf -Q; 0: unpaced; '
                        'default %(default)s)')
    p.add_argument('--observe-rate', type=int, default=15000,
                   help='observe: queries per second of every run, hits and misses alike '
                        '(dnsperf -Q; 0: unpaced; default %(default)s)')
    p.add_argument('--threads', type=int, default=1,
                   help='worker threads of each server (minewall threads, unbound num-threads, '
                        'dnsdist listeners)')
    p.add_argument('--json', metavar='FILE', help='write every number as JSON to FILE')
    p.add_argument('--names', type=int, help='names in the zone (default 1000000, quick 300000)')
    p.add_argument('--hit-names', type=int, default=5000, help='names of the cache-hit set')
    p.add_argument('--latency', choices=('separate', 'inline', 'off'), default='separate',
                   help='how p50/p99 are measured (see the top of this file)')
    p.add_argument('--latency-seconds', type=float,
                   help='length of a separate latency run (default seconds/2, at least 2)')
    p.add_argument('--miss-latency-share', type=float, default=0.2,
                   help='share of each miss slice kept for the latency run')
    p.add_argument('--miss-shared', action='store_true',
                   help='one miss slice per round shared by all servers (each server still sees '
                        'only names new to it; gives longer miss runs)')
    p.add_argument('--clients', type=int, default=16, help='dnsperf -c')
    p.add_argument('--outstanding', type=int, default=100, help='dnsperf -q')
    p.add_argument('--query-timeout', type=int, default=2, help='dnsperf -t (seconds)')
    p.add_argument('--minewall-bin', metavar='PATH',
                   help='the minewall binary to measure (default $MINEWALL_BIN, else '
                        'build/minewall)')
    p.add_argument('--baseline', metavar='BIN',
                   help='also measure this second minewall binary, as server "%s", with the '
                        'same config in the same run (rows of its own and a minewall/%s '
                        'ratio); e.g. the build before a change' % (BASE, BASE))
    p.add_argument('--minewall-args', default=os.environ.get('MINEWALL_ARGS', '-c {config}'),
                   help='minewall arguments, {config} is the generated YAML (default %(default)s)')
    p.add_argument('--cache-dir', default=os.path.join(
        os.environ.get('XDG_CACHE_HOME') or tempfile.gettempdir(), 'minewall-bench-cache'),
        help='where generated zone files are kept (default %(default)s)')
    p.add_argument('--busy-warn', type=float, default=0.25,
                   help='warn when other processes use more than this many cores during a run')
    p.add_argument('--keep-tmp', action='store_true', help='keep the temp dir (configs, logs)')
    a = p.parse_args(argv)
    a.seconds = a.seconds or (4 if a.quick else 8)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.names = a.names or (300000 if a.quick else 1000000)
    a.latency_seconds = a.latency_seconds or max(2.0, a.seconds / 2)
    a.servers = [s.strip() for s in a.only.split(',') if s.strip()]
    a.workloads = [w.strip() for w in a.workloads.split(',') if w.strip()]
    if 'blocklist' in a.workloads:
        i = a.workloads.index('blocklist')
        a.workloads[i:i + 1] = [w for w in BL_WORKLOADS if w not in a.workloads]
    a.generic_workloads = [w for w in a.workloads if w not in BL_WORKLOADS and
                           w not in REDIS_WORKLOADS and w not in JOURNAL_WORKLOADS and
                           w not in METRICS_WORKLOADS and w not in GROUPS_WORKLOADS and
                           w not in OBSERVE_WORKLOADS and w not in UPSTREAM_WORKLOADS and
                           w not in DETECT_WORKLOADS]
    a.blocklist_size = a.blocklist_size or (250000 if a.quick else 1000000)
    a.redis_size = a.redis_size or (250000 if a.quick else 1000000)
    a.reload_seconds = a.reload_seconds or (6 if a.quick else 10)
    if a.baseline and BASE not in a.servers:
        # measured right after minewall, so each round has the two side by side
        i = a.servers.index('minewall') + 1 if 'minewall' in a.servers else 0
        a.servers.insert(i, BASE)
    for s in a.servers:
        if s == BASE and not a.baseline:
            p.error('server %s needs --baseline BIN' % BASE)
        if s not in SERVERS + (BASE,):
            p.error('unknown server %r (known: %s)' % (s, ', '.join(SERVERS + (BASE,))))
    for w in a.workloads:
        if w not in WORKLOADS:
            p.error('unknown workload %r (known: %s)' % (w, ', '.join(WORKLOADS)))
    if a.hit_names >= a.names:
        p.error('--hit-names must be below --names')
    return a


def main(argv):
    args = parse_args(argv)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop everything
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored

    tmp = tempfile.mkdtemp(prefix='minewall-bench.')
    try:
        try:
            doc = run(args, tmp)
        except BenchError as e:
            log('error: %s' % e)
            log('temp dir kept for inspection: %s' % tmp)
            args.keep_tmp = True
            return 1
        except KeyboardInterrupt:
            log('interrupted; every process started was stopped')
            return 130
        print_table(doc, args)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(doc, f, indent=1, sort_keys=True)
            log('wrote %s' % args.json)
        return 0
    finally:
        if args.keep_tmp:
            log('temp dir: %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
