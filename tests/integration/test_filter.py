"""Filtering: domain, IP, ASN and pattern lists, list formats, actions, allowlists, CNAME
cloaking, the block log (folding, rotation), bad list files and reloads."""

import os
import subprocess
import time

import dns.rcode
import pytest

import conftest
from conftest import addresses, blocks, ede, run_minewall, to_yaml, wait_until

EXTRA = {
    "pool.evil.test": {"A": ["192.0.2.200"]},
    "x.pool.evil.test": {"A": ["192.0.2.201"], "AAAA": ["2001:db8::201"],
                         "MX": ["10 mail.example.test."]},
    "xpool.evil.test": {"A": ["192.0.2.202"]},
    "ok.pool.evil.test": {"A": ["192.0.2.203"]},
    "deep.ok.pool.evil.test": {"A": ["192.0.2.205"]},
    "bad.ok.pool.evil.test": {"A": ["192.0.2.204"]},
    "both.evil.test": {"A": ["192.0.2.206"]},
    "new.evil.test": {"A": ["192.0.2.207"]},
    "cloak.test": {"CNAME": ["x.pool.evil.test."]},
    "ipbad.test": {"A": ["198.51.100.7"]},
    "ipgood.test": {"A": ["198.51.100.8"]},
    "asnbad.test": {"A": ["198.51.100.20"]},
    "asngood.test": {"A": ["203.0.113.20"]},
    "xmrig-01.example.test": {"A": ["192.0.2.210"]},
    "hostsbad.test": {"A": ["192.0.2.211"]},
    "adbad.test": {"A": ["192.0.2.212"]},
    "sub.adbad.test": {"A": ["192.0.2.213"]},
    "adok.adbad.test": {"A": ["192.0.2.214"]},
    "rpzbad.test": {"A": ["192.0.2.215"]},
    "sub.rpzbad.test": {"A": ["192.0.2.216"]},
    "ok.rpzbad.test": {"A": ["192.0.2.217"]},
    "rpzwild.test": {"A": ["192.0.2.218"]},
    "a.rpzwild.test": {"A": ["192.0.2.219"]},
}


@pytest.fixture
def up(make_upstream):
    return make_upstream(EXTRA)


@pytest.fixture
def start(make_minewall, up, tmp_path):
    """start(lists=[(name, category, lines, {extra keys})], **config) -> Minewall."""
    def go(lists, **config):
        entries = []
        for name, cat, lines, *opts in lists:
            path = tmp_path / ("%s.txt" % name)
            path.write_text("".join(ln + "\n" for ln in lines))
            entries.append(dict({"name": name, "category": cat, "path": str(path)},
                                **(opts[0] if opts else {})))
        config.setdefault("log", {"level": "debug", "blocks": str(tmp_path / "blocks.jsonl")})
        return make_minewall([up], config=dict(config, lists=entries))
    return go




def assert_blocked_sinkhole(r, code=15, text=None):
    assert r.rcode() == dns.rcode.NOERROR, r
    assert addresses(r) == ["0.0.0.0"], r
    e = ede(r)
    assert e is not None and e[0] == code, r
    if text:
        assert e[1] == text, e


def assert_passes(r, addrs):
    assert r.rcode() == dns.rcode.NOERROR, r
    assert addresses(r) == sorted(addrs), r
    assert ede(r) is None, r


MINING = ("mining", "mining", ["pool.evil.test"])


def test_domain_block_sinkhole(start, up):
    m = start([MINING])
    r = m.query("pool.evil.test")
    assert_blocked_sinkhole(r, 15, "minewall: mining/mining")
    assert r.answer[0].ttl == 60
    r = m.query("x.pool.evil.test", "AAAA")
    assert r.rcode() == 0 and addresses(r) == ["::"] and ede(r)[0] == 15, r
    r = m.query("x.pool.evil.test", "MX")
    assert r.rcode() == 0 and not r.answer and ede(r)[0] == 15, r
    r = m.query("X.Pool.Evil.TEST", edns=False)
    assert addresses(r) == ["0.0.0.0"] and not r.options, r
    assert up.count("pool.evil.test") == 0 and up.count("x.pool.evil.test") == 0
    assert_passes(m.query("xpool.evil.test"), ["192.0.2.202"])
    assert up.count("xpool.evil.test") == 1


def test_sinkhole_settings(start):
    m = start([MINING], sinkhole={"ipv4": "10.9.9.9", "ipv6": "fd00::9", "ttl": 42})
    r = m.query("pool.evil.test")
    assert addresses(r) == ["10.9.9.9"] and r.answer[0].ttl == 42, r
    assert addresses(m.query("pool.evil.test", "AAAA")) == ["fd00::9"]


