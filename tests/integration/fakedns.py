"""A small authoritative DNS server of the test suite's own that can misbehave on demand.

FakeDNS serves one zone (by default "test.") over UDP and TCP on the same loopback port, from
background threads inside the pytest process. Answers are authoritative (AA): in-zone CNAME
chains are followed, a "*.parent" record answers for the names directly under parent, unknown
names get NXDOMAIN and existing names without the asked type get NODATA, both with the zone's
SOA in the authority section. A UDP answer that does not fit the query's EDNS payload (512
without EDNS) is sent with TC=1 and empty sections; TCP answers are never truncated.

How it answers is switched at run time through `mode` (every name) and `name_modes` (per
lowercase absolute name, wins over `mode`):

    normal          as above
    drop            never answer (the query is still recorded)
    delay:<ms>      answer normally after <ms> milliseconds; other queries are not held up
    servfail        SERVFAIL
    truncate        UDP: TC=1 and no records; TCP: the full answer
    wrong-id        forged data under id+1
    wrong-question  forged data for another name under the right id
    garbage         the query's id followed by random bytes

Every query that parsed is recorded as a `Query` (in `queries`), so tests can tell what reached
the upstream. stop() closes the sockets (the port stops answering); restart() binds the same
port again.
"""

import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset

# What a misbehaving upstream claims; a test that ever sees it in a client answer failed.
FORGED_A = "198.51.100.66"
FORGED_NAME = "forged.test."

# Bounds on every blocking call of the server threads, so stop() returns promptly.
POLL_S = 0.05
JOIN_S = 2.0


@dataclass(frozen=True)
class Query:
    """One query as the fake upstream received it."""

    name: str  # as received: case kept, trailing dot
    qtype: str  # "A", "AAAA", ...
    id: int
    sport: int  # sender's source port
    tcp: bool
    edns: bool
    do: bool
    payload: int  # EDNS UDP payload size; 512 without EDNS
    opcode: int
    time: float  # time.monotonic() at arrival


def forge_response(qname, qtype="A", qid=0, address=FORGED_A, ttl=300):
    """Wire form of a response to (qname, qtype) under qid whose answer is an A record with
    `address`, as an off-path attacker or a confused server would send it."""
    q = dns.message.make_query(qname, qtype, id=qid)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.answer.append(dns.rrset.from_text(_name(qname), ttl, "IN", "A", address))
    return r.to_wire()


def send_spoofed(dest, wire, src_host="127.0.0.1", src_port=0):
    """Send `wire` as one UDP datagram to dest (host, port) from src_host:src_port (0: any
    free port, i.e. not the real upstream's). Returns the source port used."""
    with socket.socket(family(src_host), socket.SOCK_DGRAM) as s:
        s.bind((src_host, src_port))
        s.sendto(wire, dest)
        return s.getsockname()[1]


def _rtype(t):
    return dns.rdatatype.RdataType.make(t)


