"""DNS over TLS to upstreams (tls://ADDR[:PORT][#AUTH-NAME], tls: {ca-file, pins}) against a
real Unbound from Debian serving DoT on loopback (tls-port, tls-service-key/pem) with a local
zone, so no internet is needed. The suite makes its own PKI with the openssl command: a test
CA, a certificate for dns.test (and 127.0.0.1) signed by it, one for a wrong name, an expired
one, and a self-signed one.

Strictness: a certificate that fails verification (wrong name, unknown CA, self-signed,
expired, a pin that matches nothing) is a failed upstream: the client gets SERVFAIL, the
verification-failure metric moves, and nothing is ever asked in clear text (a plain UDP
listener on the DoT port and on port 53 of the same address counts what reaches it).
Reuse: many queries over one or two handshakes, seen both in minewall's metrics and in
Unbound's own counters (num.query.tls through unbound-control over a UNIX socket)."""

import os
import socket
import subprocess
import threading
import time

import dns.message
import dns.rcode
import pytest

from conftest import addresses, free_port, run_minewall, wait_until
from test_ops import scrape, val
from tlslib import ANSWER, OPENSSL, UNBOUND, make_unbound, pki  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not os.path.exists(UNBOUND) or not os.path.exists(OPENSSL),
                                reason="unbound and openssl are needed (tools/setup)")


class PlainTrap:
    """UDP and TCP listeners for clear-text DNS: count every datagram and connection. Bound
    to the DoT port over UDP (Unbound has do-udp: no) and to port 53 when it is free."""

    def __init__(self, ports):
        self.hits = 0
        self.socks = []
        self._stop = threading.Event()
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                s.close()
                continue
            s.settimeout(0.1)
            self.socks.append(s)
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True)
                        for s in self.socks]
        for t in self.threads:
            t.start()

    def _run(self, s):
        while not self._stop.is_set():
            try:
                s.recvfrom(4096)
                self.hits += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(2)
        for s in self.socks:
            s.close()


def start_mw(make_minewall, pki, upstream, **tls):
    mport = free_port()
    # Health probes (over TLS too) once at start and then not for an hour: Unbound's query
    # count is then the client queries plus that one probe (probes()).
    cfg = {"upstream-timeout": 1500, "resolve-timeout": 3000,
           "health-check": {"interval": 3600000},
           "tls": dict({"ca-file": pki.ca}, **tls),
           "metrics": {"listen": "127.0.0.1:%d" % mport}}
    m = make_minewall([upstream], config=cfg)
    return m, mport


def probes(mport, label):
    """Health probes sent to label (they reach Unbound as TLS queries too)."""
    return val(scrape(mport)[0], "minewall_upstream_probes_total", upstream=label)


def tls_metric(mport, name, label):
    s, _ = scrape(mport)
    return val(s, "minewall_upstream_tls_" + name, upstream=label)


def wait_tls_metric(mport, name, label, pred, what):
    return wait_until(lambda: pred(tls_metric(mport, name, label)), 5, what=what)


