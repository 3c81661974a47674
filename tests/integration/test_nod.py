"""Newly observed domains (detect: {new-domains: ...}): the first answer for a registered domain
is one new_domain event in the journal with the client, the names, and the first address's ASN
and country; later queries under it are not; the memory survives a restart (the filter file in
the state directory), a corrupt file is reported and replaced; with Redis, the second resolver
of a fleet sees a domain the first one saw as not new to the fleet; the block action blocks a
new domain for block-for and then lets it resolve; config errors carry FILE:LINE.

The fake upstream serves the root zone, so names under real public suffixes (.com, .co.uk) can
be asked: the detector reports public registered domains only."""

import datetime
import json
import os
import re
import socket
import struct
import time
import urllib.request

import dns.message
import dns.name
import dns.rcode
import pytest

import conftest
from conftest import FAST_FAIL, free_port, run_minewall, wait_until
from test_journal import mkmmdb

RECORDS = {
    "www.fresh-site.com": {"A": (1, ["192.0.2.7"])},
    "mail.fresh-site.com": {"A": (1, ["192.0.2.8"]), "AAAA": ["2001:db8::8"]},
    "www.other-site.co.uk": {"A": (1, ["198.51.100.9"])},
    "shop.other-site.co.uk": {"A": (1, ["198.51.100.10"])},
    "a.blocked-site.net": {"A": (1, ["192.0.2.30"])},
    "b.blocked-site.net": {"A": (1, ["192.0.2.31"])},
    "txt-only.org": {"TXT": ['"hello"']},
    "marker-one.com": {"A": (1, ["192.0.2.41"])},
    "marker-two.com": {"A": (1, ["192.0.2.42"])},
    "host.internal-name.lan": {"A": (1, ["192.0.2.50"])},
}
for _i in range(30):
    RECORDS["www.burst%d.com" % _i] = {"A": ["192.0.2.%d" % (100 + _i)]}
QUIET_S = 0.6  # 6 drains of the detector's queue and 3 journal flushes


def read_events(path, scope=None, domain=None):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for ln in f:
            if not ln.strip():
                continue
            e = json.loads(ln)
            if e.get("type") != "new_domain":
                continue
            if scope and e["scope"] != scope:
                continue
            if domain and e["registered_domain"] != domain:
                continue
            out.append(e)
    return out


def wait_events(path, n, scope=None, domain=None, timeout=5.0):
    return wait_until(lambda: len(read_events(path, scope, domain)) >= n
                      and read_events(path, scope, domain), timeout,
                      what="%d new_domain events (%s, %s) in %s" % (n, scope, domain, path))


def metrics(m):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m.metrics_port,
                                timeout=5) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


@pytest.fixture
def upstream(make_upstream):
    return make_upstream(RECORDS, origin=dns.name.root)


@pytest.fixture
def geo(tmp_path):
    asn = mkmmdb(tmp_path, "asn", "192.0.2.0/24=64500:Doc Org", "198.51.100.0/24=64501:Other Net")
    country = mkmmdb(tmp_path, "country", "192.0.2.0/24=DE", "198.51.100.0/24=FR")
    return {"asn": asn, "country": country}


@pytest.fixture
def start(make_minewall, upstream, tmp_path):
    """start(name="a", nd={...}, **config) -> (minewall, journal path); the state directory is
    tmp_path/state-NAME, so two starts with one name share the filter file."""
    def go(name="a", nd=None, journal=None, **config):
        jpath = str(tmp_path / ("journal-%s.jsonl" % name))
        j = {"path": jpath, "watch": []}
        j.update(journal or {})
        nd = dict({"state-dir": str(tmp_path / ("state-" + name))}, **(nd or {}))
        mport = free_port()
        config = dict(FAST_FAIL, threads=2, journal=j, detect={"new-domains": nd},
                      metrics={"listen": "127.0.0.1:%d" % mport}, **config)
        m = make_minewall([upstream], config=config)
        m.metrics_port = mport
        return m, jpath
    return go


