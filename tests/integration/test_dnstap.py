"""dnstap output read back with Debian's tools: fstrm_capture (fstrm-bin) receives the Frame
Streams on a UNIX socket or TCP, dnstap-ldns decodes the file (quiet text and YAML). A cache
miss, a hit and a blocked query give CLIENT_QUERY/CLIENT_RESPONSE and FORWARDER_QUERY/
FORWARDER_RESPONSE messages with the right names; the block's verdict is the JSON in
Dnstap.extra (read with a small protobuf reader of this file, since dnstap-ldns does not print
extra). Without a reader queries are still answered and the lost frames are counted; a reader
that comes later, or comes back, gets the frames from then on."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import ask, free_port, run_minewall, thread_names, wait_until

FSTRM_CAPTURE = shutil.which("fstrm_capture")
DNSTAP_LDNS = shutil.which("dnstap-ldns")
DNSTAP_READ = shutil.which("dnstap-read")  # BIND's (bind9-dnsutils)
pytestmark = pytest.mark.skipif(not FSTRM_CAPTURE or not DNSTAP_LDNS,
                                reason="needs fstrm-bin and dnstap-ldns")

BLOCKED = "miner.pool.test"
# Frames reach the reader within about 3 s (batch each second, fstrm's 1 s flush); readers
# started on a loaded machine take their time too.
FRAMES_WAIT_S = 15


class Capture:
    """fstrm_capture writing what it receives to a file, on a UNIX socket or a TCP port."""

    def __init__(self, out, sock=None, port=None):
        self.out = out
        args = [FSTRM_CAPTURE, "-t", "protobuf:dnstap.Dnstap", "-w", out]
        args += ["-u", sock] if sock else ["-a", "127.0.0.1", "-p", str(port)]
        self.sock, self.port = sock, port
        self.log = out + ".log"
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def listening():
            if sock:
                return os.path.exists(sock)
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_until(listening, 10, what="fstrm_capture listening")

    def stop(self):
        """SIGINT (fstrm_capture closes the file cleanly) and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def captures():
    started = []

    def make(*a, **kw):
        c = Capture(*a, **kw)
        started.append(c)
        return c
    yield make
    for c in started:
        c.stop()


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
    finally:
        c.close()
    out = {}
    for m in re.finditer(r'^(minewall_dnstap_\w+)(\{reason="(\w+)"\})? (\d+)$', body, re.M):
        out[m.group(1) + ("." + m.group(3) if m.group(3) else "")] = int(m.group(4))
    return out


def wait_metric(port, pred, what):
    last = {}

    def ok():
        nonlocal last
        last = metrics(port)
        return pred(last)
    try:
        wait_until(ok, FRAMES_WAIT_S, step=0.2, what=what)
    except AssertionError:
        raise AssertionError("%s; last dnstap metrics: %s" % (what, last))
    return last