@pytest.mark.parametrize("action,rcode", [("nxdomain", dns.rcode.NXDOMAIN),
                                          ("nodata", dns.rcode.NOERROR),
                                          ("refused", dns.rcode.REFUSED)])
def test_actions(start, up, action, rcode):
    m = start([("mining", "mining", ["pool.evil.test"], {"action": action})])
    for name in ("pool.evil.test", "x.pool.evil.test"):
        r = m.query(name)
        assert r.rcode() == rcode and not r.answer, r
        assert ede(r) == (15, "minewall: mining/mining"), r
    assert up.count() == 0


def test_action_drop(start, up):
    m = start([("mining", "mining", ["pool.evil.test"], {"action": "drop"})])
    t0 = time.monotonic()
    assert m.raw(conftest.make_query("pool.evil.test").to_wire(), timeout=0.5) is None
    assert time.monotonic() - t0 < 1.0
    assert up.count() == 0
    assert_passes(m.query("example.test"), ["192.0.2.1"])  # still serving


def test_action_log(start, up, tmp_path):
    m = start([("mining", "mining", ["pool.evil.test"], {"action": "log"})])
    assert_passes(m.query("x.pool.evil.test"), ["192.0.2.201"])
    assert up.count("x.pool.evil.test") >= 1
    path = str(tmp_path / "blocks.jsonl")
    lines = wait_until(lambda: blocks(path), 3, what="block log line")
    assert lines[0]["action"] == "log" and lines[0]["qname"].rstrip(".") == "x.pool.evil.test"


def test_allowlist(start):
    m = start([("mining", "mining", ["pool.evil.test", "bad.ok.pool.evil.test",
                                     "both.evil.test"]),
               ("allow", "allow", ["ok.pool.evil.test", "both.evil.test"])])
    assert_passes(m.query("ok.pool.evil.test"), ["192.0.2.203"])
    assert_passes(m.query("deep.ok.pool.evil.test"), ["192.0.2.205"])
    assert_passes(m.query("both.evil.test"), ["192.0.2.206"])
    assert_blocked_sinkhole(m.query("bad.ok.pool.evil.test"), 15)
    assert_blocked_sinkhole(m.query("x.pool.evil.test"), 15)


def test_cname_cloaking(start, up):
    m = start([MINING])
    for _ in range(2):
        r = m.query("cloak.test")
        assert_blocked_sinkhole(r, 17, "minewall: mining/mining")
        assert "192.0.2.201" not in addresses(r)
    assert up.count("cloak.test") >= 1


def test_answer_ip(start, tmp_path):
    m = start([("c2ip", "c2", ["198.51.100.7"], {"type": "ip"})])
    assert_blocked_sinkhole(m.query("ipbad.test"), 17, "minewall: c2/c2ip")
    assert_passes(m.query("ipgood.test"), ["198.51.100.8"])
    e = wait_until(lambda: blocks(str(tmp_path / "blocks.jsonl")), 3, what="block line")[0]
    assert e["where"] == "answer-ip" and e["matched"] == "198.51.100.7", e


def test_hosts_format(start):
    m = start([("hosts", "ads", ["# comment", "127.0.0.1 localhost", "0.0.0.0 hostsbad.test"],
                {"format": "hosts"})])
    assert_blocked_sinkhole(m.query("hostsbad.test"), 15, "minewall: ads/hosts")
    assert_passes(m.query("example.test"), ["192.0.2.1"])


def test_adblock_format(start):
    m = start([("ab", "ads", ["! comment", "||adbad.test^", "@@||adok.adbad.test^"],
                {"format": "adblock"})])
    assert_blocked_sinkhole(m.query("adbad.test"), 15)
    assert_blocked_sinkhole(m.query("sub.adbad.test"), 15)
    assert_passes(m.query("adok.adbad.test"), ["192.0.2.214"])


def test_rpz_format(start):
    zone = ["$TTL 300", "$ORIGIN rpz.local.",
            "@ SOA localhost. root.localhost. 1 3600 600 86400 60", "  NS localhost.",
            "rpzbad.test CNAME .", "*.rpzbad.test CNAME .", "ok.rpzbad.test CNAME rpz-passthru.",
            "*.rpzwild.test CNAME ."]
    m = start([("rpz", "malware", zone, {"format": "rpz"})])
    for name in ("rpzbad.test", "sub.rpzbad.test", "a.rpzwild.test"):
        r = m.query(name)
        assert r.rcode() == dns.rcode.NXDOMAIN and ede(r)[0] == 15, r
    assert_passes(m.query("ok.rpzbad.test"), ["192.0.2.217"])
    assert_passes(m.query("rpzwild.test"), ["192.0.2.218"])


