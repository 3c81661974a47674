"""DNS over HTTPS to upstreams (https://HOST[:PORT]/PATH, RFC 8484) against a real Unbound
from Debian serving DoH on loopback (https-port, http-endpoint "/dns-query", HTTP/2 with ALPN
h2) with the test PKI of tlslib. Verification is DoT's (tests in test_dot.py cover its
details): a certificate that fails is a failed upstream, never a fallback. Reuse: many
queries over one handshake, seen in minewall's metrics and in Unbound's num.query.https.
A host name is bootstrapped from a hosts file or a plain upstream, never through minewall."""

import os
import socket

import dns.message
import dns.rcode
import pytest

from conftest import addresses, free_port, run_minewall, wait_until
from test_ops import scrape, val
from tlslib import ANSWER, OPENSSL, UNBOUND, make_unbound, pki  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not os.path.exists(UNBOUND) or not os.path.exists(OPENSSL),
                                reason="unbound and openssl are needed (tools/setup)")


def start_mw(make_minewall, pki, upstreams, **tls):
    mport = free_port()
    cfg = {"upstream-timeout": 1500, "resolve-timeout": 3000,
           "health-check": {"interval": 3600000},
           "tls": dict({"ca-file": pki.ca}, **tls),
           "metrics": {"listen": "127.0.0.1:%d" % mport}}
    if not isinstance(upstreams, list):
        upstreams = [upstreams]
    m = make_minewall(upstreams, config=cfg)
    return m, mport


def metric(mport, name, label):
    return val(scrape(mport)[0], "minewall_" + name, upstream=label)


def wait_metric(mport, name, label, want, timeout=5):
    """Workers publish their counters once a second: wait for name to reach want."""
    wait_until(lambda: metric(mport, name, label) == want, timeout,
               what="%s{upstream=%s} == %s" % (name, label, want))


def probes(mport, label):
    return metric(mport, "upstream_probes_total", label)


def ok(r):
    return r.rcode() == dns.rcode.NOERROR and addresses(r) == [ANSWER]


@pytest.mark.parametrize("method", ["post", "get"])
def test_doh_answers_over_one_connection(make_minewall, make_unbound, pki, method):
    u = make_unbound(pki.good, https=True)
    url = "https://127.0.0.1:%d/dns-query" % u.port
    m, mport = start_mw(make_minewall, pki, url, **{"doh-method": method})
    n = 30
    for i in range(n):
        r = m.query("h%d.bulk.dot.test" % i, timeout=5)
        assert ok(r), r
    wait_until(lambda: metric(mport, "upstream_tls_queries_total", url) == n, 5,
               what="doh queries counted")
    st = u.stats()
    assert int(st.get("num.query.https", 0)) == n + probes(mport, url), st
    assert metric(mport, "upstream_tls_handshakes_total", url) == 1
    assert metric(mport, "upstream_tls_reused_queries_total", url) >= n - 1
    assert metric(mport, "upstream_tls_verify_failures_total", url) == 0
    assert metric(mport, "upstream_queries_total", url) == n
    assert metric(mport, "upstream_up", url) == 1


def test_doh_blocked_names_stay_blocked(make_minewall, make_unbound, pki, tmp_path):
    u = make_unbound(pki.good, https=True)
    url = "https://127.0.0.1:%d/dns-query" % u.port
    lst = tmp_path / "block.txt"
    lst.write_text("blocked.dot.test\n")
    mport = free_port()
    m = make_minewall([url], config={
        "upstream-timeout": 1500, "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport},
        "lists": [{"name": "b", "category": "mining", "path": str(lst)}]})
    assert ok(m.query("a.dot.test", timeout=5))
    r = m.query("blocked.dot.test", timeout=5)
    assert ANSWER not in addresses(r), r
    wait_metric(mport, "upstream_queries_total", url, 1)