def test_dot_answers_and_reuses_connection(make_minewall, make_unbound, pki):
    u = make_unbound(pki.good)
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port)
    r = m.query("a.dot.test", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r
    n = 40
    for i in range(n):
        r = m.query("h%d.bulk.dot.test" % i, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r
    # Every query went over TLS to Unbound, over one or two handshakes.
    wait_tls_metric(mport, "queries_total", label, lambda v: v == n + 1, "tls queries counted")
    st = u.stats()
    assert int(st.get("num.query.tls", 0)) == n + 1 + probes(mport, label), st
    hs = tls_metric(mport, "handshakes_total", label)
    assert 1 <= hs <= 2, hs
    assert tls_metric(mport, "reused_queries_total", label) >= n + 1 - hs
    assert tls_metric(mport, "verify_failures_total", label) == 0
    assert tls_metric(mport, "connections", label) >= 1
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_queries_total", upstream=label) == n + 1
    assert val(s, "minewall_upstream_up", upstream=label) == 1


def test_dot_pipelines_concurrent_queries(make_minewall, make_unbound, pki):
    """Queries sent at once share the pool (at most tls.max-connections connections) and
    every answer reaches its own client, whatever order Unbound answers in."""
    u = make_unbound(pki.good)
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port,
                        **{"max-connections": 2})
    assert m.query("a.dot.test", timeout=5).rcode() == dns.rcode.NOERROR
    socks = []
    qs = []
    for i in range(30):
        q = dns.message.make_query("p%d.bulk.dot.test" % i, "A")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(q.to_wire(), m.addr)
        socks.append(s)
        qs.append(q)
    for q, s in zip(qs, socks):
        data, _ = s.recvfrom(4096)
        r = dns.message.from_wire(data)
        assert r.id == q.id and r.question == q.question, r
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r
        s.close()
    wait_tls_metric(mport, "queries_total", label, lambda v: v == 31, "tls queries counted")
    assert tls_metric(mport, "handshakes_total", label) <= 2
    assert int(u.stats().get("num.query.tls", 0)) == 31 + probes(mport, label)


def test_dot_without_name_checks_the_address(make_minewall, make_unbound, pki):
    """No #AUTH-NAME: the certificate must carry the IP address (the good one does)."""
    u = make_unbound(pki.good)
    m, _ = start_mw(make_minewall, pki, "tls://127.0.0.1:%d" % u.port)
    r = m.query("a.dot.test", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r


@pytest.mark.parametrize("case", ["wrong-name-asked", "wrong-name-cert", "self-signed",
                                  "expired", "unknown-ca"])
def test_dot_verification_failure_is_refused(make_minewall, make_unbound, pki, case):
    cert = {"wrong-name-cert": pki.wrong, "self-signed": pki.selfsigned,
            "expired": pki.expired}.get(case, pki.good)
    u = make_unbound(cert)
    name = "wrong.test" if case == "wrong-name-asked" else "dns.test"
    label = "tls://127.0.0.1:%d" % u.port
    trap = PlainTrap([u.port, 53])
    try:
        tls = {}
        if case == "unknown-ca":
            tls["ca-file"] = pki.selfsigned[1]  # trusts only the self-signed certificate
        m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#%s" % (u.port, name), **tls)
        for i in range(3):
            r = m.query("v%d.bulk.dot.test" % i, timeout=6)
            assert r.rcode() == dns.rcode.SERVFAIL, r
        wait_tls_metric(mport, "verify_failures_total", label, lambda v: v >= 1,
                        "verification failure counted")
        assert tls_metric(mport, "handshakes_total", label) == 0
        assert trap.hits == 0, "a query went out in clear text"
        assert int(u.stats().get("num.query.tls", 0)) == 0
        assert "certificate verification failed" in m.log()
    finally:
        trap.stop()


def test_dot_pin(make_minewall, make_unbound, pki):
    u = make_unbound(pki.good)
    good_pin = pki.pin(pki.good[1])
    m, _ = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port,
                    pins={"dns.test": [good_pin]})
    r = m.query("a.dot.test", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r
    # The CA's key is in the verified chain too: a pin of it works as well.
    m2, _ = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port,
                     pins={"dns.test": [pki.pin(pki.ca)]})
    assert m2.query("a.dot.test", timeout=5).rcode() == dns.rcode.NOERROR


def test_dot_wrong_pin_is_refused(make_minewall, make_unbound, pki):
    u = make_unbound(pki.good)
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port,
                        pins={"dns.test": [pki.pin(pki.wrong[1])]})
    r = m.query("a.dot.test", timeout=6)
    assert r.rcode() == dns.rcode.SERVFAIL, r
    wait_tls_metric(mport, "verify_failures_total", label, lambda v: v >= 1,
                    "pin failure counted")
    assert "no certificate of the chain matches a pin" in m.log()


def test_dot_session_resumed_after_reconnect(make_minewall, make_unbound, pki):
    """tls.idle-timeout closes the connection; the next query resumes the session."""
    u = make_unbound(pki.good)
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port,
                        **{"idle-timeout": 1})
    assert m.query("a.dot.test", timeout=5).rcode() == dns.rcode.NOERROR

    def closed():
        s, _ = scrape(mport)
        return (val(s, "minewall_upstream_tls_queries_total", upstream=label) == 1 and
                val(s, "minewall_upstream_tls_connections", upstream=label) == 0)

    wait_until(closed, 5, what="idle connection closed")
    assert m.query("r1.bulk.dot.test", timeout=5).rcode() == dns.rcode.NOERROR
    wait_tls_metric(mport, "handshakes_total", label, lambda v: v == 2, "second handshake")
    assert tls_metric(mport, "resumptions_total", label) == 1
    # Unbound saw it too: the query came over a resumed session.
    assert int(u.stats().get("num.query.tls.resume", 0)) >= 1


