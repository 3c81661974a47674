"""The upstream workloads of issue 12, run on every server: the miss path over DNS over TLS
(dot-miss) and two worker threads against one (threads)."""

import os
import shutil
import socket
import subprocess
import time

from ..dnsperf import measure, run_dnsperf
from ..proc import proc_cpu_seconds
from ..ports import free_port
from ..servers import Handle, spawn, start_server, stop_server
from ..util import BenchError, fmt, log, median_of, ratio, tail
from ..zone import write_queries
from .hitmiss import prepare_hit, run_hit

# dot-miss: every server forwards over TLS to one DoT upstream, a Debian Unbound serving
# tls-port (one thread) in front of the bench's knotd, with a certificate for DOT_NAME from a
# CA the run makes with the openssl command. minewall: `tls://127.0.0.1:PORT#DOT_NAME` and
# `tls: {ca-file}`; Unbound: `forward-tls-upstream` and `tls-cert-bundle`; dnsdist: an outgoing
# DoT backend (`tls = 'openssl'`, subjectName, validateCertificates, caStore). Each round asks
# each server names it has never seen (its own slice of the zone): every query goes upstream
# over the servers' pooled TLS connections. Reported: QPS and the server's CPU per query, and
# the DoT upstream's CPU per query (how hard each server's connection use makes it work).
#
# threads: each server with one worker thread and with two (minewall `threads`, Unbound
# `num-threads`, dnsdist listeners), the cache-hit and cache-miss workloads on each; then
# the fetch-once check: FETCH_NAMES names never asked, in FETCH_PASSES passes with a different
# dnsperf client count each (so a name arrives on a different socket, hence worker, each pass;
# SO_REUSEPORT hashes the 4-tuple), counting the queries knotd received (its mod-stats
# counters) per unique name. A server with one cache for its threads sends each name once.

DOT_NAME = 'dot.bench.test'
UPSTREAM_WORKLOADS = ('dot-miss', 'threads')
FETCH_NAMES = 20000
FETCH_PASSES = (16, 13, 7, 11)  # dnsperf -c of each pass


