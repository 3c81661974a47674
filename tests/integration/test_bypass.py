"""No silent bypass (issue 10): every way a client on a compromised host, possibly with its own
domain and authoritative server (so upstream answers are attacker-chosen), could get the real
address of a listed name through minewall, or be answered under a stale policy. Each test tries
one avenue over real sockets; the README section "Filter guarantees" says which are closed and
which are documented limits (the tests assert that documented behaviour too)."""

import os
import socket
import struct
import subprocess
import sys
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

import conftest
from conftest import addresses, free_port, metric_value, metrics_text, to_yaml, wait_until
from test_ops import netns  # noqa: F401  (a fixture: a network namespace joined by a veth)

LISTED = "pool.evil.test"
REAL = "192.0.2.66"  # the listed name's real address: must never reach a client
SINK = ["0.0.0.0"]

RECORDS = {
    LISTED: {"A": [REAL], "AAAA": ["2001:db8::66"], "TXT": ['"pool"']},
    "x.pool.evil.test": {"A": [REAL]},
    "benign.test": {"A": ["192.0.2.50"]},
    "later.test": {"A": ["192.0.2.51"]},
    "cl.test": {"CNAME": ["tgt.test."]},
    "tgt.test": {"A": ["192.0.2.52"]},
    "other.test": {"A": ["192.0.2.53"]},
    "slow.test": {"A": ["192.0.2.54"]},
    "ok.evil.test": {"A": ["192.0.2.55"]},
    "sub.ok.evil.test": {"A": ["192.0.2.56"]},
}


def name(*labels):
    """A name from raw labels (bytes or str), so labels may hold '.', NUL or any octet."""
    return dns.name.Name([lb if isinstance(lb, bytes) else lb.encode() for lb in labels] + [b""])


def blocked(r):
    return r.rcode() == dns.rcode.NOERROR and addresses(r) in (SINK, ["::"])


def assert_blocked(r):
    assert blocked(r), "not blocked:\n%s" % r
    assert REAL not in addresses(r)


def response(q, answer=(), authority=(), additional=()):
    """An attacker's authoritative answer to q with the given records (zone-file texts)."""
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    for sec, rrs in ((r.answer, answer), (r.authority, authority), (r.additional, additional)):
        for text in rrs:
            owner, rest = text.split(" ", 1)
            rtype, rdata = rest.split(" ", 1)
            owner = owner if owner.endswith(".") else owner + "."
            sec.append(dns.rrset.from_text(owner, 300, "IN", rtype, rdata))
    return r


@pytest.fixture
def up(make_upstream):
    return make_upstream(RECORDS)


@pytest.fixture
def start(make_minewall, up, tmp_path):
    """start(lines=[LISTED], lists=None, **config) -> Minewall with one mining list file
    mining.txt (plus any extra list dicts)."""
    def go(lines=(LISTED,), lists=(), upstreams=None, addr=None, **config):
        path = tmp_path / "mining.txt"
        path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        entries = [{"name": "mining", "category": "mining", "path": str(path)}] + list(lists)
        return make_minewall(upstreams or [up], config=dict(config, lists=entries),
                             listen=addr)
    return go


def write_list(tmp_path, fname, lines):
    p = tmp_path / fname
    p.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    return str(p)


# --- names: case, escapes, NUL, trailing dot, length, non-ASCII, IDN --------------------------


def test_mixed_case_and_list_spelling(start, up):
    m = start(["POOL.Evil.Test."])  # upper case and a trailing dot in the list
    for qn in ("pool.evil.test", "PoOl.EvIl.TeSt", "X.POOL.EVIL.TEST.", "pOOL.evil.test"):
        assert_blocked(m.query(qn))
        assert_blocked(m.query(qn, tcp=True))
    assert up.count(LISTED) == 0 and up.count("x.pool.evil.test") == 0
    # 0x20: a cached answer for one spelling is echoed in the asker's case, never unblocked
    assert addresses(m.query("BeNiGn.TeSt")) == ["192.0.2.50"]
    r = m.query("bEnIgN.tEsT")
    assert r.question[0].name.to_text() == "bEnIgN.tEsT." and addresses(r) == ["192.0.2.50"]


