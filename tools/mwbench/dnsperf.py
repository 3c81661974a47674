"""dnsperf: one bounded run and its summary, latency percentiles from -v output, and measure():
one measured run against a server with its CPU, RSS, loopback datagrams and the machine's
other load."""

import os
import resource
import subprocess
import time

from .servers import pinned
from .proc import (proc_cpu_seconds, proc_rss_kb, proc_thread_cpu, proc_threads, stop_process,
                   system_cpu, udp_counters)
from .util import BenchError, log, tail


def parse_dnsperf(text):
    r = {}
    for line in text.splitlines():
        s = line.strip()
        if ':' not in s or s.startswith('>') or s.startswith('['):
            continue
        key, val = s.split(':', 1)
        val = val.strip()
        try:
            if key == 'Queries sent':
                r['sent'] = int(val.split()[0])
            elif key == 'Queries completed':
                r['completed'] = int(val.split()[0])
            elif key == 'Queries lost':
                r['lost'] = int(val.split()[0])
            elif key == 'Run time (s)':
                r['runtime_s'] = float(val)
            elif key == 'Queries per second':
                r['qps'] = float(val)
            elif key == 'Average Latency (s)':
                r['lat_avg_ms'] = float(val.split()[0]) * 1e3
                mm = val.split('(', 1)[1].rstrip(')').split(',')
                r['lat_min_ms'] = float(mm[0].split()[1]) * 1e3
                r['lat_max_ms'] = float(mm[1].split()[1]) * 1e3
            elif key == 'Response codes':
                codes = {}
                for part in val.split(','):
                    p = part.split()
                    if len(p) >= 2:
                        codes[p[0]] = int(p[1])
                r['rcodes'] = codes
        except (ValueError, IndexError):
            pass
    return r


def latency_percentiles(path):
    """p50/p99 (ms) from dnsperf -v lines '> RCODE name type seconds'; lost ones are '> T ...'."""
    lat = []
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('> ') and not line.startswith('> T '):
                try:
                    lat.append(float(line.rsplit(None, 1)[1]))
                except (ValueError, IndexError):
                    pass
    if not lat:
        return {}
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, max(0, int(round(p / 100.0 * len(lat) + 0.5)) - 1))] * 1e3
    return {'p50_ms': pct(50), 'p90_ms': pct(90), 'p99_ms': pct(99), 'p999_ms': pct(99.9),
            'lat_samples': len(lat)}


def run_dnsperf(ctx, port, qfile, seconds, verbose=False, max_runs=None, tag='run', clients=None,
                outstanding=None, rate=None):
    """dnsperf -T 1 -c 16 -q 100 -l seconds (as in PERF.md), bounded by a hard wall-clock limit;
    with rate, at most that many queries a second (-Q)."""
    out = os.path.join(ctx.tmp, 'dnsperf.%s.%d.out' % (tag, ctx.next_id()))
    argv = [ctx.bins['dnsperf'], '-s', '127.0.0.1', '-p', str(port), '-d', qfile,
            '-T', '1', '-c', str(clients or ctx.args.clients),
            '-q', str(outstanding or ctx.args.outstanding),
            '-l', '%g' % seconds, '-t', str(ctx.args.query_timeout)]
    if max_runs:
        argv += ['-n', str(max_runs)]
    if rate:
        argv += ['-Q', str(int(rate))]
    if verbose:
        argv.append('-v')
    argv = pinned(ctx, argv, False)
    limit = seconds + ctx.args.query_timeout + 30
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.monotonic()
    with open(out, 'wb') as f:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        ctx.clients.append(proc)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            stop_process(proc, grace=1)
            raise BenchError('dnsperf exceeded %ds: %s' % (limit, ' '.join(argv)))
        except BaseException:  # interrupted: never leave dnsperf running
            stop_process(proc, grace=1)
            raise
        finally:
            ctx.clients.remove(proc)
    with open(out, 'rb') as f:
        f.seek(max(0, os.path.getsize(out) - 8192))
        summary = parse_dnsperf(f.read().decode(errors='replace'))
    if proc.returncode != 0 or 'completed' not in summary:
        raise BenchError('dnsperf failed (status %d): %s\n%s' % (proc.returncode, ' '.join(argv),
                                                                  tail(out)))
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # only dnsperf was reaped meanwhile
    summary['wall_s'] = time.monotonic() - w0
    summary['client_cpu_s'] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    summary['output'] = out
    if verbose:
        summary.update(latency_percentiles(out))
    if not ctx.args.keep_tmp and verbose:
        os.unlink(out)  # -v output is large
    return summary