def _name(n):
    return n if isinstance(n, dns.name.Name) else dns.name.from_text(n)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_pair(host, port):
    """A UDP and a TCP socket bound to the same host:port; port 0 picks one free for both."""
    for _ in range(50):
        udp = socket.socket(family(host), socket.SOCK_DGRAM)
        tcp = socket.socket(family(host), socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(64)
            return udp, tcp
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
    raise OSError("no free port pair on %s" % host)


class FakeDNS:
    """An authoritative server for `origin` on host:port (port 0: a free one, fixed after the
    first start()). `records` maps a name to {type: values} where values is a list of rdata
    texts or a (ttl, list) pair; a default TTL of 300 applies to bare lists."""

    def __init__(self, records=None, origin="test.", host="127.0.0.1", port=0,
                 soa_minimum=300, soa_ttl=3600):
        self.origin = _name(origin)
        self.host = host
        self.port = port
        self.mode = "normal"
        self.name_modes = {}
        self.handlers = {}
        self._records = {}
        self._lock = threading.Lock()
        self.queries = []
        self._stopping = threading.Event()
        self._threads = []
        self._conns = []
        self._timers = []
        self._udp = self._tcp = None
        o = "" if self.origin == dns.name.root else str(self.origin)  # the root: "ns."
        self.set_record(
            self.origin, "SOA", soa_ttl,
            ["ns.%s hostmaster.%s 1 3600 600 86400 %d" % (o, o, soa_minimum)])
        self.set_record(self.origin, "NS", soa_ttl, ["ns.%s" % o])
        for name, types in (records or {}).items():
            for rdtype, values in types.items():
                ttl, values = values if isinstance(values, tuple) else (300, values)
                self.set_record(name, rdtype, ttl, values)

    # --- records and modes -------------------------------------------------------------

    def set_record(self, name, rdtype, ttl, values):
        rrset = dns.rrset.from_text_list(_name(name), ttl, "IN", _rtype(rdtype), list(values))
        with self._lock:
            self._records[(rrset.name, rrset.rdtype)] = rrset

    def del_record(self, name, rdtype):
        with self._lock:
            self._records.pop((_name(name), _rtype(rdtype)), None)

    def set_mode(self, mode, name=None):
        """Set the mode for every name, or for one name when given (None clears it)."""
        if name is None:
            self.mode = mode
        elif mode is None:
            self.name_modes.pop(str(_name(name)).lower(), None)
        else:
            self.name_modes[str(_name(name)).lower()] = mode

    def set_handler(self, name, fn):
        """Answer queries for name (any case) with fn(query) -> dns.message.Message or wire
        bytes, as an attacker's authoritative server would: any records in any section (None
        clears it). The mode still applies first (drop, delay...)."""
        key = str(_name(name)).lower()
        if fn is None:
            self.handlers.pop(key, None)
        else:
            self.handlers[key] = fn

    @property
    def addr(self):
        """host:port as minewall's config and command line write it."""
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    # --- what was received -------------------------------------------------------------

    @property
    def queries_udp(self):
        return sum(1 for q in self.received() if not q.tcp)

    @property
    def queries_tcp(self):
        return sum(1 for q in self.received() if q.tcp)

    def is_probe(self, q):
        """A health probe of minewall's (NS of the root, or of this server's origin for an
        upstream that only serves a forward zone), not a client's question."""
        return q.qtype == "NS" and q.name.lower() in (".", str(self.origin).lower())

    def received(self, name=None, qtype=None, tcp=None):
        """Recorded queries, optionally only those for name (any case), type or transport.
        Health probes count only when name is given (e.g. count(".", "NS"))."""
        with self._lock:
            qs = list(self.queries)
        if name is None:
            qs = [q for q in qs if not self.is_probe(q)]
        if name is not None:
            qs = [q for q in qs if q.name.lower() == str(_name(name)).lower()]
        if qtype is not None:
            qs = [q for q in qs if q.qtype == dns.rdatatype.to_text(_rtype(qtype))]
        if tcp is not None:
            qs = [q for q in qs if q.tcp == tcp]
        return qs

    def count(self, name=None, qtype=None, tcp=None):
        return len(self.received(name, qtype, tcp))

    def wait_for(self, name, qtype=None, n=1, timeout=3.0):
        """Wait (bounded) until n queries for name arrived; returns them, or fails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            qs = self.received(name, qtype)
            if len(qs) >= n:
                return qs
            time.sleep(0.01)
        raise AssertionError("upstream %s got %d queries for %s within %.1fs, wanted %d"
                             % (self.addr, self.count(name, qtype), name, timeout, n))

    def clear(self):
        with self._lock:
            self.queries.clear()

    # --- direct queries (what the upstream itself answers) ------------------------------

    def lookup(self, name, rdtype="A"):
        """The response this server gives to a plain TCP query (no misbehaviour, not
        recorded): the reference a forwarded answer is compared with."""
        q = dns.message.make_query(name, rdtype, use_edns=0)
        return dns.message.from_wire(self._respond(q, tcp=True))

    # --- lifecycle ------------------------------------------------------------------------

    def start(self):
        self._udp, self._tcp = _bind_pair(self.host, self.port)
        self.port = self._udp.getsockname()[1]
        self._stopping.clear()
        t = threading.Thread(target=self._serve, name="fakedns-%d" % self.port, daemon=True)
        self._threads = [t]
        t.start()
        return self

    def stop(self):
        """Close every socket; the port stops answering (UDP gets port unreachable)."""
        if self._udp is None:
            return
        self._stopping.set()
        with self._lock:
            timers, self._timers = self._timers, []
            conns, self._conns = self._conns, []
        for t in timers:
            t.cancel()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(JOIN_S)
        for s in [self._udp, self._tcp] + conns:
            s.close()
        self._udp = self._tcp = None

    def restart(self):
        self.stop()
        return self.start()

    @property
    def running(self):
        return self._udp is not None

    # --- serving --------------------------------------------------------------------------

    def _serve(self):
        udp, tcp = self._udp, self._tcp
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([udp, tcp], [], [], POLL_S)
            except (OSError, ValueError):
                return
            if udp in readable:
                try:
                    data, peer = udp.recvfrom(65535)
                except OSError:
                    continue
                self._handle(data, peer, False, lambda out, peer=peer: udp.sendto(out, peer))
            if tcp in readable:
                try:
                    conn, peer = tcp.accept()
                except OSError:
                    continue
                with self._lock:
                    self._conns.append(conn)
                t = threading.Thread(target=self._serve_conn, args=(conn, peer), daemon=True)
                self._threads.append(t)
                t.start()

    def _serve_conn(self, conn, peer):
        conn.settimeout(POLL_S)
        wlock = threading.Lock()

        def send(out):
            with wlock:
                conn.sendall(struct.pack("!H", len(out)) + out)

        buf = b""
        while not self._stopping.is_set():
            try:
                chunk = conn.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                self._handle(buf[2:2 + n], peer, True, send)
                buf = buf[2 + n:]
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, data, peer, tcp, send):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return
        if not q.question:
            return
        qname = q.question[0].name
        with self._lock:
            self.queries.append(Query(
                name=qname.to_text(), qtype=dns.rdatatype.to_text(q.question[0].rdtype),
                id=q.id, sport=peer[1], tcp=tcp, edns=q.edns >= 0,
                do=bool(q.ednsflags & dns.flags.DO), payload=q.payload if q.edns >= 0 else 512,
                opcode=q.opcode(), time=time.monotonic()))
        mode = self.name_modes.get(qname.to_text().lower(), self.mode)
        delay = 0.0
        if mode.startswith("delay:"):
            delay, mode = int(mode.split(":", 1)[1]) / 1000.0, "normal"
        out = self._misbehave(q, mode, tcp)
        if out is None:
            return

        def deliver():
            try:
                send(out)
            except OSError:
                pass

        if delay <= 0:
            deliver()
            return
        t = threading.Timer(delay, deliver)
        t.daemon = True
        with self._lock:
            self._timers.append(t)
        t.start()

    def _misbehave(self, q, mode, tcp):
        qname, qtype = q.question[0].name, q.question[0].rdtype
        if mode == "drop":
            return None
        if mode == "garbage":
            return struct.pack("!H", q.id) + random.randbytes(random.randint(10, 200))
        if mode == "wrong-id":
            return forge_response(qname, qtype, (q.id + 1) & 0xFFFF)
        if mode == "wrong-question":
            return forge_response(FORGED_NAME, "A", q.id)
        if mode == "servfail":
            r = dns.message.make_response(q, our_payload=1232)
            r.set_rcode(dns.rcode.SERVFAIL)
            return r.to_wire()
        if mode == "truncate" and not tcp:
            r = dns.message.make_response(q, our_payload=1232)
            r.flags |= dns.flags.TC | dns.flags.AA
            return r.to_wire()
        if mode not in ("normal", "truncate"):
            raise ValueError("unknown FakeDNS mode %r" % mode)
        fn = self.handlers.get(qname.to_text().lower())
        if fn is not None:
            out = fn(q)
            return out.to_wire(max_size=65535) if isinstance(out, dns.message.Message) else out
        return self._respond(q, tcp)

    # --- the authoritative part ---------------------------------------------------------

    def _find(self, name, rdtype):
        """The rrset for (name, rdtype), from a wildcard at the parent when name itself does
        not exist; (rrset or None, name exists)."""
        with self._lock:
            rr = self._records.get((name, rdtype))
            if rr is not None:
                return rr, True
            if any(n == name for n, _ in self._records):
                return None, True
            if len(name) < 2:
                return None, False
            wild = dns.name.Name((b"*",) + name.parent().labels)
            rr = self._records.get((wild, rdtype))
            exists = any(n == wild for n, _ in self._records)
        if rr is None:
            return None, exists
        synth = dns.rrset.RRset(name, rr.rdclass, rr.rdtype)
        synth.update(rr)
        return synth, True

    def _respond(self, q, tcp):
        r = dns.message.make_response(q, our_payload=1232)
        qname, qtype = q.question[0].name, q.question[0].rdtype
        if q.opcode() != dns.opcode.QUERY:
            r.set_rcode(dns.rcode.NOTIMP)
            return r.to_wire()
        if qname == dns.name.root:
            # As a recursive resolver answers minewall's health probe ". NS".
            if qtype == dns.rdatatype.NS:
                r.answer.append(dns.rrset.from_text_list(dns.name.root, 518400, "IN", "NS",
                                                         ["a.root-servers.net."]))
            return r.to_wire()
        if not qname.is_subdomain(self.origin):
            r.set_rcode(dns.rcode.REFUSED)
            return r.to_wire()
        r.flags |= dns.flags.AA
        name = qname
        for _ in range(8):  # CNAME chain, bounded
            rr, exists = self._find(name, qtype)
            if rr is not None:
                r.answer.append(rr)
                break
            cname, _ = self._find(name, dns.rdatatype.CNAME)
            if cname is None or qtype == dns.rdatatype.CNAME:
                if not exists:
                    r.set_rcode(dns.rcode.NXDOMAIN)
                r.authority.append(self._find(self.origin, dns.rdatatype.SOA)[0])
                break
            r.answer.append(cname)
            name = cname[0].target
            if not name.is_subdomain(self.origin):
                break
        wire = r.to_wire(max_size=65535)  # not the client's payload: truncation is ours
        limit = max(512, q.payload) if q.edns >= 0 else 512
        if not tcp and len(wire) > limit:
            r.answer, r.authority, r.additional = [], [], []
            r.flags |= dns.flags.TC
            wire = r.to_wire()
        return wire