def test_dot_inside_label(start, up):
    """"pool\\.evil.test" is one label "pool.evil" under "test": a different name on the wire,
    the listed name to anything that reads names as text. Blocked, never forwarded, and not
    cached as the other name."""
    m = start()
    for qn in (name("pool.evil", "test"), name("x.pool", "evil", "test"),
               name("x", "pool.evil.test")):
        assert_blocked(m.query(None, q=dns.message.make_query(qn, "A")))
        assert_blocked(m.query(None, q=dns.message.make_query(qn, "A"), tcp=True))
    assert up.count() == 0
    # an unlisted escaped name resolves as its own name and has its own cache entry
    up.set_record(name("one.two", "test"), "A", 300, ["192.0.2.81"])
    up.set_record("one.two.test", "A", 300, ["192.0.2.82"])
    r = m.query(None, q=dns.message.make_query(name("one.two", "test"), "A"))
    assert addresses(r) == ["192.0.2.81"], r
    assert addresses(m.query("one.two.test")) == ["192.0.2.82"]
    assert up.count("one.two.test") == 1  # not answered from the other name's entry
    assert_blocked(m.query(LISTED))


def test_nul_inside_label(start, up):
    """A NUL ends a C string: "pool.evil.test\\000.x.test" reads as the listed name there."""
    m = start()
    for qn in (name("pool", "evil", b"test\x00", "x", "test"),
               name("pool", "evil", b"test\x00junk", "test"),
               name(b"pool.evil.test\x00", "test")):
        assert_blocked(m.query(None, q=dns.message.make_query(qn, "A")))
    assert up.count() == 0
    # NUL elsewhere: a different name, forwarded as is (the upstream sees the exact octets)
    odd = name(b"po\x00ol", "evil", "test")
    r = m.query(None, q=dns.message.make_query(odd, "A"))
    assert r.rcode() == dns.rcode.NXDOMAIN and REAL not in addresses(r), r
    got = up.wait_for(odd.to_text())
    assert got[0].name.lower() == odd.to_text().lower()
    assert_blocked(m.query(LISTED))


def test_overlong_names_and_labels_refused(start, up):
    m = start()
    qid = 0x1234
    head = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    long_label = bytes([64]) + b"a" * 64 + b"\x04pool\x04evil\x04test\x00"
    too_long = b"".join(bytes([63]) + b"b" * 63 for _ in range(4)) + b"\x04pool\x04evil\x04test\x00"
    for qname in (long_label, too_long):
        data = m.raw(head + qname + struct.pack("!HH", 1, 1))
        assert data is not None and conftest.rcode_of(data) == dns.rcode.FORMERR
        assert REAL.encode() not in data
    # a 253-character name that ends in the listed one is still blocked
    n = name(*(["c" * 60] * 3 + ["d" * 47]), "pool", "evil", "test")
    assert len(n.to_wire()) <= 255
    assert_blocked(m.query(None, q=dns.message.make_query(n, "A")))
    assert up.count() == 0


def test_non_ascii_octets(start, up):
    """Case folding is ASCII only (RFC 4343): UTF-8 or Latin-1 octets are other names, forwarded
    as they are; they cannot reach the listed name."""
    m = start(["b\u00fccher.evil.test", LISTED])
    for lb in (b"POOL\xc3\x9c", b"\xc9VIL", b"pool\xff"):
        qn = name(lb, "evil", "test")
        r = m.query(None, q=dns.message.make_query(qn, "A"))
        assert r.rcode() == dns.rcode.NXDOMAIN, r
        assert up.received(qn.to_text())
    # raw UTF-8 of a listed U-label is not its A-label: forwarded (no registry holds such a
    # label, so it cannot resolve to the pool), documented
    raw = name("b\u00fccher".encode(), "evil", "test")
    assert m.query(None, q=dns.message.make_query(raw, "A")).rcode() == dns.rcode.NXDOMAIN


def test_idn_forms_and_homographs(start, up):
    """Lists take U-labels and A-labels alike; a homograph is another registered name and is
    not caught (documented)."""
    homograph = "supp\u043ertxmr.test".encode("idna").decode()  # Cyrillic o
    assert homograph.startswith("xn--")
    up.set_record(homograph, "A", 300, ["192.0.2.90"])
    m = start(["b\u00fccher.evil.test", "xn--mnchen-3ya.evil.test", "supportxmr.test"])
    for qn in ("xn--bcher-kva.evil.test", "XN--BCHER-KVA.evil.test", "a.xn--bcher-kva.evil.test",
               "xn--mnchen-3ya.evil.test", "supportxmr.test"):
        assert_blocked(m.query(qn))
    r = m.query(homograph)
    assert addresses(r) == ["192.0.2.90"], r


