#!/usr/bin/python3
"""Write the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<harness>/.

DNS packets are real: queries written by dnspython and the responses the test suite's own
upstream (tests/integration/fakedns.py) sent back for them over loopback UDP and TCP,
captured byte for byte, next to a few hand-made edge cases. List, zone, config, HTTP, Redis,
resolv.conf and hosts seeds come from the shipped files and small samples. Run it again after
changing a format; the output is deterministic apart from the DNS message IDs.
"""

import hashlib
import os
import socket
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import fakedns  # noqa: E402


def put(harness, data, name=None):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


RECORDS = {
    "www.test.": {"A": ["192.0.2.10", "192.0.2.11"], "AAAA": ["2001:db8::10"]},
    "alias.test.": {"CNAME": ["www.test."]},
    "chain.test.": {"CNAME": ["alias.test."]},
    "c2.test.": {"CNAME": ["c2.example."]},
    "badip.test.": {"A": ["198.51.100.7"]},
    "mail.test.": {"MX": ["10 mx1.test.", "20 mx2.test."], "TXT": ['"v=spf1 -all"']},
    "srv.test.": {"SRV": ["0 5 5060 sip.test."]},
    "big.test.": {"A": ["10.0.%d.%d" % (i // 250, i % 250) for i in range(120)]},
    "*.wild.test.": {"A": ["192.0.2.99"]},
}

QUERIES = [("www.test.", "A"), ("www.test.", "AAAA"), ("WwW.TeSt.", "A"), ("alias.test.", "A"),
           ("chain.test.", "AAAA"), ("c2.test.", "A"), ("badip.test.", "A"),
           ("mail.test.", "MX"), ("mail.test.", "TXT"), ("srv.test.", "SRV"),
           ("nope.test.", "A"), ("www.test.", "NS"), ("test.", "SOA"), ("big.test.", "A"),
           ("x.wild.test.", "A"), ("test.", "NS")]


_next_id = [0x1000]


def query(name, qtype, edns, do=False):
    q = dns.message.make_query(name, qtype, use_edns=0 if edns else None, want_dnssec=do,
                               payload=1232 if edns else None)
    q.id = _next_id[0]  # fixed IDs: the same files on every run
    _next_id[0] += 1
    return q.to_wire()


# Names on the lists tests/fuzz/fuzz_common.c builds (every kind and action), so the query
# harness starts inside the filter's block paths: a fuzzer does not guess hashed names.
LISTED = [("c2.example.", "A"), ("deep.sub.bad.example.net.", "AAAA"),
          ("pool.mining.example.", "A"), ("x.ads.example.", "A"), ("ok.ads.example.", "A"),
          ("nx.example.", "A"), ("a.local.example.", "MX"), ("refused.example.", "A"),
          ("drop.example.", "A"), ("nodata.example.", "AAAA"), ("watch.example.", "A"),
          ("ok.c2.example.", "A"), ("allowed.example.", "TXT"), ("a.xmr-pool-1.com.", "A"),
          ("pool1.abc.example.", "A"), ("nx.rpz.example.", "A"), ("a.nodata.rpz.example.", "A"),
          ("drop.rpz.example.", "A"), ("pass.c2.example.", "A"), ("sink.rpz.example.", "A"),
          ("sink.rpz.example.", "AAAA"), ("redir.rpz.example.", "A"),
          ("xn--bcher-kva.example.", "A"), ("C2.EXAMPLE.", "A")]


def dns_seeds():
    up = fakedns.FakeDNS(RECORDS)
    up.start()
    try:
        responses = []
        for i, (name, qtype) in enumerate(QUERIES):
            edns = i % 3 != 0
            wq = query(name, qtype, edns, do=i % 4 == 1)
            sel = bytes([i * 37 & 0xff])
            put("dnsmsg", wq)
            put("query", sel + wq)
            put("query", bytes([sel[0] | 0x80]) + wq)
            tcp = i % 2 == 1 or name.startswith("big")
            if tcp:
                with socket.create_connection((up.host, up.port), timeout=3) as s:
                    s.sendall(struct.pack("!H", len(wq)) + wq)
                    hdr = s.recv(2, socket.MSG_WAITALL)
                    wr = s.recv(struct.unpack("!H", hdr)[0], socket.MSG_WAITALL)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(3)
                    s.sendto(wq, (up.host, up.port))
                    wr, _ = s.recvfrom(65535)
            responses.append(wr)
            put("dnsmsg", wr)
            put("response", sel + wr)
        # The journal: successive answers for one name, some changed.
        frame = lambda m: struct.pack("!H", len(m)) + m  # noqa: E731
        for i in range(0, len(responses) - 2, 3):
            put("answerdiff", b"".join(frame(m) for m in responses[i:i + 3]))
        www = [r for r, (n, t) in zip(responses, QUERIES) if n.lower() == "www.test." and t == "A"]
        up.set_record("www.test.", "A", 60, ["192.0.2.12"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(query("www.test.", "A", True), (up.host, up.port))
            changed, _ = s.recvfrom(65535)
        put("answerdiff", b"".join(frame(m) for m in www + [changed, www[0]]))
        # TCP streams: several queries pipelined, one cut short.
        qs = [query(n, t, True) for n, t in QUERIES[:6]]
        put("tcpframe", b"\x07" + b"".join(frame(q) for q in qs))
        put("tcpframe", b"\x42" + b"".join(frame(q) for q in qs)[:-5])
        put("tcpframe", b"\x01" + frame(b"") + frame(qs[0]))
    finally:
        up.stop()
    for i, (name, qtype) in enumerate(LISTED):
        wq = query(name, qtype, i % 2 == 0, do=i % 3 == 0)
        put("query", bytes([i * 29 & 0xff]) + wq)
        put("dnsmsg", wq)
    # Hand-made edge cases: EDNS version 1, an unknown opcode, a pointer loop.
    q = dns.message.make_query("a.test.", "A", use_edns=1)
    q.id = 1
    put("query", b"\x00" + q.to_wire())
    q = dns.message.make_query("a.test.", "A")
    q.id = 2
    q.set_opcode(dns.opcode.NOTIFY)
    put("query", b"\x00" + q.to_wire())
    put("response", b"\x00" + bytes.fromhex("1234818000010001000000000161000001000101c00c00010001"
                                            "0000003c0004c0000201"))


def text_seeds():
    bl = os.path.join(ROOT, "blocklists")
    samples = {
        1: "example.com\n# comment\n*.ads.example  # trailing\n10.0.0.0/8\nxn--bcher-kva.example\n",
        2: "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example\n::1 ip6-localhost\n",
        3: "[Adblock Plus 2.0]\n! title\n||ads.example^\n@@||ok.example^$important\n"
           "||x.example^$third-party\n##.banner\n||y.example/path\n/regex/\n",
        4: "address=/ads.example/0.0.0.0\nserver=/local.example/\nlocal=/lan.example/\n"
           "address=/a.example/b.example/#\nserver=/fwd.example/1.1.1.1\n",
        5: "$TTL 60\n@ SOA ns. admin. 1 3600 600 86400 60\n bad.example CNAME .\n"
           "*.bad.example CNAME *.\nsink.example A 10.0.0.1\n",
        6: "192.0.2.1\n2001:db8::/32\n10.0.0.0/8 # c2\n",
        7: "AS13335\n64500\n# comment\n",
        8: "*.xmr-pool-*.*\npool?.[a-c]*.example\n[!0-9]x.example\n",
        9: "1,google.com\n2,example.org\n",
    }
    for fmt, text in samples.items():
        put("listfile", bytes([fmt]) + text.encode())
        put("listfile", b"\x00" + text.encode())
    for f in sorted(os.listdir(bl)):
        if f.endswith(".txt"):
            with open(os.path.join(bl, f), "rb") as fh:
                lines = fh.read().splitlines(keepends=True)
            put("listfile", b"\x00" + b"".join(lines[:40]))
    zones = [
        "$ORIGIN rpz.example.\n$TTL 300\n@ IN SOA ns.rpz.example. admin.rpz.example. ( 1 3600 600 "
        "86400 60 )\n@ NS ns\nbad.example CNAME .\n*.bad.example CNAME .\nnodata.example CNAME *.\n"
        "drop.example CNAME rpz-drop.\nok.example CNAME rpz-passthru.\n"
        "sink.example A 10.0.0.1\nsink.example AAAA fd00::1\nsink.example TXT \"x\"\n"
        "redir.example CNAME walled.example.\n24.0.2.0.192.rpz-ip CNAME .\n"
        "128.1.zz.db8.2001.rpz-ip CNAME .\nns.bad.rpz-nsdname CNAME .\n",
        "$TTL 60\n@ SOA ns. admin. 1 2 3 4 5\nx.example 30 IN CNAME .\n"
        "y.example IN 30 A 192.0.2.1\n; comment\nz.example CNAME rpz-tcp-only.\n",
    ]
    for z in zones:
        put("rpz", z)
        put("listfile", b"\x05" + z.encode())
    with open(os.path.join(ROOT, "conf", "minewall.yaml"), "rb") as fh:
        put("config", fh.read())
    put("config", "listen: [127.0.0.1:53, \"[::1]:53\"]\nupstreams: [192.0.2.1, \"[2001:db8::1]:5353\"]\n"
                  "forward-zones:\n  corp.example: [10.0.0.1]\n  .: [192.0.2.53]\n"
                  "threads: 2\ncache: {size: 10, min-ttl: 5, max-ttl: 60, serve-stale: 0}\n"
                  "sinkhole: {action: nxdomain, ipv4: 0.0.0.0, ipv6: \"::\", ttl: 5}\n"
                  "redis: {url: \"redis://:pw@127.0.0.1:6379/2\", lists: [\"*\"]}\n"
                  "journal: {track: listed, watch: [/etc/resolv.conf, /etc/hosts]}\n"
                  "rate-limit: {action: refused}\nmetrics: {listen: 127.0.0.1:9153}\n"
                  "lists:\n  - {name: a, category: c2, path: /x, format: rpz, action: drop}\n")
    put("config", "threads: 0\nlisten: bad\nlists: [{name: a}]\ncache: {size: -1}\n")
    for r in ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
              "HEAD / HTTP/1.0\r\n\r\n",
              "\r\nGET /status?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n"
              "Host: a\r\n\r\n",
              "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
              "GET http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
              "GET / HTTP/2.0\r\n\r\n"]:
        put("http", r)

    def bulk(s):
        s = s.encode() if isinstance(s, str) else s
        return b"$%d\r\n%s\r\n" % (len(s), s)

    def arr(*items):
        return b"*%d\r\n" % len(items) + b"".join(items)

    rec = lambda i, op, e: arr(bulk(i), arr(bulk("op"), bulk(op), bulk("entries"), bulk(e)))  # noqa
    put("redis", b"\x00" + arr(bulk("category"), bulk("c2"), bulk("action"), bulk("nxdomain"),
                               bulk("type"), bulk("domain"), bulk("updated"), bulk("1700000000")))
    put("redis", b"\x00" + arr(bulk("0"), arr(bulk("a.example"), bulk("b.example"), b":3\r\n")))
    put("redis", b"\x01" + arr(bulk("17"), arr(bulk("10.0.0.0/8"), bulk("192.0.2.1"))))
    put("redis", b"\x00" + arr(arr(bulk("minewall:list:x:log"),
                                   arr(rec("1-1", "add", "a.example b.example"),
                                       rec("1-2", "del", "a.example"), b"$-1\r\n"))))
    put("redis", b"\x00" + arr(bulk("last-generated-id"), bulk("5-1"), bulk("first-entry"),
                               arr(bulk("2-0"), arr())) + b"-ERR no such key\r\n+OK\r\n:1\r\n")
    put("redis", b"\x02" + arr(arr(bulk("1-0"), arr())) + arr(bulk("0"), arr(bulk("AS13335"))))
    put("rlist", "\x00a.example\n*.b.example\nbad!\n--\nadd c.example d.example\ndel a.example\n"
                 "add e.example")
    put("rlist", "\x01" + "10.0.0.0/8\n192.0.2.1\n--\nadd 2001:db8::/32\ndel 10.0.0.0/8\n")
    put("rlist", "\x02" + "AS13335\n--\nadd AS64500 as64501\n")
    put("hostfile", "# resolv.conf\nnameserver 127.0.0.1\nnameserver ::1\nsearch x\n"
                    "options edns0\n\n====\nnameserver 8.8.8.8\nnameserver fe80::1%eth0\n")
    put("hostfile", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.1 pool.example "
                    "Alias.example # c\n\n====\n127.0.0.1 localhost pool.rival.example\n"
                    "192.0.2.2 pool.example\nbad line\n")
    put("hostfile", "nameserver 127.0.0.53\r\n;x\r\nnameserver 300.1.1.1\r\n")
    for u in ["redis://127.0.0.1:6379/0", "redis://:secret@localhost", "redis://u:p%40ss@[::1]:7000/3",
              "redis://h:0", "redis://[::1", "http://x"]:
        put("redisurl", u)


if __name__ == "__main__":
    dns_seeds()
    text_seeds()
