"""Local data and local zones (issue 13): records answered by minewall itself with the AA bit,
never forwarded and never filtered; static, transparent, refuse and redirect zones; PTR records
made from A/AAAA; SIGHUP reload; FILE:LINE errors at start, --check-config and reload;
--explain; the local answer counters in /metrics."""

import json
import re
import subprocess

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from conftest import BIN, Minewall, addresses, free_port, run_minewall, to_yaml, wait_until
from test_ops import scrape, val

RECORDS = [
    "printer.corp.internal. 300 A 10.0.0.7",
    "printer.corp.internal. 300 AAAA 2001:db8::7",
    'info.corp.internal. TXT "hello world" "second string"',
    "mail.corp.internal. MX 10 mx.corp.internal.",
    "_sip._tcp.corp.internal. SRV 10 5 5060 sip.corp.internal.",
    "www.corp.internal. CNAME printer.corp.internal.",
    "host.fwd.test. 120 A 192.0.2.66",
    "redir.test. 60 A 192.0.2.55",
    "lone.test. A 192.0.2.77",
]
ZONES = {"corp.internal": "static", "fwd.test": "transparent", "bad.test": "refuse",
         "redir.test": "redirect"}


def local_yaml(base, records, zones=None, ptr=None):
    """The config as YAML text with local-data as a block list (one record a line), and the
    line of each record (1-based) in the file."""
    text = to_yaml(base) + "\n"
    if zones:
        text += "local-zones:\n" + "".join("  %s: %s\n" % kv for kv in zones.items())
    if ptr is not None:
        text += "local-data-ptr: %s\n" % ("true" if ptr else "false")
    first = text.count("\n") + 2
    text += "local-data:\n" + "".join("  - %s\n" % json.dumps(r) for r in records)
    return text, {r: first + i for i, r in enumerate(records)}


@pytest.fixture
def run_with(request, make_minewall, tmp_path):
    """Factory: a started minewall whose config file carries the local keys in block style
    (one record a line, so messages can be checked by line); returns (minewall, lines). It
    joins make_minewall's list, whose teardown checks it is alive and stops it."""
    def make(upstreams, records=RECORDS, zones=ZONES, ptr=None, config=None):
        procs = request.node.minewalls
        m = Minewall(tmp_path, upstreams, config=config, name="local%d" % len(procs))
        text, lines = local_yaml(m.config, records, zones, ptr)
        plain = m.write_config
        m.write_config = lambda t=None: plain(t if t is not None else text)
        procs.append(m)
        m.start()
        return m, lines

    return make


def answer_set(r):
    return sorted(rd.to_text() for rr in r.answer for rd in rr)


def assert_local(r, rcode=dns.rcode.NOERROR):
    assert r.rcode() == rcode, dns.rcode.to_text(r.rcode())
    assert r.flags & dns.flags.AA, "local answers are authoritative"
    assert r.flags & dns.flags.QR and r.flags & dns.flags.RA


def test_records_answered_locally_never_forwarded(make_upstream, run_with):
    up = make_upstream()
    m, _ = run_with([up])
    r = m.query("printer.corp.internal")
    assert_local(r)
    assert addresses(r) == ["10.0.0.7"]
    assert r.answer[0].ttl == 300
    r = m.query("Printer.CORP.internal", "AAAA")  # any case; the reply echoes the client's
    assert_local(r)
    assert addresses(r) == ["2001:db8::7"]
    assert r.question[0].name.to_text() == "Printer.CORP.internal."
    r = m.query("info.corp.internal", "TXT")
    assert_local(r)
    assert answer_set(r) == ['"hello world" "second string"']
    assert r.answer[0].ttl == 3600  # no TTL in the record: 3600, as Unbound
    r = m.query("mail.corp.internal", "MX")
    assert_local(r)
    assert answer_set(r) == ["10 mx.corp.internal."]
    r = m.query("_sip._tcp.corp.internal", "SRV")
    assert_local(r)
    assert answer_set(r) == ["10 5 5060 sip.corp.internal."]
    # A CNAME answers every type, and is not followed (the client asks for the target).
    r = m.query("www.corp.internal", "A")
    assert_local(r)
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.CNAME]
    assert answer_set(r) == ["printer.corp.internal."]
    # Without EDNS and over TCP too.
    assert addresses(m.query("printer.corp.internal", edns=False)) == ["10.0.0.7"]
    r = m.query("printer.corp.internal", tcp=True)
    assert_local(r)
    assert addresses(r) == ["10.0.0.7"]
    # A name with local data outside any zone.
    r = m.query("lone.test")
    assert_local(r)
    assert addresses(r) == ["192.0.2.77"]
    # None of it reached the upstream; a forwarded name still does.
    assert addresses(m.query("example.test")) == ["192.0.2.1"]
    seen = {q.name for q in up.received()}
    assert "example.test." in seen
    assert not [n for n in seen if n.endswith("corp.internal.") or n == "lone.test."], seen