def openssl(args, cwd):
    exe = shutil.which('openssl')
    if not exe:
        raise BenchError('the dot-miss workload needs the openssl command')
    r = subprocess.run([exe] + args, cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise BenchError('openssl %s failed: %s' % (args[0], r.stderr.decode(errors='replace')))


def make_pki(d):
    """A CA and a certificate for DOT_NAME (P-256, two days). Returns (ca, key, pem)."""
    os.makedirs(d, exist_ok=True)
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    openssl(['req', '-x509'] + ec + ['-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
             '-subj', '/CN=minewall bench CA', '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], d)
    openssl(['req', '-new'] + ec + ['-keyout', 'dot.key', '-out', 'dot.csr',
             '-subj', '/CN=' + DOT_NAME, '-addext', 'subjectAltName=DNS:' + DOT_NAME], d)
    openssl(['x509', '-req', '-in', 'dot.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
             '-CAcreateserial', '-out', 'dot.pem', '-days', '2', '-copy_extensions', 'copy'], d)
    return tuple(os.path.join(d, f) for f in ('ca.pem', 'dot.key', 'dot.pem'))


def start_dot_front(ctx, key, pem):
    """Unbound serving DNS over TLS on loopback, forwarding to knotd; bounded wait until it
    accepts connections."""
    d = os.path.join(ctx.tmp, 'dot-front')
    os.makedirs(d, exist_ok=True)
    port = free_port(taken=ctx.ports)
    cfg = os.path.join(d, 'unbound.conf')
    with open(cfg, 'w') as f:
        f.write('''server:
    interface: 127.0.0.1@{port}
    tls-port: {port}
    tls-service-key: "{key}"
    tls-service-pem: "{pem}"
    do-ip6: no
    do-udp: no
    num-threads: 1
    incoming-num-tcp: 1024
    num-queries-per-thread: 4096
    outgoing-range: 4096
    msg-cache-size: 256m
    rrset-cache-size: 512m
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    local-zone: "test." nodefault
    module-config: "iterator"
    do-not-query-localhost: no
    qname-minimisation: no
    minimal-responses: yes
    edns-tcp-keepalive: yes
    tcp-idle-timeout: 60000
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{up}
    forward-first: no
remote-control:
    control-enable: no
'''.format(port=port, key=key, pem=pem, d=d, up=ctx.knot.port))
    proc, log_path = spawn(ctx, 'dot-front', [ctx.bins['unbound'], '-d', '-c', cfg], d)
    h = Handle('dot-front', proc, port, log_path, cfg, {})
    ctx.handles.append(h)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise BenchError('the DoT upstream (unbound) exited; log %s:\n%s'
                             % (log_path, tail(log_path)))
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError('the DoT upstream did not listen within 30 s')
            time.sleep(0.05)
    log('DoT upstream (unbound tls-port) ready on 127.0.0.1:%d' % port)
    return h


def miss_slice(ctx, slot):
    a = ctx.args
    size = ctx.miss_slice_size
    return ctx.perm[a.hit_names + slot * size:a.hit_names + (slot + 1) * size]


def run_miss_slot(ctx, h, slot, tag):
    sl = miss_slice(ctx, slot)
    qf = write_queries(os.path.join(ctx.tmp, tag + '.txt'), sl)
    m = measure(ctx, h, qf, ctx.args.seconds, max_runs=1, tag=tag)
    m['slice_names'] = len(sl)
    if not ctx.args.keep_tmp:
        os.unlink(qf)
    return m


def run_dot(ctx):
    a = ctx.args
    ca, key, pem = make_pki(os.path.join(ctx.tmp, 'dot-pki'))
    front = start_dot_front(ctx, key, pem)
    res = {}
    try:
        for i, s in enumerate(ctx.servers):
            h = start_server(ctx, s, {'instance': '-dot', 'dot': (front.port, DOT_NAME, ca)},
                             ready_timeout=60)
            rounds = []
            for rnd in range(a.rounds):
                slot = ctx.dot_slot0 + rnd * len(ctx.servers) + i
                f0 = proc_cpu_seconds(front.pid)
                m = run_miss_slot(ctx, h, slot, '%s-dot-miss-r%d' % (s, rnd))
                m['dot_upstream_cpu_us_per_q'] = ((proc_cpu_seconds(front.pid) - f0) * 1e6 /
                                                  max(1, m['completed']))
                rounds.append(m)
                log('round %d dot-miss %-9s qps %9.0f  cpu %6.1f us/q  DoT upstream %6.1f us/q'
                    '  lost %d' % (rnd + 1, s, m['qps'], m['cpu_us_per_q'],
                                   m['dot_upstream_cpu_us_per_q'], m['lost']))
            if h.proc.poll() is not None:
                raise BenchError('%s (dot-miss) died; log %s:\n%s' % (s, h.log_path,
                                                                       tail(h.log_path)))
            res[s] = {'rounds': rounds, 'median': median_of(rounds)}
            stop_server(ctx, h)
    finally:
        stop_server(ctx, front)
    out = {'servers': res, 'ratios': {}}
    if 'minewall' in res:
        mw = res['minewall']['median']
        for o, v in res.items():
            if o != 'minewall':
                out['ratios']['minewall/%s' % o] = {
                    'qps': ratio(mw.get('qps'), v['median'].get('qps')),
                    'cpu_us_per_q': ratio(mw.get('cpu_us_per_q'), v['median'].get('cpu_us_per_q'))}
    return out


def knot_requests(ctx):
    """Queries knotd has received so far (every protocol), from its mod-stats counters."""
    exe = ctx.bins.get('knotc')
    sock = os.path.join(ctx.tmp, 'knot', 'run', 'knot.sock')
    r = subprocess.run([exe, '-s', sock, 'stats', 'mod-stats'], capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        raise BenchError('knotc stats failed: %s' % (r.stdout + r.stderr))
    n = 0
    for line in r.stdout.splitlines():
        if line.startswith('mod-stats.request-protocol'):
            n += int(line.rsplit('=', 1)[1])
    return n


def fetch_once(ctx, h, slot):
    """Upstream queries per unique name when FETCH_NAMES new names are each asked
    len(FETCH_PASSES) times, each pass from a different number of client sockets."""
    names = miss_slice(ctx, slot)[:FETCH_NAMES]
    qf = write_queries(os.path.join(ctx.tmp, 'fetch-%s.txt' % h.name), names)
    k0 = knot_requests(ctx)
    lost = 0
    for i, c in enumerate(FETCH_PASSES):
        d = run_dnsperf(ctx, h.port, qf, 120, max_runs=1, tag='%s-fetch%d' % (h.name, i),
                        clients=c, outstanding=50)
        lost += d.get('lost', 0)
    k1 = knot_requests(ctx)
    if not ctx.args.keep_tmp:
        os.unlink(qf)
    return {'names': len(names), 'passes': len(FETCH_PASSES), 'lost': lost,
            'upstream_queries': k1 - k0, 'upstream_per_name': (k1 - k0) / max(1, len(names))}


def run_threads(ctx):
    a = ctx.args
    if not ctx.bins.get('knotc'):
        raise BenchError('the threads workload needs knotc (package knot)')
    res = {}
    ns = len(ctx.servers)
    for i, s in enumerate(ctx.servers):
        res[s] = {}
        for j, t in enumerate((1, 2)):
            h = start_server(ctx, s, {'instance': '-threads%d' % t, 'threads': t})
            prepare_hit(ctx, h)
            hit, miss = [], []
            for rnd in range(a.rounds):
                m = run_hit(ctx, h, rnd)
                hit.append(m)
                slot = ctx.threads_slot0 + (rnd * ns + i) * 2 + j
                mm = run_miss_slot(ctx, h, slot, '%s-t%d-miss-r%d' % (s, t, rnd))
                miss.append(mm)
                log('round %d threads %d %-9s hit qps %9.0f cpu %6.2f us/q | miss qps %9.0f '
                    'cpu %6.1f us/q' % (rnd + 1, t, s, m['qps'], m['cpu_us_per_q'], mm['qps'],
                                        mm['cpu_us_per_q']))
            fslot = ctx.threads_slot0 + a.rounds * ns * 2 + i * 2 + j
            fo = fetch_once(ctx, h, fslot)
            log('threads %d %-9s: %d upstream queries for %d names asked %d times each (%.3f '
                'per name)' % (t, s, fo['upstream_queries'], fo['names'], fo['passes'],
                               fo['upstream_per_name']))
            if h.proc.poll() is not None:
                raise BenchError('%s (threads %d) died; log %s:\n%s' % (s, t, h.log_path,
                                                                        tail(h.log_path)))
            res[s][t] = {'hit': {'rounds': hit, 'median': median_of(hit)},
                         'miss': {'rounds': miss, 'median': median_of(miss)},
                         'fetch_once': fo}
            stop_server(ctx, h)
        for w in ('hit', 'miss'):
            one, two = res[s][1][w]['median'], res[s][2][w]['median']
            res[s]['scaling_%s' % w] = {
                'qps': ratio(two.get('qps'), one.get('qps')),
                'cpu_us_per_q': ratio(two.get('cpu_us_per_q'), one.get('cpu_us_per_q'))}
    return {'servers': {s: {str(k): v for k, v in d.items()} for s, d in res.items()}}


def print_upstreams(doc, args):
    dd = doc.get('dot-miss')
    if dd:
        print()
        print('dot-miss: cache misses forwarded over DNS over TLS to one DoT upstream (unbound '
              'tls-port, 1 thread, in front of knotd); medians of %d round(s)' % args.rounds)
        print('  %-9s %10s %9s %6s %8s %14s' % ('server', 'QPS', 'CPU us/q', 'lost', 'answered',
                                                 'DoT up. us/q'))
        for s, v in dd['servers'].items():
            m = v['median']
            print('  %-9s %10s %9s %6s %8s %14s' % (
                s, fmt(m.get('qps')), fmt(m.get('cpu_us_per_q'), 1), fmt(m.get('lost')),
                fmt(m.get('completed')), fmt(m.get('dot_upstream_cpu_us_per_q'), 1)))
        for pair, r in dd['ratios'].items():
            print('  %s: QPS x%s, CPU/query x%s' % (pair, fmt(r['qps'], 2),
                                                     fmt(r['cpu_us_per_q'], 2)))
    td = doc.get('threads')
    if td:
        print()
        print('threads: 2 worker threads against 1 (medians of %d round(s)); fetch-once: %d new '
              'names asked %d times each from different client sockets, upstream queries per '
              'name (target: exactly 1)' % (args.rounds, FETCH_NAMES, len(FETCH_PASSES)))
        print('  %-9s %3s %10s %9s %10s %9s %12s' % ('server', 'thr', 'hit QPS', 'hit us/q',
                                                     'miss QPS', 'miss us/q', 'upstream/name'))
        for s, v in td['servers'].items():
            for t in ('1', '2'):
                h, m, fo = v[t]['hit']['median'], v[t]['miss']['median'], v[t]['fetch_once']
                print('  %-9s %3s %10s %9s %10s %9s %12s' % (
                    s, t, fmt(h.get('qps')), fmt(h.get('cpu_us_per_q'), 2), fmt(m.get('qps')),
                    fmt(m.get('cpu_us_per_q'), 1), fmt(fo['upstream_per_name'], 3)))
            print('  %-9s scaling 2/1: hit QPS x%s CPU/q x%s, miss QPS x%s CPU/q x%s' % (
                s, fmt(v['scaling_hit']['qps'], 2), fmt(v['scaling_hit']['cpu_us_per_q'], 2),
                fmt(v['scaling_miss']['qps'], 2), fmt(v['scaling_miss']['cpu_us_per_q'], 2)))


WORKLOADS = {
    'dot-miss': ('dot-miss: cache misses forwarded over DNS over TLS, every server', None, None),
    'threads': ('threads: hit, miss and fetch-once with 2 worker threads vs 1, every server',
                None, None),
}
