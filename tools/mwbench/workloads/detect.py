"""The detect workload (minewall only): the cost of each detector on the miss and hit paths."""

import os
import random
import statistics

from ..dnsperf import measure
from ..proc import CLK_TCK
from ..servers import CONFIG_WRITERS, fill, start_server, stop_server
from ..util import BenchError, fmt, log, median_of, ratio, tail
from .hitmiss import prepare_hit

# Detect workload (minewall only): issue 14's target, every detector's cost on the miss path
# measured in one benchmark run, at most 3% more CPU per query each, and nothing on the hit
# path of a name already scored.
#
# Six minewall instances run side by side with the same config but for `detect:`: every
# detector off (tunnel off, the rebinding guard's metadata check off), then each detector on
# alone (dga; tunnel; new-domains with its filter in the run's temp dir; rebinding with both
# guards, metadata and private) and all four together. Every action is `log` (the defaults),
# so each query is resolved and the figures are the detectors' checks, not blocked answers.
#
# The upstream is a knotd of this workload's own, authoritative for the root zone with a
# wildcard A record: every name under every top-level domain resolves (NOERROR, one A record
# of a public address), so the names can be what real misses are, under public suffixes the
# Public Suffix List knows (names under bench.test. have no public registered domain and
# would skip the DGA and new-domain detectors).
#
# The miss kinds, each a file of never-asked names per round (asked of every instance: their
# caches are separate), in a rotating order:
#   spread  the realistic one: a new host name under one of 20,000 registered domains
#           (word-like labels, ~75 TLDs weighted as in real lists, some second-level suffixes
#           such as co.uk), picked with a Zipf-like skew, so the popular domains repeat and the
#           tail is met for the first time: more domains than the detectors' memo (4,096)
#   new     every query a registered domain never asked before (the worst case: each label
#           scored by the DGA model, each domain a first sight for the new-domain filter)
#   same    every query a new name under one registered domain (the tunnel-like case, and
#           tools/ircount's default)
# and the cache-hit workload (the bench's hit names, answered from the cache).
#
# Noise: on a shared machine the CPU a query costs moves with what the other processes do,
# by more than the 3% to be measured. Each round therefore runs the instance with every
# detector off twice for every kind, first and last, and each detector's instance is compared
# with the mean of those two runs around it (per round; the medians of those ratios are
# reported with their spread). Besides user+sys CPU (the bench's measure), user CPU alone is
# reported: the detectors run in user space, and the kernel's share of a query (four
# datagrams on the miss path) is the noisier part. --detect-rate paces every run (dnsperf
# -Q): the same load for every instance, but a paced loop wakes up for each datagram, which
# doubles the CPU of a query and halves the detectors' share; unpaced by default (0), as the
# other workloads.

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DETECT_TARGET_PCT = 3.0
DETECT_WORKLOADS = ('detect',)
KINDS = ('off', 'dga', 'tunnel', 'new-domains', 'rebinding', 'all')
MISS_KINDS = ('spread', 'new', 'same')
POOL = 20000  # registered domains of the spread kind
ROOT_ZONE_FORMAT = 1

_TLDS = (
    ('com', 380), ('net', 70), ('org', 40), ('ru', 35), ('xyz', 30), ('info', 25), ('top', 25),
    ('de', 20), ('io', 18), ('co.uk', 12), ('online', 12), ('site', 12), ('club', 10),
    ('com.br', 10), ('in', 9), ('pl', 8), ('fr', 8), ('it', 8), ('nl', 8), ('biz', 7), ('cc', 7),
    ('me', 7), ('us', 7), ('co.jp', 6), ('jp', 6), ('com.au', 4), ('eu', 6), ('es', 4),
    ('ca', 4), ('kr', 3), ('vn', 3), ('tw', 3), ('com.hk', 3), ('store', 3), ('shop', 3),
    ('live', 3), ('app', 3), ('dev', 2), ('space', 2), ('website', 2), ('fun', 2), ('cloud', 2),
    ('pro', 2), ('link', 2), ('work', 2), ('ch', 1), ('at', 1), ('be', 1), ('se', 1),
    ('cz', 1), ('gr', 1), ('ro', 1))
