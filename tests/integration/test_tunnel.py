"""DNS tunnel detection (detect.tunnel) with the real tunnel tools from Debian, and no detection
on benign traffic.

Real tools (netns_tunnel.py, in a network namespace of the test's own, since minewall must
listen on port 53 for clients that take no port and iodine makes tun devices): iodined and
dns2tcpd are the authorities of test zones reached through minewall's forward-zones; iodine
and dns2tcpc use minewall as their resolver. Each must be detected within 200 queries and
30 s of the client's start, the detection must be a block-log line with its features and a
count in minewall_detections_total{detector="tunnel"}, and with a blocking action the client's
later queries under the registered domain get the blocked answer with EDE 17 (Filtered) while
another client's do not. With action log the tunnel keeps working: iodine logs in and carries
datagrams both ways, dns2tcp authenticates (which needs the client's case forwarded as
written) and echoes lines back.

Benign replays (plain loopback): every name of the Tranco and Umbrella lists in their order
from one client against a fake upstream that answers everything, and names with hashed labels
under CDN and telemetry domains, each faster than such clients ask: no detection."""

import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import BIN, blocks, free_port, wait_until
from mwbench.dnswire import dns_packet
from test_ops import scrape, val

HELPER = os.path.join(os.path.dirname(__file__), "netns_tunnel.py")
BENIGN = os.environ.get("MINEWALL_BENIGN_DIR", os.path.normpath(
    os.path.join(os.environ.get("MINEWALL_SRCDIR", "."), "..", "..", "shared", "data", "benign")))
if not os.path.isdir(BENIGN):
    BENIGN = "/work/shared/data/benign"
TOOLS = {"iodine": ("iodine", "iodined"), "dns2tcp": ("dns2tcpc", "dns2tcpd")}
ZONES = {"iodine": "tun.test", "dns2tcp": "d2t.test"}
EDE_FILTERED = 17


def netns_ok():
    return (os.geteuid() == 0 and shutil.which("unshare") and shutil.which("nsenter")
            and shutil.which("ip") and os.path.exists("/dev/net/tun"))


def run_tool(tmp_path, tool, action):
    missing = [b for b in TOOLS[tool] if not shutil.which(b)]
    if missing:
        pytest.skip("%s not installed (Debian package %s)" % (", ".join(missing), tool))
    if not netns_ok():
        pytest.skip("needs root, unshare, nsenter, ip and /dev/net/tun")
    r = subprocess.run(["unshare", "-n", sys.executable, HELPER, BIN, str(tmp_path), tool,
                        action], capture_output=True, text=True, timeout=55)
    logs = {}
    for n in ("minewall", "server", "client"):
        p = tmp_path / ("tunnel-%s.log" % n)
        logs[n] = p.read_text(errors="replace")[-3000:] if p.exists() else ""
    assert r.returncode == 0, (r.stderr, logs)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["logs"] = logs
    print("tunnel figures:", json.dumps({k: v for k, v in out.items()
                                         if k not in ("logs", "block")}),
          (out.get("block") or {}).get("matched"))
    assert out["minewall_exit"] == 0, out
    return out


def assert_detected(out, tool, action):
    assert out["detected"], out
    assert out["seconds"] <= 30, out
    assert out["queries_features"] <= 200, out
    assert 0 < out["queries_metrics"] <= 200, out
    assert out["detections"] >= 1, out
    b = out["block"]
    assert b["list"] == "tunnel" and b["category"] == "detect", b
    assert b["rule"] == "tunnel:" + ZONES[tool], b
    assert b["action"] == action, b
    assert b["client"] == "127.0.0.1", b
    for feature in ("score=", "queries=", "distinct=", "rate=", "len=", "entropy=", "encoded=",
                    "types=", "up=", "down="):
        assert feature in b["matched"], b


@pytest.mark.parametrize("tool", ["iodine", "dns2tcp"])
def test_real_tunnel_detected_and_blocked(tmp_path, tool):
    out = run_tool(tmp_path, tool, "refused")
    assert_detected(out, tool, "refused")
    # The registered domain is blocked for the tunnel's client, with EDE 17; not for others.
    assert out["after_same_client"] == {"rcode": "REFUSED", "ede": EDE_FILTERED}, out
    assert out["after_other_client"].get("ede") != EDE_FILTERED, out


@pytest.mark.parametrize("tool", ["iodine", "dns2tcp"])
def test_real_tunnel_works_through_minewall_with_action_log(tmp_path, tool):
    out = run_tool(tmp_path, tool, "log")
    assert_detected(out, tool, "log")
    assert out["carried"], out  # dns2tcp authenticates: the client's case reaches dns2tcpd
    assert out["after_same_client"].get("ede") != EDE_FILTERED, out


