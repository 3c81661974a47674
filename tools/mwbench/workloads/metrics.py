"""The metrics workload (minewall only): cost of the metrics server on the cache-hit path."""

import statistics
import time

from ..ports import free_port
from ..proc import proc_cpu_seconds, proc_rss_kb
from ..servers import start_server, stop_server
from ..util import BenchError, fmt, log, median_of, pct, ratio, tail
from .hitmiss import prepare_hit, run_hit

# Metrics workload (minewall only): cost of the metrics server on the cache-hit path
#
# Two minewall instances run side by side with the same config, one with metrics: {listen: ...}
# whose /metrics a background thread of this process scrapes once a second for the whole
# workload (as Prometheus would), one without a metrics server. Both are warmed like the hit
# workload; each round runs the cache-hit workload on both, alternating which goes first.
# Reported: QPS and server CPU per query (medians, and the on/off ratio of each round), the
# scrapes made and their latency. Target: CPU/query within 2%.

METRICS_TARGET_PCT = 2.0
METRICS_WORKLOADS = ('metrics',)


class Scraper:
    """GET /metrics from 127.0.0.1:port every interval seconds in a daemon thread."""

    def __init__(self, port, interval=1.0):
        import threading
        self.port = port
        self.interval = interval
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.times_ms = []
        self.bytes = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name='scraper', daemon=True)

    def start(self):
        self._t.start()
        return self

    def _run(self):
        import http.client
        nxt = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=2)
                c.request('GET', '/metrics')
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status != 200 or b'minewall_queries_total' not in body:
                    raise OSError('status %d' % r.status)
                self.ok += 1
                self.bytes = len(body)
                self.times_ms.append((time.monotonic() - t0) * 1e3)
            except (OSError, http.client.HTTPException) as e:
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(str(e))
            nxt += self.interval
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def stop(self):
        self._stop.set()
        self._t.join(5)


def run_metrics(ctx):
    a = ctx.args
    mport = free_port(taken=ctx.ports)
    opts = {'on': {'instance': '-metrics-on',
                   'extra_yaml': ['metrics:', '  listen: "127.0.0.1:%d"' % mport]},
            'off': {'instance': '-metrics-off'}}
    hs = {k: start_server(ctx, 'minewall', o) for k, o in opts.items()}
    scraper = Scraper(mport).start()
    try:
        for k in ('on', 'off'):
            log('minewall metrics %s: preparing hit' % k)
            prepare_hit(ctx, hs[k])
        rounds = {'on': [], 'off': []}
        for rnd in range(a.rounds):
            order = ('on', 'off') if rnd % 2 == 0 else ('off', 'on')
            for k in order:
                ok0 = scraper.ok
                m = run_hit(ctx, hs[k], rnd)
                m['scrapes_during'] = scraper.ok - ok0
                rounds[k].append(m)
                log('round %d metrics %-3s qps %9.0f  cpu %6.3f us/q  p99 %s ms  lost %d  '
                    'scrapes %d' % (rnd + 1, k, m['qps'], m['cpu_us_per_q'],
                                    fmt(m.get('p99_ms'), 3), m['lost'], m['scrapes_during']))
    finally:
        scraper.stop()
    # The direct cost of a scrape, free of run-to-run noise: server CPU for back-to-back
    # scrapes of the idle instance (one connection each, as the scraper does).
    import http.client
    n_scr = 1000
    c0 = proc_cpu_seconds(hs['on'].pid)
    w0 = time.monotonic()
    for _ in range(n_scr):
        c = http.client.HTTPConnection('127.0.0.1', mport, timeout=2)
        c.request('GET', '/metrics')
        c.getresponse().read()
        c.close()
    scrape_cpu_us = (proc_cpu_seconds(hs['on'].pid) - c0) * 1e6 / n_scr
    scrape_wall_ms = (time.monotonic() - w0) * 1e3 / n_scr
    for k, h in hs.items():
        if h.proc.poll() is not None:
            raise BenchError('minewall (metrics %s) died during the metrics workload; log %s:\n%s'
                             % (k, h.log_path, tail(h.log_path)))
    res = {k: {'rounds': rounds[k], 'median': median_of(rounds[k]),
               'rss_kb': proc_rss_kb(hs[k].pid)} for k in hs}
    per_round = [{'qps_ratio': ratio(on.get('qps'), off.get('qps')),
                  'cpu_ratio': ratio(on.get('cpu_us_per_q'), off.get('cpu_us_per_q'))}
                 for on, off in zip(rounds['on'], rounds['off'])]
    mo, mf = res['on']['median'], res['off']['median']
    qps_ratio = ratio(mo.get('qps'), mf.get('qps'))
    cpu_ratio = ratio(mo.get('cpu_us_per_q'), mf.get('cpu_us_per_q'))
    rr = [r['cpu_ratio'] for r in per_round if r['cpu_ratio']]
    st = sorted(scraper.times_ms)
    res['summary'] = {
        'qps_on': mo.get('qps'), 'qps_off': mf.get('qps'), 'qps_ratio': qps_ratio,
        'cpu_us_per_q_on': mo.get('cpu_us_per_q'), 'cpu_us_per_q_off': mf.get('cpu_us_per_q'),
        'cpu_ratio': cpu_ratio,
        'cpu_cost_pct': (cpu_ratio - 1) * 100 if cpu_ratio else None,
        'qps_cost_pct': (1 - qps_ratio) * 100 if qps_ratio else None,
        'cpu_cost_pct_round_median': (statistics.median(rr) - 1) * 100 if rr else None,
        'per_round': per_round,
        'scrapes_ok': scraper.ok, 'scrapes_failed': scraper.failed,
        'scrape_errors': scraper.errors, 'scrape_bytes': scraper.bytes,
        'scrape_p50_ms': pct(st, 50), 'scrape_max_ms': st[-1] if st else None,
        'scrape_server_cpu_us': scrape_cpu_us, 'scrape_wall_ms_idle': scrape_wall_ms,
        # one scrape a second against the CPU the hit load takes in a second
        'scrape_share_pct': (scrape_cpu_us * 1e-6 / ((mo.get('server_cores') or 0) or 1e-9)
                             * 100),
    }
    sm = res['summary']
    sm['target'] = {'goal': 'CPU/query with metrics scraped every second within %g%% of metrics '
                            'off' % METRICS_TARGET_PCT,
                    'ok': sm['cpu_cost_pct'] is not None and
                    sm['cpu_cost_pct'] < METRICS_TARGET_PCT and not scraper.failed}
    for h in hs.values():
        stop_server(ctx, h)
    return res