_SYL = ('ka', 'ro', 'min', 'ex', 'co', 'in', 'net', 'al', 'de', 'on', 'tra', 'ver', 'go', 'lu',
        'pa', 'sa', 'ti', 'mo', 'nex', 'ze', 'ma', 're', 'li', 'to', 'fa', 'ste', 'ar', 'or',
        'um', 'lo', 'vi', 'dy', 'shop', 'cloud', 'web', 'data', 'soft', 'tech', 'home', 'news',
        'star', 'blue', 'green', 'sun', 'city', 'line', 'box', 'hub', 'lab', 'go')
_HOSTS = ('www', 'mail', 'api', 'cdn', 'm', 'static', 'img', 'login', 'app', 'auth', 'eu',
          'us', 'update', 'files', 'assets', 'media', 'shop', 'blog', 'help', 'status')


def _domain(rng, cum, tlds):
    r = rng.random()
    label = ''.join(rng.choice(_SYL) for _ in range(rng.randint(2, 4)))
    if r < 0.2:
        label += str(rng.randint(1, 999))
    elif r < 0.3:
        label += '-' + ''.join(rng.choice(_SYL) for _ in range(rng.randint(1, 2)))
    return '%s.%s' % (label, rng.choices(tlds, cum_weights=cum)[0])


def domains(count, seed, exclude=()):
    rng = random.Random(seed)
    tlds = [t for t, _ in _TLDS]
    cum, acc = [], 0
    for _, w in _TLDS:
        acc += w
        cum.append(acc)
    seen, out = set(exclude), []
    while len(out) < count:
        d = _domain(rng, cum, tlds)
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def write_miss_files(ctx, rnd, count, pool, taken):
    """The three miss files of run rnd (a number per round and slot), count names each, never
    asked before in this run."""
    rng = random.Random(1400 + rnd)
    files = {}
    # spread: a Zipf-like pick (rank r with weight 1/r) over the pool
    weights = [1.0 / (r + 1) for r in range(len(pool))]
    picks = rng.choices(range(len(pool)), weights=weights, k=count)
    names = ['%s%d-%d.%s' % (rng.choice(_HOSTS), rnd, i, pool[p]) for i, p in enumerate(picks)]
    files['spread'] = names
    fresh = domains(count, 91400 + rnd, exclude=taken)
    taken.update(fresh)
    files['new'] = ['%s.%s' % (rng.choice(_HOSTS), d) for d in fresh]
    files['same'] = ['n%d-%d.ircount-same.com' % (rnd, i) for i in range(count)]
    out = {}
    for k, names in files.items():
        p = os.path.join(ctx.tmp, 'detect-%s-r%d.txt' % (k, rnd))
        with open(p, 'w') as f:
            f.write(''.join('%s A\n' % n for n in names))
        out[k] = p
    return out


def cfg_knot_root(ctx, port, opts):
    """knotd authoritative for the root zone with a wildcard: every name resolves."""
    d = os.path.join(ctx.tmp, 'knot-detect')
    rundir, datadir = os.path.join(d, 'run'), os.path.join(d, 'data')
    os.makedirs(rundir, exist_ok=True)
    os.makedirs(datadir, exist_ok=True)
    with open(os.path.join(datadir, 'root.zone'), 'w') as f:
        f.write('$ORIGIN .\n$TTL 300\n'
                '@ IN SOA ns.bench.invalid. hostmaster.bench.invalid. %d 3600 600 864000 300\n'
                '@ IN NS ns.bench.invalid.\n'
                '* IN A 192.0.2.1\n' % ROOT_ZONE_FORMAT)
    text = fill('knot.conf.tmpl', {'port': port, 'rundir': rundir, 'datadir': datadir})
    text = text.replace('domain: bench.test.', 'domain: .').replace('file: bench.test.zone',
                                                                    'file: root.zone')
    if 'domain: .' not in text:
        raise BenchError('detect: knot.conf.tmpl has no bench.test. zone to replace')
    cfg = os.path.join(d, 'knot.conf')
    with open(cfg, 'w') as f:
        f.write(text)
    return [ctx.bins['knotd'], '-c', cfg], cfg, d


CONFIG_WRITERS['knotd-detect'] = cfg_knot_root


