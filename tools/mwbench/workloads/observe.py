"""The observe workload (minewall only): cost of the query log and of dnstap."""

import os
import shutil
import statistics
import subprocess

from ..dnsperf import run_dnsperf
from ..servers import pinned, start_server, stop_server
from ..util import BenchError, fmt, log, median_of, tail
from ..zone import write_queries
from .detect import paired_costs, run_bracketed
from .hitmiss import prepare_hit

# Observe workload (minewall only): issue 13's cost targets, the query log and dnstap each at
# most 5% more CPU per query on the miss path and 10% on the hit path.
#
# Three minewall instances run side by side with the same config but for: nothing (off), a
# query log (log.queries, every query, a file in the run's temp dir) and dnstap (all four
# message types to fstrm_capture on a UNIX socket, writing to /dev/null). The server CPU per
# query counts every thread of the process: the query log's writer and fstrm's I/O thread too.
#
# Noise: on a shared two-core machine the CPU of a query moves between runs by as much as the
# targets (the load generator, the upstream and the dnstap reader share the cores). As in the
# detect workload, each round therefore runs the instance with neither first and last, for the
# cache-hit workload and for a slice of never-asked names (the last off run with a slice of its
# own), and each instance is compared with the mean of the two off runs around it; the median
# of those per-round ratios is the figure, with every round's shown. User CPU alone is reported
# too: the query log and dnstap run in user space but for their writes. Each run's CPU is also
# split by thread name (mw-worker-N, mw-querylog, mw-dnstap; the median of the per-round
# differences is printed): whether an extra cost is the query path's or a writer's.

# Pace (--observe-rate, default 15,000 queries/s, hits and misses alike): every run asks the
# same number of queries a second, below what the machine answers unpaced (about 35,000
# misses/s here). Unpaced, the CPU of a query follows the throughput the whole machine reaches
# in that run (fewer queries a turn of the loop, more syscalls each): the runs with neither
# spread from 17 to 21 us a miss as their rate moved from 42,000 to 32,000/s, a spread four
# times the miss target, and any CPU the dnstap reader takes on the shared cores lowers the
# rate and so raises minewall's CPU per query without minewall doing more. At one rate the
# instances are compared under the same load, as an operator sizing a resolver sees them.
# --observe-rate 0 runs unpaced; a paced run answering less than 97% of the rate is flagged.

# Steady state: each instance's cache is the default size (100,000 answers; half a slice of
# names when a slice is smaller, as with --quick) and is filled before the rounds with a slice
# of names of its own, so every miss run evicts as many answers as it adds. With a cache still
# growing, each new answer also takes fresh memory, and on a VM that hands free memory back to
# its host a page touched for the first time in a while costs about 10 us: the instance with
# neither, asking two slices a round, filled its cache rounds before the others and then ran
# misses without that cost while they still paid it. The hit names are asked again
# (unmeasured) before each round's hit runs, since misses evict them.
OBSERVE_CACHE = 100000
OBSERVE_TARGET_PCT = {'hit': 10.0, 'miss': 5.0}
OBSERVE_WORKLOADS = ('observe',)
KINDS = ('off', 'querylog', 'dnstap')
RATE_KEPT = 0.97  # a paced run answering less than this share of --observe-rate was not paced


