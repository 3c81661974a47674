"""A minimal DNS client on loopback without dnspython: build a query packet, send one and read
the rcode. Enough for readiness checks and the bench's own query loops."""

import random
import socket
import struct
import time

RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED'}


def dns_packet(qid, qname, qtype=1):
    """A query for (qname, qtype, IN) with RD set, in wire form."""
    wire = b''.join(bytes([len(l)]) + l.encode() for l in qname.rstrip('.').split('.')) + b'\0'
    return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack('!HH', qtype, 1)


def dns_query(port, qname, qtype=1, timeout=0.5):
    """Send one UDP query to 127.0.0.1:port. Returns (rcode, ancount) or None on timeout."""
    qid = random.randrange(65536)
    pkt = dns_packet(qid, qname, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(('127.0.0.1', port))  # connected: a closed port fails at once (ICMP)
        try:
            s.send(pkt)
        except ConnectionRefusedError:
            return None
        deadline = time.monotonic() + timeout
        while True:
            try:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                data = s.recv(4096)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(data) >= 12 and struct.unpack('!H', data[:2])[0] == qid:
                flags, _, ancount = struct.unpack('!HHH', data[2:8])
                return flags & 0xF, ancount
            if time.monotonic() >= deadline:
                return None
