"""Malformed and unsupported input: the right error rcode, or silence, and never a crash."""

import random
import socket
import struct
import time

import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rrset
import dns.update
import pytest

from conftest import addresses, make_query, rcode_of, tcp_connect, tcp_read_msg

QID = 0x4D57
QUESTION = dns.name.from_text("example.test").to_wire() + struct.pack("!HH", 1, 1)


def header(flags=0x0100, qd=1, an=0, ns=0, ar=0, qid=QID):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def assert_error_reply(data, rcode):
    assert data is not None, "no reply"
    qid, flags = struct.unpack("!HH", data[:4])
    assert qid == QID
    assert flags & 0x8000, "QR not set"
    assert rcode_of(data) == rcode, dns.rcode.to_text(rcode_of(data))


def assert_still_answers(m):
    assert addresses(m.query("example.test", timeout=3)) == ["192.0.2.1"]
    assert addresses(m.query("example.test", tcp=True, timeout=3)) == ["192.0.2.1"]


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS])
@pytest.mark.parametrize("tcp", [False, True])
def test_unsupported_opcode_notimp(mw, upstream, opcode, tcp):
    if opcode == dns.opcode.UPDATE:
        q = dns.update.UpdateMessage("test.")
        q.add("host.test.", 300, "A", "192.0.2.200")
    else:
        q = make_query("example.test", "SOA")
        q.set_opcode(opcode)
    r = mw.query("example.test", q=q, tcp=tcp)
    assert r.rcode() == dns.rcode.NOTIMP
    assert r.opcode() == opcode
    assert upstream.count("example.test") == 0
    assert all(uq.opcode == dns.opcode.QUERY for uq in upstream.received())


@pytest.mark.parametrize("tcp", [False, True])
@pytest.mark.parametrize("packet", [
    header(qd=2) + QUESTION + QUESTION,  # two questions
    header(qd=1) + b"\x07exam",  # name cut short
    header(qd=1) + QUESTION[:-2],  # class missing
    header(qd=0),  # no question
    header(qd=1) + b"\x3fabc" + b"\x00" + struct.pack("!HH", 1, 1),  # label runs past the name
], ids=["qdcount2", "truncated-name", "no-class", "qdcount0", "label-overrun"])
def test_formerr(mw, upstream, packet, tcp):
    assert_error_reply(mw.raw(packet, tcp=tcp), dns.rcode.FORMERR)
    assert upstream.count("example.test") == 0


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_zone_transfer_refused(mw, upstream, rdtype):
    r = mw.query("test", rdtype, tcp=True)
    assert r.rcode() == dns.rcode.REFUSED
    assert upstream.count("test", rdtype) == 0


def test_compression_loop_in_question(mw):
    packet = header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    data = mw.raw(packet, timeout=0.5)
    if data is not None:
        assert_error_reply(data, dns.rcode.FORMERR)
    assert_still_answers(mw)


def junk_datagrams():
    rnd = random.Random(20240601)
    response = dns.message.make_response(make_query("example.test"))
    response.answer.append(dns.rrset.from_text("example.test.", 300, "IN", "A", "6.6.6.6"))
    return {
        "one-byte": b"\x00",
        "eleven-bytes": bytes(rnd.randrange(256) for _ in range(11)),
        "response-qr1": response.to_wire(),
        "random-100": bytes(rnd.randrange(256) for _ in range(100)),
        "random-1500": bytes(rnd.randrange(256) for _ in range(1500)),
        "junk-64k": bytes(rnd.randrange(256) for _ in range(65000)),
    }


def test_junk_datagrams_survived(mw, upstream):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    with s:
        for packet in junk_datagrams().values():
            s.sendto(packet, mw.addr)
        rnd = random.Random(7)
        for _ in range(200):
            s.sendto(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600))), mw.addr)
    assert_still_answers(mw)


@pytest.mark.parametrize("name", ["one-byte", "eleven-bytes", "response-qr1"])
def test_no_reply_to_short_or_response_packets(mw, name):
    # Answering a response would let two servers loop; a runt has no header to answer.
    packet = junk_datagrams()[name]
    assert mw.raw(packet, timeout=0.5) is None
    assert_still_answers(mw)


def test_tcp_junk_survived(mw):
    rnd = random.Random(99)
    payloads = [
        struct.pack("!H", 0),  # an empty message
        struct.pack("!H", 5) + b"\x01\x02\x03\x04\x05",
        struct.pack("!H", 3000) + bytes(rnd.randrange(256) for _ in range(3000)),
        struct.pack("!H", 65535) + b"\x00" * 100,  # announced, never sent: closed by us
        b"\x00",  # half a length prefix
    ]
    for p in payloads:
        with tcp_connect(mw.addr) as s:
            s.sendall(p)
            s.settimeout(0.3)
            try:
                s.recv(65535)
            except (socket.timeout, ConnectionResetError):
                pass
    assert_still_answers(mw)


def test_tcp_reset_with_query_in_flight(mw, upstream):
    upstream.set_mode("delay:300", "r.slow.test")
    q = make_query("r.slow.test")
    w = q.to_wire()
    s = tcp_connect(mw.addr)
    s.sendall(struct.pack("!H", len(w)) + w)
    upstream.wait_for("r.slow.test")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST
    time.sleep(0.5)
    assert_still_answers(mw)


def test_error_reply_after_valid_on_same_tcp_connection(mw):
    w = make_query("example.test").to_wire()
    with tcp_connect(mw.addr) as s:
        bad = header(qd=2) + QUESTION + QUESTION
        s.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(w)) + w)
        deadline = time.monotonic() + 3
        replies = [tcp_read_msg(s, deadline) for _ in range(2)]
    rcodes = sorted(rcode_of(d) for d in replies if d)
    assert rcodes == [dns.rcode.NOERROR, dns.rcode.FORMERR], rcodes
