"""Forwarded answers are the upstream's: records, rcodes, authority, case of the question."""

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from conftest import addresses, ask, assert_same_answer, free_port, make_query


@pytest.mark.parametrize("name,rdtype", [
    ("example.test", "A"),
    ("example.test", "AAAA"),
    ("example.test", "MX"),
    ("example.test", "TXT"),
    ("www.example.test", "A"),  # CNAME -> CNAME -> A
    ("www.example.test", "CNAME"),
    ("x1.bulk.test", "A"),  # wildcard at the upstream
])
def test_answer_equals_upstream(mw, upstream, name, rdtype):
    r = mw.query(name, rdtype)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer, "empty answer for %s/%s" % (name, rdtype)
    assert_same_answer(r, upstream.lookup(name, rdtype))
    assert r.flags & dns.flags.RA
    assert upstream.count(name, rdtype) == 1


def test_cname_chain_complete(mw):
    r = mw.query("www.example.test", "A")
    types = [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)) for rr in r.answer]
    assert ("www.example.test.", "CNAME") in types
    assert ("alias.example.test.", "CNAME") in types
    assert ("host.example.test.", "A") in types


def test_nxdomain_with_soa(mw, upstream):
    r = mw.query("no-such-name.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert not r.answer
    assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]
    assert_same_answer(r, upstream.lookup("no-such-name.test", "A"))


def test_nodata_with_soa(mw, upstream):
    r = mw.query("nodata.test", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer
    assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]
    assert_same_answer(r, upstream.lookup("nodata.test", "AAAA"))


def test_upstream_servfail_passed_on(mw, upstream):
    upstream.set_mode("servfail", "sf.test")
    r = mw.query("sf.test", "A", timeout=6)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert not r.answer


@pytest.mark.parametrize("tcp", [False, True])
def test_0x20_question_case_echoed(mw, tcp):
    r = mw.query("ExAmPle.test", "A", tcp=tcp)
    assert r.question[0].name.to_text() == "ExAmPle.test."
    # The second answer comes from the cache and still echoes this client's spelling.
    r = mw.query("eXaMpLE.TeSt", "A", tcp=tcp)
    assert r.question[0].name.to_text() == "eXaMpLE.TeSt."
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def test_client_case_forwarded_upstream(mw, upstream):
    """The name goes upstream as the client wrote it (dns2tcp's data is case-sensitive);
    the cache ignores case, so another spelling is a hit answered in its own case."""
    r = mw.query("ExAmple.TEST", "TXT")
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    assert [q.name for q in upstream.queries if q.qtype == "TXT"] == ["ExAmple.TEST."]
    r = mw.query("eXample.test", "TXT")
    assert r.question[0].name.to_text() == "eXample.test."
    assert r.answer
    assert upstream.count("example.test", "TXT") == 1


def test_rd_copied_and_id_echoed(mw):
    q = make_query("example.test", "A")
    q.flags &= ~dns.flags.RD
    r = mw.query("example.test", q=q)
    assert r.id == q.id
    assert not r.flags & dns.flags.RD


def test_ipv6_listener_and_upstream(make_upstream, make_minewall):
    up6 = make_upstream(host="::1")
    v4, v6 = free_port(), free_port("::1")
    m = make_minewall([up6], listen=("127.0.0.1", v4),
                      config={"listen": ["127.0.0.1:%d" % v4, "[::1]:%d" % v6]})
    for addr in (("127.0.0.1", v4), ("::1", v6)):
        for tcp in (False, True):
            r = ask(addr, "host.example.test", "A", tcp=tcp)
            assert addresses(r) == ["192.0.2.10", "192.0.2.11"]
    assert up6.count("host.example.test") == 1
    assert addresses(m.query("mail.example.test")) == ["192.0.2.25"]