def detect_yaml(ctx, kind):
    model = os.path.join(REPO, 'conf', 'dga.model')  # the shipped model
    state = os.path.join(ctx.tmp, 'detect-nod-' + kind)
    os.makedirs(state, exist_ok=True)
    on = {kind} if kind != 'all' else set(KINDS[1:-1])
    lines = ['detect:']
    lines.append('  tunnel: {enabled: %s}' % ('true' if 'tunnel' in on else 'false'))
    if 'rebinding' in on:
        lines.append('  rebinding: {metadata: true, private: true}')
    else:
        lines.append('  rebinding: {metadata: false, private: false}')
    if 'dga' in on:
        lines.append('  dga: {model: "%s"}' % model)
    if 'new-domains' in on:
        lines.append('  new-domains: {state-dir: "%s"}' % state)
    return lines


def proc_user_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        data = f.read()
    return int(data[data.rindex(')') + 2:].split()[11]) / CLK_TCK


def measure_user(ctx, h, qfile, rate, max_runs, tag):
    u0 = proc_user_seconds(h.pid)
    m = measure(ctx, h, qfile, ctx.args.seconds, max_runs=max_runs, rate=rate, tag=tag)
    m['user_us_per_q'] = (proc_user_seconds(h.pid) - u0) * 1e6 / max(1, m['completed'])
    return m


def mean_of(a, b):
    m = {k: (a[k] + b[k]) / 2.0 for k in ('cpu_us_per_q', 'user_us_per_q', 'qps')}
    m['qps_min'] = min(a.get('qps_min', a['qps']), b.get('qps_min', b['qps']))  # pace checks
    ta, tb = a.get('thread_cpu_us_per_q', {}), b.get('thread_cpu_us_per_q', {})
    m['thread_cpu_us_per_q'] = {k: (ta.get(k, 0.0) + tb.get(k, 0.0)) / 2.0
                                for k in set(ta) | set(tb)}
    return m


def run_bracketed(ctx, hs, order, files, rate, max_runs, name, w, rnd):
    """One round of one query kind w: the instance 'off' first and last, the others in order
    between, all with the query file files[0] but the last run, with files[1] (names 'off' has
    not been asked). Returns {instance: measurement}, 'off' the mean of its two runs: noise
    that drifts over the round cancels out of the ratios against it (see paired_cost)."""
    seq = ('off',) + tuple(order) + ('off',)
    runs = {}
    for i, k in enumerate(seq):
        m = measure_user(ctx, hs[k], files[1 if i == len(seq) - 1 else 0], rate, max_runs,
                         'minewall-%s-%s-%s-r%d-%d' % (name, k, w, rnd, i))
        runs.setdefault(k, []).append(m)
        log('round %d %s %-11s %-6s qps %8.0f  cpu %6.3f us/q  user %6.3f us/q  lost %d'
            % (rnd + 1, name, k, w, m['qps'], m['cpu_us_per_q'], m['user_us_per_q'], m['lost']))
    runs['off'] = [dict(runs['off'][0], **mean_of(*runs['off']))]
    return {k: v[0] for k, v in runs.items()}


def paired_costs(on, off):
    """For user+sys and user CPU per query: on's and off's medians, the cost in % of each round
    against that round's 'off' (sorted: X_cost_pct_per_round) and their median (X_cost_pct).
    on and off are {'rounds': [...], 'median': {...}} of one instance and query kind."""
    e = {}
    for what in ('cpu_us_per_q', 'user_us_per_q'):
        rr = [ratio(x.get(what), y.get(what)) for x, y in zip(on['rounds'], off['rounds'])]
        rr = sorted((x - 1) * 100 for x in rr if x is not None)
        e[what + '_on'] = on['median'].get(what)
        e[what + '_off'] = off['median'].get(what)
        e[what + '_cost_pct'] = statistics.median(rr) if rr else None
        e[what + '_cost_pct_per_round'] = rr
    return e


