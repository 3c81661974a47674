"""One answer cache for all worker threads (issue 12): with threads: 2 a name is fetched once
whichever worker gets the question, also when both workers miss it at the same moment (the
second waits for the first one's fetch), a flush empties the cache for every worker, and the
cache bounds (cache.size, cache.max-bytes) are the whole process's.

Every query leaves from a new UDP socket (a new source port): the kernel's SO_REUSEPORT hash
of the 4-tuple spreads them over both workers, so about half of the second asks of a name
reach the other worker than the first (with one cache per worker, those were fetched again)."""


import pytest

from conftest import (addresses, free_port, make_query, metric_value, metrics_text, udp_recv,
                      udp_send, wait_until)

N = 200


def records(n, prefix="n"):
    return {"%s%d.test" % (prefix, i): {"A": ["192.0.2.%d" % (i % 250 + 1)]} for i in range(n)}


def ask_all(m, names, rdtype="A"):
    """Ask every name once, all at once, each from its own new socket; returns the replies."""
    out = []
    for i in range(0, len(names), 100):  # at most 100 sockets open at a time
        sent = []
        for name in names[i:i + 100]:
            q = make_query(name, rdtype)
            sent.append((udp_send(m.addr, q), q))
        out += [udp_recv(s, q, timeout=5.0) for s, q in sent]
    return out


@pytest.fixture
def start(make_minewall, make_upstream):
    """start(n_names, **config) -> (Minewall with threads: 2 and metrics, upstream, metrics
    port)."""
    def go(n=N, **config):
        up = make_upstream(records(n))
        port = free_port()
        cfg = {"threads": 2, "metrics": {"listen": "127.0.0.1:%d" % port},
               "log": {"level": "info"}}
        cfg.update(config)
        return make_minewall([up], config=cfg), up, port
    return go


def test_each_name_fetched_once_by_two_workers(start):
    m, up, port = start()
    names = ["n%d.test" % i for i in range(N)]
    for r, name in zip(ask_all(m, names), names):
        assert addresses(r) == ["192.0.2.%d" % (int(name[1:-5]) % 250 + 1)], (name, r)
    # The second round, from other ports: every answer from the cache, whichever worker.
    for r, name in zip(ask_all(m, names), names):
        assert addresses(r) == ["192.0.2.%d" % (int(name[1:-5]) % 250 + 1)], (name, r)
    twice = [n for n in names if up.count(n) != 1]
    assert not twice, "fetched more than once: %s" % twice[:10]
    assert up.count() == N
    text = wait_until(lambda: (lambda t: t if metric_value(t, "minewall_cache_hits_total") == N
                               else None)(metrics_text(port)), 5, what="the hits published")
    assert metric_value(text, "minewall_cache_misses_total") == N
    assert metric_value(text, "minewall_cache_entries") == N  # counted once, not once per worker


def test_flush_empties_the_cache_of_every_worker(start):
    m, up, port = start(n=60)
    names = ["n%d.test" % i for i in range(60)]
    ask_all(m, names)
    ask_all(m, names)
    assert up.count() == 60
    from test_control import ctl
    rc, out, err = ctl(m, "flush", "N7.test")
    assert rc == 0 and "flushed 1 cache entries (N7.test) on 2 workers" in out, (out, err)
    ask_all(m, names)
    assert up.count("n7.test") == 2 and up.count() == 61
    rc, out, err = ctl(m, "flush", "--all")
    assert rc == 0 and "flushed 60 cache entries (all names) on 2 workers" in out, (out, err)
    ask_all(m, names)
    ask_all(m, names)
    assert all(up.count(n) == (3 if n == "n7.test" else 2) for n in names), \
        [(n, up.count(n)) for n in names if up.count(n) != (3 if n == "n7.test" else 2)]