def measure(ctx, h, qfile, seconds, max_runs=None, lat_qfile=None, lat_seconds=None,
            lat_max_runs=None, tag='run', expect='NOERROR', rate=None):
    """One measured dnsperf run against server h, with its CPU and RSS, plus the latency run
    according to --latency. Returns a flat dict of numbers."""
    mode = ctx.args.latency
    up = ctx.knot
    udp0, sys0 = udp_counters(), system_cpu()
    cpu0, up0 = proc_cpu_seconds(h.pid), proc_cpu_seconds(up.pid)
    thr0 = proc_thread_cpu(h.pid)
    d = run_dnsperf(ctx, h.port, qfile, seconds, verbose=(mode == 'inline'), max_runs=max_runs,
                    tag=tag, rate=rate)
    cpu1, up1 = proc_cpu_seconds(h.pid), proc_cpu_seconds(up.pid)
    thr1 = proc_thread_cpu(h.pid)
    udp1, sys1 = udp_counters(), system_cpu()
    if h.proc.poll() is not None:
        raise BenchError('%s died during %s (status %s); log %s:\n%s' % (
            h.name, tag, h.proc.returncode, h.log_path, tail(h.log_path)))
    m = {k: d[k] for k in ('qps', 'sent', 'completed', 'lost', 'runtime_s', 'lat_avg_ms',
                            'lat_min_ms', 'lat_max_ms', 'rcodes', 'p50_ms', 'p90_ms', 'p99_ms',
                            'p999_ms', 'lat_samples') if k in d}
    done = max(1, d['completed'])
    m['cpu_s'] = cpu1 - cpu0
    m['cpu_us_per_q'] = (cpu1 - cpu0) * 1e6 / done
    # the same split by thread name (each in whole clock ticks of 10 ms)
    m['thread_cpu_us_per_q'] = {k: (v - thr0.get(k, 0.0)) * 1e6 / done for k, v in thr1.items()}
    m['upstream_cpu_us_per_q'] = (up1 - up0) * 1e6 / done
    m['server_cores'] = (cpu1 - cpu0) / d['runtime_s'] if d.get('runtime_s') else None
    # loopback datagrams per answered query: 2 for a cache hit, 4 for one forwarded query each
    m['udp_datagrams_per_q'] = (udp1['InDatagrams'] - udp0['InDatagrams']) / done
    # share of answered queries that went upstream, assuming one upstream query per forward
    m['forwarded_pct'] = max(0.0, (m['udp_datagrams_per_q'] - 2.0) / 2.0 * 100.0)
    m['udp_rcvbuf_errors'] = udp1.get('RcvbufErrors', 0) - udp0.get('RcvbufErrors', 0)
    m['udp_noports'] = udp1.get('NoPorts', 0) - udp0.get('NoPorts', 0)
    m['upstream_cores'] = (up1 - up0) / d['runtime_s'] if d.get('runtime_s') else None
    m['dnsperf_cores'] = d['client_cpu_s'] / d['runtime_s'] if d.get('runtime_s') else None
    # everything else the machine did meanwhile (other programs, kernel threads), and the time
    # the hypervisor took away: both make a run noisy. Wall time of the dnsperf process
    # includes its start and end, so use it rather than dnsperf's own runtime here.
    wall = d['wall_s']
    m['other_cores'] = ((sys1[0] - sys0[0]) - (cpu1 - cpu0) - (up1 - up0)
                        - d['client_cpu_s']) / wall
    m['steal_cores'] = (sys1[1] - sys0[1]) / wall
    if m['other_cores'] > ctx.args.busy_warn:
        log('WARNING: %s: other processes used %.2f cores during the run; numbers are noisy' % (
            tag, m['other_cores']))
    if mode == 'separate' and lat_qfile:
        dl = run_dnsperf(ctx, h.port, lat_qfile, lat_seconds or seconds, verbose=True,
                         max_runs=lat_max_runs, tag=tag + '-lat')
        for k in ('p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'lat_samples'):
            if k in dl:
                m[k] = dl[k]
        m['lat_run_qps'] = dl.get('qps')
        m['lat_run_lost'] = dl.get('lost')
    m['rss_kb'] = proc_rss_kb(h.pid)
    m['threads'] = proc_threads(h.pid)
    bad = {k: v for k, v in d.get('rcodes', {}).items() if k != expect}
    if bad:
        m['non_noerror' if expect == 'NOERROR' else 'unexpected_rcodes'] = bad
        log('WARNING: %s %s: answers other than %s: %s' % (h.name, tag, expect, bad))
    return m
