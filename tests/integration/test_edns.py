"""EDNS towards clients and upstreams, truncation, and the retry over TCP."""

import dns.flags
import dns.rcode
import pytest

from conftest import BIG_TXT, addresses, make_query


@pytest.mark.parametrize("tcp", [False, True])
def test_opt_only_when_client_used_edns(mw, tcp):
    for _ in range(2):  # miss, then cache hit
        r = mw.query("example.test", "A", tcp=tcp, edns=True)
        assert r.edns == 0, "no OPT in the reply to an EDNS query"
        r = mw.query("example.test", "A", tcp=tcp, edns=False)
        assert r.edns == -1, "OPT in the reply to a query without EDNS"
        assert addresses(r) == ["192.0.2.1"]


@pytest.mark.parametrize("edns,payload", [(False, 1232), (True, 512), (True, 4096)])
def test_upstream_gets_edns_1232(mw, upstream, edns, payload):
    mw.query("host.example.test", "A", edns=edns, payload=payload)
    (q,) = upstream.received("host.example.test", "A")
    assert q.edns and q.payload == 1232


def test_do_bit_passed_upstream(mw, upstream):
    r = mw.query("mail.example.test", "A", do=True)
    assert r.ednsflags & dns.flags.DO
    (q,) = upstream.received("mail.example.test", "A")
    assert q.do
    mw.query("example.test", "AAAA", do=False)
    (q,) = upstream.received("example.test", "AAAA")
    assert not q.do


def big_records(r):
    return sorted(s.decode() for rr in r.answer for rd in rr for s in rd.strings)


@pytest.mark.parametrize("edns", [False, True])
def test_big_answer_truncated_over_udp(mw, edns):
    r = mw.query("big.test", "TXT", edns=edns)
    assert r.flags & dns.flags.TC
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer
    assert r.question[0].name.to_text() == "big.test."


def test_big_answer_complete_over_tcp(mw, upstream):
    mw.query("big.test", "TXT")  # UDP first: the truncated reply must not poison the cache
    r = mw.query("big.test", "TXT", tcp=True)
    assert not r.flags & dns.flags.TC
    assert big_records(r) == sorted(BIG_TXT)
    assert upstream.count("big.test", "TXT", tcp=True) >= 1


def test_truncating_upstream_retried_over_tcp(mw, upstream):
    upstream.set_mode("truncate")
    r = mw.query("example.test", "MX")
    assert not r.flags & dns.flags.TC
    assert sorted(rd.to_text() for rd in r.answer[0]) == [
        "10 mail.example.test.", "20 mx2.example.test."]
    assert upstream.count("example.test", "MX", tcp=False) >= 1
    assert upstream.count("example.test", "MX", tcp=True) >= 1


def test_badvers_for_edns1(mw, upstream):
    q = make_query("example.test", "A")
    q.use_edns(1)  # make_query(use_edns=1) of dnspython 2.3 still writes version 0
    r = mw.query("example.test", q=q)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0
    assert upstream.count("example.test") == 0
