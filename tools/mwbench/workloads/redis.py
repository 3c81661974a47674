"""The redis workload (minewall only): fleet list sync from a real redis-server."""

import os
import random
import socket
import statistics
import struct
import time

from ..dnswire import dns_packet, dns_query
from ..listgen import BL_SEED, ensure_blocklist, read_list
from ..proc import proc_rss_kb, stop_process
from ..redisproc import RedisServer, redis_server_exe
from ..servers import start_server, stop_server, wait_answer
from ..util import BenchError, fmt, log, pct, tail
from ..zone import zone_name

# Redis workload (minewall only): fleet list sync
#
#   initial sync  a list of --redis-size entries (the generated blocklist) is loaded straight into
#                 Redis with pipelines (entries SET, meta HASH, minewall:lists; no log needed);
#                 minewall starts following it with an empty state dir. Measured: process start
#                 until a listed name is blocked (NXDOMAIN, the list's action), while a bounded
#                 loop sends cache-hit queries at --reload-rate and records the longest gap
#                 between answers during the sync (and any queries lost).
#   propagation   two minewall instances follow the list; --redis-changes new entries (names of
#                 bench.test., so they resolve NOERROR before and NXDOMAIN once listed, through
#                 the cache-hit path) are written with redis-py as the schema says: MULTI/EXEC
#                 of SADD + XADD (1000 entries per log record), back to back. --redis-sample of
#                 them, spread over every batch, are polled on both resolvers by one fast
#                 poller; per sample and resolver: first NXDOMAIN reply minus the EXEC of its
#                 batch. p50/p99/max per resolver and over both (target p99 < 100 ms).

REDIS_LIST = 'bench'
REDIS_TARGET_P99_MS = 100.0
REDIS_WORKLOADS = ('redis',)
WORKLOADS = {
    'redis': ('redis: initial sync of a large list, propagation to two resolvers', None, None),
}


def start_redis(ctx):
    exe = redis_server_exe()
    if not os.access(exe, os.X_OK):
        raise BenchError('redis-server not found')
    d = os.path.join(ctx.tmp, 'redis')
    os.makedirs(d, exist_ok=True)
    rs = RedisServer(d, exe=exe, log_path=os.path.join(d, 'redis.log'), new_session=True,
                     socket_timeout=60, taken=ctx.ports)
    try:
        rs.start()
    except RuntimeError as e:
        raise BenchError(str(e))
    ctx.clients.append(rs.proc)  # stopped by run()'s finally
    return rs


def redis_load_list(r, name, entries, batch=10000):
    """The list as a feed would leave it, without a log: entries SET, meta, minewall:lists."""
    k = 'minewall:list:{%s}:' % name
    r.delete(k + 'entries', k + 'meta', k + 'log')
    for i in range(0, len(entries), batch):
        p = r.pipeline(transaction=False)
        p.sadd(k + 'entries', *entries[i:i + batch])
        p.execute()
    p = r.pipeline(transaction=True)
    p.hset(k + 'meta', mapping={'category': 'mining', 'action': 'nxdomain', 'type': 'domain',
                                'description': 'bench', 'updated': str(int(time.time()))})
    p.sadd('minewall:lists', name)
    p.execute()


def redis_mw_opts(ctx, port, instance):
    state = os.path.join(ctx.tmp, 'redis-state' + instance)
    os.makedirs(state, exist_ok=True)
    return {'instance': '-redis' + instance, 'log_level': 'info', 'cache_size': 100000,
            'extra_yaml': ['lists: []',
                           'redis:',
                           '  url: "redis://127.0.0.1:%d"' % port,
                           '  lists: ["%s"]' % REDIS_LIST,
                           '  state-dir: "%s"' % state]}


