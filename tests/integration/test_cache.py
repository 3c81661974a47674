"""The answer cache: hits, TTL countdown, expiry, negative caching, DO keying, serve-stale."""

import time

import dns.rcode
import pytest

from conftest import FAST_FAIL, addresses, make_dead


def test_second_query_served_from_cache(mw, upstream):
    first = mw.query("example.test", "A")
    second = mw.query("example.test", "A")
    assert addresses(first) == addresses(second) == ["192.0.2.1"]
    assert upstream.count("example.test", "A") == 1
    # Cache hits over TCP come from the same cache.
    assert addresses(mw.query("example.test", "A", tcp=True)) == ["192.0.2.1"]
    assert upstream.count("example.test", "A") == 1


def test_cache_key_is_case_insensitive(mw, upstream):
    mw.query("example.test", "AAAA")
    mw.query("EXAMPLE.test", "AAAA")
    assert upstream.count("example.test", "AAAA") == 1


def test_types_cached_separately(mw, upstream):
    mw.query("example.test", "A")
    r = mw.query("example.test", "MX")
    assert r.answer and r.answer[0].rdtype == 15
    assert upstream.count("example.test", "MX") == 1


def test_ttl_counts_down_on_hits(mw, upstream):
    ttl0 = mw.query("example.test", "A").answer[0].ttl
    assert 295 <= ttl0 <= 300
    time.sleep(1.6)
    ttl1 = mw.query("example.test", "A").answer[0].ttl
    assert ttl1 <= ttl0 - 1, (ttl0, ttl1)
    assert ttl1 >= ttl0 - 3, (ttl0, ttl1)
    assert upstream.count("example.test", "A") == 1


def test_expired_record_refetched(mw, upstream):
    assert addresses(mw.query("short.test")) == ["192.0.2.3"]
    upstream.set_record("short.test", "A", 1, ["192.0.2.4"])
    time.sleep(2.1)
    assert addresses(mw.query("short.test")) == ["192.0.2.4"]
    assert upstream.count("short.test", "A") == 2


@pytest.mark.parametrize("name,rdtype,rcode", [
    ("gone.test", "A", dns.rcode.NXDOMAIN),
    ("nodata.test", "AAAA", dns.rcode.NOERROR),
])
def test_negative_cache_lives_soa_minimum(make_upstream, make_minewall, name, rdtype, rcode):
    up = make_upstream(soa_minimum=2)
    m = make_minewall([up])
    assert m.query(name, rdtype).rcode() == rcode
    assert m.query(name, rdtype).rcode() == rcode
    assert up.count(name, rdtype) == 1, "negative answer was not cached"
    time.sleep(2.6)
    assert m.query(name, rdtype).rcode() == rcode
    assert up.count(name, rdtype) == 2, "negative answer outlived the SOA minimum"


def test_do_bit_cached_separately(mw, upstream):
    mw.query("example.test", "A", do=False)
    mw.query("example.test", "A", do=True)
    qs = upstream.received("example.test", "A")
    assert sorted(q.do for q in qs) == [False, True]
    mw.query("example.test", "A", do=True)
    mw.query("example.test", "A", do=False)
    assert upstream.count("example.test", "A") == 2


def test_min_ttl_extends_lifetime(make_minewall, upstream):
    m = make_minewall([upstream], config={"cache": {"min-ttl": 10}})
    m.query("short.test")
    time.sleep(2.1)
    assert addresses(m.query("short.test")) == ["192.0.2.3"]
    assert upstream.count("short.test", "A") == 1


def test_max_ttl_caps_lifetime(make_minewall, upstream):
    m = make_minewall([upstream], config={"cache": {"max-ttl": 1}})
    m.query("example.test")
    time.sleep(2.1)
    m.query("example.test")
    assert upstream.count("example.test", "A") == 2


def test_cache_size_zero_disables(make_minewall, upstream):
    m = make_minewall([upstream], config={"cache": {"size": 0}})
    for _ in range(3):
        assert addresses(m.query("example.test")) == ["192.0.2.1"]
    assert upstream.count("example.test", "A") == 3


@pytest.mark.parametrize("dead", ["stopped", "drop"])
def test_serve_stale_when_upstreams_dead(make_minewall, upstream, dead):
    m = make_minewall([upstream], config=FAST_FAIL)
    assert addresses(m.query("short.test")) == ["192.0.2.3"]
    make_dead(upstream, dead)
    time.sleep(2.1)
    t0 = time.monotonic()
    r = m.query("short.test", timeout=3)
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r) == ["192.0.2.3"]
    assert [rr.ttl for rr in r.answer] == [30]
    assert time.monotonic() - t0 < 1.8


@pytest.mark.parametrize("dead", ["stopped", "drop"])
def test_no_stale_when_disabled(make_minewall, upstream, dead):
    m = make_minewall([upstream], config=dict(FAST_FAIL, cache={"serve-stale": 0}))
    m.query("short.test")
    make_dead(upstream, dead)
    time.sleep(2.1)
    assert m.query("short.test", timeout=3).rcode() == dns.rcode.SERVFAIL
