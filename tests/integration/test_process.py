"""The process: reload on SIGHUP, stop on SIGTERM, worker threads."""

import signal
import socket
import time

import dns.message
import dns.rcode
import pytest

from conftest import addresses, make_query, to_yaml, udp_send, wait_until


def broken_config(m):
    """m's config with a bad value appended; (text, line of the bad value)."""
    lines = to_yaml(m.config).splitlines() + ["threads: many"]
    return "\n".join(lines) + "\n", len(lines)


def test_sighup_with_broken_config_keeps_serving(make_upstream, make_minewall):
    up = make_upstream()
    m = make_minewall([up])
    text, line = broken_config(m)
    m.reload_with(text)
    m.wait_log("%s:%d:" % (m.conf_path, line))
    assert m.alive
    for tcp in (False, True):
        assert addresses(m.query("example.test", tcp=tcp)) == ["192.0.2.1"]
    assert up.count("example.test") == 1


def test_sighup_applies_new_upstream(make_upstream, make_minewall):
    old, new = make_upstream(), make_upstream()
    m = make_minewall([old])
    assert addresses(m.query("host.example.test")) == ["192.0.2.10", "192.0.2.11"]
    m.config["upstreams"] = [new.addr]
    m.reload_with(to_yaml(m.config) + "\n")
    i = iter(range(1000))

    def new_gets_query():
        name = "h%d.bulk.test" % next(i)
        assert addresses(m.query(name)) == ["192.0.2.99"]
        return new.count(name) == 1

    wait_until(new_gets_query, timeout=5, step=0.1, what="reload to the new upstream")
    before = old.count()
    for k in range(5):
        assert addresses(m.query("after%d.bulk.test" % k)) == ["192.0.2.99"]
        assert new.count("after%d.bulk.test" % k) == 1
    assert old.count() == before


def test_repeated_sighup(mw, upstream):
    for _ in range(10):
        mw.sighup()
        time.sleep(0.02)
    time.sleep(0.3)
    assert addresses(mw.query("example.test")) == ["192.0.2.1"]
    assert addresses(mw.query("example.test", tcp=True)) == ["192.0.2.1"]


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_signal_right_after_first_answer(make_minewall, upstream, sig):
    # Once minewall answers it must also handle its signals: SIGHUP reloads, SIGTERM exits 0.
    for _ in range(3):
        m = make_minewall([upstream], ready=False)
        m.wait_ready(poll=0, handlers=False)
        m.signal(sig)
        if sig == signal.SIGTERM:
            rc, _ = m.terminate()
            assert rc == 0, "exit %s for a SIGTERM right after the first answer" % rc
        else:
            time.sleep(0.2)
            assert m.alive, "killed by a SIGHUP right after the first answer (exit %s)" % (
                m.proc.returncode)
            assert addresses(m.query("example.test")) == ["192.0.2.1"]


def test_sigterm_exits_zero_quickly(mw):
    mw.query("example.test")
    rc, took = mw.terminate()
    assert rc == 0, mw.log()[-4000:]
    assert took < 2.0, took


def test_sigterm_with_query_in_flight(mw, upstream):
    upstream.set_mode("drop")
    q = make_query("inflight.test")
    client = udp_send(mw.addr, q)
    upstream.wait_for("inflight.test")
    rc, took = mw.terminate()
    client.close()
    assert rc == 0, mw.log()[-4000:]
    assert took < 2.0, took


def test_two_threads_answer_udp_and_tcp(make_minewall, upstream):
    m = make_minewall([upstream], config={"threads": 2})
    for tcp in (False, True):
        r = m.query("example.test", "AAAA", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR
        assert [rd.address for rd in r.answer[0]] == ["2001:db8::1"]


def collect(sock, queries, timeout):
    """Replies on sock to every query in queries (by ID), in any order."""
    want = {q.id: q for q in queries}
    deadline = time.monotonic() + timeout
    got = {}
    while len(got) < len(want) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            r = dns.message.from_wire(sock.recvfrom(65535)[0])
        except socket.timeout:
            break
        assert r.id in want, "reply with an ID nobody asked for: %d" % r.id
        assert r.question[0].name == want[r.id].question[0].name
        got[r.id] = r
    assert len(got) == len(want), "%d of %d answered" % (len(got), len(want))
    return list(got.values())


def test_two_threads_many_clients(make_minewall, upstream):
    m = make_minewall([upstream], config={"threads": 2})
    clients = []
    for c in range(8):  # several sockets, each with many queries in flight
        queries = [make_query("m%d-%d.bulk.test" % (c, i), qid=c * 100 + i) for i in range(25)]
        sock = udp_send(m.addr, queries[0])
        for q in queries[1:]:
            sock.sendto(q.to_wire(), m.addr)
        clients.append((sock, queries))
    for sock, queries in clients:
        with sock:
            replies = collect(sock, queries, timeout=5)
        assert all(addresses(r) == ["192.0.2.99"] for r in replies)
    for i in range(10):
        assert addresses(m.query("m0-%d.bulk.test" % i, tcp=True)) == ["192.0.2.99"]
