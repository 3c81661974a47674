"""Bounds of the fetch side (issue 10, item 2): fetches in flight per worker, waiters per fetch,
what happens over a bound (a stale answer, SERVFAIL or nothing, counted), and memory handed back
after a burst.

The flood sends unique names at a dead upstream: a bound UDP socket nobody reads, so every
fetch lives its whole resolve-timeout. The load is bounded in count and time and stays on
loopback. RSS is read from /proc/PID/status; every wait polls a condition with a deadline.
"""

import socket
import struct
import threading
import time

import dns.rcode
import pytest

from conftest import (BIG_TXT, SANITIZED, ask, free_port, make_query, rcode_of, udp_recv,
                      udp_send, wait_until)
from test_ops import val, wait_metric

FLOOD_NAMES = 150000
FLOOD_SECONDS = 3.0


class DeadUpstream:
    """A UDP port that accepts datagrams and never answers (nobody reads the socket, so the
    kernel drops what its small buffer cannot hold: no CPU spent on the load)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


@pytest.fixture
def dead():
    d = DeadUpstream()
    yield d
    d.close()


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def query_wire(qid, name):
    """A plain A query (RD set, no EDNS) for name, built without dnspython: fast enough to
    send tens of thousands a second from one Python thread."""
    q = struct.pack("!HHHHHH", qid & 0xFFFF, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 1, 1)


class Flood:
    """Send n unique names to addr over about `seconds`, from a few sockets, counting the
    replies by rcode on a reader thread."""

    def __init__(self, addr, n, seconds, prefix="f"):
        self.addr, self.n, self.seconds, self.prefix = addr, n, seconds, prefix
        self.socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        for s in self.socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.setblocking(False)
        self.rcodes = {}
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)

    def _read(self):
        import selectors
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        while not self.done.is_set():
            for key, _ in sel.select(0.1):
                while True:
                    try:
                        data = key.fileobj.recv(4096)
                    except BlockingIOError:
                        break
                    rc = rcode_of(data)
                    self.rcodes[rc] = self.rcodes.get(rc, 0) + 1
        sel.close()

    def run(self):
        self.reader.start()
        start = time.monotonic()
        batch = 500
        for i in range(0, self.n, batch):
            for j in range(i, min(i + batch, self.n)):
                wire = query_wire(j, "%s%d.flood.test" % (self.prefix, j))
                try:
                    self.socks[j & 3].sendto(wire, self.addr)
                except BlockingIOError:
                    pass  # our own send buffer is full: that query is simply not sent
            ahead = start + self.seconds * (i + batch) / self.n - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        return time.monotonic() - start

    def close(self):
        self.done.set()
        self.reader.join(2)
        for s in self.socks:
            s.close()


def metrics_config(mport, **fetch):
    cfg = {"metrics": {"listen": "127.0.0.1:%d" % mport}}
    if fetch:
        cfg["fetch"] = fetch
    return cfg


def test_flood_of_unique_names_is_bounded_and_memory_returns(make_minewall, dead):
    """150k unique names in 3 s to a dead upstream: fetches in flight stop at the cap, the
    queries beyond it get SERVFAIL (counted), and RSS is back within 2x of the pre-load
    figure within 30 s of the end of the load. Default fetch bounds."""
    mport = free_port()
    m = make_minewall([dead.addr], config=metrics_config(mport))
    pid = m.proc.pid
    time.sleep(0.5)  # let start-up settle before the reference figure
    before = vm_rss_kb(pid)

    peak = [before]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            try:
                peak[0] = max(peak[0], vm_rss_kb(pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    flood = Flood(m.addr, FLOOD_NAMES, FLOOD_SECONDS)
    try:
        took = flood.run()
        # Every fetch ends within resolve-timeout (4 s): wait until none is in flight.
        s = wait_metric(mport, lambda s: val(s, "minewall_queries_received_total") > 0 and
                        val(s, "minewall_fetches_in_flight") == 0 and
                        val(s, "minewall_fetch_waiters") == 0,
                        "no fetch in flight after the flood", timeout=15)
    finally:
        flood.close()
        sampling.set()
        sampler.join(2)
    cap = 4096
    received = val(s, "minewall_queries_received_total", transport="udp")
    overflow = val(s, "minewall_fetch_overflow_total", bound="max-per-worker")
    print("flood: %d sent in %.1fs, %d received, %d over the cap, replies %s" % (
        FLOOD_NAMES, took, received, overflow, flood.rcodes))
    assert received > 50000, "the flood did not reach minewall (%d in %.1fs)" % (received, took)
    assert val(s, "minewall_fetches_in_flight_peak") == cap, "the cap was not reached"
    assert overflow > received / 2, (overflow, received)
    # Every query over the bound got SERVFAIL (fetch.overflow: servfail, the default), as did
    # every fetch that timed out.
    assert val(s, "minewall_queries_total", rcode="SERVFAIL") >= overflow
    assert flood.rcodes.get(dns.rcode.SERVFAIL, 0) > 0, flood.rcodes
    assert m.alive
    ended = time.monotonic()  # the load is over: no fetch in flight

    if not SANITIZED:  # ASan's allocator keeps freed memory: RSS says nothing there
        limit = 2 * before
        try:
            wait_until(lambda: vm_rss_kb(pid) <= limit, 30 - (time.monotonic() - ended),
                       step=0.25, what="RSS back within 2x of %d kB" % before)
        finally:
            print("RSS kB: before %d, peak %d, now %d (%.1fs after the fetches ended)" % (
                before, peak[0], vm_rss_kb(pid), time.monotonic() - ended))
    # The pools hand their idle objects back, and then (plain malloc only) glibc its pages.
    wait_metric(mport, lambda s: val(s, "minewall_pool_freed_bytes_total") > 0 and
                (SANITIZED or val(s, "minewall_malloc_trims_total") > 0),
                "idle pool objects freed and trimmed")
    # Still resolving afterwards: a name the dead upstream cannot answer fails as usual.
    assert ask(m.addr, "after.flood.test", timeout=6).rcode() == dns.rcode.SERVFAIL


def test_waiters_per_fetch_and_per_worker_are_capped(make_minewall, dead):
    """A dead upstream; fetch.max-waiters 4 and max-queries 6. Twenty clients ask the same
    name: four wait on its one fetch, sixteen get SERVFAIL at once, not after the resolve
    timeout. Then five other names: two more wait (six in all), three get SERVFAIL at once.
    Each bound is counted."""
    mport = free_port()
    m = make_minewall([dead.addr], config=metrics_config(
        mport, **{"max-waiters": 4, "max-queries": 6}))
    qs = [make_query("same.flood.test") for _ in range(20)]
    qs += [make_query("other%d.flood.test" % i) for i in range(5)]
    socks = []
    for q in qs:
        socks.append(udp_send(m.addr, q))
        time.sleep(0.005)  # in order: the first ones are the waiters
    t0 = time.monotonic()
    waiting = [0, 1, 2, 3, 20, 21]
    for i, (s, q) in enumerate(zip(socks, qs)):
        if i not in waiting:
            assert udp_recv(s, q, timeout=2.0).rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t0 < 2.0
    wait_metric(mport, lambda s: val(s, "minewall_fetch_overflow_total",
                                     bound="max-waiters") == 16 and
                val(s, "minewall_fetch_overflow_total", bound="max-queries") == 3 and
                val(s, "minewall_fetch_waiters") == 6, "overflows counted")
    for i in waiting:  # the waiters fail at resolve-timeout (4 s)
        assert udp_recv(socks[i], qs[i], timeout=8.0).rcode() == dns.rcode.SERVFAIL


def test_overflow_serves_stale_else_drops(make_minewall, upstream):
    """fetch.max-per-worker 4, overflow drop: with the table full, a name with an expired
    cache entry is answered stale (TTL 30, RFC 8767), a new name gets no answer; both are
    counted."""
    mport = free_port()
    m = make_minewall([upstream], config=metrics_config(
        mport, **{"max-per-worker": 4, "overflow": "drop"}))
    assert ask(m.addr, "short.test").rcode() == dns.rcode.NOERROR  # TTL 1: cached
    time.sleep(1.2)  # expired, still inside serve-stale
    upstream.set_mode("drop")
    fill = [make_query("fill%d.flood.test" % i) for i in range(4)]
    fill_socks = [udp_send(m.addr, q) for q in fill]
    wait_metric(mport, lambda s: val(s, "minewall_fetches_in_flight") == 4, "table full")

    r = ask(m.addr, "short.test", timeout=1.0)
    assert r.rcode() == dns.rcode.NOERROR
    assert [rr.ttl for rr in r.answer] == [30]

    q = make_query("over.flood.test")
    s = udp_send(m.addr, q)
    with pytest.raises(AssertionError, match="no reply"):
        udp_recv(s, q, timeout=1.0)
    wait_metric(mport, lambda s: val(s, "minewall_fetch_overflow_total",
                                     bound="max-per-worker") == 2 and
                val(s, "minewall_fetch_overflow_stale_total") == 1, "overflows counted")
    for s, q in zip(fill_socks, fill):
        assert udp_recv(s, q, timeout=8.0).rcode() == dns.rcode.SERVFAIL


class TruncatingUpstream:
    """Answers every UDP query with TC=1 and accepts TCP connections it never reads: each
    retry over TCP stays open until minewall gives up on it."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        port = self.tcp.getsockname()[1]
        self.tcp.listen(64)  # the kernel completes handshakes; nobody accepts
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", port))
        self.udp.settimeout(0.1)
        self.addr = "127.0.0.1:%d" % port
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            flags = struct.unpack("!H", data[2:4])[0] | 0x8000 | 0x0200 | 0x0080  # QR TC RA
            # Header and question only (ARCOUNT 0: the client's OPT is not echoed).
            end = 12
            while data[end]:
                end += data[end] + 1
            out = data[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + data[12:end + 5]
            self.udp.sendto(out, peer)

    def close(self):
        self.stopping.set()
        self.thread.join(2)
        self.udp.close()
        self.tcp.close()


def test_tcp_fallback_connections_are_capped(make_minewall):
    """fetch.max-tcp 2: of five truncated answers, two are retried over TCP (and hang there
    until resolve-timeout), three fail at once with SERVFAIL; counted, and the gauge shows
    two connections."""
    up = TruncatingUpstream()
    try:
        mport = free_port()
        m = make_minewall([up.addr], config=metrics_config(mport, **{"max-tcp": 2}))
        qs = [make_query("tc%d.flood.test" % i) for i in range(5)]
        socks = []
        for q in qs:
            socks.append(udp_send(m.addr, q))
            time.sleep(0.05)  # in order: the first two take the connections
        for s, q in zip(socks[2:], qs[2:]):
            assert udp_recv(s, q, timeout=2.0).rcode() == dns.rcode.SERVFAIL
        wait_metric(mport, lambda s: val(s, "minewall_fetch_overflow_total",
                                         bound="max-tcp") == 3 and
                    val(s, "minewall_upstream_tcp_connections") == 2, "max-tcp counted")
        for s, q in zip(socks[:2], qs[:2]):
            assert udp_recv(s, q, timeout=8.0).rcode() == dns.rcode.SERVFAIL
        wait_metric(mport, lambda s: val(s, "minewall_upstream_tcp_connections") == 0,
                    "TCP connections closed")
    finally:
        up.close()


def test_fetch_config_errors(tmp_path):
    """Bad fetch keys name the file and line."""
    from conftest import run_minewall
    p = tmp_path / "bad.yaml"
    p.write_text("listen: ['127.0.0.1:5399']\nupstreams: ['127.0.0.1:53']\n"
                 "fetch:\n  max-per-worker: 0\n  overflow: maybe\n")
    r = run_minewall(["--check-config", "-c", str(p)])
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "%s:4:" % p in out and "fetch.max-per-worker" in out, out
    assert "%s:5:" % p in out and "servfail or drop" in out, out


def test_cache_bytes_bounded(make_minewall, make_upstream):
    """Large answers (4 KB TXT over TCP) for many names fill the cache only up to
    cache.max-bytes: older entries are evicted, and each eviction for room is counted."""
    big = ['"%s"' % s for s in BIG_TXT]
    up = make_upstream({"*.big.test": {"TXT": big}})
    mport = free_port()
    cfg = metrics_config(mport)
    cfg["cache"] = {"max-bytes": 65536}
    m = make_minewall([up], config=cfg)
    for i in range(60):
        r = m.query("n%d.big.test" % i, "TXT", tcp=True, timeout=5.0)
        assert r.rcode() == dns.rcode.NOERROR
    s = wait_metric(mport, lambda s: val(s, "minewall_limit_hits_total",
                                         limit="cache-max-bytes") > 0,
                    "cache-max-bytes evictions counted")
    assert 0 < val(s, "minewall_cache_bytes") <= 65536
    assert val(s, "minewall_cache_entries") < 60
