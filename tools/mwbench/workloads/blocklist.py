"""The blocklist workloads (bl-*): a generated list of a million domains loaded by each server;
start-up and memory, blocked queries, cache hits and misses with the list, reload under load."""

import os
import random
import resource
import signal
import socket
import statistics
import struct
import time

from ..dnsperf import measure
from ..dnswire import RCODES, dns_query
from ..listgen import BL_SEED, ensure_blocklist, generate_blocklist, host_label, read_list, \
    write_list_files
from ..proc import proc_cpu_seconds, proc_rss_kb, proc_status, system_cpu
from ..servers import BASE, OTHERS, dnsdist_reload, is_minewall, start_server, \
    stop_server
from ..util import BenchError, fmt, log, median_of, ratio, tail
from ..zone import ZONE, write_queries, zone_name
from .hitmiss import prepare_hit

# Blocklist workloads
#
# A generated list of --blocklist-size domains (PERF.md: 60% registrable domains, 30% with one
# more label, 10% with two; about 75 TLDs; every entry blocks the name and all names below it),
# cached next to the zone. Each server is started twice more, fresh: once without the list and
# once with it (minewall: lists: [{name: bench, category: mining, path: ...}] and sinkhole
# nxdomain; Unbound: an include file of 'local-zone: "d." always_nxdomain'; dnsdist: the
# SuffixMatchNode fragment of bench.d/). The blocklist workloads then run on those two
# instances, server after server (only one server holds a million-entry list at a time; only
# minewall and minewall-base run together, see bl_groups):
#
#   bl-load     start-up + load (process start until it answers a listed name with NXDOMAIN),
#               VmRSS right after start with the list minus without it, bytes per listed domain
#   bl-blocked  dnsperf over listed names, 25% of them asking for a subdomain of one (NXDOMAIN)
#   bl-hit      minewall only: the cache-hit workload on the instance with the list
#   bl-miss     cache-miss with the list vs without: each round both instances get the same
#               slice of never-asked zone names (their caches are separate), in turn
#   bl-reload   a bounded UDP loop in this process sends cache-hit queries at a fixed rate
#               (--reload-rate for --reload-seconds) while the list is replaced with an atomic
#               rename (minewall reloads on its own; Unbound gets SIGHUP; dnsdist runs the
#               fragment's mwReloadBlocklist() through its console); longest gap between
#               answers, lost queries, when the new list took effect (a probe name that the
#               new list no longer blocks starts resolving), RSS before/after and the peak
#   bl-reloads  --reloads SIGHUPs with the same list (the operator's reload of an unchanged
#               list; dnsdist: mwReloadBlocklist() through its console): RSS after each once
#               it settles, and the peak over all of them (VmHWM, reset first through
#               /proc/PID/clear_refs). A reload of a changed list is bl-reload, whose peak is
#               reported there.
#
# bl-load numbers come from the one start with the list, which every blocklist workload needs;
# the others report medians of --rounds.

# In each server's list at start, gone from the list written by bl-reload: a name of the zone,
# so once the new list is in force it resolves (NOERROR with an A record) instead of NXDOMAIN.
BL_PROBE = 'ns.%s' % ZONE
BL_WORKLOADS = ('bl-load', 'bl-blocked', 'bl-hit', 'bl-miss', 'bl-reload', 'bl-reloads')
BL_SUBDOMAIN_SHARE = 0.25

def bl_opts(ctx, server):
    """Config options and files of server's instance with the list."""
    d = os.path.join(ctx.tmp, 'bl-%s' % server)
    os.makedirs(d, exist_ok=True)
    names = ctx.bl_names + [BL_PROBE]
    if server == 'unbound':
        path = os.path.join(d, 'blocklist.conf')
        os.replace(write_list_files(path, names, 'unbound'), path)
        opts = {'blocklist_include': '    include: "%s"' % path}
    else:
        path = os.path.join(d, 'blocklist.txt')
        os.replace(write_list_files(path, names, 'plain'), path)
        if is_minewall(server):
            opts = {'config_name': 'minewall-list.yaml', 'log_level': 'info',
                    'extra_yaml': ['lists:',
                                   '  - {name: bench, category: mining, path: "%s"}' % path,
                                   'sinkhole:', '  action: nxdomain']}
        else:
            opts = {'blocklist': path}
    opts['instance'] = '-list'
    opts['list_path'] = path
    return opts


def blocked_queries(ctx, count):
    """count listed names to ask for, 25% of them with one more label in front (a subdomain of
    a listed name, blocked by the same entry)."""
    rng = random.Random(BL_SEED + 1)
    pick = rng.sample(ctx.bl_names, min(count, len(ctx.bl_names)))
    out = []
    for n in pick:
        if rng.random() < BL_SUBDOMAIN_SHARE:
            n = '%s.%s' % (host_label(rng), n)
        out.append(n)
    return out


