"""The servers under test and the upstream: one config writer per server (minewall, a second
minewall binary as "minewall-base", Unbound, dnsdist, knotd) from the reference templates in
tools/bench.d/, start (bounded wait until it answers) and stop."""

import os
import shlex
import signal
import subprocess
import time

from .dnswire import RCODES, dns_query
from .ports import free_port
from .proc import stop_process
from .util import BenchError, log, tail

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/
# verbatim copies of the reference configs (PERF.md) with {placeholders}
REFERENCE_DIR = os.environ.get('MW_BENCH_REFERENCE', os.path.join(HERE, 'bench.d'))
SERVERS = ('minewall', 'unbound', 'dnsdist')
# A second minewall binary measured in the same run (--baseline BIN): same config, its own
# instance, its own rows in the table and a minewall/minewall-base ratio.
BASE = 'minewall-base'
OTHERS = (BASE, 'unbound', 'dnsdist')  # what minewall's ratios are taken against


def is_minewall(server):
    return server in ('minewall', BASE)


def wait_answer(handle, qname, timeout, rcode=0):
    """Poll handle's server until it answers qname with NOERROR and an answer (or, with rcode
    set, with that rcode), bounded."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            raise BenchError('%s exited with status %s during start-up; log %s:\n%s' % (
                handle.name, handle.proc.returncode, handle.log_path, tail(handle.log_path)))
        r = dns_query(handle.port, qname)
        if r is not None:
            last = r
            if r[0] == rcode and (r[1] > 0 or rcode != 0):
                return time.monotonic()
        time.sleep(0.01)
    raise BenchError('%s did not answer %s with %s within %ds (last reply: %s); '
                     'log %s:\n%s' % (
        handle.name, qname, RCODES.get(rcode, rcode), timeout,
        'none' if last is None else RCODES.get(last[0], last[0]), handle.log_path,
        tail(handle.log_path)))


class Handle:
    def __init__(self, name, proc, port, log_path, cfg_path, opts):
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.log_path = log_path
        self.cfg_path = cfg_path
        self.opts = opts
        self.started_at = None
        self.ready_s = None


def pinned(ctx, argv, under_test):
    """With --pin: the server under test on the last CPU, everything else (load generator,
    upstream, dnstap reader) on the others, so what they take does not land on its core."""
    if not getattr(ctx.args, 'pin', False):
        return argv
    n = os.cpu_count() or 1
    cpus = str(n - 1) if under_test else ('0-%d' % (n - 2) if n > 2 else '0')
    return ['taskset', '-c', cpus] + list(argv)


def spawn(ctx, name, argv, cwd):
    argv = pinned(ctx, argv, not name.startswith('knotd'))
    log_path = os.path.join(ctx.tmp, '%s.%d.log' % (name, len(ctx.handles)))
    logf = open(log_path, 'wb')
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    finally:
        logf.close()
    return proc, log_path


def stop_server(ctx, h):
    t0 = time.monotonic()
    running = h.proc.poll() is None
    sig = stop_process(h.proc)
    if h in ctx.handles:
        ctx.handles.remove(h)
    if running:
        h.stop_s = time.monotonic() - t0
        if sig == signal.SIGKILL:
            log('WARNING: %s (pid %d) ignored SIGTERM for 5 s and was killed' % (h.name, h.pid))
        elif h.proc.returncode not in (0, -signal.SIGTERM):
            log('WARNING: %s exited with status %s on SIGTERM; log %s:\n%s' % (
                h.name, h.proc.returncode, h.log_path, tail(h.log_path, 5)))


def fill(template_name, values):
    with open(os.path.join(REFERENCE_DIR, template_name)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace('{%s}' % k, str(v))
    return text


def pow2_at_least(n):
    p = 1
    while p < n:
        p *= 2
    return p


# Each config writer returns (argv, config path, cwd) for a server listening on port.

def cfg_knot(ctx, port, opts):
    d = os.path.join(ctx.tmp, 'knot')
    rundir = os.path.join(d, 'run')
    datadir = os.path.join(d, 'data')
    os.makedirs(rundir, exist_ok=True)
    os.makedirs(datadir, exist_ok=True)
    link = os.path.join(datadir, 'bench.test.zone')
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(opts['zone_file'], link)
    cfg = os.path.join(d, 'knot.conf')
    with open(cfg, 'w') as f:
        f.write(fill('knot.conf.tmpl', {'port': port, 'rundir': rundir, 'datadir': datadir}))
    return [ctx.bins['knotd'], '-c', cfg], cfg, d


def cfg_minewall(ctx, port, opts):
    d = os.path.join(ctx.tmp, opts.get('server', 'minewall') + opts.get('instance', ''))
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, opts.get('config_name', 'minewall.yaml'))
    dot = opts.get('dot')  # (port, auth name, CA file): the upstream over DNS over TLS
    upstream = ('tls://127.0.0.1:%d#%s' % dot[:2]) if dot else '127.0.0.1:%d' % ctx.knot.port
    lines = [
        'listen: ["127.0.0.1:%d"]' % port,
        'upstreams: ["%s"]' % upstream,
        'threads: %d' % opts.get('threads', ctx.args.threads),
        'cache:',
        '  size: %d' % opts.get('cache_size', 1000000),
        'log:',
        '  level: %s' % opts.get('log_level', 'warn'),
    ]
    extra = list(opts.get('extra_yaml', []))
    if dot:
        extra += ['tls:', '  ca-file: "%s"' % dot[2]]
    lines += extra
    # As root, minewall drops to the "minewall" account (or refuses to run without it) unless
    # the config keeps root explicitly. The bench runs every server as the invoking user, and
    # its temp dir and cached files are not readable by another account: keep root, for every
    # workload's config, unless the workload chose a user itself.
    if os.geteuid() == 0 and not any(l.startswith('user:') for l in extra):
        lines.append('user: root')
    with open(cfg, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    argv = [ctx.bins[opts.get('server', 'minewall')]] + [a.replace('{config}', cfg)
                                     for a in shlex.split(ctx.args.minewall_args)]
    return argv, cfg, d


def cfg_unbound(ctx, port, opts):
    d = os.path.join(ctx.tmp, 'unbound' + opts.get('instance', ''))
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, 'unbound.conf')
    t = opts.get('threads', ctx.args.threads)
    text = fill('unbound.conf.tmpl', {
            'port': port, 'threads': t, 'slabs': pow2_at_least(t), 'rundir': d,
            'module_config': 'iterator', 'upstream_port': ctx.knot.port,
            'blocklist_include': opts.get('blocklist_include', ''),
            'rpz_clause': opts.get('rpz_clause', '')})
    dot = opts.get('dot')
    if dot:  # forward over TLS (forward-tls-upstream), verified against the bench CA
        text = text.replace('    forward-addr: 127.0.0.1@%d\n' % ctx.knot.port,
                            '    forward-addr: 127.0.0.1@%d#%s\n    forward-tls-upstream: yes\n'
                            % dot[:2])
        text = text.replace('server:\n', 'server:\n    tls-cert-bundle: "%s"\n' % dot[2], 1)
    with open(cfg, 'w') as f:
        f.write(text)
    return [ctx.bins['unbound'], '-d', '-c', cfg], cfg, d


DNSDIST_KEY = 'bWluZXdhbGwtYmVuY2gtY29uc29sZS1rZXktMzJieXQ='  # 32 bytes, base64


def dnsdist_reload(ctx, h, wait=True):
    """Reload dnsdist's blocklist through its console (mwReloadBlocklist of the fragment).
    With wait, returns once the new list is in force; else returns the running client."""
    argv = [ctx.bins['dnsdist'], '-C', h.cfg_path, '-c', '-e', 'mwReloadBlocklist()']
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    if not wait:
        return p
    try:
        out, _ = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise BenchError('dnsdist: console reload did not finish within 300 s')
    if p.returncode != 0:
        raise BenchError('dnsdist: console reload failed: %s' % out.decode(errors='replace'))
    return out


def cfg_dnsdist(ctx, port, opts):
    d = os.path.join(ctx.tmp, 'dnsdist' + opts.get('instance', ''))
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, 'dnsdist.lua')
    blk = ''
    if opts.get('blocklist'):
        # a console on loopback, for the reload workloads (dnsdist_reload)
        blk = fill('dnsdist-blocklist.lua.frag', {
            'blocklist': opts['blocklist'], 'ctl_port': free_port(taken=ctx.ports),
            'ctl_key': DNSDIST_KEY})
    text = fill('dnsdist.lua.tmpl', {
        'port': port, 'listeners': opts.get('threads', ctx.args.threads),
        'upstream_port': ctx.knot.port, 'blocklist_lua': blk})
    dot = opts.get('dot')
    if dot:  # outgoing DoT (tls = 'openssl'), verified against the bench CA and the name
        old = "address = '127.0.0.1:%d', name = 'auth'," % ctx.knot.port
        if old not in text:
            raise BenchError('dnsdist.lua.tmpl: no backend line to turn into DoT')
        text = text.replace(old, "address = '127.0.0.1:%d', name = 'auth', tls = 'openssl', "
                                 "subjectName = '%s', validateCertificates = true, "
                                 "caStore = '%s'," % dot)
    with open(cfg, 'w') as f:
        f.write(text)
    return [ctx.bins['dnsdist'], '--supervised', '--disable-syslog', '-C', cfg], cfg, d


def cfg_minewall_base(ctx, port, opts):
    return cfg_minewall(ctx, port, dict(opts, server=BASE))


CONFIG_WRITERS = {
    'knotd': cfg_knot,
    'minewall': cfg_minewall,
    BASE: cfg_minewall_base,
    'unbound': cfg_unbound,
    'dnsdist': cfg_dnsdist,
}


def start_server(ctx, name, opts=None, ready_name=None, ready_timeout=60, ready_rcode=0):
    """Write the config, start the server and wait (bounded) until it answers ready_name
    (NOERROR with an answer, or ready_rcode when that is not 0)."""
    opts = dict(opts or {})
    port = free_port(taken=ctx.ports)
    argv, cfg, cwd = CONFIG_WRITERS[name](ctx, port, opts)
    t0 = time.monotonic()
    proc, log_path = spawn(ctx, name, argv, cwd)
    h = Handle(name, proc, port, log_path, cfg, opts)
    h.argv = argv
    ctx.handles.append(h)
    h.started_at = t0
    try:
        t1 = wait_answer(h, ready_name or ctx.ready_name, ready_timeout, ready_rcode)
    except BaseException:
        stop_server(ctx, h)
        raise
    h.ready_s = t1 - t0
    log('%s ready on 127.0.0.1:%d in %.2fs (pid %d, %s)' % (name, port, h.ready_s, h.pid, cfg))
    return h