# --- answers an attacker's authoritative server chooses ----------------------------------------


def chain_handler(n, end, final=("%s A " + REAL)):
    def fn(q):
        qn = q.question[0].name.to_text()
        recs, cur = [], qn
        for i in range(n):
            nxt = "c%d.chain.test." % i if i < n - 1 else end
            recs.append("%s CNAME %s" % (cur, nxt))
            cur = nxt
        recs.append(final % cur)
        return response(q, recs)
    return fn


@pytest.mark.parametrize("depth", [1, 9, 40, 120])
def test_long_cname_chain_to_listed_name(start, up, depth):
    m = start()
    up.set_handler("chain.test", chain_handler(depth, "x.pool.evil.test."))
    for tcp in (False, True):
        r = m.query("chain.test", tcp=tcp, timeout=3)
        assert blocked(r) or r.flags & dns.flags.TC, r
        assert REAL not in addresses(r)
    r = m.query("chain.test", tcp=True, timeout=3)
    assert_blocked(r)


def test_long_chain_to_listed_address(start, up, tmp_path):
    ips = write_list(tmp_path, "ips.txt", [REAL])
    m = start(lists=[{"name": "c2ip", "category": "c2", "path": ips, "type": "ip"}])
    up.set_handler("ipchain.test", chain_handler(60, "end.chain.test."))
    assert_blocked(m.query("ipchain.test", tcp=True, timeout=3))


def test_dname_to_listed_zone(start, up):
    m = start()
    up.set_handler("www.dn.test", lambda q: response(q, [
        "dn.test DNAME pool.evil.test.", "www.dn.test CNAME www.pool.evil.test.",
        "www.pool.evil.test A " + REAL]))
    up.set_handler("bare.dn.test", lambda q: response(q, [  # DNAME without the CNAME
        "dn.test DNAME pool.evil.test.", "bare.pool.evil.test A " + REAL]))
    assert_blocked(m.query("www.dn.test"))
    assert_blocked(m.query("bare.dn.test"))


@pytest.mark.parametrize("where", ["answer", "additional", "authority-cname", "https-target",
                                   "https-hint"])
def test_records_outside_the_chain(start, up, tmp_path, where):
    """Records for a listed name (or address) beside an innocent answer: a caching stub
    (systemd-resolved in front of minewall) or a sloppy client may use any of them."""
    ips = write_list(tmp_path, "ips.txt", [REAL])
    m = start(lists=[{"name": "c2ip", "category": "c2", "path": ips, "type": "ip"}])
    rr = {
        "answer": dict(answer=["side.test A 192.0.2.50", LISTED + " A 192.0.2.99"]),
        "additional": dict(answer=["side.test A 192.0.2.50"],
                           additional=[LISTED + " A 192.0.2.99"]),
        "authority-cname": dict(answer=["side.test A 192.0.2.50"],
                                authority=["side.test CNAME " + LISTED + "."]),
        "https-target": dict(answer=["side.test HTTPS 1 %s. alpn=h2" % LISTED]),
        "https-hint": dict(answer=["side.test HTTPS 1 . alpn=h2 ipv4hint=" + REAL]),
    }[where]
    up.set_handler("side.test", lambda q: response(q, **rr))
    qtype = "HTTPS" if where.startswith("https") else "A"
    r = m.query("side.test", qtype)
    assert r.rcode() == dns.rcode.NOERROR and not r.additional, r
    text = r.to_text()
    assert REAL not in text and LISTED not in text.replace("side.test", ""), r


def test_extra_records_do_not_enter_the_cache(start, up):
    """minewall caches whole messages under their question only: a record for another name in
    an attacker's answer never answers a query for that name."""
    m = start()
    up.set_handler("inject.test", lambda q: response(q, [
        "inject.test A 192.0.2.60", "other.test A 192.0.2.61"]))
    m.query("inject.test")
    r = m.query("other.test")
    assert addresses(r) == ["192.0.2.53"], r
    assert up.count("other.test") == 1