def test_nodata_for_other_types(make_upstream, run_with):
    up = make_upstream()
    m, _ = run_with([up])
    # Under a static zone: NODATA with the zone's SOA in authority.
    r = m.query("printer.corp.internal", "TXT")
    assert_local(r)
    assert r.answer == []
    assert [(rr.name.to_text(), rr.rdtype) for rr in r.authority] == [
        ("corp.internal.", dns.rdatatype.SOA)]
    assert r.authority[0].ttl == 60
    # Outside any zone: NODATA without SOA (as Unbound).
    r = m.query("lone.test", "AAAA")
    assert_local(r)
    assert r.answer == [] and r.authority == []
    assert up.count() == 0, [q.name for q in up.received()]


def test_static_zone_nxdomain_not_leaked(make_upstream, run_with):
    up = make_upstream()
    m, _ = run_with([up])
    for name in ("secret.corp.internal", "a.b.corp.internal", "x.printer.corp.internal"):
        for t in ("A", "AAAA", "MX"):
            r = m.query(name, t)
            assert_local(r, dns.rcode.NXDOMAIN)
            assert r.authority[0].rdtype == dns.rdatatype.SOA
    # The apex and the names on the way to data exist: NODATA.
    assert_local(m.query("corp.internal", "A"))
    assert m.query("corp.internal", "A").answer == []
    r = m.query("_tcp.corp.internal", "A")
    assert_local(r)
    assert r.answer == []
    r = m.query("corp.internal", "SOA")
    assert_local(r)
    assert r.answer[0].rdtype == dns.rdatatype.SOA
    assert up.count() == 0, [q.name for q in up.received()]


def test_transparent_refuse_redirect(make_upstream, run_with):
    up = make_upstream(records={"other.fwd.test": {"A": ["192.0.2.67"]}})
    m, _ = run_with([up])
    # transparent: local data answered, the rest forwarded.
    r = m.query("host.fwd.test")
    assert_local(r)
    assert addresses(r) == ["192.0.2.66"]
    r = m.query("other.fwd.test")
    assert not r.flags & dns.flags.AA
    assert addresses(r) == ["192.0.2.67"]
    assert up.count("other.fwd.test") == 1
    assert up.count("host.fwd.test") == 0
    # refuse
    r = m.query("anything.bad.test")
    assert r.rcode() == dns.rcode.REFUSED
    assert m.query("bad.test").rcode() == dns.rcode.REFUSED
    # redirect: the apex's data for every name below it, owner the asked name.
    for name in ("redir.test", "a.redir.test", "x.y.z.redir.test"):
        r = m.query(name)
        assert_local(r)
        assert addresses(r) == ["192.0.2.55"]
        assert r.answer[0].name.to_text() == name + "."
    r = m.query("a.redir.test", "AAAA")
    assert_local(r)
    assert r.answer == []
    seen = {q.name for q in up.received()}
    assert not [n for n in seen if n.endswith("bad.test.") or n.endswith("redir.test.")], seen


