"""The generic workloads, run on every server: cache-hit (a fixed set of names, asked until
every one comes from the cache) and cache-miss (names the server has never been asked)."""

import os

from ..dnsperf import measure, run_dnsperf
from ..proc import udp_counters
from ..util import log
from ..zone import write_queries

WARM_CLIENTS = (16, 13, 11, 7, 5, 3, 17, 19, 23, 29)
# a warm-up pass counts as clean below this many loopback datagrams per query: up to 0.5% of the
# names forwarded (dnsdist forwards about 0.15% of hits when a packet-cache shard lock is busy)
WARM_CLEAN = 2.01


def prepare_hit(ctx, h):
    """Ask every hit name until a whole pass is answered from the cache: a pass in which the
    loopback saw only 2 datagrams per query (nothing forwarded). Servers with a cache per worker
    thread need several passes, since each dnsperf run spreads its sockets over the workers
    differently. Two clean passes in a row end it; bounded to 16 passes."""
    n = ctx.args.hit_names
    clean = 0
    for attempt in range(1, 17):
        u0 = udp_counters()
        # a different client count each pass changes which socket (so which worker, with
        # SO_REUSEPORT) each name goes through
        d = run_dnsperf(ctx, h.port, ctx.files['hit'], 60, max_runs=1,
                        tag='%s-warm%d' % (h.name, attempt),
                        clients=WARM_CLIENTS[(attempt - 1) % len(WARM_CLIENTS)], outstanding=100)
        per_q = (udp_counters()['InDatagrams'] - u0['InDatagrams']) / max(1, d['completed'])
        ok = d.get('lost', 0) == 0 and d.get('rcodes', {}).get('NOERROR', 0) == n
        clean = clean + 1 if ok and per_q <= WARM_CLEAN else 0
        if clean == 2:  # two passes in a row without a forwarded query
            break
    ctx.warm_passes[h.name] = attempt
    if attempt > 3:
        log('%s: %d warm-up passes until every hit name came from the cache' % (h.name, attempt))
    if not ok or per_q > WARM_CLEAN:
        log('WARNING: %s still forwards hit names after %d passes (%.3f datagrams per query, '
            'lost %s, rcodes %s)' % (h.name, attempt, per_q, d.get('lost'), d.get('rcodes')))


def run_hit(ctx, h, rnd):
    a = ctx.args
    return measure(ctx, h, ctx.files['hit'], a.seconds, lat_qfile=ctx.files['hit'],
                   lat_seconds=a.latency_seconds, tag='%s-hit-r%d' % (h.name, rnd))


def run_miss(ctx, h, rnd):
    """Names this server has never been asked: its own slice of the zone for this round. dnsperf
    stops at the end of the slice (-n 1) or after --seconds, whichever is first."""
    a = ctx.args
    tput, lat = ctx.miss_slice(h.name, rnd)
    qf = write_queries(os.path.join(ctx.tmp, 'miss-%s-r%d.txt' % (h.name, rnd)), tput)
    lf = None
    if lat:
        lf = write_queries(os.path.join(ctx.tmp, 'miss-%s-r%d-lat.txt' % (h.name, rnd)), lat)
    m = measure(ctx, h, qf, a.seconds, max_runs=1, lat_qfile=lf, lat_seconds=a.latency_seconds,
                lat_max_runs=1, tag='%s-miss-r%d' % (h.name, rnd))
    m['slice_names'] = len(tput)
    if m['sent'] >= len(tput):
        m['ended'] = 'slice exhausted'
    for f in (qf, lf):
        if f and not a.keep_tmp:
            os.unlink(f)
    return m


WORKLOADS = {
    # name: (title, prepare(ctx, handle) once per server or None, run(ctx, handle, round))
    'hit': ('cache-hit', prepare_hit, run_hit),
    'miss': ('cache-miss (forwarded)', None, run_miss),
}