def sync_loop(h, names, probe, rate, timeout, after=1.0):
    """Cache-hit queries for names at a fixed rate from one UDP socket, and probe every 10 ms on
    another until probe is answered NXDOMAIN (then `after` seconds more), bounded by timeout.
    Returns (time the probe was first NXDOMAIN or None, dict of numbers)."""
    import selectors
    pkts = [dns_packet(0, n)[2:] for n in names]
    qs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    qs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    ps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (qs, ps):
        s.connect(('127.0.0.1', h.port))
        s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(qs, selectors.EVENT_READ)
    sel.register(ps, selectors.EVENT_READ)
    limit = min(65536, int(rate * timeout) + 1)
    sent_t = [0.0] * limit
    got = bytearray(limit)
    answers = []
    n_sent = 0
    blocked_t = None
    t0 = time.monotonic()
    next_send = next_probe = t0
    interval = 1.0 / rate
    pseq = 0
    end = t0 + timeout
    while True:
        now = time.monotonic()
        if now >= end or (blocked_t is not None and now >= blocked_t + after):
            break
        while next_send <= now and n_sent < limit:
            try:
                qs.send(struct.pack('!H', n_sent) + pkts[n_sent % len(pkts)])
            except (BlockingIOError, ConnectionRefusedError):
                pass
            sent_t[n_sent] = time.monotonic()
            n_sent += 1
            next_send += interval
        if now >= next_probe and blocked_t is None:
            pseq = (pseq + 1) & 0xFFFF
            try:
                ps.send(struct.pack('!H', pseq) + dns_packet(0, probe)[2:])
            except (BlockingIOError, ConnectionRefusedError):
                pass
            next_probe = now + 0.01
        for key, _ in sel.select(max(0.0, min(next_send, next_probe) - time.monotonic())):
            while True:
                try:
                    data = key.fileobj.recv(4096)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    continue
                t = time.monotonic()
                if len(data) < 12:
                    continue
                qid, flags = struct.unpack('!HH', data[:4])
                if key.fileobj is ps:
                    if qid == pseq and flags & 0xF == 3 and blocked_t is None:
                        blocked_t = t
                elif qid < n_sent and not got[qid]:
                    got[qid] = 1
                    answers.append(t)
    drain_end = time.monotonic() + 1.0
    while time.monotonic() < drain_end and len(answers) < n_sent:
        for key, _ in sel.select(0.05):
            try:
                data = key.fileobj.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            if key.fileobj is qs and len(data) >= 12:
                qid = struct.unpack('!H', data[:2])[0]
                if qid < n_sent and not got[qid]:
                    got[qid] = 1
                    answers.append(time.monotonic())
    sel.close()
    qs.close()
    ps.close()
    answers.sort()
    gaps = [b - a for a, b in zip(answers, answers[1:])]
    m = {'rate': rate, 'sent': n_sent, 'answered': len(answers), 'lost': n_sent - len(answers),
         'max_gap_ms': max(gaps) * 1e3 if gaps else None,
         'loop_s': time.monotonic() - t0}
    return blocked_t, m