# --- allowlists ------------------------------------------------------------------------------


def test_allowlist_scope(start, up, tmp_path):
    allow = write_list(tmp_path, "allow.txt", ["evil.test", "ok.evil.test"])
    m = start([LISTED, "ok.evil.test"], lists=[
        {"name": "allow", "category": "allow", "path": allow}])
    # the more specific rule wins: allowing the parent does not allow the listed child
    assert_blocked(m.query(LISTED))
    assert_blocked(m.query("x.pool.evil.test"))
    # equal specificity: allow wins (documented), and it covers the names below
    assert addresses(m.query("ok.evil.test")) == ["192.0.2.55"]
    assert addresses(m.query("sub.ok.evil.test")) == ["192.0.2.56"]
    # an allowed query name is never blocked for its answer (documented): allow entries
    # under names anyone can register are therefore wide
    up.set_handler("cdn.evil.test", lambda q: response(q, [
        "cdn.evil.test CNAME " + LISTED + ".", LISTED + " A " + REAL]))
    assert REAL in addresses(m.query("cdn.evil.test"))


def test_adblock_exceptions_parsed_exactly(start, up, tmp_path):
    ab = write_list(tmp_path, "ab.txt", [
        "||evil.test^",
        "@@||pool.evil.test/path",           # a URL rule: not a host exception
        "@@||pool.evil.test^$denyallow=x.test",  # an unknown modifier: skipped
        "@@||*.pool.evil.test^",             # a wildcard: skipped
        "@@|pool.evil.test^",                # not a host anchor: skipped
        "@@||ok.evil.test^",                 # the one real exception
    ])
    m = start(["unused.test"], lists=[{"name": "ab", "category": "ads", "path": ab,
                                       "format": "adblock"}])
    assert_blocked(m.query(LISTED))
    assert_blocked(m.query("x.pool.evil.test"))
    assert addresses(m.query("ok.evil.test")) == ["192.0.2.55"]


def test_exception_in_one_list_overrides_another(start, up, tmp_path):
    """AdBlock exceptions (and RPZ passthru) act on every list, like an allowlist: a feed can
    unblock what another list blocks (documented)."""
    ab = write_list(tmp_path, "feed.txt", ["||other.test^", "@@||" + LISTED + "^"])
    imp = write_list(tmp_path, "imp.txt", ["||benign.test^$important", "@@||benign.test^"])
    m = start(lists=[{"name": "feed", "category": "ads", "path": ab, "format": "adblock"},
                     {"name": "imp", "category": "ads", "path": imp, "format": "adblock"}])
    assert REAL in addresses(m.query(LISTED))
    assert addresses(m.query("benign.test")) == ["192.0.2.50"]  # $important is not honoured
    assert "feed: 1 exception rules (@@, rpz-passthru) allow their names against every list" \
        in m.log()


def test_plain_wildcard_and_crlf_lists(start, up, tmp_path):
    """"*.name" in a plain list covers the name and below; CRLF line ends and a BOM are read."""
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"\xef\xbb\xbfbenign.test\r\n*.pool.evil.test\r\n")
    m = start(["unused.test"], lists=[{"name": "crlf", "category": "mining", "path": str(p)}])
    assert_blocked(m.query("benign.test"))
    assert_blocked(m.query(LISTED))
    assert_blocked(m.query("x.pool.evil.test"))


# --- reloads and stale policy -----------------------------------------------------------------


def break_list(path, how):
    if how == "missing":
        os.unlink(path)
    elif how == "directory":
        os.unlink(path)
        os.mkdir(path)
    elif how == "garbage":
        with open(path, "wb") as f:
            f.write(b"\x00\x01\x02 <html>not a list</html> !!\n\xff\xfe\n")
    elif how == "empty":
        open(path, "w").close()
    elif how == "unreadable":
        os.chmod(path, 0)