def test_first_answer_is_one_event_with_geo(start, upstream, geo):
    m, jp = start(journal={"geoip": geo})
    r = m.query("www.fresh-site.com")
    assert r.rcode() == dns.rcode.NOERROR and conftest.addresses(r) == ["192.0.2.7"], r
    [e] = wait_events(jp, 1)
    assert e["scope"] == "local"
    assert e["registered_domain"] == "fresh-site.com"
    assert e["qname"] == "www.fresh-site.com"
    assert e["qtype"] == "A"
    assert e["client"] == "127.0.0.1"
    assert e["address"] == "192.0.2.7"
    assert e["asn"] == 64500 and e["as_org"] == "Doc Org" and e["country"] == "DE"
    assert e["action"] == "log" and "blocked_for_s" not in e
    assert e["host"] and e["ts"].endswith("Z")
    # Other names, types and the same name again (cache miss after TTL 1): no second event.
    m.query("mail.fresh-site.com", "AAAA")
    m.query("mail.fresh-site.com")
    time.sleep(1.2)
    m.query("www.fresh-site.com")
    assert upstream.count("www.fresh-site.com.") == 2  # the second one was a miss too
    # A second registered domain under a two-label suffix is new; so the first is not.
    m.query("shop.other-site.co.uk")
    [e2] = wait_events(jp, 1, domain="other-site.co.uk")
    assert e2["qname"] == "shop.other-site.co.uk" and e2["country"] == "FR"
    time.sleep(QUIET_S)
    assert len(read_events(jp, domain="fresh-site.com")) == 1, read_events(jp)
    assert len(read_events(jp)) == 2, read_events(jp)
    text = metrics(m)
    assert metric(text, 'minewall_new_domains_total{scope="local"}') == 2
    assert metric(text, 'minewall_new_domains_filter_fill{generation="current"}') > 0


def test_answer_without_address_and_names_that_are_not_public(start):
    m, jp = start()
    m.query("txt-only.org", "TXT")
    [e] = wait_events(jp, 1, domain="txt-only.org")
    assert e["address"] is None and e["asn"] is None and e["country"] is None
    assert e["qtype"] == "TXT"
    # NXDOMAIN is not a sighting; a name under an unlisted TLD is never reported.
    r = m.query("nothing-here.example-nx.com")
    assert r.rcode() == dns.rcode.NXDOMAIN
    m.query("host.internal-name.lan")
    m.query("marker-one.com")
    wait_events(jp, 1, domain="marker-one.com")
    time.sleep(QUIET_S)
    assert {e["registered_domain"] for e in read_events(jp)} == {"txt-only.org",
                                                                  "marker-one.com"}


def test_restart_keeps_the_memory(start, tmp_path):
    m, jp = start()
    m.query("www.fresh-site.com")
    wait_events(jp, 1)
    assert m.terminate()[0] == 0  # saved at shutdown
    state = tmp_path / "state-a" / "new-domains.bloom"
    assert state.exists() and not (tmp_path / "state-a" / "new-domains.bloom.tmp").exists()
    size = state.stat().st_size
    m2, jp2 = start()
    assert jp2 == jp
    m2.wait_log("domains remembered")
    m2.query("mail.fresh-site.com")  # a miss under the remembered domain
    m2.query("marker-one.com")
    wait_events(jp, 1, domain="marker-one.com")
    time.sleep(QUIET_S)
    assert len(read_events(jp, domain="fresh-site.com")) == 1, read_events(jp)
    assert state.stat().st_size == size