def print_metrics(doc, args):
    md = doc.get('metrics')
    if not md:
        return
    sm = md['summary']
    print()
    print('metrics: cache-hit with metrics on (scraped every second) vs off, %d round(s), '
          'alternating order' % len(md['on']['rounds']))
    for k in ('on', 'off'):
        m = md[k]['median']
        print('  metrics %-3s  qps %9s  cpu %7s us/q  p50 %s ms  p99 %s ms  lost %s  RSS %s MB' % (
            k, fmt(m.get('qps')), fmt(m.get('cpu_us_per_q'), 3), fmt(m.get('p50_ms'), 3),
            fmt(m.get('p99_ms'), 3), fmt(m.get('lost')), fmt(md[k]['rss_kb'] / 1024.0, 1)))
    print('  per round on/off CPU/query: ' + ', '.join(
        'x%s' % fmt(r['cpu_ratio'], 4) for r in sm['per_round']))
    print('  cost of metrics: CPU/query %s%% (medians; median of per-round ratios %s%%), QPS %s%%'
          % (fmt(sm['cpu_cost_pct'], 2), fmt(sm['cpu_cost_pct_round_median'], 2),
             fmt(sm['qps_cost_pct'], 2)))
    print('  scrapes: %d ok, %d failed%s; %s bytes each, p50 %s ms, max %s ms' % (
        sm['scrapes_ok'], sm['scrapes_failed'],
        (' (%s)' % '; '.join(sm['scrape_errors'])) if sm['scrape_errors'] else '',
        fmt(sm['scrape_bytes']), fmt(sm['scrape_p50_ms'], 2), fmt(sm['scrape_max_ms'], 2)))
    print('  one scrape costs the server %s us of CPU (%s ms wall, idle): %s%% of its CPU per '
          'second at the hit load' % (fmt(sm['scrape_server_cpu_us'], 1),
                                      fmt(sm['scrape_wall_ms_idle'], 2),
                                      fmt(sm['scrape_share_pct'], 3)))
    print('  target: %s: %s' % (sm['target']['goal'], 'OK' if sm['target']['ok'] else 'MISSED'))


WORKLOADS = {
    'metrics': ('metrics: cache-hit CPU/query with metrics scraped every second vs off', None,
                None),
}