def test_dot_in_forward_zone_and_plain_default(make_minewall, make_unbound, make_upstream, pki):
    u = make_unbound(pki.good)
    plain = make_upstream()
    mport = free_port()
    m = make_minewall([plain], config={
        "forward-zones": {"dot.test": ["tls://127.0.0.1:%d#dns.test" % u.port]},
        "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    r = m.query("a.dot.test", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r
    assert plain.count("a.dot.test") == 0
    r = m.query("example.test", timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"], r
    # One client query, and the probes ("dot.test NS": a zone-only upstream).
    assert int(u.stats().get("num.query.tls", 0)) == 1 + probes(mport,
                                                                "tls://127.0.0.1:%d" % u.port)


def test_dot_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""upstreams:
  - "tls://127.0.0.1:853#dns.test"
  - "tls://[::1]:853#bad..name"
  - "tls://999.0.0.1#dns.test"
  - "tls://127.0.0.1:853#other.test"
tls:
  pins:
    dns.test: ["not base64"]
  max-connections: 0
""")
    r = run_minewall(["-c", str(bad), "--check-config"])
    assert r.returncode != 0
    err = r.stdout + r.stderr
    path = str(bad)
    assert "%s:3: upstreams: invalid address 'tls://[::1]:853#bad..name'" % path in err, err
    assert "%s:4: upstreams: invalid address 'tls://999.0.0.1#dns.test'" % path in err, err
    assert "%s:5:" % path in err and "another authentication name than line 2" in err, err
    assert "%s:8: tls.pins: invalid pin 'not base64'" % path in err, err
    assert "%s:9:" % path in err and "max-connections" in err, err


def test_dot_check_config_reports_unreadable_ca_file(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("""upstreams: ["tls://127.0.0.1:853#dns.test"]
tls:
  ca-file: %s
user: root
""" % (tmp_path / "missing.pem"))
    r = run_minewall(["-c", str(conf), "--check-config"])
    assert r.returncode != 0
    assert "%s:3: tls ca-file %s is not readable" % (conf, tmp_path / "missing.pem") in r.stdout + r.stderr, \
        r.stdout + r.stderr


def test_dot_ipv6_url_parses(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text('upstreams: ["tls://[::1]:8853#dns.test", "tls://[::1]"]\nuser: root\n')
    r = run_minewall(["-c", str(conf), "--check-config"])
    assert r.returncode == 0, r.stderr


def test_dot_health_probes_over_tls(make_minewall, make_unbound, make_upstream, pki):
    """The health checks probe a tls:// upstream over TLS (Unbound counts the probes as TLS
    queries, no client asked anything); once it stops it is marked down within the health
    checks' 3 s, and the plain upstream answers meanwhile."""
    u = make_unbound(pki.good)
    plain = make_upstream()
    label = "tls://127.0.0.1:%d" % u.port
    mport = free_port()
    # The default upstream-timeout: the first probe waits for the connection and the
    # handshake too (an ASan build under load needs more than 300 ms for them).
    m = make_minewall(["tls://127.0.0.1:%d#dns.test" % u.port, plain], config={
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    wait_until(lambda: int(u.stats().get("num.query.tls", 0)) >= 2, 5,
               what="two probes over TLS")
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_probes_total", upstream=label) >= 2
    assert val(s, "minewall_upstream_probe_failures_total", upstream=label) == 0
    assert val(s, "minewall_upstream_up", upstream=label) == 1
    assert val(s, "minewall_upstream_queries_total") == 0  # probes are not client queries
    u.stop()
    t0 = time.monotonic()
    wait_until(lambda: val(scrape(mport)[0], "minewall_upstream_up", upstream=label) == 0, 5,
               what="tls upstream marked down")
    took = time.monotonic() - t0
    assert took < 3.5, "marked down after %.2fs" % took
    r = m.query("example.test", timeout=3)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"], r


def test_dot_health_probe_refused_certificate(make_minewall, make_unbound, pki):
    """A probe that meets a certificate failing verification is a failed probe: the upstream
    is marked down with no client traffic."""
    u = make_unbound(pki.wrong)
    label = "tls://127.0.0.1:%d" % u.port
    mport = free_port()
    make_minewall(["tls://127.0.0.1:%d#dns.test" % u.port], config={
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    wait_until(lambda: val(scrape(mport)[0], "minewall_upstream_up", upstream=label) == 0, 6,
               what="upstream with a bad certificate marked down")
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_probe_failures_total", upstream=label) >= 3
    assert int(u.stats().get("num.query.tls", 0)) == 0


def test_dot_reload_new_trust_anchors(make_minewall, make_unbound, pki):
    """A reload with another tls.ca-file retires the connections verified under the old
    anchors: the next query opens a new connection, verified under the new ones (here they
    do not trust Unbound's certificate, so it is refused), and a reload back works again."""
    u = make_unbound(pki.good)
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port)
    assert m.query("a.dot.test", timeout=5).rcode() == dns.rcode.NOERROR
    wait_tls_metric(mport, "handshakes_total", label, lambda v: v == 1, "first handshake")

    def reload(ca, n):
        m.config["tls"]["ca-file"] = ca
        m.write_config()
        m.sighup()
        wait_until(lambda: val(scrape(mport)[0], "minewall_reloads_total", result="ok") == n, 5,
                   what="reload %d" % n)

    reload(pki.selfsigned[1], 1)
    r = m.query("x1.bulk.dot.test", timeout=6)
    assert r.rcode() == dns.rcode.SERVFAIL, r
    wait_tls_metric(mport, "verify_failures_total", label, lambda v: v >= 1,
                    "new connection refused under the new anchors")
    reload(pki.ca, 2)
    # The failed connection's backoff (250 ms after one failure) passes, then it works.
    wait_until(lambda: m.query("x2.bulk.dot.test", timeout=5).rcode() == dns.rcode.NOERROR, 5,
               step=0.3, what="answers under the restored anchors")
    wait_tls_metric(mport, "handshakes_total", label, lambda v: v == 2, "second handshake")


def test_dot_server_closes_idle_connection(make_minewall, make_unbound, pki, tmp_path):
    """Unbound closes an idle connection before minewall would (tcp-idle-timeout 300 ms):
    the next query opens a new connection (resumed) and is answered; nothing fails."""
    u = make_unbound(pki.good)
    u.stop()
    with open(u.conf) as f:
        text = f.read()
    with open(u.conf, "w") as f:
        # No keepalive announced (with it Unbound applies its keepalive timeout instead).
        f.write(text.replace("edns-tcp-keepalive: yes", "edns-tcp-keepalive: no")
                .replace("server:\n", "server:\n    tcp-idle-timeout: 300\n", 1))
    u.proc = subprocess.Popen([UNBOUND, "-d", "-c", u.conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_until(u._listening, 10, what="unbound restarted")
    label = "tls://127.0.0.1:%d" % u.port
    m, mport = start_mw(make_minewall, pki, "tls://127.0.0.1:%d#dns.test" % u.port)
    for i in range(3):
        r = m.query("i%d.bulk.dot.test" % i, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER], r

        def closed(n=i + 1):  # Unbound closed it (past its idle timeout): minewall saw EOF
            s, _ = scrape(mport)
            return (val(s, "minewall_upstream_tls_queries_total", upstream=label) == n and
                    val(s, "minewall_upstream_tls_connections", upstream=label) == 0)

        wait_until(closed, 5, what="connection closed by the server")
    wait_tls_metric(mport, "queries_total", label, lambda v: v == 3, "tls queries counted")
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_tls_handshakes_total", upstream=label) == 3
    assert val(s, "minewall_upstream_tls_resumptions_total", upstream=label) == 2
    assert val(s, "minewall_upstream_errors_total", upstream=label) == 0
    assert val(s, "minewall_upstream_timeouts_total", upstream=label) == 0