def ldns_text(path):
    """dnstap-ldns quiet output: [(mnemonic, qname)] in file order; qname None for a message
    without a question (the harness's readiness probe sends one)."""
    res = subprocess.run([DNSTAP_LDNS, "-r", path], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = []
    for line in res.stdout.splitlines():
        m = re.search(r' (CQ|CR|FQ|FR) 127\.0\.0\.1 (UDP|TCP) \d+b (?:"([^"]+)" IN |\? \? \?)',
                      line)
        assert m, "unexpected dnstap-ldns line: %r" % line
        out.append((m.group(1), m.group(3)) if m.group(2) == "UDP" else
                   (m.group(1) + "/tcp", m.group(3)))
    return out


# --- a reader of our own for what dnstap-ldns leaves out (Dnstap.extra) ---------------------


def frames(path):
    """The data frames of a Frame Streams file (control frames skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    i, out = 0, []
    while i + 4 <= len(data):
        (n,) = struct.unpack_from("!I", data, i)
        i += 4
        if n == 0:  # escape: a control frame follows (its length, then the frame)
            (c,) = struct.unpack_from("!I", data, i)
            i += 4 + c
            continue
        out.append(data[i:i + n])
        i += n
    return out


def pb_fields(b):
    """Protobuf fields: [(number, value)], value an int or bytes."""
    i, out = 0, []

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v
    while i < len(b):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, varint()))
        elif wt == 2:
            n = varint()
            out.append((num, b[i:i + n]))
            i += n
        elif wt == 5:
            out.append((num, struct.unpack_from("<I", b, i)[0]))
            i += 4
        else:
            raise AssertionError("wire type %d" % wt)
    return out


def extras(path):
    """[(message type, extra bytes or None, dns message bytes)] of every Dnstap frame."""
    out = []
    for fr in frames(path):
        top = dict(pb_fields(fr))
        msg = dict(pb_fields(top[14]))
        out.append((msg[1], top.get(3), msg.get(10) or msg.get(14)))
    return out


def messages(path):
    """[{field number: value}] of every frame's Message (fields 1 type, 3 protocol, 4/5
    query/response address, 6/7 ports, 8/9 query time, 12/13 response time)."""
    return [dict(pb_fields(dict(pb_fields(fr))[14])) for fr in frames(path)]


LOOPBACK = socket.inet_aton("127.0.0.1")


def check_times_and_sides(path, upstream_port):
    """Responses carry their query's time (not after the response's; a forwarder response
    its FORWARDER_QUERY's); forwarder frames name minewall's socket (127.0.0.1 and its port, the same for a query and its answer over
    UDP) as the query side and the upstream as the response side."""
    msgs = messages(path)
    crs = [m for m in msgs if m[1] == 6]
    assert crs, msgs
    for m in crs:
        assert 8 in m and 9 in m, m  # query_time_sec, query_time_nsec
        assert (m[8], m[9]) <= (m[12], m[13]), m
        assert m[12] - m[8] < 30, m
    # Each CLIENT_RESPONSE answers a CLIENT_QUERY of the same client, protocol and time, with
    # the same sides; a hit's, made from its query's frame in the same callback, shares that
    # time as its response_time.
    side = (2, 3, 4, 5, 6, 7, 8, 9)
    cqs = [tuple(m.get(k) for k in side) for m in msgs if m[1] == 5]
    for m in crs:
        assert tuple(m.get(k) for k in side) in cqs, (m, cqs)
    assert any((m[8], m[9]) == (m[12], m[13]) for m in crs), crs
    fwd = [m for m in msgs if m[1] in (7, 8)]
    assert fwd, msgs
    for m in fwd:
        assert m.get(2) == 1, m  # socket_family INET
        assert m.get(4) == LOOPBACK and m.get(6, 0) > 0, m
        assert m.get(5) == LOOPBACK and m.get(7) == upstream_port, m
    # A forwarder response's query_time is its query's: the FORWARDER_QUERY's time.
    sent = {(m[3], m[6], m[8], m[9]) for m in fwd if m[1] == 7}
    for m in fwd:
        if m[1] == 8:
            assert (m[3], m[6], m[8], m[9]) in sent, (m, sent)
            assert (m[8], m[9]) <= (m[12], m[13]), m
    for proto in (1, 2):
        ports = {(m[1], m[6]) for m in fwd if m[3] == proto}
        for t, port in ports:
            if proto == 1:  # a UDP query and its answer share the socket
                assert (7 if t == 8 else 8, port) in ports, (ports, fwd)
    return msgs


def check_dnstap_read(path, listen, upstream_port):
    """BIND's dnstap-read reads the file too: each message with both sides, forwarder
    messages from minewall's own address and port to the upstream."""
    if not DNSTAP_READ:
        pytest.skip("needs dnstap-read (bind9-dnsutils)")
    res = subprocess.run([DNSTAP_READ, path], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    lst = "%s:%d" % listen
    up = "127.0.0.1:%d" % upstream_port
    pat = re.compile(r" (CQ|CR|FQ|FR) (\S+) (->|<-) (\S+) (UDP|TCP) \d+b (\S+)/IN/")
    seen = set()
    for line in lines:
        mt = pat.search(line)
        assert mt, "unexpected dnstap-read line: %r" % line
        kind, a, arrow, b, proto, name = mt.groups()
        seen.add((kind, proto, name))
        assert arrow == ("->" if kind in ("CQ", "FQ") else "<-"), line
        if kind in ("FQ", "FR"):
            assert re.fullmatch(r"127\.0\.0\.1:\d+", a) and not a.endswith(":0"), line
            assert b == up, line
        elif proto == "UDP":
            assert a.startswith("127.0.0.1:") and b == lst, line
    for kind in ("CQ", "CR", "FQ", "FR"):
        assert (kind, "UDP", "example.test") in seen, (kind, lines)


# --- tests -----------------------------------------------------------------------------------


def start(make_minewall, upstream, tmp_path, dnstap, **config):
    lst = tmp_path / "mining.txt"
    lst.write_text(BLOCKED + "\n")
    mport = free_port()
    cfg = dict(config, dnstap=dnstap, metrics={"listen": "127.0.0.1:%d" % mport},
               lists=[{"name": "mining-pools", "category": "mining", "path": str(lst),
                       "action": "nxdomain"}])
    m = make_minewall([upstream], config=cfg)
    return m, mport


def short_dir():
    # sun_path holds 107 bytes: pytest's tmp_path can be longer.
    return tempfile.mkdtemp(prefix="mwtap")


def send_mix(m):
    """A miss, a hit of the same name, a blocked name; a hit over TCP."""
    assert ask(m.addr, "example.test").rcode() == 0
    assert ask(m.addr, "example.test").rcode() == 0
    assert ask(m.addr, BLOCKED).rcode() == 3
    assert ask(m.addr, "example.test", tcp=True).rcode() == 0


def check_mix(path):
    seen = ldns_text(path)
    kinds = {k for k, _ in seen}
    assert kinds == {"CQ", "CR", "FQ", "FR", "CQ/tcp", "CR/tcp"}, seen
    assert seen.count(("CQ/tcp", "example.test.")) == 1, seen
    assert seen.count(("CR/tcp", "example.test.")) == 1, seen
    # Both queries of example.test were logged and answered; it was forwarded once.
    assert seen.count(("CQ", "example.test.")) == 2, seen
    assert seen.count(("CR", "example.test.")) == 2, seen
    assert seen.count(("FQ", "example.test.")) == 1, seen
    assert seen.count(("FR", "example.test.")) == 1, seen
    # The blocked name is answered, never forwarded.
    assert ("CQ", BLOCKED + ".") in seen and ("CR", BLOCKED + ".") in seen, seen
    assert ("FQ", BLOCKED + ".") not in seen, seen
    # YAML output: identity, version, the message types by name, addresses.
    res = subprocess.run([DNSTAP_LDNS, "-y", "-r", path], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    y = res.stdout
    for t in ("CLIENT_QUERY", "CLIENT_RESPONSE", "FORWARDER_QUERY", "FORWARDER_RESPONSE"):
        assert "type: %s" % t in y, t
    assert 'identity: "tap-test"' in y
    assert 'version: "minewall ' in y
    assert "socket_family: INET" in y and 'query_address: "127.0.0.1"' in y
    # The block's verdict in Dnstap.extra, on its CLIENT_RESPONSE only.
    ex = [(t, x) for t, x, dns in extras(path) if x is not None]
    assert len(ex) == 1, ex
    t, x = ex[0]
    assert t == 6  # CLIENT_RESPONSE
    v = json.loads(x)
    assert v == {"verdict": "block", "list": "mining-pools", "category": "mining",
                 "rule": BLOCKED, "action": "nxdomain", "where": "qname", "group": "default"}, v


def test_unix_socket_read_back(make_minewall, upstream, tmp_path, captures):
    d = short_dir()
    try:
        sock, out = os.path.join(d, "tap.sock"), str(tmp_path / "unix.fstrm")
        cap = captures(out, sock=sock)
        m, mport = start(make_minewall, upstream, tmp_path,
                         {"socket": sock, "identity": "tap-test"})
        wait_metric(mport, lambda s: s.get("minewall_dnstap_connected") == 1, "connected")
        send_mix(m)
        # 4 CQ + 4 CR + 1 FQ + 1 FR reach the reader while minewall runs.
        wait_metric(mport, lambda s: s.get("minewall_dnstap_sent_total", 0) >= 10, "10 sent")
        m.stop()
        cap.stop()
        check_mix(out)
        check_times_and_sides(out, upstream.port)
        check_dnstap_read(out, m.addr, upstream.port)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_tcp_read_back(make_minewall, upstream, tmp_path, captures):
    port = free_port()
    out = str(tmp_path / "tcp.fstrm")
    cap = captures(out, port=port)
    m, mport = start(make_minewall, upstream, tmp_path,
                     {"address": "127.0.0.1:%d" % port, "identity": "tap-test"})
    send_mix(m)
    # libfstrm's I/O thread is named for top -H as minewall's own are
    comms = thread_names(m.proc.pid)
    assert comms.count("mw-dnstap") == 1 and "mw-worker-0" in comms, comms
    # Stopping flushes what is batched to the connected reader.
    m.stop()
    cap.stop()
    check_mix(out)
    assert "127.0.0.1:%d" % port in m.log()


def test_message_types_switch(make_minewall, upstream, tmp_path, captures):
    d = short_dir()
    try:
        sock, out = os.path.join(d, "tap.sock"), str(tmp_path / "types.fstrm")
        cap = captures(out, sock=sock)
        m, _ = start(make_minewall, upstream, tmp_path,
                     {"socket": sock, "client-query": False, "forwarder-response": False})
        send_mix(m)
        m.stop()
        cap.stop()
        kinds = {k for k, _ in ldns_text(out)}
        assert kinds == {"CR", "FQ", "CR/tcp"}, kinds
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_no_reader_then_reader_comes_and_comes_back(make_minewall, upstream, tmp_path,
                                                     captures):
    d = short_dir()
    try:
        sock = os.path.join(d, "tap.sock")
        m, mport = start(make_minewall, upstream, tmp_path, {"socket": sock})
        # Nobody listens: every query is still answered, and the frames are counted lost.
        for i in range(50):
            assert ask(m.addr, "n%d.bulk.test" % i).rcode() == 0
        s = wait_metric(mport, lambda s: s.get("minewall_dnstap_dropped_total.no_reader", 0)
                        >= 200, "200 frames counted as lost without a reader")
        assert s["minewall_dnstap_connected"] == 0 and s["minewall_dnstap_sent_total"] == 0
        # A reader appears: minewall connects within its retry interval.
        out1 = str(tmp_path / "first.fstrm")
        cap1 = captures(out1, sock=sock)
        wait_metric(mport, lambda s: s.get("minewall_dnstap_connected") == 1, "connected")
        assert ask(m.addr, "first.bulk.test").rcode() == 0
        wait_metric(mport, lambda s: s.get("minewall_dnstap_sent_total", 0) >= 4, "4 sent")
        # The reader goes away and another takes its place: the next frames reconnect.
        cap1.stop()
        out2 = str(tmp_path / "second.fstrm")
        if os.path.exists(sock):
            os.unlink(sock)
        cap2 = captures(out2, sock=sock)

        def reconnected():
            ask(m.addr, "again.bulk.test")
            return metrics(mport).get("minewall_dnstap_connects_total", 0) >= 2
        wait_until(reconnected, FRAMES_WAIT_S, step=0.5, what="reconnected to the new reader")
        assert ask(m.addr, "second.bulk.test").rcode() == 0
        m.stop()
        cap2.stop()
        assert ("CQ", "first.bulk.test.") in ldns_text(out1)
        assert ("CQ", "second.bulk.test.") in ldns_text(out2)
        assert "lost the reader" in m.log()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_stalled_reader_never_stalls_queries(make_minewall, upstream, tmp_path):
    """A reader that accepts the connection and the handshake but never reads: queries are
    answered at full speed and the frames that do not fit are counted, never waited for."""
    d = short_dir()
    try:
        sock = os.path.join(d, "tap.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock)
        srv.listen(1)
        m, mport = start(make_minewall, upstream, tmp_path, {"socket": sock, "queue-size": 2})
        conn, _ = srv.accept()
        conn.settimeout(5)
        # Handshake: READY in, ACCEPT out (content type protobuf:dnstap.Dnstap), START in.
        ct = b"protobuf:dnstap.Dnstap"
        conn.recv(4096)
        accept = struct.pack("!II", 1, 1) + struct.pack("!I", len(ct)) + ct
        conn.sendall(struct.pack("!II", 0, len(accept)) + accept)
        # Then never read again. Names repeat so most queries are cache hits (fast).
        t0 = time.monotonic()
        for i in range(3000):
            assert ask(m.addr, "n%d.bulk.test" % (i % 100)).rcode() == 0
        took = time.monotonic() - t0
        wait_metric(mport, lambda s: s.get("minewall_dnstap_dropped_total.queue_full", 0) > 0
                    or s.get("minewall_dnstap_dropped_total.no_reader", 0) > 0,
                    "frames counted as lost with a stalled reader")
        assert took < 30, took
        conn.close()
        srv.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_errors(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("upstreams: [\"127.0.0.1:53\"]\n"
                 "dnstap:\n"
                 "  socket: /tmp/x.sock\n"
                 "  address: 127.0.0.1:6000\n"
                 "  queue-size: 100\n")
    res = run_minewall(["-c", str(p), "--check-config"])
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "%s:4: dnstap: give socket or address, not both" % p in err, err
    assert "%s:5: dnstap.queue-size: 100 is not a power of 2" % p in err, err
    p.write_text("upstreams: [\"127.0.0.1:53\"]\ndnstap:\n  identity: x\n")
    res = run_minewall(["-c", str(p), "--check-config"])
    assert res.returncode != 0
    assert "%s:3: dnstap: needs socket" % p in res.stderr + res.stdout
    p.write_text("upstreams: [\"127.0.0.1:53\"]\ndnstap:\n  address: nowhere\n")
    res = run_minewall(["-c", str(p), "--check-config"])
    assert "%s:3: dnstap.address: invalid address 'nowhere'" % p in res.stderr + res.stdout


def test_forwarder_tcp_fallback(make_minewall, upstream, tmp_path, captures):
    """An answer too big for UDP: the truncated UDP exchange and the TCP retry are both
    logged, each with its protocol."""
    d = short_dir()
    try:
        sock, out = os.path.join(d, "tap.sock"), str(tmp_path / "tc.fstrm")
        cap = captures(out, sock=sock)
        m, _ = start(make_minewall, upstream, tmp_path, {"socket": sock})
        r = ask(m.addr, "big.test", "TXT", tcp=True)
        assert r.rcode() == 0 and r.answer
        m.stop()
        cap.stop()
        seen = ldns_text(out)
        for kind in ("CQ/tcp", "CR/tcp", "FQ", "FR", "FQ/tcp", "FR/tcp"):
            assert (kind, "big.test.") in seen, (kind, seen)
        msgs = check_times_and_sides(out, upstream.port)
        # The TCP retry: its query and answer name the connection's own port.
        tcp = {m[1]: m[6] for m in msgs if m[1] in (7, 8) and m[3] == 2}
        assert tcp.get(7) and tcp.get(7) == tcp.get(8), msgs
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_forwarder_frames_ipv6(make_minewall, make_upstream, tmp_path, captures):
    """An IPv6 upstream: forwarder frames are INET6, from minewall's own ::1 and port (the
    route's source for a socket bound to the wildcard) to the upstream."""
    up6 = make_upstream(host="::1")
    d = short_dir()
    try:
        sock, out = os.path.join(d, "tap.sock"), str(tmp_path / "v6.fstrm")
        cap = captures(out, sock=sock)
        m = make_minewall([up6], config={"dnstap": {"socket": sock}})
        assert ask(m.addr, "example.test").rcode() == 0
        m.stop()
        cap.stop()
        fwd = [x for x in messages(out) if x[1] in (7, 8)]
        loop6 = socket.inet_pton(socket.AF_INET6, "::1")
        assert {x[1] for x in fwd} == {7, 8}, fwd
        for x in fwd:
            assert x.get(2) == 2, x  # socket_family INET6
            assert x.get(4) == loop6 and x.get(6, 0) > 0, x
            assert x.get(5) == loop6 and x.get(7) == up6.port, x
    finally:
        shutil.rmtree(d, ignore_errors=True)