def propagation(ctx, r, handles, changed, sample_idx, batch=1000, poll_s=0.002):
    """Write `changed` in MULTI/EXEC batches (SADD + XADD); poll the sampled names on every
    handle from a thread until each is NXDOMAIN. Returns per-handle delays in ms."""
    import threading
    k = 'minewall:list:{%s}:' % REDIS_LIST
    batches = [changed[i:i + batch] for i in range(0, len(changed), batch)]
    batch_of = {i: i // batch for i in range(len(changed))}
    exec_t = [None] * len(batches)
    socks = []
    for h in handles:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(('127.0.0.1', h.port))
        s.setblocking(False)
        socks.append(s)
    # (handle index, sample index) -> first NXDOMAIN receive time
    done = {}
    pkts = {j: dns_packet(0, changed[j])[2:] for j in sample_idx}
    stop = threading.Event()
    polls = [0]

    def poller():
        import selectors
        sel = selectors.DefaultSelector()
        for hi, s in enumerate(socks):
            sel.register(s, selectors.EVENT_READ, hi)
        pending = [(hi, j) for hi in range(len(socks)) for j in sample_idx]
        qmap = {}
        seq = 0
        deadline = time.monotonic() + 60
        while pending and not stop.is_set() and time.monotonic() < deadline:
            round_t = time.monotonic()
            for hi, j in pending:
                if exec_t[batch_of[j]] is None:
                    continue  # not written yet: nothing to see
                seq = (seq + 1) & 0xFFFF
                qmap[(hi, seq)] = j
                try:
                    socks[hi].send(struct.pack('!H', seq) + pkts[j])
                except (BlockingIOError, ConnectionRefusedError):
                    pass
                polls[0] += 1
            while True:
                left = round_t + poll_s - time.monotonic()
                ev = sel.select(max(0.0, left))
                for key, _ in ev:
                    hi = key.data
                    while True:
                        try:
                            data = key.fileobj.recv(4096)
                        except (BlockingIOError, ConnectionRefusedError, InterruptedError):
                            break
                        t = time.monotonic()
                        if len(data) < 12:
                            continue
                        qid, flags = struct.unpack('!HH', data[:4])
                        j = qmap.pop((hi, qid), None)
                        if j is not None and flags & 0xF == 3 and (hi, j) not in done:
                            done[(hi, j)] = t
                if left <= 0 and not ev:
                    break
            pending = [(hi, j) for hi, j in pending if (hi, j) not in done]
        sel.close()

    th = threading.Thread(target=poller, daemon=True)
    th.start()
    time.sleep(0.2)
    w0 = time.monotonic()
    for b, ents in enumerate(batches):
        p = r.pipeline(transaction=True)
        p.sadd(k + 'entries', *ents)
        p.xadd(k + 'log', {'op': 'add', 'entries': ' '.join(ents)})
        p.execute()
        exec_t[b] = time.monotonic()
    write_s = time.monotonic() - w0
    th.join(65)
    stop.set()
    for s in socks:
        s.close()
    out = {}
    for hi, h in enumerate(handles):
        d = [(done[(hi, j)] - exec_t[batch_of[j]]) * 1e3 for j in sample_idx if (hi, j) in done]
        out[hi] = {'delays_ms': d, 'missing': len(sample_idx) - len(d)}
    return out, write_s, polls[0]


def _lat_summary(d):
    return {'n': len(d), 'p50_ms': pct(d, 50), 'p99_ms': pct(d, 99),
            'max_ms': max(d) if d else None, 'mean_ms': statistics.mean(d) if d else None}


def run_redis(ctx):
    a = ctx.args
    import importlib.util
    if importlib.util.find_spec('redis') is None:
        raise BenchError('the redis workload needs redis-py (python3-redis)')
    res = {'list_entries': a.redis_size, 'changes': a.redis_changes, 'sample': a.redis_sample}
    rs = start_redis(ctx)
    proc, port, r = rs.proc, rs.port, rs.client
    res['redis_version'] = r.info('server').get('redis_version')
    names = read_list(ensure_blocklist(a.redis_size, a.cache_dir))
    t0 = time.monotonic()
    redis_load_list(r, REDIS_LIST, names)
    res['redis_load_s'] = time.monotonic() - t0
    res['redis_used_memory_mb'] = r.info('memory')['used_memory'] / 1048576.0
    log('redis: %d entries loaded into Redis in %.1fs' % (len(names), res['redis_load_s']))
    probe = names[len(names) // 2]
    hit = [zone_name(i) for i in ctx.perm[:min(500, a.hit_names)]]

    # -- initial sync under a query loop
    h1 = start_server(ctx, 'minewall', redis_mw_opts(ctx, port, '1'), ready_name=hit[0])
    for n in hit:
        dns_query(h1.port, n, timeout=1.0)
    blocked_t, loop = sync_loop(h1, hit, probe, a.reload_rate, a.redis_sync_timeout)
    if blocked_t is None:
        raise BenchError('minewall did not block %s within %ss of the sync; log %s:\n%s' % (
            probe, a.redis_sync_timeout, h1.log_path, tail(h1.log_path)))
    res['sync'] = dict(loop, ready_s=h1.ready_s, blocked_after_start_s=blocked_t - h1.started_at,
                       rss_kb=proc_rss_kb(h1.pid))
    s = res['sync']
    log('redis sync: %d entries blocked %.2fs after start (ready %.2fs); during it %d qps of '
        'cache hits: longest gap %s ms, lost %d of %d; RSS %d MB' % (
            len(names), s['blocked_after_start_s'], s['ready_s'], a.reload_rate,
            fmt(s['max_gap_ms'], 1), s['lost'], s['sent'], s['rss_kb'] // 1024))

    # -- propagation to two instances
    h2 = start_server(ctx, 'minewall', redis_mw_opts(ctx, port, '2'), ready_name=hit[0])
    t2 = wait_answer(h2, probe, a.redis_sync_timeout, rcode=3)
    res['sync2_blocked_after_start_s'] = t2 - h2.started_at
    rng = random.Random(BL_SEED + 11)
    pool = ctx.perm[a.hit_names:]
    changed = [zone_name(i) for i in rng.sample(pool, a.redis_changes)]
    per = max(1, a.redis_sample // max(1, (len(changed) + 999) // 1000))
    sample_idx = []
    for b0 in range(0, len(changed), 1000):
        ids = list(range(b0, min(len(changed), b0 + 1000)))
        sample_idx += rng.sample(ids, min(per, len(ids)))
    for h in (h1, h2):  # warm: every sampled name cached as NOERROR, so polls are cache hits
        for j in sample_idx:
            dns_query(h.port, changed[j], timeout=1.0)
    log('redis propagation: %d additions in MULTI/EXEC batches of 1000, %d sampled names polled '
        'on 2 resolvers' % (len(changed), len(sample_idx)))
    out, write_s, polls = propagation(ctx, r, [h1, h2], changed, sample_idx)
    allv = []
    res['propagation'] = {'write_s': write_s, 'polls': polls, 'sampled': len(sample_idx)}
    for hi, label in ((0, 'resolver1'), (1, 'resolver2')):
        d = out[hi]['delays_ms']
        allv += d
        res['propagation'][label] = dict(_lat_summary(d), missing=out[hi]['missing'])
    res['propagation']['both'] = _lat_summary(allv)
    p99 = res['propagation']['both']['p99_ms']
    missing = sum(out[hi]['missing'] for hi in out)
    res['propagation']['target'] = {'target': 'propagation p99', 'value': p99,
                                    'goal': '< %g ms' % REDIS_TARGET_P99_MS,
                                    'ok': p99 is not None and p99 < REDIS_TARGET_P99_MS and
                                    not missing}
    for h in (h1, h2):
        if h.proc.poll() is not None:
            raise BenchError('minewall died during the redis workload; log %s:\n%s' % (
                h.log_path, tail(h.log_path)))
    res['log_tail'] = tail(h1.log_path, 6)
    stop_server(ctx, h2)
    stop_server(ctx, h1)
    stop_process(proc, grace=2)
    ctx.clients.remove(proc)
    return res


def print_redis(doc, args):
    rd = doc.get('redis')
    if not rd:
        return
    s = rd['sync']
    print()
    print('redis: list of %s entries (loaded into Redis in %.1fs, Redis %s, used_memory %.0f MB)'
          % (fmt(rd['list_entries']), rd['redis_load_s'], rd.get('redis_version'),
             rd['redis_used_memory_mb']))
    print('  initial sync: listed name blocked %.2f s after process start (ready %.2f s; second '
          'instance %.2f s); RSS %.0f MB' % (s['blocked_after_start_s'], s['ready_s'],
                                            rd['sync2_blocked_after_start_s'],
                                            s['rss_kb'] / 1024.0))
    print('  during the sync: %d qps of cache hits, longest gap between answers %s ms, lost %d '
          'of %d' % (s['rate'], fmt(s['max_gap_ms'], 1), s['lost'], s['sent']))
    p = rd['propagation']
    print('  propagation of %s additions (MULTI/EXEC SADD+XADD, batches of 1000, written in '
          '%.0f ms), %d sampled names, from EXEC to NXDOMAIN:' % (
              fmt(rd['changes']), p['write_s'] * 1e3, p['sampled']))
    for label in ('resolver1', 'resolver2', 'both'):
        x = p[label]
        print('    %-9s  n %4d  p50 %7s ms  p99 %7s ms  max %7s ms%s' % (
            label, x['n'], fmt(x['p50_ms'], 1), fmt(x['p99_ms'], 1), fmt(x['max_ms'], 1),
            ('  missing %d' % x['missing']) if x.get('missing') else ''))
    t = p['target']
    print('  target: %s %s ms, goal %s: %s' % (t['target'], fmt(t['value'], 1), t['goal'],
                                              'OK' if t['ok'] else 'MISSED'))
