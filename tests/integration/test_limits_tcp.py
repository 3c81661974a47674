"""Bounded client output (issue 10 item 1): a TCP client that pipelines queries and never
reads must not grow minewall's memory. A connection with too much unsent output is not read
(tcp.output-pause) and resumed once the client catches up; past tcp.output-limit it is closed;
past tcp.worker-output-limit over all connections the heaviest one is closed. Every bound hit
shows in minewall_limit_hits_total, and other clients keep getting answers meanwhile.

Every load here is bounded in time (LOAD_S) and goes to loopback only."""

import select
import socket
import struct
import threading
import time

import dns.message
import dns.rcode
import pytest

from conftest import SANITIZED, addresses, free_port, make_query, tcp_read_msg, wait_until
from test_ops import LISTED, metrics_cfg, val, wait_metric, write_list

CACHED = "example.test"
LOAD_S = 10.0
RSS_GROWTH_MAX_KB = 48 * 1024  # without the bounds: hundreds of MB in LOAD_S


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def frames(name, n, rdtype="A"):
    """n length-prefixed queries for name, ids 0..n-1, as one bytes object."""
    out = []
    for i in range(n):
        w = make_query(name, rdtype, qid=i % 65536).to_wire()
        out.append(struct.pack("!H", len(w)) + w)
    return b"".join(out)