# --- benign traffic --------------------------------------------------------------------------


class AnswerAll:
    """A loopback upstream that answers every question: A 192.0.2.1 for A, NODATA else."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001 - not ours to judge
                continue
            r = dns.message.make_response(q)
            qq = q.question[0]
            if qq.rdtype == dns.rdatatype.A:
                r.answer.append(dns.rrset.from_text(qq.name, 60, "IN", "A", "192.0.2.1"))
            self.sock.sendto(r.to_wire(), peer)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def answer_all():
    a = AnswerAll()
    yield a
    a.close()


def replay(mw, names, window=64):
    """Ask every (name, type) from one client socket, window queries in flight; returns the
    number answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    host, port = mw.addr
    answered = 0
    pending = {}
    it = iter(enumerate(names))
    done = False
    while not done or pending:
        while not done and len(pending) < window:
            try:
                i, (name, rdtype) = next(it)
            except StopIteration:
                done = True
                break
            q = dns.message.make_query(name, rdtype)
            q.id = i & 0xffff
            s.sendto(q.to_wire(), (host, port))
            pending[q.id] = name
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break  # what is still pending is lost; the caller checks the count
        qid = int.from_bytes(data[:2], "big")
        if pending.pop(qid, None) is not None:
            answered += 1
    s.close()
    return answered


def benign_names():
    """Every name of both benign lists, in the lists' order (Tranco's top 50k, then Umbrella's
    top 100k), without repeats: 139,127 names."""
    names = []
    with open(os.path.join(BENIGN, "tranco-top-50k.csv")) as f:
        names += [ln.strip().split(",", 1)[1] for ln in f if "," in ln]
    with open(os.path.join(BENIGN, "umbrella-top-100k.txt")) as f:
        names += [ln.strip() for ln in f if ln.strip()]
    seen, out = set(), []
    for n in names:
        n = n.lower().rstrip(".")
        if n and n not in seen and all(0 < len(x) < 64 for x in n.split(".")):
            seen.add(n)
            out.append(n)
    return out


def fast_upstream(sock, stop):
    """The loopback upstream of the full replay, without dnspython (which would halve its
    rate): A 192.0.2.1 (a compression pointer to the question) for A, NODATA else."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except socket.timeout:
            continue
        except OSError:
            return
        end = 12
        while end < len(data) and data[end]:
            end += 1 + data[end]
        end += 5
        if len(data) < end:
            continue
        qtype = struct.unpack("!H", data[end - 4:end - 2])[0]
        an = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, bytes([192, 0, 2, 1]))
        hdr = data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
        sock.sendto(hdr + data[12:end] + (an if qtype == 1 else b""), peer)


def replay_fast(port, queries, window=128, timeout=2.0):
    """Send every (name, qtype) from one client socket as fast as answers come back (window in
    flight); returns the number answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.connect(("127.0.0.1", port))
    s.settimeout(timeout)
    inflight, answered, nxt = set(), 0, 0
    while nxt < len(queries) or inflight:
        while nxt < len(queries) and len(inflight) < window:
            qid = nxt & 0xFFFF
            name, qtype = queries[nxt]
            s.send(dns_packet(qid, name, qtype))
            inflight.add(qid)
            nxt += 1
        try:
            qid = struct.unpack("!H", s.recv(4096)[:2])[0]
        except socket.timeout:
            break  # what is still in flight is lost; the caller checks the count
        if qid in inflight:
            inflight.discard(qid)
            answered += 1
    s.close()
    return answered


def start_detector(make_minewall, upstream, tmp_path):
    port = free_port()
    m = make_minewall([upstream.addr], config={
        "metrics": {"listen": "127.0.0.1:%d" % port},
        "log": {"blocks": str(tmp_path / "blocks.jsonl")},
        "detect": {"tunnel": {"action": "refused"}},
    })
    m.metrics_port = port
    return m


def no_detection(m, tmp_path):
    samples, _ = scrape(m.metrics_port)
    tunnel = [b for b in blocks(str(tmp_path / "blocks.jsonl")) if b["list"] == "tunnel"]
    assert not tunnel, tunnel[:3]
    assert val(samples, "minewall_detections_total", detector="tunnel") == 0