def run_detect(ctx):
    a = ctx.args
    rate = a.detect_rate or None
    # more names than a run can ask (at the rate, or at ~40k misses/s unpaced)
    count = max(20000, int(a.seconds * (rate * 1.2 if rate else 40000)))
    main_knot = ctx.knot
    ctx.knot = start_server(ctx, 'knotd-detect', {}, ready_name='ready.example.com')
    hs = {}
    try:
        for k in KINDS:
            hs[k] = start_server(ctx, 'minewall', {'instance': '-detect-' + k,
                                                   'extra_yaml': detect_yaml(ctx, k)})
        for k in KINDS:
            log('minewall detect %s: preparing hit' % k)
            prepare_hit(ctx, hs[k])
        pool = domains(POOL, 81400)
        taken = set(pool)
        rounds = {k: {w: [] for w in ('hit',) + MISS_KINDS} for k in KINDS}
        for rnd in range(a.rounds):
            others = KINDS[1:]
            order = others[rnd % len(others):] + others[:rnd % len(others)]
            # every instance asks the names of slot 0 once (their caches are separate), but
            # the instance with detectors off asks them first and the names of slot 1 last
            files = [write_miss_files(ctx, 2 * rnd + i, count, pool, taken) for i in (0, 1)]
            for f in files:
                f['hit'] = ctx.files['hit']
            for w in ('hit',) + MISS_KINDS:
                # off first and last: the detectors are compared with the mean of the two
                runs = run_bracketed(ctx, hs, order, (files[0][w], files[1][w]), rate,
                                     1 if w != 'hit' else None, 'detect', w, rnd)
                for k in KINDS:
                    rounds[k][w].append(runs[k])
            if not a.keep_tmp:
                for f in files:
                    for w in MISS_KINDS:
                        os.unlink(f[w])
        for k, h in hs.items():
            if h.proc.poll() is not None:
                raise BenchError('minewall (detect %s) died; log %s:\n%s'
                                 % (k, h.log_path, tail(h.log_path)))
    finally:
        for h in hs.values():
            stop_server(ctx, h)
        stop_server(ctx, ctx.knot)
        ctx.knot = main_knot
    res = {k: {w: {'rounds': rounds[k][w], 'median': median_of(rounds[k][w])}
               for w in rounds[k]} for k in KINDS}
    summ = {}
    for k in KINDS[1:]:
        for w in ('hit',) + MISS_KINDS:
            # per round, against the mean of that round's two runs with every detector off
            summ['%s_%s' % (k, w)] = paired_costs(res[k][w], res['off'][w])
    res['summary'] = summ
    res['meta'] = {'names_per_file': count, 'pool': POOL, 'target_pct': DETECT_TARGET_PCT,
                   'rate': rate}
    return res


def print_detect(doc, args):
    dd = doc.get('detect')
    if not dd:
        return
    rate = dd['meta']['rate']
    print()
    print('detect: each detector alone (and all four) vs none, CPU per query of the whole '
          'process, %d round(s), %s; miss target <= %g%% each'
          % (len(dd['off']['hit']['rounds']), '%s queries/s' % fmt(rate) if rate else 'unpaced',
             DETECT_TARGET_PCT))
    cols = ('hit',) + MISS_KINDS
    for what, title in (('cpu_us_per_q', 'user+sys'), ('user_us_per_q', 'user')):
        print('  %-17s %s' % ('%s us/q (median)' % title, ' '.join('%8s' % c for c in cols)))
        for k in KINDS:
            print('  %-17s %s' % (k, ' '.join('%8s' % fmt(dd[k][w]['median'].get(what), 2)
                                              for w in cols)))
        print('  %-17s %s   per-round ratios of spread / same' % (
            '%s vs off, %%' % title, ' '.join('%8s' % c for c in cols)))
        for k in KINDS[1:]:
            cells = []
            for w in cols:
                v = dd['summary']['%s_%s' % (k, w)][what + '_cost_pct']
                cells.append('%+8.1f' % v if v is not None else '%8s' % '-')
            sp = dd['summary']['%s_spread' % k][what + '_cost_pct_per_round']
            sa = dd['summary']['%s_same' % k][what + '_cost_pct_per_round']
            print('  %-17s %s   [%s] / [%s]' % (k, ' '.join(cells),
                                                ', '.join('%+.1f' % x for x in sp),
                                                ', '.join('%+.1f' % x for x in sa)))


WORKLOADS = {
    'detect': ('detect: miss (spread, new, same registered domain) and hit CPU/query with each '
               'detector on alone vs all off', None, None),
}
