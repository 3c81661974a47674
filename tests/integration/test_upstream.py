"""Upstream handling: failover, health, SERVFAIL budget, forged and stray responses,
coalescing of identical questions."""

import time

import dns.rcode
import pytest

from conftest import (FAST_FAIL, addresses, assert_not_forged, make_dead, make_query,
                      udp_recv, udp_send)
from fakedns import forge_response, send_spoofed

FAILOVER = {"upstream-timeout": 300, "resolve-timeout": 2000}


@pytest.mark.parametrize("dead", ["stopped", "drop"])
def test_failover_to_second_upstream(make_upstream, make_minewall, dead):
    a, b = make_upstream(), make_upstream()
    m = make_minewall([a, b], config=FAILOVER)
    make_dead(a, dead)
    for i in range(3):
        name = "f%d.bulk.test" % i
        t0 = time.monotonic()
        r = m.query(name, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.99"]
        assert time.monotonic() - t0 < 1.5
        assert b.count(name) >= 1


@pytest.mark.parametrize("dead", ["stopped", "drop"])
def test_servfail_when_all_upstreams_dead(make_upstream, make_minewall, dead):
    a, b = make_upstream(), make_upstream()
    m = make_minewall([a, b], config=FAST_FAIL)
    make_dead(a, dead)
    make_dead(b, dead)
    t0 = time.monotonic()
    r = m.query("example.test", timeout=3)
    took = time.monotonic() - t0
    assert r.rcode() == dns.rcode.SERVFAIL
    assert not r.answer
    assert took < 1.5, "SERVFAIL after %.2fs with resolve-timeout 1000" % took


@pytest.mark.parametrize("dead", ["stopped", "drop"])
def test_dead_upstream_avoided_then_probed_back(make_upstream, make_minewall, dead):
    a, b = make_upstream(), make_upstream()
    m = make_minewall([a, b], config={"upstream-timeout": 400, "resolve-timeout": 2000})
    make_dead(a, dead)
    # B is the slower one, so a resolver that prefers low RTT moves back to A once A answers.
    b.set_mode("delay:20")
    times = []
    for i in range(8):
        t0 = time.monotonic()
        r = m.query("d%d.bulk.test" % i, timeout=3)
        times.append(time.monotonic() - t0)
        assert addresses(r) == ["192.0.2.99"]
    # Once A is known dead, queries go to B without waiting out A's timeout first.
    assert max(times[-3:]) < 0.3, times
    a.set_mode("normal")
    if not a.running:
        a.restart()  # the same port again
    a.clear()
    deadline = time.monotonic() + 15
    i = 0
    while not any(q.name.endswith(".bulk.test.") for q in a.received()):
        assert time.monotonic() < deadline, "revived upstream got no query within 15 s"
        assert addresses(m.query("p%d.bulk.test" % i, timeout=3)) == ["192.0.2.99"]
        i += 1
        time.sleep(0.2)


@pytest.mark.parametrize("mode", ["wrong-id", "wrong-question", "garbage"])
def test_bad_response_alone_gives_servfail(make_upstream, make_minewall, mode):
    up = make_upstream()
    m = make_minewall([up], config=FAST_FAIL)
    up.set_mode(mode)
    r = m.query("example.test", timeout=3)
    assert_not_forged(r)
    assert r.rcode() == dns.rcode.SERVFAIL
    # A later good answer is still accepted: the bad one did not poison anything.
    up.set_mode("normal")
    assert addresses(m.query("example.test", timeout=3)) == ["192.0.2.1"]


@pytest.mark.parametrize("mode", ["wrong-id", "wrong-question", "garbage"])
def test_bad_response_ignored_for_good_upstream(make_upstream, make_minewall, mode):
    bad, good = make_upstream(), make_upstream()
    bad.set_mode(mode)
    m = make_minewall([bad, good], config=FAILOVER)
    for i in range(4):
        r = m.query("g%d.bulk.test" % i, timeout=3)
        assert_not_forged(r)
        assert r.rcode() == dns.rcode.NOERROR
        assert addresses(r) == ["192.0.2.99"]
    r = m.query("example.test", timeout=3)
    assert addresses(r) == ["192.0.2.1"]


def test_injected_answer_from_other_port_rejected(mw, upstream):
    upstream.set_mode("delay:800", "victim.slow.test")
    q = make_query("victim.slow.test", "A")
    client = udp_send(mw.addr, q)
    (uq,) = upstream.wait_for("victim.slow.test")
    # The attacker knows the ID, the name and minewall's port; only the source port differs.
    for _ in range(3):
        send_spoofed(("127.0.0.1", uq.sport), forge_response(uq.name, "A", uq.id))
    r = udp_recv(client, q, timeout=3)
    assert_not_forged(r)
    assert addresses(r) == ["192.0.2.77"]
    assert addresses(mw.query("victim.slow.test")) == ["192.0.2.77"]  # cache is clean


def test_stray_response_dropped(mw, upstream):
    # A response no query is waiting for, sent to the port minewall last used upstream.
    mw.query("example.test", "AAAA")
    (uq,) = upstream.received("example.test", "AAAA")
    for qid in (uq.id, (uq.id + 1) & 0xFFFF):
        send_spoofed(("127.0.0.1", uq.sport), forge_response("stray.test", "A", qid))
    time.sleep(0.2)
    r = mw.query("stray.test")
    assert_not_forged(r)
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_identical_questions_coalesced(mw, upstream):
    upstream.set_mode("delay:300", "c.slow.test")
    queries = [make_query("c.slow.test", "A") for _ in range(10)]
    socks = [udp_send(mw.addr, q) for q in queries]
    replies = [udp_recv(s, q, timeout=3) for s, q in zip(socks, queries)]
    assert all(addresses(r) == ["192.0.2.77"] for r in replies)
    assert 1 <= upstream.count("c.slow.test") <= 2, upstream.count("c.slow.test")