@pytest.mark.skipif(not os.path.isdir(BENIGN), reason="no benign lists at %s" % BENIGN)
def test_no_detection_on_tranco_and_umbrella(make_minewall, tmp_path):
    """The whole of both benign lists in their order from one client, as fast as minewall
    answers (some 40,000 queries a second here): far above any client's rate, so that hashed
    names under one registered domain (Windows' TPM attestation hosts
    stm-keyid-<40 hex>.microsoftaik.azure.net, load balancers <name>-<hash>.elb.*.amazonaws.com)
    come as bursts. Browsers ask A and AAAA, newer ones HTTPS too, a few TXT (verification,
    SPF): every name A, one in 8 also AAAA, one in 32 HTTPS, one in 64 TXT."""
    names = benign_names()
    assert len(names) > 130000
    queries = []
    for i, n in enumerate(names):
        queries.append((n, 1))
        for every, qtype in ((8, 28), (32, 65), (64, 16)):
            if i % every == every - 1:
                queries.append((n, qtype))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))
    stop = threading.Event()
    t = threading.Thread(target=fast_upstream, args=(up, stop), daemon=True)
    t.start()
    try:
        port = free_port()
        m = make_minewall(["127.0.0.1:%d" % up.getsockname()[1]], config={
            "metrics": {"listen": "127.0.0.1:%d" % port},
            "log": {"blocks": str(tmp_path / "blocks.jsonl")},
            "detect": {"tunnel": {"action": "refused"}},
        })
        m.metrics_port = port
        got = replay_fast(m.addr[1], queries)
        assert got >= len(queries) * 0.99, (got, len(queries))
        # The workers publish once a second: wait until every answer is counted, then look.
        wait_until(lambda: val(scrape(port)[0], "minewall_queries_total") >= got, 10,
                   what="answers counted")
        no_detection(m, tmp_path)
    finally:
        stop.set()
        t.join(2)
        up.close()


def telemetry_names(rng, n):
    """Hashed labels as telemetry, crash reporting and CDN clients write them."""
    hexd = "0123456789abcdef"

    def h(k):
        return "".join(rng.choice(hexd) for _ in range(k))

    def uuid():
        return "-".join(h(k) for k in (8, 4, 4, 4, 12))
    shapes = [
        lambda: "%s.events.data.microsoft.com" % h(32),
        lambda: "v10.%s.vortex.data.microsoft.com" % h(40),
        lambda: "%s.ingest.sentry.io" % uuid(),
        lambda: "o%d.ingest.%s.sentry.io" % (rng.randrange(10**6), h(12)),
        lambda: "%s.s3.amazonaws.com" % h(40),
        lambda: "%s-%d.us-east-1.elb.amazonaws.com" % (h(32), rng.randrange(10**9)),
        lambda: "d%s.cloudfront.net" % h(13),
        lambda: "e%d.dscx.akamaiedge.net" % rng.randrange(10**5),
        lambda: "%s.safeframe.googlesyndication.com" % h(32),
        lambda: "fp-%s.firebaseio.com" % h(24),
        lambda: "%s.app-measurement.com" % h(32),
        lambda: "%s.clients.fastly-insights.com" % h(40),
    ]
    return [(shapes[i % len(shapes)](), "A" if i % 3 else "AAAA") for i in range(n)]


def test_no_detection_on_hashed_telemetry_and_cdn_names(make_minewall, answer_all, tmp_path):
    """1,200 names, 100 under each of 12 domains, in a few seconds: far above the rate of a
    telemetry client, and every label a hash."""
    m = start_detector(make_minewall, answer_all, tmp_path)
    names = telemetry_names(random.Random(1414), 1200)
    got = replay(m, names, window=16)
    assert got >= len(names) * 0.99
    wait_until(lambda: val(scrape(m.metrics_port)[0], "minewall_queries_total") >= got, 10,
               what="answers counted")
    no_detection(m, tmp_path)


def b32(rng, n):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(n))