def bl_prepare(ctx):
    """Blocklist, blocked query file; once per run."""
    a = ctx.args
    path = ensure_blocklist(a.blocklist_size, a.cache_dir)
    ctx.bl_file = path
    ctx.bl_names = read_list(path)
    ctx.bl_file_bytes = os.path.getsize(path)
    q = blocked_queries(ctx, a.blocked_names)
    ctx.bl_ready_name = q[0] if '.' in q[0] else ctx.bl_names[0]
    ctx.files['blocked'] = os.path.join(ctx.tmp, 'blocked.txt')
    with open(ctx.files['blocked'], 'w') as f:
        f.write(''.join('%s A\n' % n for n in q))
    ctx.bl_subdomain_queries = sum(1 for n in q if n not in ctx.bl_set())
    # the list written by bl-reload: the same entries plus 0.1% new ones, without the probe
    extra = generate_blocklist(max(1, a.blocklist_size // 1000), BL_SEED + 7,
                               exclude=ctx.bl_set())
    ctx.bl_reload_names = ctx.bl_names + extra


def bl_miss_slice(ctx, server, rnd):
    k = ctx.miss_slots + ctx.servers.index(server) + len(ctx.servers) * rnd
    size = ctx.miss_slice_size
    return ctx.perm[ctx.args.hit_names + k * size:ctx.args.hit_names + (k + 1) * size]


def reload_loop(ctx, h, names, rate, seconds, at, action, extra_seconds=10.0, sockets=4):
    """Send cache-hit queries for names round robin over `sockets` UDP sockets at a fixed rate for
    `seconds`; call action() `at` seconds in. Meanwhile probe BL_PROBE every 20 ms on its own
    socket to see when the new list took effect. Keeps sending up to extra_seconds more while it
    has not. Returns a dict of numbers."""
    import selectors

    def packet(qid, qname):
        wire = b''.join(bytes([len(l)]) + l.encode() for l in qname.split('.')) + b'\0'
        return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack('!HH', 1, 1)

    pkts = [packet(0, n) for n in names]
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(sockets + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(('127.0.0.1', h.port))
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    probe = socks[-1]
    limit = int(rate * (seconds + extra_seconds)) + 1
    if limit > 65536:
        raise BenchError('reload loop: rate x time over 65536 queries (IDs would repeat)')
    sent_t = [0.0] * limit
    got = bytearray(limit)
    answers = []  # receive times
    answered_q = []  # (receive time, send time)
    lat = []
    rcodes = {}
    probe_sent = {}
    probe_res = []  # (recv time, rcode, ancount)
    interval = 1.0 / rate
    n_sent = 0
    max_send_gap = 0.0
    last_send = None
    action_t = None
    applied_t = None
    import gc
    gc.collect()
    gc.disable()  # a collection over this process's million-name lists stalls the loop
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, up0, sys0 = proc_cpu_seconds(h.pid), proc_cpu_seconds(ctx.knot.pid), system_cpu()
    t0 = time.monotonic()
    next_send = t0
    next_probe = t0
    probe_seq = 0
    end = t0 + seconds
    hard_end = end + extra_seconds

    def drain(timeout):
        nonlocal applied_t
        for key, _ in sel.select(timeout):
            s = key.fileobj
            while True:
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    continue
                now = time.monotonic()
                if len(data) < 12:
                    continue
                qid, flags, _, ancount = struct.unpack('!HHHH', data[:8])
                rc = flags & 0xF
                if s is probe:
                    if probe_sent.pop(qid, None) is not None:
                        probe_res.append((now, rc, ancount))
                        if action_t is not None and applied_t is None and rc == 0 and ancount:
                            applied_t = now
                    continue
                if qid < n_sent and not got[qid]:
                    got[qid] = 1
                    answers.append(now)
                    answered_q.append((now, sent_t[qid]))
                    lat.append(now - sent_t[qid])
                    rcodes[RCODES.get(rc, rc)] = rcodes.get(RCODES.get(rc, rc), 0) + 1

    while True:
        now = time.monotonic()
        if action_t is None and now >= t0 + at:
            action()
            action_t = time.monotonic()
            now = action_t
        if now >= end and (applied_t is not None or now >= hard_end or action_t is None):
            break
        while next_send <= now and n_sent < limit:
            pkt = pkts[n_sent % len(pkts)]
            try:
                socks[n_sent % sockets].send(struct.pack('!H', n_sent) + pkt[2:])
            except (BlockingIOError, ConnectionRefusedError):
                pass
            t = time.monotonic()
            sent_t[n_sent] = t
            if last_send is not None:
                max_send_gap = max(max_send_gap, t - last_send)
            last_send = t
            n_sent += 1
            next_send += interval
        if now >= next_probe:
            probe_seq = (probe_seq + 1) & 0xFFFF
            try:
                probe.send(struct.pack('!H', probe_seq) + packet(0, BL_PROBE)[2:])
                probe_sent[probe_seq] = now
            except (BlockingIOError, ConnectionRefusedError):
                pass
            next_probe = now + 0.02
        drain(max(0.0, min(next_send, next_probe) - time.monotonic()))
    send_end = time.monotonic()
    while time.monotonic() < send_end + ctx.args.query_timeout and len(answers) < n_sent:
        drain(0.05)
    wall = time.monotonic() - t0
    cpu1, up1, sys1 = proc_cpu_seconds(h.pid), proc_cpu_seconds(ctx.knot.pid), system_cpu()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    gc.enable()
    for s in socks:
        sel.unregister(s)
        s.close()
    sel.close()

    def max_gap(ts, lo=None, hi=None):
        """Longest time between consecutive answers received in [lo, hi] (the interval's edges
        count as events only when answers were expected there)."""
        pts = [x for x in ts if (lo is None or x >= lo) and (hi is None or x <= hi)]
        if len(pts) < 2:
            return None
        return max(b - a for a, b in zip(pts, pts[1:]))

    answers.sort()
    answered_q.sort()
    # The gap the server is to blame for: between two consecutive answers a_i < a_j, count only
    # the time during which some query was already waiting (sent before a_j, unanswered at a_i).
    # A stall of this script (nothing sent) makes a long answer gap but no server gap.
    lost_sends = [sent_t[i] for i in range(n_sent) if not got[i]]
    suffix_min = [float('inf')] * (len(answered_q) + 1)
    suffix_min[-1] = min(lost_sends) if lost_sends else float('inf')
    for j in range(len(answered_q) - 1, -1, -1):
        suffix_min[j] = min(suffix_min[j + 1], answered_q[j][1])
    sgaps = []  # (a_j, server gap ending there)
    for j in range(1, len(answered_q)):
        a_i, a_j = answered_q[j - 1][0], answered_q[j][0]
        first = suffix_min[j]
        sgaps.append((a_j, a_j - max(a_i, first) if first < a_j else 0.0))
    if lost_sends and answered_q:  # lost queries: the server owes them until the end
        sgaps.append((last_send, max(0.0, last_send - max(answered_q[-1][0], min(lost_sends)))))

    def max_sgap(lo=None, hi=None):
        v = [g for t, g in sgaps if (lo is None or t >= lo) and (hi is None or t <= hi)]
        return max(v) * 1e3 if v else None
    m_sg = {'max_server_gap_ms': max_sgap()}
    if action_t:
        m_sg['max_server_gap_before_ms'] = max_sgap(hi=action_t)
        m_sg['max_server_gap_reload_ms'] = max_sgap(lo=action_t)
        lb = [a - s_ for a, s_ in answered_q if s_ < action_t]
        la = [a - s_ for a, s_ in answered_q if s_ >= action_t]
        m_sg['lat_max_before_ms'] = max(lb) * 1e3 if lb else None
        m_sg['lat_max_reload_ms'] = max(la) * 1e3 if la else None
    m = {'rate': rate, 'seconds': seconds, 'sent': n_sent, 'answered': len(answers),
         'lost': n_sent - len(answers), 'rcodes': rcodes,
         'max_send_gap_ms': max_send_gap * 1e3,
         'action_at_s': (action_t - t0) if action_t else None,
         'applied_after_s': (applied_t - action_t) if applied_t and action_t else None,
         'server_cpu_s': cpu1 - cpu0}
    if answers:
        # the longest gap anywhere, including from the last answer to the last query sent
        g = max_gap(answers) or 0.0
        if answers[-1] < last_send:
            g = max(g, last_send - answers[-1])
        m['max_gap_ms'] = g * 1e3
        if action_t:
            before = max_gap(answers, hi=action_t)
            m['max_gap_before_ms'] = before * 1e3 if before is not None else None
            # from the last answer before the action to the first after, and everything after
            prev = [x for x in answers if x < action_t]
            after = max_gap(answers, lo=prev[-1] if prev else None)
            m['max_gap_reload_ms'] = after * 1e3 if after is not None else None
        lat.sort()
        m['lat_max_ms'] = lat[-1] * 1e3
        m['p99_ms'] = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3
        m['p50_ms'] = lat[len(lat) // 2] * 1e3
    own = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    m['client_cores'] = own / wall
    m['other_cores'] = ((sys1[0] - sys0[0]) - (cpu1 - cpu0) - (up1 - up0) - own) / wall
    if m['other_cores'] > ctx.args.busy_warn:
        log('WARNING: %s reload: other processes used %.2f cores during the run; numbers are '
            'noisy' % (h.name, m['other_cores']))
    m['probe_answers'] = len(probe_res)
    m.update(m_sg)
    return m


def bl_reload(ctx, h, server):
    a = ctx.args
    names = [zone_name(i) for i in ctx.perm[:min(500, a.hit_names)]]
    for n in names:  # warm: every name in this instance's cache
        dns_query(h.port, n, timeout=1.0)
    path = h.opts['list_path']
    kind = 'unbound' if server == 'unbound' else 'plain'
    tmp = write_list_files(path, ctx.bl_reload_names, kind)
    time.sleep(0.5)  # let a directory watch see the temporary file come and settle first
    how = 'rename'
    clients = []

    def action():
        os.replace(tmp, path)
        if server == 'unbound':
            os.kill(h.pid, signal.SIGHUP)
        elif server == 'dnsdist':
            # not waited for here: the query loop goes on while dnsdist reads the list
            clients.append(dnsdist_reload(ctx, h, wait=False))
    if server == 'unbound':
        how = 'rename + SIGHUP'
    elif server == 'dnsdist':
        how = 'rename + console mwReloadBlocklist()'
    rss_before = proc_rss_kb(h.pid)
    try:
        with open('/proc/%d/clear_refs' % h.pid, 'w') as f:
            f.write('5')  # VmHWM from here on: the peak of this reload, not of the start
    except OSError:
        pass
    log('%s: reload under %d qps of cache hits for %gs (%s at %gs)' % (
        server, a.reload_rate, a.reload_seconds, how, a.reload_at))
    m = reload_loop(ctx, h, names, a.reload_rate, a.reload_seconds, a.reload_at, action)
    for c in clients:
        c.communicate(timeout=300)
    m['how'] = how
    m['rss_kb_before'] = rss_before
    m['rss_kb_after'] = proc_rss_kb(h.pid)
    hwm = proc_status(h.pid, 'VmHWM')
    m['rss_kb_peak'] = int(hwm.split()[0]) if hwm else None
    if h.proc.poll() is not None:
        raise BenchError('%s died during the reload; log %s:\n%s' % (server, h.log_path,
                                                                   tail(h.log_path)))
    if m.get('applied_after_s') is None:
        log('WARNING: %s: the new list did not take effect within the reload run' % server)
    log('%s reload: longest gap %s ms (before the reload %s ms; server-side %s / %s ms; this '
        'script stalled up to %s ms), lost %d of %d, new list in force after %s s, max latency '
        '%s ms' % (
            server, fmt(m.get('max_gap_ms'), 1), fmt(m.get('max_gap_before_ms'), 1),
            fmt(m.get('max_server_gap_reload_ms'), 1), fmt(m.get('max_server_gap_before_ms'), 1),
            fmt(m.get('max_send_gap_ms'), 1), m['lost'], m['sent'],
            fmt(m.get('applied_after_s'), 2), fmt(m.get('lat_max_ms'), 1)))
    return m


def settled_rss(pid, timeout=60.0, still=1.0):
    """VmRSS once it has not moved by more than 1% for `still` seconds (bounded)."""
    t_end = time.monotonic() + timeout
    last, since = proc_rss_kb(pid), time.monotonic()
    while time.monotonic() < t_end:
        time.sleep(0.1)
        v = proc_rss_kb(pid)
        if abs(v - last) > last * 0.01:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= still:
            return v
    return proc_rss_kb(pid)


def bl_reloads(ctx, h, server):
    a = ctx.args
    needle = b'configuration reloaded (generation'
    rss_start = settled_rss(h.pid)
    try:
        with open('/proc/%d/clear_refs' % h.pid, 'w') as f:
            f.write('5')  # VmHWM starts over from the current RSS
        peak_reset = True
    except OSError:
        peak_reset = False
    after = []
    for i in range(a.reloads):
        done_before = open(h.log_path, 'rb').read().count(needle) if is_minewall(server) else 0
        if server == 'dnsdist':
            dnsdist_reload(ctx, h)  # returns once the list is read again and swapped in
        else:
            os.kill(h.pid, signal.SIGHUP)
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            if h.proc.poll() is not None:
                raise BenchError('%s died during bl-reloads; log %s:\n%s' % (
                    server, h.log_path, tail(h.log_path)))
            if is_minewall(server):
                if open(h.log_path, 'rb').read().count(needle) > done_before:
                    break
            elif dns_query(h.port, BL_PROBE, timeout=1.0) is not None:
                break
            time.sleep(0.05)
        after.append(settled_rss(h.pid))
    hwm = proc_status(h.pid, 'VmHWM')
    m = {'reloads': a.reloads, 'rss_kb_start': rss_start, 'rss_kb_after': after,
         'rss_kb_after_last': after[-1] if after else None,
         'rss_kb_peak': int(hwm.split()[0]) if hwm and peak_reset else None}
    m['after_over_start'] = ratio(m['rss_kb_after_last'], rss_start)
    m['peak_over_start'] = ratio(m['rss_kb_peak'], rss_start)
    log('%s: %d %s with the same list: RSS %s MB at start, %s MB after the last, peak %s MB '
        '(after/start %s, peak/start %s)' % (
            server, a.reloads, 'console reloads' if server == 'dnsdist' else 'SIGHUPs',
            fmt(rss_start / 1024.0, 1),
            fmt((m['rss_kb_after_last'] or 0) / 1024.0, 1),
            fmt((m['rss_kb_peak'] or 0) / 1024.0, 1), fmt(m['after_over_start'], 2),
            fmt(m['peak_over_start'], 2)))
    return m


def bl_groups(servers):
    """Servers in the order they run the blocklist workloads: one after the other (only one
    holds its list at a time), except minewall and minewall-base, which run together so that
    each round of bl-blocked measures the two back to back."""
    groups = []
    for s in servers:
        if s == BASE and 'minewall' in servers:
            continue
        groups.append(['minewall', BASE] if s == 'minewall' and BASE in servers else [s])
    return groups


def bl_start(ctx, s, bl_workloads, r):
    """Start server s with the list (and, when a workload needs it, once more without);
    fill r with the start-up numbers. Returns (instance without the list or None, with it)."""
    need_plain = ('bl-load' in bl_workloads or 'bl-miss' in bl_workloads or
                  ('bl-hit' in bl_workloads and is_minewall(s)))
    plain = None
    if need_plain:
        plain = start_server(ctx, s, {'instance': '-nolist'})
        r['nolist_ready_s'] = plain.ready_s
        time.sleep(0.2)
        r['nolist_rss_kb'] = proc_rss_kb(plain.pid)
    opts = bl_opts(ctx, s)
    log('%s: starting with the %d-domain list' % (s, r['list_domains']))
    hl = start_server(ctx, s, opts, ready_name=ctx.bl_ready_name, ready_timeout=300,
                      ready_rcode=3)
    r['load_s'] = hl.ready_s
    time.sleep(0.2)
    r['list_rss_kb'] = proc_rss_kb(hl.pid)
    if plain:
        r['load_extra_s'] = r['load_s'] - r['nolist_ready_s']
        r['rss_delta_kb'] = r['list_rss_kb'] - r['nolist_rss_kb']
        r['bytes_per_domain'] = r['rss_delta_kb'] * 1024.0 / r['list_domains']
    log('%s: list loaded in %.2fs, RSS %s -> %s MB' % (
        s, hl.ready_s, fmt((r.get('nolist_rss_kb') or 0) / 1024.0, 1),
        fmt(r['list_rss_kb'] / 1024.0, 1)))
    return plain, hl


def bl_hit(ctx, s, plain, hl, r):
    """The same hit workload on the fresh instance without the list, in turn with the one
    with it, so that "the cache-hit path" has a reference measured alongside."""
    a = ctx.args
    saved = ctx.warm_passes.pop(s, None)
    for label, hh in (('+list', hl), ('-nolist', plain)):
        prepare_hit(ctx, hh)
        ctx.warm_passes[s + label] = ctx.warm_passes.pop(s, None)
    if saved is not None:
        ctx.warm_passes[s] = saved
    hl_r, hn_r = [], []
    for rnd in range(a.rounds):
        pair = [('list', hl, hl_r), ('nolist', plain, hn_r)]
        if rnd % 2:
            pair.reverse()
        for label, hh, acc in pair:
            m = measure(ctx, hh, ctx.files['hit'], a.seconds,
                        tag='%s-%s-hit-r%d' % (s, label, rnd))
            acc.append(m)
            log('round %d %s %-6s hit qps %9.0f cpu %6.2f us/q' % (
                rnd + 1, s, label, m['qps'], m['cpu_us_per_q']))
    r['hit'] = {'rounds': hl_r, 'median': median_of(hl_r)}
    r['hit_nolist'] = {'rounds': hn_r, 'median': median_of(hn_r)}


def bl_blocked(ctx, group, inst, out):
    """bl-blocked on every server of the group, round by round (alternating the order)."""
    a = ctx.args
    acc = {s: [] for s in group}
    for rnd in range(a.rounds):
        for s in (group if rnd % 2 == 0 else group[::-1]):
            acc[s].append(measure(ctx, inst[s][1], ctx.files['blocked'], a.seconds,
                                  tag='%s+list-blocked-r%d' % (s, rnd), expect='NXDOMAIN'))
    for s in group:
        out[s]['blocked'] = {'rounds': acc[s], 'median': median_of(acc[s])}
        mm = out[s]['blocked']['median']
        log('%s blocked: qps %.0f cpu %.2f us/q lost %d' % (
            s, mm['qps'], mm['cpu_us_per_q'], mm.get('lost', 0)))
    if len(group) == 2:  # minewall and minewall-base, measured back to back each round
        rr = [ratio(x.get('cpu_us_per_q'), y.get('cpu_us_per_q'))
              for x, y in zip(acc[group[0]], acc[group[1]])]
        out[group[0]]['blocked_cpu_vs_base_per_round'] = [x for x in rr if x is not None]


def bl_miss(ctx, s, plain, hl, r):
    a = ctx.args
    rl, rn = [], []
    for rnd in range(a.rounds):
        sl = bl_miss_slice(ctx, s, rnd)
        qf = write_queries(os.path.join(ctx.tmp, 'blmiss-%s-r%d.txt' % (s, rnd)), sl)
        pair = [('list', hl, rl), ('nolist', plain, rn)]
        if rnd % 2:
            pair.reverse()
        for label, hh, acc in pair:
            m = measure(ctx, hh, qf, a.seconds, max_runs=1,
                        tag='%s-%s-miss-r%d' % (s, label, rnd))
            m['slice_names'] = len(sl)
            acc.append(m)
            log('round %d %s %-6s miss qps %9.0f cpu %6.2f us/q  lost %d  fwd %.1f%%' % (
                rnd + 1, s, label, m['qps'], m['cpu_us_per_q'], m['lost'],
                m['forwarded_pct']))
        if not a.keep_tmp:
            os.unlink(qf)
    r['miss_list'] = {'rounds': rl, 'median': median_of(rl)}
    r['miss_nolist'] = {'rounds': rn, 'median': median_of(rn)}


def run_blocklist(ctx, bl_workloads):
    """Per server (or group, see bl_groups): start it without and with the list, run the
    selected blocklist workloads, stop both. Returns {server: {...}}."""
    out = {}
    for group in bl_groups(ctx.servers):
        inst = {}
        for s in group:
            out[s] = {'list_domains': len(ctx.bl_names) + 1}
            inst[s] = bl_start(ctx, s, bl_workloads, out[s])
        if 'bl-hit' in bl_workloads:
            for s in group:
                if is_minewall(s):
                    bl_hit(ctx, s, inst[s][0], inst[s][1], out[s])
        if 'bl-blocked' in bl_workloads:
            bl_blocked(ctx, group, inst, out)
        if 'bl-miss' in bl_workloads:
            for s in group:
                bl_miss(ctx, s, inst[s][0], inst[s][1], out[s])
        for s in group:
            plain, hl = inst[s]
            if plain:
                stop_server(ctx, plain)
        for s in group:
            plain, hl = inst[s]
            r = out[s]
            if 'bl-reload' in bl_workloads:
                r['reload'] = bl_reload(ctx, hl, s)
            if 'bl-reloads' in bl_workloads:
                r['reloads'] = bl_reloads(ctx, hl, s)
            if hl.proc.poll() is not None:
                raise BenchError('%s with the list exited early; log %s:\n%s' % (
                    s, hl.log_path, tail(hl.log_path)))
            stop_server(ctx, hl)
            if is_minewall(s):
                r['log_tail'] = tail(hl.log_path, 8)
    return out


def bl_summary(bl):
    """Derived per-server numbers (medians) and the targets for minewall."""
    out = {}
    for s, r in bl.items():
        d = {k: r.get(k) for k in ('list_domains', 'load_s', 'nolist_ready_s', 'load_extra_s',
                                   'nolist_rss_kb', 'list_rss_kb', 'rss_delta_kb',
                                   'bytes_per_domain')}
        b = r.get('blocked', {}).get('median', {})
        d['blocked_qps'] = b.get('qps')
        d['blocked_cpu_us_per_q'] = b.get('cpu_us_per_q')
        d['blocked_lost'] = b.get('lost')
        d['blocked_p_forwarded'] = b.get('forwarded_pct')
        hm = r.get('hit', {}).get('median', {})
        d['hit_list_cpu_us_per_q'] = hm.get('cpu_us_per_q')
        d['hit_list_qps'] = hm.get('qps')
        hn = r.get('hit_nolist', {}).get('median', {})
        d['hit_nolist_cpu_us_per_q'] = hn.get('cpu_us_per_q')
        d['hit_nolist_qps'] = hn.get('qps')
        if d['blocked_cpu_us_per_q'] is not None and d['hit_list_cpu_us_per_q'] is not None:
            d['blocked_minus_hit_us'] = d['blocked_cpu_us_per_q'] - d['hit_list_cpu_us_per_q']
        if d['blocked_cpu_us_per_q'] is not None and d['hit_nolist_cpu_us_per_q'] is not None:
            d['blocked_minus_hit_nolist_us'] = (d['blocked_cpu_us_per_q'] -
                                                d['hit_nolist_cpu_us_per_q'])
        if d['hit_list_cpu_us_per_q'] is not None and d['hit_nolist_cpu_us_per_q'] is not None:
            d['hit_list_minus_nolist_us'] = (d['hit_list_cpu_us_per_q'] -
                                             d['hit_nolist_cpu_us_per_q'])
        ml = r.get('miss_list', {}).get('median', {})
        mn = r.get('miss_nolist', {}).get('median', {})
        d['miss_list_qps'], d['miss_nolist_qps'] = ml.get('qps'), mn.get('qps')
        d['miss_list_cpu_us_per_q'] = ml.get('cpu_us_per_q')
        d['miss_nolist_cpu_us_per_q'] = mn.get('cpu_us_per_q')
        d['miss_qps_list_over_nolist'] = ratio(ml.get('qps'), mn.get('qps'))
        d['miss_cpu_list_over_nolist'] = ratio(ml.get('cpu_us_per_q'), mn.get('cpu_us_per_q'))
        # per-round ratios (each round measures both instances back to back); median of those
        rr = [ratio(x.get('cpu_us_per_q'), y.get('cpu_us_per_q'))
              for x, y in zip(r.get('miss_list', {}).get('rounds', []),
                              r.get('miss_nolist', {}).get('rounds', []))]
        rr = [x for x in rr if x is not None]
        d['miss_cpu_ratio_per_round_median'] = statistics.median(rr) if rr else None
        rl = r.get('reload', {})
        for k in ('max_gap_ms', 'max_gap_before_ms', 'max_gap_reload_ms', 'lost', 'sent',
                  'applied_after_s', 'lat_max_ms', 'p99_ms', 'max_send_gap_ms', 'rss_kb_before',
                  'rss_kb_after',
                  'rss_kb_peak', 'server_cpu_s', 'how', 'skipped', 'other_cores',
                  'max_server_gap_ms', 'max_server_gap_before_ms', 'max_server_gap_reload_ms',
                  'lat_max_before_ms', 'lat_max_reload_ms'):
            if k in rl:
                d['reload_' + k] = rl[k]
        if rl.get('rss_kb_peak') and rl.get('rss_kb_before'):
            d['reload_peak_over_before'] = rl['rss_kb_peak'] / rl['rss_kb_before']
        rn = r.get('reloads', {})
        for k in ('rss_kb_start', 'rss_kb_after_last', 'rss_kb_peak', 'after_over_start',
                  'peak_over_start', 'skipped'):
            if k in rn:
                d['reloads_' + k] = rn[k]
        out[s] = d
    return out


def bl_targets(d):
    """minewall's targets (PERF.md / the filtering issue): list of (name, value, goal, ok)."""
    t = []

    def add(name, val, goal, ok, unit=''):
        t.append({'target': name, 'value': val, 'goal': goal, 'ok': ok, 'unit': unit})
    if d.get('load_s') is not None:
        add('start-up + load', d['load_s'], '< 1 s', d['load_s'] < 1.0, 's')
    if d.get('bytes_per_domain') is not None:
        add('RSS per listed domain', d['bytes_per_domain'], '<= 40 B',
            d['bytes_per_domain'] <= 40, 'B')
    if d.get('blocked_minus_hit_us') is not None:
        add('blocked - hit(list) CPU/q', d['blocked_minus_hit_us'], '<= 1 us',
            d['blocked_minus_hit_us'] <= 1.0, 'us')
    if d.get('blocked_minus_hit_nolist_us') is not None:
        add('blocked - hit(no list) CPU/q', d['blocked_minus_hit_nolist_us'], '<= 1 us',
            d['blocked_minus_hit_nolist_us'] <= 1.0, 'us')
    if d.get('miss_cpu_list_over_nolist') is not None:
        v = d['miss_cpu_list_over_nolist']
        add('miss CPU/query list/no list', v, '<= 1.05', v <= 1.05, 'x')
    if d.get('miss_qps_list_over_nolist') is not None:
        v = d['miss_qps_list_over_nolist']
        add('miss QPS list/no list', v, '>= 0.95', v >= 0.95, 'x')
    if d.get('bytes_per_domain') is not None:
        add('RSS per listed domain (memory issue)', d['bytes_per_domain'], '<= 16 B',
            d['bytes_per_domain'] <= 16, 'B')
    if d.get('reloads_after_over_start') is not None:
        v = d['reloads_after_over_start']
        add('RSS after N reloads / first load', v, '<= 1.3x', v <= 1.3, 'x')
    if d.get('reloads_peak_over_start') is not None:
        v = d['reloads_peak_over_start']
        add('peak during reloads / first load', v, '<= 2x', v <= 2.0, 'x')
    if d.get('reload_rss_kb_peak') and d.get('reload_rss_kb_before'):
        v = d['reload_rss_kb_peak'] / d['reload_rss_kb_before']
        add('peak during a changed-list reload / before', v, '<= 2x', v <= 2.0, 'x')
    if d.get('reload_max_server_gap_reload_ms') is not None:
        # "no pause": the longest server-side gap from the reload on no worse than the one before
        # it plus 20 ms, and nothing lost
        base = d.get('reload_max_server_gap_before_ms') or 0.0
        v = d['reload_max_server_gap_reload_ms']
        add('reload: server-side gap', v, '<= %.0f ms (before + 20), 0 lost' % (base + 20),
            v <= base + 20 and not d.get('reload_lost'), 'ms')
    return t


BL_ROWS = (
    # label, key, decimals, scale
    ('list domains', 'list_domains', 0, 1),
    ('start-up + load s', 'load_s', 2, 1),
    ('start-up without list s', 'nolist_ready_s', 2, 1),
    ('RSS without list MB', 'nolist_rss_kb', 1, 1 / 1024.0),
    ('RSS with list MB', 'list_rss_kb', 1, 1 / 1024.0),
    ('RSS with - without MB', 'rss_delta_kb', 1, 1 / 1024.0),
    ('bytes RSS per domain', 'bytes_per_domain', 1, 1),
    ('blocked QPS', 'blocked_qps', 0, 1),
    ('blocked CPU us/q', 'blocked_cpu_us_per_q', 2, 1),
    ('blocked lost', 'blocked_lost', 0, 1),
    ('hit CPU us/q with list', 'hit_list_cpu_us_per_q', 2, 1),
    ('hit CPU us/q without', 'hit_nolist_cpu_us_per_q', 2, 1),
    ('hit with - without us/q', 'hit_list_minus_nolist_us', 2, 1),
    ('blocked - hit(list) us/q', 'blocked_minus_hit_us', 2, 1),
    ('blocked - hit(none) us/q', 'blocked_minus_hit_nolist_us', 2, 1),
    ('miss QPS without list', 'miss_nolist_qps', 0, 1),
    ('miss QPS with list', 'miss_list_qps', 0, 1),
    ('miss QPS with/without', 'miss_qps_list_over_nolist', 3, 1),
    ('miss CPU us/q without', 'miss_nolist_cpu_us_per_q', 2, 1),
    ('miss CPU us/q with list', 'miss_list_cpu_us_per_q', 2, 1),
    ('miss CPU with/without', 'miss_cpu_list_over_nolist', 3, 1),
    ('  (median of per-round)', 'miss_cpu_ratio_per_round_median', 3, 1),
    ('reload: longest gap ms', 'reload_max_gap_ms', 1, 1),
    ('reload: gap before it ms', 'reload_max_gap_before_ms', 1, 1),
    ('reload: server gap ms', 'reload_max_server_gap_reload_ms', 1, 1),
    ('reload: server gap bef. ms', 'reload_max_server_gap_before_ms', 1, 1),
    ('reload: script stall ms', 'reload_max_send_gap_ms', 1, 1),
    ('reload: lost / sent', None, 0, 1),
    ('reload: in force after s', 'reload_applied_after_s', 2, 1),
    ('reload: max latency ms', 'reload_lat_max_reload_ms', 1, 1),
    ('reload: max lat. before ms', 'reload_lat_max_before_ms', 1, 1),
    ('reload: RSS bef/aft/peak MB', None, 0, 1),
    ('reload: peak / before', 'reload_peak_over_before', 2, 1),
    ('reloads: RSS start MB', 'reloads_rss_kb_start', 1, 1 / 1024.0),
    ('reloads: RSS after last MB', 'reloads_rss_kb_after_last', 1, 1 / 1024.0),
    ('reloads: peak MB', 'reloads_rss_kb_peak', 1, 1 / 1024.0),
    ('reloads: after / start', 'reloads_after_over_start', 2, 1),
    ('reloads: peak / start', 'reloads_peak_over_start', 2, 1),
)


def print_blocklist(doc, args):
    bl = doc.get('blocklist')
    if not bl:
        return
    summ = bl['summary']
    servers = [s for s in args.servers if s in summ]
    print()
    print('blocklist: %s domains (%s bytes per line in the file), %s blocked query names (%d%% '
          'subdomains of listed names), %d round(s) (medians)' % (
              fmt(bl['meta']['list_domains']), fmt(bl['meta']['file_bytes_per_domain'], 1),
              fmt(bl['meta']['blocked_query_names']), round(100 * BL_SUBDOMAIN_SHARE),
              args.rounds))
    pairs = [('minewall', o) for o in OTHERS if 'minewall' in servers and o in servers]
    hdr = '%-26s' % '' + ''.join('%14s' % s for s in servers) + \
        ''.join('%12s' % ('mw/' + ('base' if o == BASE else o[:3])) for _, o in pairs)
    print(hdr)
    print('-' * len(hdr))
    for label, key, nd, sc in BL_ROWS:
        cells = []
        for s in servers:
            d = summ[s]
            if label.startswith('reload: lost'):
                v = '%s / %s' % (fmt(d.get('reload_lost')), fmt(d.get('reload_sent'))) \
                    if d.get('reload_sent') is not None else (
                        'skipped' if d.get('reload_skipped') else '-')
            elif label.startswith('reload: RSS'):
                v = '%s/%s/%s' % (fmt((d.get('reload_rss_kb_before') or 0) / 1024.0, 0),
                                  fmt((d.get('reload_rss_kb_after') or 0) / 1024.0, 0),
                               fmt((d.get('reload_rss_kb_peak') or 0) / 1024.0, 0)) \
                    if d.get('reload_rss_kb_after') else '-'
            else:
                x = d.get(key)
                v = fmt(x * sc if isinstance(x, (int, float)) and sc != 1 else x, nd)
            cells.append(v)
        rs = []
        for a_, o in pairs:
            if key is None:
                rs.append('')
                continue
            x, y = summ[a_].get(key), summ[o].get(key)
            rs.append(fmt(ratio(x, y), 2) if isinstance(x, (int, float)) and
                      isinstance(y, (int, float)) and key not in ('list_domains',) else '')
        if all(c in ('-', '') for c in cells):
            continue
        print('%-26s' % label + ''.join('%14s' % c for c in cells) +
              ''.join('%12s' % c for c in rs))
    rr = bl['servers'].get('minewall', {}).get('blocked_cpu_vs_base_per_round')
    if rr:
        print('blocked CPU/query minewall/%s per round: %s (median %s, %+.1f%%)' % (
            BASE, ', '.join('x%s' % fmt(x, 3) for x in rr), fmt(statistics.median(rr), 3),
            (statistics.median(rr) - 1) * 100))
    t = bl.get('targets', {}).get('minewall')
    if t:
        print()
        print('minewall targets:')
        for x in t:
            print('  %-44s %10s %-3s  goal %-40s %s' % (
                x['target'], fmt(x['value'], 3 if x['unit'] == 'x' else 2), x['unit'], x['goal'],
                'OK' if x['ok'] else 'MISSED'))
    print('start-up + load: process start until it answers a listed name with NXDOMAIN (one '
          'start); RSS: VmRSS 0.2 s after ready;\nreload: %g qps of cache hits for %g s from %d '
          'sockets of this script, the list replaced by rename at %g s; "in force after" = until '
          '%s resolves;\n"server gap" = longest time between answers while a query was waiting '
          '(stalls of this script excluded); max latency: queries sent after the rename.' % (
              args.reload_rate, args.reload_seconds, 4, args.reload_at, BL_PROBE))


WORKLOADS = {
    'bl-load': ('blocklist: start-up + load time, RSS per listed domain', None, None),
    'bl-blocked': ('blocklist: blocked queries (25% subdomains)', None, None),
    'bl-hit': ('blocklist: cache-hit with the list (minewall)', None, None),
    'bl-miss': ('blocklist: cache-miss with vs without the list', None, None),
    'bl-reload': ('blocklist: reload under load, longest gap', None, None),
    'bl-reloads': ('blocklist: RSS after N reloads of the same list, peak during them', None,
                   None),
}