@pytest.mark.parametrize("how", ["missing", "directory", "garbage", "empty", "unreadable"])
def test_reload_with_broken_list_keeps_policy(start, up, tmp_path, how):
    if how == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    mport = free_port()
    m = start(metrics={"listen": "127.0.0.1:%d" % mport})
    path = str(tmp_path / "mining.txt")
    assert_blocked(m.query(LISTED))
    t = metrics_text(mport)
    assert metric_value(t, "minewall_last_reload_successful") == 1
    break_list(path, how)
    m.sighup()
    # whatever happens, the listed name stays blocked while the reload runs and after it
    deadline = time.monotonic() + 5
    while metric_value(metrics_text(mport), 'minewall_reloads_total{result="failed"}') < 1:
        assert time.monotonic() < deadline, m.log()[-3000:]
        assert_blocked(m.query(LISTED))
    assert metric_value(metrics_text(mport), "minewall_last_reload_successful") == 0
    assert "keeping the running" in m.log()
    for _ in range(20):
        assert_blocked(m.query(LISTED))
    # repaired: the next reload succeeds and says so
    if os.path.isdir(path):
        os.rmdir(path)
    if os.path.exists(path):
        os.chmod(path, 0o644)
    with open(path + ".new", "w") as f:
        f.write(LISTED + "\nlater.test\n")
    os.rename(path + ".new", path)
    m.sighup()
    wait_until(lambda: metric_value(metrics_text(mport), "minewall_last_reload_successful") == 1, 5,
               what="successful reload")
    wait_until(lambda: blocked(m.query("later.test")), 3, what="repaired list in force")


def test_list_emptied_by_file_watch_is_not_applied(start, up, tmp_path):
    """A list truncated in place (a failed download, a half-written copy) is seen by the file
    watch; it is not applied as empty."""
    m = start()
    path = tmp_path / "mining.txt"
    assert_blocked(m.query(LISTED))
    path.write_text("")
    m.wait_log("has no entries now", timeout=15)
    for _ in range(10):
        assert_blocked(m.query(LISTED))
    # removing a list on purpose: drop it from the config
    cfg = dict(m.config, lists=[])
    m.reload_with(to_yaml(cfg) + "\n")
    wait_until(lambda: REAL in addresses(m.query(LISTED)), 15, what="list removed by config")


def fresh_socket_queries(m, qname, n=32):
    """n queries from n sockets (n source ports: SO_REUSEPORT spreads them over the workers)."""
    qs = [conftest.make_query(qname) for _ in range(n)]
    socks = [conftest.udp_send(m.addr, q) for q in qs]
    return [conftest.udp_recv(s, q) for s, q in zip(socks, qs)]


def tcp_ask(conn, qname):
    q = conftest.make_query(qname)
    w = q.to_wire()
    conn.sendall(struct.pack("!H", len(w)) + w)
    r = dns.message.from_wire(conftest.tcp_read_msg(conn, time.monotonic() + 2))
    assert r.id == q.id
    return r


def test_every_worker_takes_the_new_lists(start, up, tmp_path):
    m = start(threads=2)
    for r in fresh_socket_queries(m, "later.test"):  # cached by both workers
        assert addresses(r) == ["192.0.2.51"]
    # TCP connections opened before the reload (on both workers) and used after it
    conns = [conftest.tcp_connect(m.addr) for _ in range(8)]
    try:
        for c in conns:
            assert addresses(tcp_ask(c, "later.test")) == ["192.0.2.51"]
        (tmp_path / "mining.txt").write_text(LISTED + "\nlater.test\n")
        m.sighup()
        wait_until(lambda: all(blocked(r) for r in fresh_socket_queries(m, "later.test")), 5,
                   step=0.1, what="every worker blocks the added name")
        for _ in range(3):  # and keeps blocking it: no worker went back
            assert all(blocked(r) for r in fresh_socket_queries(m, "later.test"))
        for c in conns:
            assert blocked(tcp_ask(c, "later.test"))
    finally:
        for c in conns:
            c.close()
    (tmp_path / "mining.txt").write_text("unrelated.test\n")
    m.sighup()
    wait_until(lambda: all(REAL in addresses(r) for r in fresh_socket_queries(m, LISTED)), 5,
               step=0.1, what="no worker blocks the removed name")


