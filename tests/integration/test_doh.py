"""DNS over HTTPS to upstreams (https://HOST[:PORT]/PATH, RFC 8484) against a real Unbound
from Debian serving DoH on loopback (https-port, http-endpoint "/dns-query", HTTP/2 with ALPN
h2) with the test PKI of tlslib. Verification is DoT's (tests in test_dot.py cover its
details): a certificate that fails is a failed upstream, never a fallback. Reuse: many
queries over one handshake, seen in minewall's metrics and in Unbound's num.query.https.
A host name is bootstrapped from a hosts file or a plain upstream, never through minewall."""

import os
import socket
import subprocess

import dns.message
import dns.rcode
import pytest

from conftest import addresses, free_port, wait_until
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
