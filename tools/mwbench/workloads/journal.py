"""The journal workload (minewall only): cost of answer tracking."""

import os

from ..dnsperf import measure
from ..proc import proc_rss_kb
from ..servers import start_server, stop_server
from ..util import BenchError, fmt, log, median_of, ratio, tail
from ..zone import write_queries

# Journal workload (minewall only): cost of answer tracking (journal track: all vs none)
#
# Two minewall instances run side by side with the same config except journal.track: "all"
# (every cache-miss answer of a tracked type is compared with the last one seen for its name,
# and stored: the first sight of every name here) and "none" (the journal file is open, nothing
# is tracked). Host file watches are off (watch: []), max-names is large enough for every name.
# Each round both instances get the same slice of never-asked zone names (their caches and
# trackers are separate), alternating which one goes first. Reported: cache-miss QPS and server
# CPU per query (medians), their ratios all/none (target: cost < 5%), and memory per tracked
# name: VmRSS after all rounds, all minus none, divided by the distinct names each resolved.

JOURNAL_TARGET_PCT = 5.0
JOURNAL_WORKLOADS = ('journal',)


def journal_mw_opts(ctx, track, names):
    path = os.path.join(ctx.tmp, 'journal-%s.jsonl' % track)
    return {'instance': '-journal-' + track, 'path': path,
            'extra_yaml': ['journal:', '  path: "%s"' % path, '  track: %s' % track,
                           '  max-names: %d' % max(1, names), '  watch: []']}


def run_journal(ctx):
    a = ctx.args
    size = ctx.miss_slice_size
    total = size * a.rounds
    hs = {t: start_server(ctx, 'minewall', journal_mw_opts(ctx, t, total + 10))
          for t in ('all', 'none')}
    rss0 = {t: proc_rss_kb(h.pid) for t, h in hs.items()}
    rounds = {'all': [], 'none': []}
    names = {'all': 0, 'none': 0}
    for rnd in range(a.rounds):
        k = ctx.journal_slot0 + rnd
        sl = ctx.perm[a.hit_names + k * size:a.hit_names + (k + 1) * size]
        qf = write_queries(os.path.join(ctx.tmp, 'journal-r%d.txt' % rnd), sl)
        order = ('all', 'none') if rnd % 2 == 0 else ('none', 'all')
        for t in order:
            m = measure(ctx, hs[t], qf, a.seconds, max_runs=1,
                        tag='minewall-journal-%s-r%d' % (t, rnd))
            m['slice_names'] = len(sl)
            names[t] += m.get('rcodes', {}).get('NOERROR', 0)
            rounds[t].append(m)
            log('round %d journal track %-4s qps %9.0f  cpu %6.2f us/q  lost %d  rss %d MB' % (
                rnd + 1, t, m['qps'], m['cpu_us_per_q'], m['lost'], m['rss_kb'] // 1024))
        if not a.keep_tmp:
            os.unlink(qf)
    res = {t: {'rounds': rounds[t], 'median': median_of(rounds[t]), 'rss_kb_start': rss0[t],
               'rss_kb_end': proc_rss_kb(hs[t].pid), 'names_resolved': names[t]}
           for t in hs}
    for t, h in hs.items():
        if h.proc.poll() is not None:
            raise BenchError('minewall (track %s) died during the journal workload; log %s:\n%s'
                             % (t, h.log_path, tail(h.log_path)))
        p = h.opts['path']
        res[t]['journal_bytes'] = os.path.getsize(p) if os.path.exists(p) else 0
        res[t]['log_tail'] = tail(h.log_path, 4)
    ma, mn = res['all']['median'], res['none']['median']
    qps_ratio = ratio(ma.get('qps'), mn.get('qps'))
    cpu_ratio = ratio(ma.get('cpu_us_per_q'), mn.get('cpu_us_per_q'))
    growth = {t: res[t]['rss_kb_end'] - res[t]['rss_kb_start'] for t in hs}
    tracked = res['all']['names_resolved']
    res['summary'] = {
        'qps_all': ma.get('qps'), 'qps_none': mn.get('qps'), 'qps_ratio': qps_ratio,
        'cpu_us_per_q_all': ma.get('cpu_us_per_q'), 'cpu_us_per_q_none': mn.get('cpu_us_per_q'),
        'cpu_ratio': cpu_ratio,
        'qps_cost_pct': (1 - qps_ratio) * 100 if qps_ratio else None,
        'cpu_cost_pct': (cpu_ratio - 1) * 100 if cpu_ratio else None,
        'rss_growth_kb_all': growth['all'], 'rss_growth_kb_none': growth['none'],
        'names_tracked': tracked,
        'bytes_per_tracked_name': ((growth['all'] - growth['none']) * 1024.0 / tracked
                                   if tracked else None),
        'rss_end_diff_bytes_per_name': ((res['all']['rss_kb_end'] - res['none']['rss_kb_end'])
                                        * 1024.0 / tracked if tracked else None),
    }
    sm = res['summary']
    sm['target'] = {'goal': 'QPS and CPU/query cost < %g%%' % JOURNAL_TARGET_PCT,
                    'ok': (sm['qps_cost_pct'] is not None and sm['cpu_cost_pct'] is not None and
                           sm['qps_cost_pct'] < JOURNAL_TARGET_PCT and
                           sm['cpu_cost_pct'] < JOURNAL_TARGET_PCT)}
    for h in hs.values():
        stop_server(ctx, h)
    return res


def print_journal(doc, args):
    jd = doc.get('journal')
    if not jd:
        return
    sm = jd['summary']
    print()
    print('journal: cache-miss with track: all vs track: none (same slice of never-asked names '
          'per round, %d round(s), alternating order)' % len(jd['all']['rounds']))
    for t in ('all', 'none'):
        m = jd[t]['median']
        print('  track %-4s  qps %9s  cpu %7s us/q  lost %s  RSS %s -> %s MB  journal %s bytes'
              % (t, fmt(m.get('qps')), fmt(m.get('cpu_us_per_q'), 2), fmt(m.get('lost')),
                 fmt(jd[t]['rss_kb_start'] / 1024.0, 0), fmt(jd[t]['rss_kb_end'] / 1024.0, 0),
                 fmt(jd[t]['journal_bytes'])))
    print('  cost of tracking: QPS %s%%, CPU/query %s%% (all/none: qps x%s, cpu x%s)' % (
        fmt(sm['qps_cost_pct'], 2), fmt(sm['cpu_cost_pct'], 2), fmt(sm['qps_ratio'], 3),
        fmt(sm['cpu_ratio'], 3)))
    print('  memory: %s names tracked; RSS growth all %s KB, none %s KB: %s bytes per tracked '
          'name (end RSS difference: %s bytes per name)' % (
              fmt(sm['names_tracked']), fmt(sm['rss_growth_kb_all']),
              fmt(sm['rss_growth_kb_none']), fmt(sm['bytes_per_tracked_name'], 0),
              fmt(sm['rss_end_diff_bytes_per_name'], 0)))
    print('  target: %s: %s' % (sm['target']['goal'], 'OK' if sm['target']['ok'] else 'MISSED'))


WORKLOADS = {
    'journal': ('journal: cache-miss cost of track all vs none, memory per tracked name', None,
                None),
}