def test_fetch_in_flight_across_reload(start, up, tmp_path):
    """A query asked before its name was listed, answered by the upstream after the reload:
    checked against the lists in force when the answer arrives."""
    m = start(**{"upstream-timeout": 3000})
    up.set_mode("delay:1200", "slow.test")
    q = conftest.make_query("slow.test")
    s = conftest.udp_send(m.addr, q)
    up.wait_for("slow.test")
    (tmp_path / "mining.txt").write_text(LISTED + "\nslow.test\n")
    m.sighup()
    m.wait_log("reloaded (generation 2", timeout=3)
    r = conftest.udp_recv(s, q, timeout=4)
    assert blocked(r), r


def test_cached_answers_rechecked_after_reload(start, up, tmp_path):
    m = start()
    assert addresses(m.query("later.test")) == ["192.0.2.51"]
    assert addresses(m.query("cl.test")) == ["192.0.2.52"]
    (tmp_path / "mining.txt").write_text(LISTED + "\nlater.test\ntgt.test\n")
    m.sighup()
    wait_until(lambda: blocked(m.query("later.test")), 3, what="cached qname blocked")
    r = m.query("cl.test")  # cached; its CNAME target is listed now
    assert blocked(r), r
    assert up.count("cl.test") == 1  # answered from the cache, checked again


def test_stale_answers_rechecked(start, up, tmp_path):
    """serve-stale hands out an answer cached before the lists changed: checked as new."""
    up.set_record("st.test", "CNAME", 1, ["st-tgt.test."])
    up.set_record("st-tgt.test", "A", 1, ["192.0.2.70"])
    up.set_record("stq.test", "A", 1, ["192.0.2.71"])
    m = start(**conftest.FAST_FAIL)
    assert addresses(m.query("st.test")) == ["192.0.2.70"]
    assert addresses(m.query("stq.test")) == ["192.0.2.71"]
    (tmp_path / "mining.txt").write_text(LISTED + "\nst-tgt.test\nstq.test\n")
    m.sighup()
    m.wait_log("reloaded (generation 2", timeout=3)
    time.sleep(1.2)  # let both answers expire (TTL 1)
    up.set_mode("drop")
    r = m.query("st.test", timeout=3)
    assert blocked(r), r
    assert_blocked(m.query("stq.test", timeout=3))
    # an unlisted stale answer is still served (the path works)
    up.set_mode("normal")
    up.set_record("fresh.test", "A", 1, ["192.0.2.72"])
    assert addresses(m.query("fresh.test")) == ["192.0.2.72"]
    time.sleep(1.2)
    up.set_mode("drop")
    assert addresses(m.query("fresh.test", timeout=3)) == ["192.0.2.72"]


# --- protocol corners ---------------------------------------------------------------------------


def test_qdcount_not_one(start, up):
    m = start()
    q = dns.message.make_query(LISTED, "A")
    w = bytearray(q.to_wire())
    for qd, extra in ((0, b""), (2, bytes(w[12:]))):
        pkt = bytearray(w[:12]) + (w[12:] if qd else b"") + extra
        struct.pack_into("!H", pkt, 4, qd)
        data = m.raw(bytes(pkt))
        assert data is not None and conftest.rcode_of(data) == dns.rcode.FORMERR
    # two questions, the second listed
    q2 = dns.message.make_query("benign.test", "A")
    w2 = bytearray(q2.to_wire())
    struct.pack_into("!H", w2, 4, 2)
    w2 += q.to_wire()[12:]
    data = m.raw(bytes(w2))
    assert data is not None and conftest.rcode_of(data) == dns.rcode.FORMERR
    assert up.count() == 0


@pytest.mark.parametrize("rdtype", ["A", "AAAA", "ANY", "DS", "RRSIG", "TXT", "HTTPS", "SVCB",
                                    "CNAME", "DNAME", "NS"])
def test_every_type_of_a_listed_name(start, up, rdtype):
    m = start()
    r = m.query(LISTED, rdtype)
    assert r.rcode() == dns.rcode.NOERROR and REAL not in r.to_text(), r
    assert not any(rr.rdtype not in (1, 28) for rr in r.answer), r
    assert up.count() == 0


@pytest.mark.parametrize("rdclass", ["CH", "HS", "ANY"])
def test_other_classes(start, up, rdclass):
    m = start()
    q = dns.message.make_query(LISTED, "A", rdclass=dns.rdataclass.from_text(rdclass))
    r = m.query(None, q=q)
    assert REAL not in r.to_text(), r
    assert up.count(LISTED) == 0