def test_ptr_made_from_addresses(make_upstream, run_with):
    up = make_upstream()
    recs = RECORDS + ["9.0.0.10.in-addr.arpa. PTR chosen.corp.internal.",
                      "other.corp.internal. A 10.0.0.9"]
    m, _ = run_with([up], records=recs, ptr=True)
    r = m.query("7.0.0.10.in-addr.arpa", "PTR")
    assert_local(r)
    assert answer_set(r) == ["printer.corp.internal."]
    assert r.answer[0].ttl == 300
    r = m.query("2001:db8::7".replace("2001:db8::7", "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                                                     "0.8.b.d.0.1.0.0.2.ip6.arpa"), "PTR")
    assert_local(r)
    assert answer_set(r) == ["printer.corp.internal."]
    # The operator's own PTR wins over the made one.
    assert answer_set(m.query("9.0.0.10.in-addr.arpa", "PTR")) == ["chosen.corp.internal."]
    assert up.count() == 0


def test_ptr_off_by_default(make_upstream, run_with):
    up = make_upstream()
    m, _ = run_with([up])
    r = m.query("7.0.0.10.in-addr.arpa", "PTR")
    assert not r.flags & dns.flags.AA
    assert up.count("7.0.0.10.in-addr.arpa") == 1


def test_local_data_wins_over_lists(make_upstream, run_with, tmp_path):
    up = make_upstream()
    (tmp_path / "m.txt").write_text("printer.corp.internal\nlone.test\nexample.test\n")
    lists = [{"name": "mining", "category": "mining", "path": str(tmp_path / "m.txt")}]
    m, _ = run_with([up], config={"lists": lists})
    assert addresses(m.query("printer.corp.internal")) == ["10.0.0.7"]
    assert addresses(m.query("lone.test")) == ["192.0.2.77"]
    assert addresses(m.query("example.test")) == ["0.0.0.0"]  # the list works


def test_reload_changes_answers_and_bad_reload_keeps_them(make_upstream, run_with):
    up = make_upstream()
    m, _ = run_with([up])
    assert addresses(m.query("printer.corp.internal")) == ["10.0.0.7"]
    base = m.config
    recs = [r.replace("10.0.0.7", "10.0.0.9") for r in RECORDS] + ["new.corp.internal. A 10.0.0.5"]
    text, _ = local_yaml(base, recs, {"corp.internal": "static"})
    m.reload_with(text)
    wait_until(lambda: addresses(m.query("printer.corp.internal")) == ["10.0.0.9"], 3,
               what="reloaded local data answered")
    assert addresses(m.query("new.corp.internal")) == ["10.0.0.5"]
    # fwd.test is no longer a zone: host.fwd.test is still local data, other names forwarded.
    assert m.query("anything.bad.test").rcode() != dns.rcode.REFUSED

    # A bad record: the reload fails with FILE:LINE and the running data stays.
    bad = recs + ["broken.corp.internal. A 300.1.2.3"]
    text, lines = local_yaml(base, bad, {"corp.internal": "static"})
    m.reload_with(text)
    want = "%s:%d: local-data: cannot parse" % (m.conf_path, lines[bad[-1]])
    m.wait_log(want)
    m.wait_log("keeping the running configuration")
    assert addresses(m.query("printer.corp.internal")) == ["10.0.0.9"]
    assert m.query("nope.corp.internal").rcode() == dns.rcode.NXDOMAIN
    # Removing every local key: names go upstream again.
    text, _ = local_yaml(base, [])
    m.reload_with(text.replace("local-data:\n", ""))
    wait_until(lambda: not m.query("printer.corp.internal").flags & dns.flags.AA, 3,
               what="local data gone after reload")


def test_bad_records_refuse_to_start(tmp_path):
    recs = ["good.test. A 192.0.2.1", "bad.test. A not-an-address", "*.wild.test. A 192.0.2.2",
            "c.test. CNAME x.test.", "c.test. TXT \"beside a CNAME\"", "ch.test. CH TXT \"x\""]
    text, lines = local_yaml({"listen": ["127.0.0.1:%d" % free_port()], "user": "root"}, recs,
                             {"r.test": "deny"})
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    zone_line = text.splitlines().index("  r.test: deny") + 1
    for args in (["--check-config"], []):
        res = run_minewall(["-c", str(path)] + args)
        out = res.stdout + res.stderr
        assert res.returncode == 1, out
        for rec in recs[1:3] + recs[4:]:
            assert "%s:%d: local-data: " % (path, lines[rec]) in out, (rec, out)
        assert "%s:%d: local-zones: zone 'r.test': expected static" % (path, zone_line) in out
        assert "has a CNAME (line %d) and other data" % lines[recs[3]] in out
        assert "%s:%d:" % (path, lines[recs[0]]) not in out  # the good line is not blamed


def test_record_cap(tmp_path):
    recs = ["h%d.test. A 192.0.2.1" % i for i in range(65537)]
    text, lines = local_yaml({"listen": ["127.0.0.1:%d" % free_port()], "user": "root"}, recs)
    path = tmp_path / "big.yaml"
    path.write_text(text)
    res = run_minewall(["-c", str(path), "--check-config"], timeout=60)
    assert res.returncode == 1
    assert "%s:%d: local-data: more than 65536 records" % (path, lines[recs[-1]]) in res.stderr + \
        res.stdout


def test_explain_names_the_local_record(make_upstream, run_with):
    up = make_upstream()
    m, lines = run_with([up], ptr=True)

    def explain(name):
        p = subprocess.run([BIN, "-c", m.conf_path, "--explain", name], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout

    out = explain("printer.corp.internal")
    assert "in local zone corp.internal (static, %s:" % m.conf_path in out
    assert "decided by local data, never forwarded: an A query gets answer" in out
    assert "printer.corp.internal 300 A 10.0.0.7 (%s:%d)" % (
        m.conf_path, lines[RECORDS[0]]) in out
    assert "lists:  not consulted" in out
    out = explain("nope.corp.internal")
    assert "an A query gets nxdomain" in out
    out = explain("7.0.0.10.in-addr.arpa")
    assert "made from the A/AAAA record at %s:%d" % (m.conf_path, lines[RECORDS[0]]) in out
    out = explain("q.redir.test")
    assert "redir.test 60 A 192.0.2.55" in out and "redirect" in out
    out = explain("other.fwd.test")
    assert "transparent zone lets it through" in out
    out = explain("example.test")
    assert "local data" not in out and "local zone" not in out


def test_local_answers_counted_in_metrics(make_upstream, run_with):
    up = make_upstream()
    port = free_port()
    m, _ = run_with([up], config={"metrics": {"listen": "127.0.0.1:%d" % port}})
    for _ in range(3):
        m.query("printer.corp.internal")
    m.query("printer.corp.internal", "TXT")
    m.query("nope.corp.internal")
    m.query("x.bad.test")
    m.query("example.test")

    def counts():
        s, _ = scrape(port)
        return [val(s, "minewall_local_answers_total", result=k)
                for k in ("answer", "nodata", "nxdomain", "refused")]

    wait_until(lambda: counts() == [3, 1, 1, 1], 5, step=0.2, what="local answer counters")
    assert re.search(r"minewall_local_answers_total", m.log()) is None  # counters, not logs