def test_corrupt_file_is_reported_and_replaced(start, tmp_path):
    m, jp = start()
    m.query("www.fresh-site.com")
    wait_events(jp, 1)
    assert m.terminate()[0] == 0
    state = tmp_path / "state-a" / "new-domains.bloom"
    size = state.stat().st_size
    # Cut short: reported, replaced by an empty filter (the domain is new again), not fatal.
    with open(state, "r+b") as f:
        f.truncate(size // 2)
    m2, _ = start()
    m2.wait_log("corrupt or truncated; starting empty and replacing it")
    assert state.stat().st_size == size
    m2.query("mail.fresh-site.com")
    wait_events(jp, 2, domain="fresh-site.com")
    assert m2.terminate()[0] == 0
    # One flipped byte in the bits: the checksum catches it.
    with open(state, "r+b") as f:
        f.seek(size - 100)
        b = f.read(1)
        f.seek(size - 100)
        f.write(bytes([b[0] ^ 0x55]))
    m3, _ = start()
    m3.wait_log_count("corrupt or truncated; starting empty and replacing it", 1)
    assert "corrupt or truncated" in m3.log()
    # Another capacity: the file is not used (and is replaced).
    assert m3.terminate()[0] == 0
    m4, _ = start(nd={"capacity": 5000})
    m4.wait_log("made for another capacity or fp-rate; starting empty")
    assert m4.alive


def test_old_format_file_is_refused_and_rewritten(start, tmp_path):
    """A filter file of format version 1 (before the blocked layout) is never read as blocks:
    reported, replaced by an empty filter in the current format, the resolver serving."""
    m, jp = start()
    m.query("www.fresh-site.com")
    wait_events(jp, 1)
    assert m.terminate()[0] == 0
    state = tmp_path / "state-a" / "new-domains.bloom"
    with open(state, "r+b") as f:
        f.seek(8)
        assert struct.unpack("=I", f.read(4))[0] == 2
        f.seek(8)
        f.write(struct.pack("=I", 1))
    m2, _ = start()
    m2.wait_log("a filter of an older format (before the blocked layout); starting empty")
    with open(state, "rb") as f:  # rewritten at start, in the current format
        f.seek(8)
        assert struct.unpack("=I", f.read(4))[0] == 2
    m2.query("mail.fresh-site.com")  # new once more: the old bits were not used
    wait_events(jp, 2, domain="fresh-site.com")
    assert m2.alive


def test_fleet_second_resolver_sees_not_new(start, redis_server):
    rs = redis_server()
    url = "redis://127.0.0.1:%d" % rs.port
    a, ja = start("a", redis={"url": url})
    b, jb = start("b", redis={"url": url})
    a.query("www.fresh-site.com")
    [ev_fleet] = wait_events(ja, 1, scope="fleet")
    assert ev_fleet["registered_domain"] == "fresh-site.com"
    assert ev_fleet["address"] == "192.0.2.7"
    assert len(read_events(ja, scope="local")) == 1
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    key = "minewall:nod:" + day
    assert rs.client.sismember(key, "fresh-site.com")
    assert 29 * 86400 < rs.client.ttl(key) <= 30 * 86400
    # B has never seen it: new to B, not to the fleet. A marker new to everyone, asked after
    # it, is answered after it on B's one connection: its fleet event proves B's check of
    # fresh-site.com was answered too.
    b.query("mail.fresh-site.com")
    wait_events(jb, 1, scope="local", domain="fresh-site.com")
    b.query("marker-two.com")
    wait_events(jb, 1, scope="fleet", domain="marker-two.com")
    assert read_events(jb, scope="fleet", domain="fresh-site.com") == []
    # A domain in yesterday's set is not new to the fleet either.
    yesterday = (datetime.datetime.now(datetime.timezone.utc)
                 - datetime.timedelta(days=1)).strftime("%Y%m%d")
    rs.client.sadd("minewall:nod:" + yesterday, "other-site.co.uk")
    a.query("www.other-site.co.uk")
    wait_events(ja, 1, scope="local", domain="other-site.co.uk")
    a.query("marker-one.com")
    wait_events(ja, 1, scope="fleet", domain="marker-one.com")
    assert read_events(ja, scope="fleet", domain="other-site.co.uk") == []
    assert rs.client.sismember(key, "other-site.co.uk")  # refreshed into today's set
    # Events also reach the routing stream.
    evs = rs.client.xrange("minewall:events:routing")
    nd = [json.loads(f["event"]) for _, f in evs if f.get("type") == "new_domain"]
    assert {(e["scope"], e["registered_domain"]) for e in nd} >= {
        ("local", "fresh-site.com"), ("fleet", "fresh-site.com"), ("fleet", "marker-two.com")}
    text = metrics(a)
    assert metric(text, 'minewall_new_domains_total{scope="fleet"}') == 2
    assert metric(text, "minewall_new_domains_redis_in_flight") == 0
    assert metric(text, 'minewall_new_domains_dropped_total{reason="redis"}') == 0


def test_fleet_checks_wait_for_a_free_slot(start, redis_server):
    """max-in-flight 1 and 30 new domains at once: the checks queue and all are answered, one
    at a time, none dropped."""
    rs = redis_server()
    m, jp = start(redis={"url": "redis://127.0.0.1:%d" % rs.port},
                  nd={"max-in-flight": 1})
    socks = []
    for i in range(30):
        q = conftest.make_query("www.burst%d.com" % i)
        socks.append((conftest.udp_send(m.addr, q), q))
    for sk, q in socks:
        assert conftest.udp_recv(sk, q).rcode() == dns.rcode.NOERROR
    wait_events(jp, 30, scope="fleet", timeout=10)
    text = metrics(m)
    assert metric(text, 'minewall_new_domains_dropped_total{reason="redis"}') == 0
    assert metric(text, 'minewall_new_domains_total{scope="fleet"}') == 30
    assert rs.client.scard("minewall:nod:" + datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y%m%d")) == 30


def test_fleet_redis_away_is_counted_not_waited_for(start, tmp_path):
    m, jp = start(redis={"url": "redis://127.0.0.1:%d" % free_port()})
    t0 = time.monotonic()
    r = m.query("www.fresh-site.com")
    assert r.rcode() == dns.rcode.NOERROR and time.monotonic() - t0 < 1.0
    wait_events(jp, 1, scope="local")
    wait_until(lambda: metric(metrics(m), 'minewall_new_domains_dropped_total{reason="redis"}')
               == 1, 5, what="one fleet check dropped")


def test_block_action_blocks_then_expires(start, upstream, tmp_path):
    blog = str(tmp_path / "blocks.jsonl")
    m, jp = start(nd={"action": "nxdomain", "block-for": "2s"}, log={"level": "debug",
                                                                     "blocks": blog})
    r = m.query("a.blocked-site.net")
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert conftest.ede(r) == (15, "minewall: detect/new-domains")
    t_block = time.monotonic()
    [e] = wait_events(jp, 1)
    assert e["action"] == "nxdomain" and e["blocked_for_s"] == 2
    # Within block-for: other names under it are blocked without asking upstream.
    n_up = upstream.count("b.blocked-site.net.")
    r = m.query("b.blocked-site.net")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert upstream.count("b.blocked-site.net.") == n_up
    # Other domains are not held up.
    r = m.query("www.fresh-site.com")
    assert r.rcode() == dns.rcode.NXDOMAIN  # new as well: blocked on its first sight
    lines = conftest.blocks(blog)
    assert any(ln["list"] == "new-domains" and ln["category"] == "detect" for ln in lines), lines
    # After block-for it resolves, and is not new any more.
    wait_until(lambda: time.monotonic() - t_block > 2.1, 3)
    r = m.query("b.blocked-site.net")
    assert r.rcode() == dns.rcode.NOERROR and conftest.addresses(r) == ["192.0.2.31"], r
    time.sleep(QUIET_S)
    assert len(read_events(jp, domain="blocked-site.net")) == 1


def ask_from(m, src, name):
    q = conftest.make_query(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(3)
        s.sendto(q.to_wire(), m.addr)
        return dns.message.from_wire(s.recvfrom(65535)[0])


def test_group_action(start, tmp_path):
    """groups.NAME.actions {new-domains: nxdomain}: that group's clients are blocked from a
    new domain for block-for while the default group (action log) resolves it, uncached."""
    strict = "127.0.0.2"
    m, jp = start(nd={"block-for": "2s"},
                  groups={"strict": {"clients": [strict + "/32"],
                                     "actions": {"new-domains": "nxdomain"}}})
    r = ask_from(m, "127.0.0.1", "a.blocked-site.net")
    assert r.rcode() == dns.rcode.NOERROR and conftest.addresses(r) == ["192.0.2.30"], r
    [e] = wait_events(jp, 1)
    assert e["action"] == "log" and "blocked_for_s" not in e and e["client"] == "127.0.0.1"
    t0 = time.monotonic()
    r = ask_from(m, strict, "a.blocked-site.net")  # not served from the cache
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert ask_from(m, "127.0.0.1", "b.blocked-site.net").rcode() == dns.rcode.NOERROR
    assert ask_from(m, strict, "b.blocked-site.net").rcode() == dns.rcode.NXDOMAIN
    # First asked by the strict group: its action in the event.
    r = ask_from(m, strict, "www.fresh-site.com")
    assert r.rcode() == dns.rcode.NXDOMAIN
    [e2] = wait_events(jp, 1, domain="fresh-site.com")
    assert e2["action"] == "nxdomain" and e2["blocked_for_s"] == 2 and e2["client"] == strict
    wait_until(lambda: time.monotonic() - t0 > 2.1, 3)
    r = ask_from(m, strict, "b.blocked-site.net")
    assert r.rcode() == dns.rcode.NOERROR and conftest.addresses(r) == ["192.0.2.31"], r


def test_config_errors_have_file_and_line(tmp_path):
    path = str(tmp_path / "bad.yaml")
    with open(path, "w") as f:
        f.write("listen: [127.0.0.1:%d]\n"          # 1
                "upstreams: [127.0.0.1:53]\n"        # 2
                "detect:\n"                          # 3
                "  new-domains:\n"                   # 4
                "    action: block\n"                # 5
                "    block-for: 10 minutes\n"        # 6
                "    capacity: 10\n"                 # 7
                "    fp-rate: 0.5\n"                 # 8
                "    redis: true\n"                  # 9
                "    colour: red\n" % free_port())  # 10
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line, text in ((5, "unknown action 'block'"),
                       (6, "expected a duration"),
                       (7, "capacity"),
                       (8, "expected a rate from 0.0001 to 0.1, found '0.5'"),
                       (9, "redis: true needs redis.url"),
                       (10, "unknown key 'colour'"),
                       (5, "needs a state-dir")):  # the section's first line
        assert "%s:%d: " % (path, line) in out and text in out, (line, text, out)
    # A good section passes, state-dir from redis.state-dir.
    (tmp_path / "st").mkdir()
    with open(path, "w") as f:
        f.write("listen: [127.0.0.1:%d]\nupstreams: [127.0.0.1:53]\nuser: root\n"
                "redis: {url: 'redis://127.0.0.1:1', lists: ['x'], state-dir: '%s'}\n"
                "detect: {new-domains: {action: refused, block-for: 90s, capacity: 100000,"
                " fp-rate: 0.001, fleet-days: 7}}\n" % (free_port(), tmp_path / "st"))
    res = run_minewall(["-c", path, "--check-config"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "new-domains" not in res.stdout + res.stderr, res.stdout + res.stderr
