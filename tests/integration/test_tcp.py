"""DNS over TCP (RFC 7766): pipelining, out-of-order answers, framing, idle timeout."""

import socket
import struct
import time

import dns.message
import dns.rcode

from conftest import addresses, make_query, tcp_connect, tcp_read_msg


def frame(q):
    w = q.to_wire()
    return struct.pack("!H", len(w)) + w


def read_replies(sock, n, timeout):
    """Read n replies from sock before timeout; returns them in arrival order."""
    deadline = time.monotonic() + timeout
    out = []
    for _ in range(n):
        data = tcp_read_msg(sock, deadline)
        assert data, "server closed the connection after %d of %d replies" % (len(out), n)
        out.append(dns.message.from_wire(data))
    return out


def test_tcp_query(mw, upstream):
    r = mw.query("example.test", "MX", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer[0]) == 2


def test_pipelined_answers_out_of_order(mw, upstream):
    upstream.set_mode("delay:700", "a.slow.test")
    names = [("a.slow.test", "A"), ("example.test", "A"), ("example.test", "AAAA"),
             ("host.example.test", "A"), ("nodata.test", "AAAA")]
    queries = [make_query(n, t) for n, t in names]
    with tcp_connect(mw.addr) as s:
        t0 = time.monotonic()
        s.sendall(b"".join(frame(q) for q in queries))  # one write
        replies = read_replies(s, len(queries), timeout=4)
    by_id = {r.id: r for r in replies}
    assert sorted(by_id) == sorted(q.id for q in queries)
    for q in queries:
        r = by_id[q.id]
        assert r.question[0].name == q.question[0].name
        assert r.question[0].rdtype == q.question[0].rdtype
    assert addresses(by_id[queries[0].id]) == ["192.0.2.77"]
    # The slow name was sent first; the others must not wait behind it.
    assert replies[0].id != queries[0].id, "answers came back in order: no pipelining"
    assert replies[-1].id == queries[0].id
    assert time.monotonic() - t0 < 2.5


def test_many_pipelined_queries(mw):
    queries = [make_query("n%d.bulk.test" % i, "A") for i in range(30)]
    with tcp_connect(mw.addr) as s:
        s.sendall(b"".join(frame(q) for q in queries))
        replies = read_replies(s, len(queries), timeout=5)
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    assert all(addresses(r) == ["192.0.2.99"] for r in replies)


def test_message_split_across_segments(mw):
    q = make_query("example.test", "A")
    data = frame(q)
    with tcp_connect(mw.addr) as s:
        s.sendall(data[:1])
        time.sleep(0.1)
        s.sendall(data[1:7])
        time.sleep(0.1)
        s.sendall(data[7:])
        (r,) = read_replies(s, 1, timeout=2)
    assert r.id == q.id and addresses(r) == ["192.0.2.1"]


def test_connection_reused_for_sequential_queries(mw):
    with tcp_connect(mw.addr) as s:
        for name in ("example.test", "host.example.test", "mail.example.test"):
            q = make_query(name, "A")
            s.sendall(frame(q))
            (r,) = read_replies(s, 1, timeout=2)
            assert r.id == q.id and r.answer


def wait_closed(sock, timeout):
    """Seconds until the server closed sock (EOF or reset), or None if it stayed open."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return None
    except ConnectionResetError:
        data = b""
    assert data == b"", "unexpected data %r on an idle connection" % data
    return time.monotonic() - t0


def test_idle_connection_closed(make_minewall, upstream):
    m = make_minewall([upstream], config={"tcp": {"idle-timeout": 1}})
    with tcp_connect(m.addr) as s:
        took = wait_closed(s, timeout=4)
    assert took is not None, "idle connection still open after 4 s with idle-timeout 1"
    assert 0.7 <= took <= 3.0, took


def test_idle_timer_restarts_after_query(make_minewall, upstream):
    m = make_minewall([upstream], config={"tcp": {"idle-timeout": 1}})
    with tcp_connect(m.addr) as s:
        for _ in range(3):  # 3 x 0.6 s > idle-timeout, but never idle for 1 s
            time.sleep(0.6)
            q = make_query("example.test", "A")
            s.sendall(frame(q))
            (r,) = read_replies(s, 1, timeout=2)
            assert r.id == q.id
        took = wait_closed(s, timeout=4)
    assert took is not None and took >= 0.7, took


def test_client_closes_with_query_in_flight(mw, upstream):
    upstream.set_mode("delay:300", "b.slow.test")
    with tcp_connect(mw.addr) as s:
        s.sendall(frame(make_query("b.slow.test", "A")))
    upstream.wait_for("b.slow.test")
    time.sleep(0.5)  # the answer arrives for a connection that is gone
    assert addresses(mw.query("b.slow.test", tcp=True)) == ["192.0.2.77"]
    assert addresses(mw.query("example.test")) == ["192.0.2.1"]


def test_max_pipeline_limits_without_losing_queries(make_minewall, upstream):
    m = make_minewall([upstream], config={"tcp": {"max-pipeline": 2}})
    for i in range(6):
        upstream.set_mode("delay:200", "p%d.slow.test" % i)
    queries = [make_query("p%d.slow.test" % i) for i in range(6)]
    with tcp_connect(m.addr) as s:
        s.sendall(b"".join(frame(q) for q in queries))
        replies = read_replies(s, len(queries), timeout=5)
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    # Never more than two of this connection's queries at the upstream at once: with a 200 ms
    # delay each, six need three rounds, so the last is sent some 400 ms after the first.
    sent = sorted(uq.time for i in range(6) for uq in upstream.received("p%d.slow.test" % i))
    assert len(sent) == 6
    assert sent[-1] - sent[0] >= 0.3, "max-pipeline 2 not enforced: %s" % [
        round(t - sent[0], 3) for t in sent]


def test_connection_slots_released(make_minewall, upstream):
    m = make_minewall([upstream], config={"tcp": {"max-connections": 2}})
    for i in range(8):  # more connections in sequence than there are slots
        q = make_query("example.test")
        with tcp_connect(m.addr) as s:
            s.sendall(frame(q))
            (r,) = read_replies(s, 1, timeout=2)
        assert r.id == q.id and addresses(r) == ["192.0.2.1"]


def test_many_concurrent_connections(mw):
    conns = []
    try:
        for i in range(50):
            q = make_query("k%d.bulk.test" % i)
            s = tcp_connect(mw.addr)
            conns.append((s, q))
            s.sendall(frame(q))
        for s, q in conns:
            (r,) = read_replies(s, 1, timeout=5)
            assert r.id == q.id and addresses(r) == ["192.0.2.99"]
    finally:
        for s, _ in conns:
            s.close()