def observe_cache(ctx):
    """The instances' cache size: the default, or half a slice of names when slices are
    smaller (--quick), so that filling it with a slice still evicts."""
    return min(OBSERVE_CACHE, ctx.miss_slice_size // 2)


def observe_opts(ctx, kind):
    o = {'instance': '-observe-' + kind, 'cache_size': observe_cache(ctx)}
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
    p = subprocess.Popen(pinned(ctx, [exe, '-t', 'protobuf:dnstap.Dnstap', '-u', sock, '-w',
                                      '/dev/null'], False),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # stop_process ends its process group
    ctx.clients.append(p)
    return p


def thread_deltas(on, off):
    """Per thread name, the median over rounds of (on - off) CPU us per query: where the extra
    CPU of the whole process goes (worker threads named alike are summed first)."""
    def by_kind(m):
        t = {}
        for name, us in m.get('thread_cpu_us_per_q', {}).items():
            kind = name.rstrip('0123456789').rstrip('-') or name
            t[kind] = t.get(kind, 0.0) + us
        return t
    per = {}
    for x, y in zip(on['rounds'], off['rounds']):
        tx, ty = by_kind(x), by_kind(y)
        for kind in set(tx) | set(ty):
            per.setdefault(kind, []).append(tx.get(kind, 0.0) - ty.get(kind, 0.0))
    return {kind: statistics.median(v) for kind, v in per.items()}


def run_observe(ctx):
    a = ctx.args
    size = ctx.miss_slice_size
    rate = a.observe_rate or None
    reader = start_reader(ctx, observe_opts(ctx, 'dnstap')['sock'])
    hs = {k: start_server(ctx, 'minewall', observe_opts(ctx, k)) for k in KINDS}
    for i, k in enumerate(KINDS):
        s = ctx.observe_slot0 + 2 * a.rounds + i
        qf = write_queries(os.path.join(ctx.tmp, 'observe-fill-%s.txt' % k),
                           ctx.perm[a.hit_names + s * size:a.hit_names + (s + 1) * size])
        log('minewall observe %s: filling its cache (%d answers) with %d names'
            % (k, observe_cache(ctx), size))
        run_dnsperf(ctx, hs[k].port, qf, 600, max_runs=1, tag='observe-fill-%s' % k)
        if not a.keep_tmp:
            os.unlink(qf)
    rounds = {k: {'hit': [], 'miss': []} for k in KINDS}
    for rnd in range(a.rounds):
        for k in KINDS:
            log('minewall observe %s: asking the hit names again' % k)
            prepare_hit(ctx, hs[k])
        order = ('querylog', 'dnstap') if rnd % 2 == 0 else ('dnstap', 'querylog')
        qfs = []
        for i in (0, 1):
            s = ctx.observe_slot0 + 2 * rnd + i
            sl = ctx.perm[a.hit_names + s * size:a.hit_names + (s + 1) * size]
            qfs.append(write_queries(os.path.join(ctx.tmp, 'observe-r%d-%d.txt' % (rnd, i)), sl))
        for w in ('hit', 'miss'):
            files = (ctx.files['hit'],) * 2 if w == 'hit' else qfs
            runs = run_bracketed(ctx, hs, order, files, rate, None if w == 'hit' else 1,
                                 'observe', w, rnd)
            for k in KINDS:
                rounds[k][w].append(runs[k])
        if not a.keep_tmp:
            for qf in qfs:
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
    res['rate'] = rate
    if rate:
        # a run that fell short of the rate was bound by the machine, not paced ('off' is the
        # mean of two runs: its slower one counts)
        res['rate_kept'] = all(r.get('qps_min', r['qps']) >= RATE_KEPT * rate for k in KINDS
                               for w in ('hit', 'miss') for r in rounds[k][w])
    summ = {}
    for k in ('querylog', 'dnstap'):
        for w in ('hit', 'miss'):
            # per round, against the mean of that round's two runs with neither
            e = dict(paired_costs(res[k][w], res['off'][w]), target_pct=OBSERVE_TARGET_PCT[w])
            # the target is on CPU per query of the whole process (user + sys)
            e['cost_pct'] = e['cpu_us_per_q_cost_pct']
            e['ok'] = e['cost_pct'] is not None and e['cost_pct'] <= e['target_pct']
            e['thread_delta_us_per_q'] = thread_deltas(res[k][w], res['off'][w])
            summ['%s_%s' % (k, w)] = e
    res['summary'] = summ
    for h in hs.values():
        stop_server(ctx, h)
    return res


def print_observe(doc, args):
    od = doc.get('observe')
    if not od:
        return
    print()
    rate = od.get('rate')
    print('observe: query log and dnstap (fstrm_capture attached) vs neither, CPU per query of '
          'the whole process (medians of %d round(s), each against its round\'s two runs with '
          'neither), %s' % (len(od['off']['hit']['rounds']),
                            'every run asked %d queries/s' % rate if rate else 'unpaced'))
    if rate and not od.get('rate_kept', True):
        print('  WARNING: some runs answered less than %d%% of %d queries/s: they were bound by '
              'the machine, not paced (see qps in the rounds)' % (RATE_KEPT * 100, rate))
    for k, v in sorted(od['summary'].items()):
        print('  %-14s cpu %7s us/q vs %7s us/q: %s%% (target <= %g%%): %s; user %s%%; '
              'rounds %s' % (
                  k, fmt(v['cpu_us_per_q_on'], 3), fmt(v['cpu_us_per_q_off'], 3),
                  fmt(v['cost_pct'], 1), v['target_pct'], 'OK' if v['ok'] else 'MISSED',
                  fmt(v['user_us_per_q_cost_pct'], 1),
                  ', '.join('%+.1f' % x for x in v['cpu_us_per_q_cost_pct_per_round'])))
        td = v.get('thread_delta_us_per_q') or {}
        if td:
            print('  %-14s by thread, us/q on - off (median of rounds): %s' % ('', ', '.join(
                '%s %+.3f' % (n, d) for n, d in sorted(td.items(), key=lambda x: -abs(x[1]))
                if d is not None)))
    print('  query log written: %s bytes; dnstap reader %s' % (
        fmt(od['querylog_bytes']), 'alive' if od['reader_alive'] else 'GONE'))


WORKLOADS = {
    'observe': ('observe: hit and miss CPU/query with the query log or dnstap on vs off', None,
                None),
}
