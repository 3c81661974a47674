"""The observe workload (minewall only): cost of the query log and of dnstap."""

import os
import shutil
import subprocess

from ..dnsperf import measure
from ..servers import start_server, stop_server
from ..util import BenchError, fmt, log, median_of, ratio, tail
from ..zone import write_queries
from .hitmiss import prepare_hit, run_hit

# Observe workload (minewall only): issue 13's cost targets, the query log and dnstap each at
# most 5% more CPU per query on the miss path and 10% on the hit path.
#
# Three minewall instances run side by side with the same config but for: nothing (off), a
# query log (log.queries, every query, a file in the run's temp dir) and dnstap (all four
# message types to fstrm_capture on a UNIX socket, writing to /dev/null). The server CPU per
# query counts every thread of the process: the query log's writer and fstrm's I/O thread too.
# Each round: the cache-hit workload on each instance, then one slice of never-asked zone
# names asked of each (their caches are separate), in a rotating order.

OBSERVE_TARGET_PCT = {'hit': 10.0, 'miss': 5.0}
OBSERVE_WORKLOADS = ('observe',)
KINDS = ('off', 'querylog', 'dnstap')


def observe_opts(ctx, kind):
    o = {'instance': '-observe-' + kind}
    if kind == 'querylog':
        o['path'] = os.path.join(ctx.tmp, 'observe-queries.jsonl')
        o['extra_yaml'] = ['  queries: "%s"' % o['path']]  # under the log: key cfg_minewall writes
    elif kind == 'dnstap':
        o['sock'] = os.path.join(ctx.tmp, 'observe-dnstap.sock')
        o['extra_yaml'] = ['dnstap:', '  socket: "%s"' % o['sock']]
    return o


def start_reader(ctx, sock):
    exe = shutil.which('fstrm_capture')
    if not exe:
        raise BenchError('the observe workload needs fstrm_capture (package fstrm-bin)')
    p = subprocess.Popen([exe, '-t', 'protobuf:dnstap.Dnstap', '-u', sock, '-w', '/dev/null'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx.clients.append(p)
    return p


def run_observe(ctx):
    a = ctx.args
    size = ctx.miss_slice_size
    reader = start_reader(ctx, observe_opts(ctx, 'dnstap')['sock'])
    hs = {k: start_server(ctx, 'minewall', observe_opts(ctx, k)) for k in KINDS}
    for k in KINDS:
        log('minewall observe %s: preparing hit' % k)
        prepare_hit(ctx, hs[k])
    rounds = {k: {'hit': [], 'miss': []} for k in KINDS}
    for rnd in range(a.rounds):
        order = KINDS[rnd % 3:] + KINDS[:rnd % 3]
        for k in order:
            m = run_hit(ctx, hs[k], rnd)
            rounds[k]['hit'].append(m)
            log('round %d observe %-8s hit  qps %9.0f  cpu %6.3f us/q  lost %d' % (
                rnd + 1, k, m['qps'], m['cpu_us_per_q'], m['lost']))
        s = ctx.observe_slot0 + rnd
        sl = ctx.perm[a.hit_names + s * size:a.hit_names + (s + 1) * size]
        qf = write_queries(os.path.join(ctx.tmp, 'observe-r%d.txt' % rnd), sl)
        for k in order:
            m = measure(ctx, hs[k], qf, a.seconds, max_runs=1,
                        tag='minewall-observe-%s-miss-r%d' % (k, rnd))
            rounds[k]['miss'].append(m)
            log('round %d observe %-8s miss qps %9.0f  cpu %6.3f us/q  lost %d' % (
                rnd + 1, k, m['qps'], m['cpu_us_per_q'], m['lost']))
        if not a.keep_tmp:
            os.unlink(qf)
    for k, h in hs.items():
        if h.proc.poll() is not None:
            raise BenchError('minewall (observe %s) died; log %s:\n%s'
                             % (k, h.log_path, tail(h.log_path)))
    res = {k: {w: {'rounds': rounds[k][w], 'median': median_of(rounds[k][w])}
               for w in ('hit', 'miss')} for k in KINDS}
    qlog = observe_opts(ctx, 'querylog')['path']
    res['querylog_bytes'] = os.path.getsize(qlog) if os.path.exists(qlog) else 0
    res['reader_alive'] = reader.poll() is None
    summ = {}
    for k in ('querylog', 'dnstap'):
        for w in ('hit', 'miss'):
            on = res[k][w]['median'].get('cpu_us_per_q')
            off = res['off'][w]['median'].get('cpu_us_per_q')
            r = ratio(on, off)
            pct = (r - 1) * 100 if r else None
            summ['%s_%s' % (k, w)] = {
                'cpu_us_per_q_on': on, 'cpu_us_per_q_off': off, 'cost_pct': pct,
                'target_pct': OBSERVE_TARGET_PCT[w],
                'ok': pct is not None and pct <= OBSERVE_TARGET_PCT[w]}
    res['summary'] = summ
    for h in hs.values():
        stop_server(ctx, h)
    return res


def print_observe(doc, args):
    od = doc.get('observe')
    if not od:
        return
    print()
    print('observe: query log and dnstap (fstrm_capture attached) vs neither, CPU per query of '
          'the whole process (medians of %d round(s))' % len(od['off']['hit']['rounds']))
    for k, v in sorted(od['summary'].items()):
        print('  %-14s cpu %7s us/q vs %7s us/q: %s%% (target <= %g%%): %s' % (
            k, fmt(v['cpu_us_per_q_on'], 3), fmt(v['cpu_us_per_q_off'], 3),
            fmt(v['cost_pct'], 1), v['target_pct'], 'OK' if v['ok'] else 'MISSED'))
    print('  query log written: %s bytes; dnstap reader %s' % (
        fmt(od['querylog_bytes']), 'alive' if od['reader_alive'] else 'GONE'))


WORKLOADS = {
    'observe': ('observe: hit and miss CPU/query with the query log or dnstap on vs off', None,
                None),
}