def test_rpz_master_file_syntax(start):
    """Parentheses, escapes-free relative names, class before TTL and local data spread over
    the zone, read through ldns: the A and AAAA records of one owner answer together."""
    zone = ["$TTL 1h", "$ORIGIN rpz.local.",
            "@ IN SOA localhost. root.localhost. (", "   1 3600 600 86400 60 ) ; serial",
            "rpzbad.test IN 300 A 10.1.2.3",
            "ok.rpzbad.test ( CNAME", "   rpz-passthru. )",
            "txt.rpzbad.test TXT \"a ; b\" \"c\"",
            "rpzbad.test AAAA 2001:db8::99",
            "*.rpzwild.test CNAME *."]
    m = start([("rpz", "malware", zone, {"format": "rpz"})])
    r = m.query("rpzbad.test")
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["10.1.2.3"], r
    r = m.query("rpzbad.test", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["2001:db8::99"], r
    assert_passes(m.query("ok.rpzbad.test"), ["192.0.2.217"])
    r = m.query("a.rpzwild.test")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and ede(r)[0] == 15, r


def test_pattern_list(start, tmp_path):
    m = start([("pat", "mining", ["xmrig-*.*"], {"type": "pattern"})])
    assert_blocked_sinkhole(m.query("xmrig-01.example.test"), 15, "minewall: mining/pat")
    assert_passes(m.query("example.test"), ["192.0.2.1"])
    e = wait_until(lambda: blocks(str(tmp_path / "blocks.jsonl")), 3, what="block line")[0]
    assert e["where"] == "pattern" and e["rule"] == "xmrig-*.*", e


def test_asn_list(start, tmp_path):
    mmdb = str(tmp_path / "asn.mmdb")
    subprocess.run(["perl", os.path.join(conftest.SRCDIR, "tests/tools/mkmmdb.pl"), mmdb,
                    "asn", "198.51.100.0/24=64500:Evil"], check=True, timeout=30)
    m = start([("asn", "hosting", ["AS64500"], {"type": "asn"})], geoip={"asn": mmdb})
    assert_blocked_sinkhole(m.query("asnbad.test"), 17, "minewall: hosting/asn")
    assert_passes(m.query("asngood.test"), ["203.0.113.20"])
    e = wait_until(lambda: blocks(str(tmp_path / "blocks.jsonl")), 3, what="block line")[0]
    assert e["where"] == "asn" and e["qname"].rstrip(".") == "asnbad.test", e


def test_block_log_fields_and_folding(start, tmp_path):
    path = str(tmp_path / "blocks.jsonl")
    m = start([MINING])
    for _ in range(5):
        assert_blocked_sinkhole(m.query("x.pool.evil.test"))
    lines = wait_until(lambda: blocks(path), 2, what="first block line")
    assert len(lines) == 1, lines
    e = lines[0]
    for k in ("ts", "client", "client_port", "qname", "qtype", "list", "category", "action",
              "rule", "where", "matched", "count"):
        assert k in e, (k, e)
    assert e["count"] == 1 and e["client"] == "127.0.0.1" and e["list"] == "mining"
    assert e["category"] == "mining" and e["where"] == "qname" and e["qtype"] in ("A", 1)
    assert e["qname"].rstrip(".") == "x.pool.evil.test" and e["action"] == "sinkhole"
    assert e["rule"].rstrip(".") == "pool.evil.test"
    assert e["matched"] == ""  # only answer-side hits name what matched
    lines = wait_until(lambda: len(blocks(path)) >= 2 and blocks(path), 3, what="folded line")
    assert len(lines) == 2 and lines[1]["count"] == 4 and lines[1]["folded"] is True, lines
    m.query("cloak.test")
    lines = wait_until(lambda: len(blocks(path)) >= 3 and blocks(path), 3, what="cname line")
    e = lines[2]
    assert e["where"] == "cname" and e["qname"].rstrip(".") == "cloak.test", e
    assert e["matched"].rstrip(".") == "x.pool.evil.test", e


def test_block_log_folds_per_qtype_in_time_order(start, tmp_path):
    """Issue 11 item 10: repeats fold per (client, name, qtype); a folded line carries the
    first and last repeat times and is stamped when written, so the file stays in time order."""
    path = str(tmp_path / "blocks.jsonl")
    m = start([MINING])
    m.query("x.pool.evil.test", "A")
    m.query("x.pool.evil.test", "AAAA")
    for _ in range(3):
        m.query("x.pool.evil.test", "AAAA")
    m.query("x.pool.evil.test", "A")
    lines = wait_until(lambda: len(blocks(path)) >= 4 and blocks(path), 4, what="folded lines")
    assert len(lines) == 4, lines
    first = {l["qtype"]: l for l in lines if not l.get("folded")}
    folded = {l["qtype"]: l for l in lines if l.get("folded")}
    assert set(first) == {"A", "AAAA"} and set(folded) == {"A", "AAAA"}, lines
    assert folded["AAAA"]["count"] == 3 and folded["A"]["count"] == 1, lines
    for qt in ("A", "AAAA"):
        assert first[qt]["count"] == 1
        assert first[qt]["first_ts"] == first[qt]["last_ts"] == first[qt]["ts"], first[qt]
        f = folded[qt]
        assert f["first_ts"] <= f["last_ts"] <= f["ts"], f
        assert f["first_ts"] >= first[qt]["ts"], (f, first[qt])
    # Lines in the file are in time order (RFC 3339 UTC text sorts as time).
    assert [l["ts"] for l in lines] == sorted(l["ts"] for l in lines), lines
    # Another name after the folds: written after them, with a later ts.
    m.query("y.pool.evil.test")
    lines = wait_until(lambda: len(blocks(path)) >= 5 and blocks(path), 3, what="next line")
    assert lines[4]["qname"].rstrip(".") == "y.pool.evil.test"
    assert [l["ts"] for l in lines] == sorted(l["ts"] for l in lines), lines


def test_block_log_rotation(start, tmp_path):
    path = str(tmp_path / "blocks.jsonl")
    m = start([MINING])
    m.query("a.pool.evil.test")
    wait_until(lambda: blocks(path), 2, what="first line")
    os.rename(path, path + ".1")
    m.sighup()
    i = [0]

    def hit():
        i[0] += 1
        m.query("r%d.pool.evil.test" % i[0])
        return blocks(path)

    lines = wait_until(hit, 4, step=0.2, what="new block log file")
    assert lines[-1]["qname"].rstrip(".").endswith(".pool.evil.test")
    old = blocks(path + ".1")
    assert old[0]["qname"].rstrip(".") == "a.pool.evil.test"
    assert_blocked_sinkhole(m.query("pool.evil.test"))


def test_bad_list_line(start):
    m = start([("mining", "mining", ["pool.evil.test", "bad..name..", "both.evil.test"],
                {"format": "plain"})])
    m.wait_log("mining.txt:2:", timeout=3)
    assert_blocked_sinkhole(m.query("pool.evil.test"))
    assert_blocked_sinkhole(m.query("both.evil.test"))


def test_missing_list_file_at_start(up, tmp_path):
    missing = str(tmp_path / "nope-mining.txt")
    conf = tmp_path / "mw.yaml"
    conf.write_text(to_yaml({"listen": ["127.0.0.1:%d" % conftest.free_port()],
                            "upstreams": [up.addr],
                            "lists": [{"name": "m", "category": "mining", "path": missing}]}))
    try:
        p = run_minewall(["-c", str(conf)], timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("minewall kept running with a missing list file")
    assert p.returncode != 0
    assert "nope-mining.txt" in p.stdout + p.stderr, (p.stdout, p.stderr)


def test_reload(start, tmp_path):
    m = start([MINING])
    assert_passes(m.query("new.evil.test"), ["192.0.2.207"])
    (tmp_path / "mining.txt").write_text("pool.evil.test\nnew.evil.test\n")
    m.sighup()
    wait_until(lambda: addresses(m.query("new.evil.test")) == ["0.0.0.0"], 2.5, step=0.1,
               what="new list entry enforced")
    cfg = dict(m.config, lists=[{"name": "mining", "category": "mining",
                                 "path": str(tmp_path / "gone.txt")}])
    m.reload_with(to_yaml(cfg) + "\n")
    m.wait_log("gone.txt", timeout=3)
    time.sleep(0.3)
    assert m.alive
    assert_blocked_sinkhole(m.query("new.evil.test"))
    assert_blocked_sinkhole(m.query("x.pool.evil.test"))
    assert_passes(m.query("example.test"), ["192.0.2.1"])