def hostile(addr, rcvbuf=4096):
    """A TCP client with a tiny receive buffer that will never read."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(addr)
    s.setblocking(False)
    return s


def push(socks, blob, until):
    """Write blob to every socket over and over until the deadline, never reading; a socket
    the server closed is dropped. Returns (bytes written per socket, sockets found closed)."""
    sent = {s: 0 for s in socks}
    closed = set()
    while time.monotonic() < until:
        live = [s for s in socks if s not in closed]
        if not live:
            break
        _, w, _ = select.select([], live, [], 0.05)
        for s in w:
            try:
                sent[s] += s.send(blob)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # reset or broken pipe: the server closed it
                closed.add(s)
        yield sent, closed


def check_others_answered(m):
    r = m.query(CACHED, timeout=2.0)
    assert r.rcode() == dns.rcode.NOERROR and set(addresses(r)) == {"192.0.2.1"}
    r = m.query(CACHED, tcp=True, timeout=2.0)
    assert r.rcode() == dns.rcode.NOERROR and set(addresses(r)) == {"192.0.2.1"}
    r = m.query(LISTED, timeout=2.0)
    assert set(addresses(r)) <= {"0.0.0.0"}, "listed name answered with %s" % addresses(r)


def closed_by_server(s, timeout=5.0):
    """Read whatever is buffered; True when the server has closed the connection."""
    s.setblocking(True)
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.fixture
def mport():
    return free_port()


def start(make_minewall, upstream, tmp_path, mport, **tcp):
    cfg = metrics_cfg(mport, write_list(tmp_path))
    if tcp:
        cfg["tcp"] = tcp
    m = make_minewall([upstream], config=cfg)
    m.query(CACHED)  # cached from here on
    return m


def test_nonreading_pipeliner_is_paused_and_memory_bounded(make_minewall, upstream, tmp_path,
                                                           mport):
    # A long idle timeout: the paused clients must not be closed for idleness meanwhile.
    m = start(make_minewall, upstream, tmp_path, mport, **{"idle-timeout": 120})
    pid = m.proc.pid
    before = rss_kb(pid)
    socks = [hostile(m.addr), hostile(m.addr)]
    blobs = frames(LISTED, 2000) + frames(CACHED, 2000)
    peak, checks, closed = before, 0, set()
    next_check = time.monotonic() + 1.0
    for sent, closed in push(socks, blobs, time.monotonic() + LOAD_S):
        peak = max(peak, rss_kb(pid))
        assert peak - before < RSS_GROWTH_MAX_KB, \
            "RSS grew from %d to %d kB under a non-reading client" % (before, peak)
        if time.monotonic() >= next_check:
            check_others_answered(m)
            checks += 1
            next_check = time.monotonic() + 1.0
    assert checks >= LOAD_S - 2
    # Reading was paused (the client could not push more than its and our socket buffers
    # plus one read buffer), not the connection dropped.
    s = wait_metric(mport, lambda s: val(s, "minewall_limit_hits_total",
                                         limit="tcp-output-pause") >= 2, "reading paused")
    assert val(s, "minewall_limit_hits_total", limit="tcp-output-limit") == 0
    assert not closed
    # The answers the two clients did not take are counted while they wait, within the
    # bound (pause mark plus at most one read buffer of answers each), and uncounted after.
    queued = val(s, "minewall_output_queued_bytes", transport="tcp")
    assert 0 < queued <= 2 * (65536 + 70 * 1024), queued
    for x in socks:
        x.close()
    wait_metric(mport, lambda s: val(s, "minewall_output_queued_bytes", transport="tcp") == 0,
                "no output counted once the clients are gone")
    # Memory comes back once the load ends.
    if SANITIZED:  # ASan's quarantine keeps freed memory
        return
    wait_until(lambda: rss_kb(pid) <= 2 * before, 30, step=0.5,
               what="RSS back within 2x of %d kB (now %d)" % (before, rss_kb(pid)))


def test_output_limit_closes_connection(make_minewall, upstream, tmp_path, mport):
    # The pause mark at the limit: the answer that would pass it closes the connection.
    m = start(make_minewall, upstream, tmp_path, mport, **{"output-pause": 65536,
                                                           "output-limit": 65536})
    s = hostile(m.addr)
    blob = frames(CACHED, 3000)
    for sent, closed in push([s], blob, time.monotonic() + LOAD_S):
        if closed:
            break
    wait_metric(mport, lambda x: val(x, "minewall_limit_hits_total",
                                     limit="tcp-output-limit") >= 1, "connection closed")
    assert closed_by_server(s)
    s.close()
    check_others_answered(m)


def test_worker_output_limit_closes_heaviest(make_minewall, upstream, tmp_path, mport):
    m = start(make_minewall, upstream, tmp_path, mport,
              **{"output-pause": 65536, "worker-output-limit": 131072})
    socks = [hostile(m.addr) for _ in range(4)]
    blob = frames(CACHED, 3000)
    deadline = time.monotonic() + LOAD_S
    for sent, closed in push(socks, blob, deadline):
        if closed:
            break
    wait_metric(mport, lambda x: val(x, "minewall_limit_hits_total",
                                     limit="tcp-worker-output-limit") >= 1, "heaviest closed")
    assert any(closed_by_server(s, 2.0) for s in socks)
    for s in socks:
        s.close()
    check_others_answered(m)


def test_slow_reader_gets_every_answer(make_minewall, upstream, tmp_path, mport):
    # A small pause mark so that reading is paused and resumed many times.
    m = start(make_minewall, upstream, tmp_path, mport, **{"output-pause": 4096})
    n = 3000  # a third of them 4 kB answers: 4 MB, more than the socket buffers hold
    kinds = [(CACHED, "A", {"192.0.2.1"}), (LISTED, "A", {"0.0.0.0"}), ("big.test", "TXT", set())]
    parts = []
    for i in range(n):
        name, rdtype, _ = kinds[i % 3]
        w = make_query(name, rdtype, qid=i).to_wire()
        parts.append(struct.pack("!H", len(w)) + w)
    blob = b"".join(parts)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(m.addr)
    # Send from a thread: minewall stops reading while this client is not reading.
    sender = threading.Thread(target=s.sendall, args=(blob,), daemon=True)
    sender.start()
    time.sleep(1.0)  # not reading at all for a while: the output backs up
    seen = set()
    deadline = time.monotonic() + 40
    while len(seen) < n:
        data = tcp_read_msg(s, deadline)
        assert data, "closed after %d of %d answers" % (len(seen), n)
        r = dns.message.from_wire(data)
        name, rdtype, want = kinds[r.id % 3]
        assert r.rcode() == dns.rcode.NOERROR and r.answer, (r.id, r.to_text())
        assert set(addresses(r)) == want, (r.id, r.to_text())
        seen.add(r.id)
        if len(seen) % 200 == 0:
            time.sleep(0.05)  # slow reader
    sender.join(5)
    s.close()
    samples = wait_metric(mport, lambda x: val(x, "minewall_limit_hits_total",
                                               limit="tcp-output-pause") >= 1, "paused")
    assert val(samples, "minewall_limit_hits_total", limit="tcp-output-limit") == 0