def test_cd_do_and_edns_options(start, up):
    m = start()
    up.set_handler("cloak.test", lambda q: response(q, [
        "cloak.test CNAME " + LISTED + ".", LISTED + " A " + REAL]))
    opts = [dns.edns.ECSOption("192.0.2.0", 24), dns.edns.GenericOption(10, b"\x01" * 8),
            dns.edns.GenericOption(12, b"\x00" * 16)]
    for qn in (LISTED, "cloak.test"):
        for tcp in (False, True):
            q = dns.message.make_query(qn, "A", use_edns=0, want_dnssec=True, options=opts)
            q.flags |= dns.flags.CD
            r = m.query(None, q=q, tcp=tcp)
            assert_blocked(r)


def test_forward_zone_goes_through_the_filter(start, up, make_upstream):
    corp = make_upstream({"pool.corp.test": {"A": [REAL]},
                          "alias.corp.test": {"CNAME": [LISTED + "."]}})
    m = start([LISTED, "pool.corp.test"], **{"forward-zones": {"corp.test": [corp.addr]}})
    assert_blocked(m.query("pool.corp.test"))
    assert corp.count("pool.corp.test") == 0
    assert_blocked(m.query("alias.corp.test"))
    assert corp.count("alias.corp.test") == 1


def test_ptr_of_listed_address_is_not_an_address(start, up, tmp_path):
    """A PTR answer names a host; it carries no address to connect to."""
    ips = write_list(tmp_path, "ips.txt", [REAL])
    m = start(lists=[{"name": "c2ip", "category": "c2", "path": ips, "type": "ip"}])
    ptr = "66.2.0.192.in-addr.arpa"
    up.set_handler(ptr, lambda q: response(q, [ptr + ". PTR " + LISTED + "."]))
    r = m.query(ptr, "PTR")
    assert REAL not in addresses(r)


RL_CLIENT = r"""
import socket, struct, sys, time
host, port, n, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
w = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
for i in range(1, n + 1):
    s.send(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + w + struct.pack("!HH", 1, 1))
until = time.monotonic() + 1.0
while time.monotonic() < until:
    s.settimeout(max(0.01, until - time.monotonic()))
    try:
        print(s.recv(4096).hex())
    except socket.timeout:
        break
"""


@pytest.mark.parametrize("action", ["drop", "refused"])
def test_rate_limited_client_gets_no_data(netns, start, up, action):
    """A client over its rate limit is dropped or REFUSED before anything else: it never gets
    an answer that skipped the filter (loopback is exempt, so the client is in a namespace)."""
    ns, host, _ = netns
    port = free_port(host)
    up.set_handler("cloak.test", lambda q: response(q, [
        "cloak.test CNAME " + LISTED + ".", LISTED + " A " + REAL]))
    start(addr=("127.0.0.1", port), **{
        "listen": ["%s:%d" % (host, port), "127.0.0.1:%d" % port],
        "access": {"allow": ["10.200.0.0/16", "127.0.0.0/8"]},
        "rate-limit": {"qps": 5, "burst": 10, "prefix-v4": 32, "action": action}})
    real = socket.inet_aton(REAL).hex()
    for qn in (LISTED, "cloak.test"):
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", RL_CLIENT, host,
                            str(port), "40", qn], capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        replies = [bytes.fromhex(ln) for ln in p.stdout.split()]
        assert 5 <= len(replies) <= 40, len(replies)
        rcodes = {conftest.rcode_of(d) for d in replies}
        assert rcodes <= {dns.rcode.NOERROR, dns.rcode.REFUSED}, rcodes
        assert not any(real in d.hex() for d in replies)
        if action == "refused":
            assert dns.rcode.REFUSED in rcodes
    assert up.count(LISTED) == 0


@pytest.mark.parametrize("opcode", [1, 2, 4, 5])  # IQUERY, STATUS, NOTIFY, UPDATE
def test_other_opcodes_never_forwarded(start, up, opcode):
    m = start()
    q = dns.message.make_query(LISTED, "A")
    q.set_opcode(opcode)
    data = m.raw(q.to_wire())
    assert data is not None and conftest.rcode_of(data) == dns.rcode.NOTIMP
    assert REAL.encode() not in data and socket.inet_aton(REAL) not in data
    assert up.count() == 0