def test_synthetic_tunnel_blocked_logged_and_in_redis(make_minewall, answer_all, redis_server,
                                                      tmp_path):
    """A tunnel's shape on plain loopback (TXT queries with base32 labels, as dnscat2 or a
    script would send): detected, the registered domain blocked for this client only (other
    names of it too, cache hits included), one block-log line and one Redis event with the
    features, counted in /metrics."""
    rs = redis_server()
    port = free_port()
    blog = tmp_path / "blocks.jsonl"
    m = make_minewall([answer_all.addr], config={
        "redis": {"url": rs.url, "lists": ["unused"], "state-dir": str(tmp_path / "st")},
        "metrics": {"listen": "127.0.0.1:%d" % port},
        "log": {"blocks": str(blog)},
        "detect": {"tunnel": {"action": "nxdomain", "block-for": "1h"}},
    })
    # A name of the domain cached before the tunnel starts.
    r = m.query("www.exfil.example", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    rng = random.Random(7)
    blocked_at = None
    for i in range(200):
        name = "%s.%s.exfil.example" % (b32(rng, 50), b32(rng, 40))
        r = m.query(name, "TXT")
        if r.rcode() == dns.rcode.NXDOMAIN:
            blocked_at = i + 1
            break
        assert r.rcode() == dns.rcode.NOERROR, r
    assert blocked_at is not None and blocked_at <= 60, blocked_at
    # Blocked: new names, and the cached one, with EDE 17 and the detector's text.
    for name, rdtype in (("www.exfil.example", "A"), ("x.y.exfil.example", "TXT")):
        r = m.query(name, rdtype)
        assert r.rcode() == dns.rcode.NXDOMAIN, r
        assert any(o.otype == 15 and getattr(o, "code", None) == EDE_FILTERED
                   for o in r.options), r
    # Another client (another loopback address) is not blocked.
    q = dns.message.make_query("www.exfil.example", "A")
    other = dns.query.udp(q, m.addr[0], port=m.addr[1], timeout=3, source="127.0.0.9")
    assert other.rcode() == dns.rcode.NOERROR and other.answer
    # One detection line with its features, then "blocked after a detection" lines.
    wait_until(lambda: any(b["list"] == "tunnel" for b in blocks(str(blog))), 5,
               what="block log line")
    lines = [b for b in blocks(str(blog)) if b["list"] == "tunnel"]
    det = [b for b in lines if b["matched"].startswith("score=")]
    assert len(det) == 1, lines
    assert det[0]["rule"] == "tunnel:exfil.example" and det[0]["qtype"] == "TXT", det
    assert "types=100%" in det[0]["matched"] and "encoded=100%" in det[0]["matched"], det
    assert any(b["matched"] == "blocked after a detection" for b in lines), lines
    # The Redis blocks stream has the detection with the same features.

    def events():
        return [f for _, f in rs.client.xrange("minewall:events:blocks")
                if f.get("list") == "tunnel"]
    wait_until(lambda: any(e["matched"].startswith("score=") for e in events()), 5,
               what="tunnel event in Redis")
    ev = next(e for e in events() if e["matched"].startswith("score="))
    assert ev["rule"] == "tunnel:exfil.example" and ev["category"] == "detect", ev
    assert ev["action"] == "nxdomain" and ev["client"] == "127.0.0.1", ev
    samples = wait_until(
        lambda: (lambda s: s if val(s, "minewall_detections_total", detector="tunnel") == 1
                 else None)(scrape(port)[0]), 5, what="detection counted")
    assert val(samples, "minewall_tunnel_blocked_total") >= 2
    assert val(samples, "minewall_blocks_total", list="tunnel") >= 3


def test_tunnel_group_action(make_minewall, answer_all, tmp_path):
    """A group's `actions:` overrides the detector's action for its clients (list name
    `tunnel`): the same tunnel shape from a client of a group with `actions: {tunnel:
    nxdomain}` is cut, from a client of the default group (action log) it only logs."""
    blog = tmp_path / "blocks.jsonl"
    m = make_minewall([answer_all.addr], config={
        "log": {"blocks": str(blog)},
        "groups": {"strict": {"clients": ["127.0.0.2/32"], "actions": {"tunnel": "nxdomain"}}},
    })
    rng = random.Random(11)

    def run(source, domain):
        for i in range(200):
            name = "%s.%s.%s" % (b32(rng, 50), b32(rng, 40), domain)
            q = dns.message.make_query(name, "TXT")
            r = dns.query.udp(q, m.addr[0], port=m.addr[1], timeout=3, source=source)
            if r.rcode() == dns.rcode.NXDOMAIN:
                return i + 1
            assert r.rcode() == dns.rcode.NOERROR, r
        return None

    assert run("127.0.0.1", "logged.example") is None  # default group: alert only
    blocked_at = run("127.0.0.2", "cut.example")
    assert blocked_at is not None and blocked_at <= 60, blocked_at
    q = dns.message.make_query("www.cut.example", "A")
    r = dns.query.udp(q, m.addr[0], port=m.addr[1], timeout=3, source="127.0.0.2")
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    wait_until(lambda: len([b for b in blocks(str(blog)) if b["list"] == "tunnel"
                            and b["matched"].startswith("score=")]) == 2, 5,
               what="two detections")
    det = {b["rule"]: (b["action"], b.get("group")) for b in blocks(str(blog))
           if b["list"] == "tunnel" and b["matched"].startswith("score=")}
    assert det == {"tunnel:logged.example": ("log", "default"),
                   "tunnel:cut.example": ("nxdomain", "strict")}, det