def test_cache_bounds_are_the_process_s(start):
    # 600 entries over two shards; cache.max-bytes well above what 600 small answers take.
    m, up, port = start(n=900, cache={"size": 600, "max-bytes": 1 << 20})
    names = ["n%d.test" % i for i in range(900)]
    ask_all(m, names)

    seen = []

    def published():
        # Each worker publishes its counters in turn: the misses can be out before the cache
        # figures of the last inserts. Every fetched answer is cached once, so in the end
        # entries + evictions are the 900 misses.
        t = metrics_text(port)
        seen[:] = [metric_value(t, "minewall_cache_%s" % k)
                   for k in ("misses_total", "entries", "evictions_total")]
        return t if seen[0] == 900 and seen[1] + seen[2] == 900 else None
    text = wait_until(published, 5, what=lambda: "every miss cached or evicted (misses, entries, evictions: %s)" % seen)
    entries = metric_value(text, "minewall_cache_entries")
    assert 500 <= entries <= 600, entries
    assert metric_value(text, "minewall_cache_bytes") > 65536
    # The byte bound: a reload to 64 KiB (its least; 600 answers take about 100 KB) evicts down to it at once, for the whole process.
    m.config["cache"] = {"size": 600, "max-bytes": 65536}
    m.reload_with(None)

    def shrunk():
        t = metrics_text(port)
        b = metric_value(t, "minewall_cache_bytes")
        return t if b is not None and 0 < b <= 65536 else None
    text = wait_until(shrunk, 5, what="the cache shrunk to max-bytes")
    assert metric_value(text, 'minewall_limit_hits_total{limit="cache-max-bytes"}') > 0
    ask_all(m, names[:300])
    text = wait_until(lambda: (lambda t: t if metric_value(t, "minewall_cache_misses_total") >= 1100
                               else None)(metrics_text(port)), 5, what="the misses published")
    assert metric_value(text, "minewall_cache_bytes") <= 65536


def test_simultaneous_misses_on_two_workers_fetch_once(start):
    # Each name answered after 300 ms and asked by 8 clients at once: both workers miss it
    # while the first fetch is out; the second worker waits for it instead of asking again.
    m, up, port = start(n=20)
    names = ["n%d.test" % i for i in range(20)]
    for n in names:
        up.set_mode("delay:300", n)
    sent = []
    for n in names:
        for _ in range(8):
            q = make_query(n)
            sent.append((n, udp_send(m.addr, q), q))
    for n, s, q in sent:
        r = udp_recv(s, q, timeout=5.0)
        assert addresses(r) == ["192.0.2.%d" % (int(n[1:-5]) % 250 + 1)], (n, r)
    counts = {n: up.count(n) for n in names}
    assert all(c == 1 for c in counts.values()), counts
    text = wait_until(lambda: (lambda t: t if metric_value(t, "minewall_cache_misses_total") == 160
                               else None)(metrics_text(port)), 5, what="the misses published")
    # About half of the names' 8 askers span both workers: those waited for the other's fetch.
    assert metric_value(text, "minewall_cache_coalesced_workers_total") > 0


def test_a_failed_fetch_answers_the_other_worker_s_clients(start):
    # The upstream drops one name: the owner's fetch fails and the clients parked on the other
    # worker get SERVFAIL with it, not after a fetch of their own.
    m, up, port = start(n=4, **{"upstream-timeout": 300, "resolve-timeout": 600})
    up.set_mode("drop", "n1.test")
    sent = []
    for _ in range(16):  # all on one worker: 2 in 65536
        q = make_query("n1.test")
        sent.append((udp_send(m.addr, q), q))
    for s, q in sent:
        r = udp_recv(s, q, timeout=5.0)
        assert r.rcode() == 2, r  # SERVFAIL
    text = wait_until(lambda: (lambda t: t if metric_value(t, "minewall_cache_misses_total") == 16
                               else None)(metrics_text(port)), 5, what="the misses published")
    assert metric_value(text, "minewall_cache_coalesced_workers_total") > 0
    up.set_mode(None, "n1.test")
    assert addresses(m.query("n1.test")) == ["192.0.2.2"]


def test_an_uncacheable_answer_is_fetched_by_the_parked_worker(start):
    # TTL 0: the owner's answer cannot be cached, so a worker parked on its fetch asks itself
    # when told (its clients are answered all the same): one fetch per worker at most.
    m, up, port = start(n=2)
    up.set_record("zero.test", "A", 0, ["192.0.2.77"])
    up.set_mode("delay:300", "zero.test")
    sent = []
    for _ in range(16):
        q = make_query("zero.test")
        sent.append((udp_send(m.addr, q), q))
    for s, q in sent:
        assert addresses(udp_recv(s, q, timeout=5.0)) == ["192.0.2.77"]
    assert 1 <= up.count("zero.test") <= 2, up.count("zero.test")
    text = wait_until(lambda: (lambda t: t if metric_value(t, "minewall_cache_misses_total") == 16
                               else None)(metrics_text(port)), 5, what="the misses published")
    if metric_value(text, "minewall_cache_coalesced_workers_total") > 0:
        assert up.count("zero.test") == 2  # the parked worker fetched after the owner