@pytest.mark.parametrize("cert", ["wrong", "expired", "selfsigned", "pin"])
def test_doh_bad_certificate_is_a_failed_upstream(make_minewall, make_unbound, pki, cert):
    """Nothing is asked over HTTP of a server that fails verification: SERVFAIL, the
    verification failure counted, no query reaches Unbound."""
    key_pem = pki.good if cert == "pin" else getattr(pki, cert)
    u = make_unbound(key_pem, https=True)
    url = "https://127.0.0.1:%d/dns-query" % u.port
    tls = {}
    if cert == "pin":
        tls["pins"] = {"dns.test": [pki.pin(pki.wrong[1])]}
        url = "https://dns.test:%d/dns-query" % u.port
    elif cert != "wrong":
        url = "https://dns.test:%d/dns-query" % u.port
    hosts = pki.path("hosts-%s" % cert)
    with open(hosts, "w") as f:
        f.write("127.0.0.1 dns.test\n")
    m, mport = start_mw(make_minewall, pki, url, **dict(tls, **{"hosts-file": hosts}))
    r = m.query("a.dot.test", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, r
    wait_until(lambda: metric(mport, "upstream_tls_verify_failures_total", url) >= 1, 5,
               what="the verification failure counted")
    assert metric(mport, "upstream_tls_handshakes_total", url) == 0
    assert int(u.stats().get("num.query.https", 0)) == 0


def test_doh_pinned_key_and_hosts_file_name(make_minewall, make_unbound, pki):
    """HOST a name: bootstrapped from tls.hosts-file, verified against that name (SNI too),
    with a pin of the server's key."""
    u = make_unbound(pki.good, https=True)
    url = "https://dns.test:%d/dns-query" % u.port
    hosts = pki.path("hosts-pin")
    with open(hosts, "w") as f:
        f.write("# test\n127.0.0.2 other.test\n127.0.0.1   DNS.test alias\n")
    m, mport = start_mw(make_minewall, pki, url, **{
        "hosts-file": hosts, "pins": {"dns.test": [pki.pin(pki.good[1])]}})
    wait_until(lambda: "host resolved to 127.0.0.1:%d" % u.port in m.log(), 5,
               what="the host name resolved from the hosts file")
    assert ok(m.query("a.dot.test", timeout=5))
    wait_metric(mport, "upstream_tls_handshakes_total", url, 1)
    assert metric(mport, "upstream_tls_verify_failures_total", url) == 0


def test_doh_name_bootstrapped_through_plain_upstream(make_minewall, make_upstream, make_unbound,
                                                      pki, tmp_path):
    """No hosts entry: HOST is asked of the plain upstream (never of minewall, never over
    DoH), and the zone forwarded to the DoH upstream is answered over DoH."""
    u = make_unbound(pki.good, https=True)
    plain = make_upstream(records={"dns.test": {"A": (30, ["127.0.0.1"])}})
    url = "https://dns.test:%d/dns-query" % u.port
    hosts = tmp_path / "empty-hosts"
    hosts.write_text("127.0.0.9 unrelated.test\n")
    mport = free_port()
    m = make_minewall([plain.addr], config={
        "upstream-timeout": 1500, "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca, "hosts-file": str(hosts)},
        "forward-zones": {"dot.test": [url]},
        "metrics": {"listen": "127.0.0.1:%d" % mport}})
    wait_until(lambda: plain.count("dns.test", "A") >= 1, 5, what="the bootstrap question")
    wait_until(lambda: "host resolved to 127.0.0.1:%d" % u.port in m.log(), 5,
               what="the host name resolved through the plain upstream")
    r = m.query("a.dot.test", timeout=5)
    assert ok(r), r
    wait_metric(mport, "upstream_queries_total", url, 1)
    assert int(u.stats().get("num.query.https", 0)) >= 1
    assert plain.count("a.dot.test") == 0
    assert addresses(m.query("example.test", timeout=5)) == ["192.0.2.1"]


def test_doh_killed_upstream_fails_over(make_minewall, make_upstream, make_unbound, pki):
    u = make_unbound(pki.good, https=True)
    plain = make_upstream()
    url = "https://127.0.0.1:%d/dns-query" % u.port
    mport = free_port()
    m = make_minewall([url, plain.addr], config={
        "upstream-timeout": 1000, "resolve-timeout": 3000,
        "health-check": {"interval": 300, "down-after": 2, "up-after": 1},
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    wait_until(lambda: int(u.stats().get("num.query.https", 0)) >= 1, 5,
               what="a DoH probe reaching Unbound")
    u.stop()
    wait_until(lambda: metric(mport, "upstream_up", url) == 0, 6,
               what="the killed DoH upstream marked down by the health checks")
    for i in range(5):
        r = m.query("example.test", timeout=5)
        assert addresses(r) == ["192.0.2.1"], r


def test_doh_and_dot_on_the_command_line(make_minewall, make_unbound, pki, tmp_path):
    """--upstream takes https:// and tls:// as the config's upstreams do; a bad one is an
    error naming the forms."""
    u = make_unbound(pki.good, https=True)
    url = "https://127.0.0.1:%d/dns-query" % u.port
    mport = free_port()
    m = make_minewall([], args=["--upstream", url], config={
        "upstream-timeout": 1500, "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    assert ok(m.query("a.dot.test", timeout=5))
    wait_metric(mport, "upstream_tls_handshakes_total", url, 1)
    r = run_minewall(["--upstream", "https://dns.test", "--check-config"])
    assert r.returncode == 2 and "https://HOST[:PORT]/PATH" in r.stderr, r
    cfg = tmp_path / "c.yaml"
    cfg.write_text("upstreams: [127.0.0.1]\n")
    r = run_minewall(["-c", str(cfg), "--upstream", "tls://127.0.0.1:853#dns.test",
                      "--check-config"])
    assert r.returncode == 0, r


def test_doh_streams_bounded_by_server_settings(make_minewall, make_unbound, pki):
    """Unbound announces SETTINGS_MAX_CONCURRENT_STREAMS 2 (http-max-streams): with one
    connection, a burst of 20 queries never has more than 2 streams open; the rest are
    refused and counted (busy), and every answer that comes is the right one."""
    u = make_unbound(pki.good, https=True, extra="http-max-streams: 2")
    url = "https://127.0.0.1:%d/dns-query" % u.port
    m, mport = start_mw(make_minewall, pki, url, **{"max-connections": 1})
    assert ok(m.query("a.dot.test", timeout=5))  # the connection and its SETTINGS
    socks, qs = [], []
    for i in range(20):
        q = dns.message.make_query("s%d.bulk.dot.test" % i, "A")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(q.to_wire(), m.addr)
        socks.append(s)
        qs.append(q)
    answered = 0
    for q, s in zip(qs, socks):
        r = dns.message.from_wire(s.recvfrom(4096)[0])
        s.close()
        assert r.id == q.id and r.question == q.question, r
        if r.rcode() == dns.rcode.NOERROR:
            assert addresses(r) == [ANSWER], r
            answered += 1
        else:
            assert r.rcode() == dns.rcode.SERVFAIL, r
    assert 2 <= answered < 20, answered
    wait_until(lambda: metric(mport, "upstream_tls_busy_total", url) >= 20 - answered, 5,
               what="the refused streams counted")
    assert metric(mport, "upstream_tls_handshakes_total", url) == 1
    assert metric(mport, "upstream_doh_resets_total", url) == 0


def test_dot_by_host_name(make_minewall, make_unbound, pki):
    """tls://NAME:PORT is bootstrapped like a DoH host and verified against NAME."""
    u = make_unbound(pki.good)  # DoT
    hosts = pki.path("hosts-dot")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 dns.test\n")
    label = "tls://dns.test:%d" % u.port
    m, mport = start_mw(make_minewall, pki, label, **{"hosts-file": hosts})
    wait_until(lambda: "host resolved to 127.0.0.1:%d" % u.port in m.log(), 5,
               what="the DoT host name resolved")
    assert ok(m.query("a.dot.test", timeout=5))
    wait_metric(mport, "upstream_tls_handshakes_total", label, 1)
    assert int(u.stats().get("num.query.tls", 0)) >= 1


def test_doh_http_error_is_a_failed_answer(make_minewall, make_upstream, make_unbound, pki):
    """A path Unbound does not serve gets HTTP 404: a failed upstream answer (counted), and
    the query fails over to the plain upstream as after a SERVFAIL."""
    u = make_unbound(pki.good, https=True)
    plain = make_upstream()
    url = "https://127.0.0.1:%d/wrong-path" % u.port
    mport = free_port()
    m = make_minewall([url, plain.addr], config={
        "upstream-timeout": 1500, "resolve-timeout": 3000,
        "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca}, "metrics": {"listen": "127.0.0.1:%d" % mport}})
    for i in range(6):
        r = m.query("e%d.example.test" % i, "A", timeout=5)
        assert r.rcode() == dns.rcode.NXDOMAIN, r  # the plain upstream's answer
    wait_until(lambda: metric(mport, "upstream_doh_http_errors_total", url) >= 1, 5,
               what="the 404 counted")
    assert metric(mport, "upstream_tls_handshakes_total", url) >= 1
    assert metric(mport, "upstream_errors_total", url) >= 1


def test_doh_name_bootstrapped_over_dot(make_minewall, make_unbound, pki, tmp_path):
    """Every upstream encrypted: the DoH HOST is asked of the DoT upstream (nothing in clear
    text), then the forwarded zone is answered over DoH."""
    dot = make_unbound(pki.good, extra='local-data: "dns.test. 30 IN A 127.0.0.1"')
    doh = make_unbound(pki.good, https=True)
    url = "https://dns.test:%d/dns-query" % doh.port
    hosts = tmp_path / "no-hosts"
    hosts.write_text("")
    mport = free_port()
    m = make_minewall(["tls://127.0.0.1:%d#dns.test" % dot.port], config={
        "upstream-timeout": 1500, "health-check": {"interval": 3600000},
        "tls": {"ca-file": pki.ca, "hosts-file": str(hosts)},
        "forward-zones": {"dot.test": [url]},
        "metrics": {"listen": "127.0.0.1:%d" % mport}})
    wait_until(lambda: "host resolved to 127.0.0.1:%d (asked tls://" % doh.port in m.log(), 5,
               what="the host name resolved over DoT")
    assert ok(m.query("a.dot.test", timeout=5))
    wait_metric(mport, "upstream_queries_total", url, 1)
    assert int(doh.stats().get("num.query.https", 0)) >= 1
