"""access: clients outside the allowed prefixes are REFUSED and never reach an upstream."""

import dns.message
import dns.rcode

from conftest import addresses, make_query


def test_outside_access_refused(make_minewall, upstream):
    m = make_minewall([upstream], config={"access": {"allow": ["10.0.0.0/8"]}})
    r = m.query("example.test")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer
    assert upstream.count("example.test") == 0


def test_outside_access_tcp_not_answered(make_minewall, upstream):
    m = make_minewall([upstream], config={"access": {"allow": ["10.0.0.0/8", "fd00::/8"]}})
    q = make_query("example.test")
    data = m.raw(q.to_wire(), tcp=True)
    # Either a REFUSED reply or a closed connection; never data.
    if data is not None:
        assert dns.message.from_wire(data).rcode() == dns.rcode.REFUSED
    assert upstream.count("example.test") == 0


def test_default_access_admits_loopback(mw, upstream):
    assert addresses(mw.query("example.test")) == ["192.0.2.1"]
    assert addresses(mw.query("example.test", tcp=True)) == ["192.0.2.1"]


def test_explicit_access_admits_listed_prefix(make_minewall, upstream):
    m = make_minewall([upstream], config={"access": {"allow": ["10.0.0.0/8", "127.0.0.0/8"]}})
    assert addresses(m.query("example.test")) == ["192.0.2.1"]
