"""The metadata and rebinding guard (detect.rebinding) over real sockets: the test upstream
serves public names (under example.com, a listed public suffix) whose answers point at cloud
metadata addresses (A, AAAA, IPv4-mapped, an HTTPS ipv4hint) and into private space; minewall
must answer them as blocked with an Extended DNS Error, log each to the block log with the
rule and the address, count them in /metrics, leave internal zones and names that are not
public alone, apply the verdict to cached answers after a reload, refuse a bad `detect:`
section with FILE:LINE, and show the registered domain in --explain."""

import re

import dns.message
import dns.rcode
import dns.rrset
import pytest

from conftest import addresses, blocks, ede, free_port, run_minewall, to_yaml, wait_until
from test_ops import val, wait_metric

EDE_FILTERED = 17
EDE_TEXT = "minewall: detect/rebinding"

RECORDS = {
    "meta4.example.com": {"A": ["169.254.169.254"]},
    "ecs.example.com": {"A": ["169.254.170.2"]},
    "meta6.example.com": {"AAAA": ["fd00:ec2::254"]},
    "mapped.example.com": {"AAAA": ["::ffff:169.254.169.254"]},
    "hint.example.com": {"HTTPS": ["1 . alpn=h2 ipv4hint=192.0.2.10,169.254.169.254"]},
    "okhint.example.com": {"HTTPS": ["1 . alpn=h2 ipv4hint=192.0.2.10"]},
    "priv.example.com": {"A": ["10.0.0.1"]},
    "loop.example.com": {"A": ["127.0.0.1"]},
    "public.example.com": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]},
    "db.corp.example.com": {"A": ["10.0.0.5"]},
    "imds.corp.example.com": {"A": ["169.254.169.254"]},
    "alias.example.com": {"CNAME": ["db.corp.example.com."]},
    "localhost": {"A": ["127.0.0.1"]},
    "nas.lan": {"A": ["192.168.1.10"]},
    "metadata.google.internal": {"A": ["169.254.169.254"]},
}


@pytest.fixture
def up(make_upstream):
    return make_upstream(RECORDS, origin="example.com.")


@pytest.fixture
def start(make_minewall, make_upstream, up, tmp_path):
    """Public names from up; localhost, .lan and .internal names each from their own upstream
    through forward-zones (a test upstream serves one zone)."""
    zones = {z: [make_upstream(RECORDS, origin=z + ".").addr]
             for z in ("localhost", "lan", "internal")}

    def go(detect=None, **config):
        config.setdefault("log", {"level": "debug", "blocks": str(tmp_path / "blocks.jsonl")})
        config.setdefault("metrics", {"listen": "127.0.0.1:%d" % free_port()})
        config.setdefault("forward-zones", zones)
        if detect is not None:
            config["detect"] = {"rebinding": detect}
        return make_minewall([up], config=config)
    return go




def metrics_port(m):
    return int(m.config["metrics"]["listen"].rsplit(":", 1)[1])


def assert_blocked(r, rcode=dns.rcode.NXDOMAIN):
    assert r.rcode() == rcode, r
    assert not r.answer, r
    assert ede(r) == (EDE_FILTERED, EDE_TEXT), r


def assert_passes(r, addrs=None):
    assert r.rcode() == dns.rcode.NOERROR, r
    assert r.answer, r
    if addrs is not None:
        assert addresses(r) == sorted(addrs), r
    assert ede(r) is None, r


def test_metadata_blocked_by_default(start, tmp_path, up):
    """No detect: section at all: metadata addresses are blocked, private ones are not."""
    m = start()
    assert_blocked(m.query("meta4.example.com"))
    assert_blocked(m.query("ecs.example.com"))
    assert_blocked(m.query("meta6.example.com", "AAAA"))
    assert_blocked(m.query("mapped.example.com", "AAAA"))
    assert_blocked(m.query("hint.example.com", "HTTPS"))
    assert_passes(m.query("okhint.example.com", "HTTPS"))
    assert_passes(m.query("priv.example.com"), ["10.0.0.1"])
    assert_passes(m.query("loop.example.com"), ["127.0.0.1"])
    assert_passes(m.query("public.example.com"), ["192.0.2.1"])
    # Names that are not public: GCP's metadata name must keep working.
    assert_passes(m.query("metadata.google.internal"), ["169.254.169.254"])

    path = str(tmp_path / "blocks.jsonl")
    got = wait_until(lambda: len(blocks(path)) >= 5 and blocks(path), 3, what="5 block lines")
    by_name = {e["qname"].rstrip("."): e for e in got}
    e = by_name["meta4.example.com"]
    assert (e["list"], e["category"], e["rule"], e["where"], e["matched"], e["action"]) == (
        "rebinding", "detect", "rebinding:metadata", "answer-ip", "169.254.169.254",
        "nxdomain"), e
    assert by_name["meta6.example.com"]["matched"] == "fd00:ec2::254"
    assert by_name["mapped.example.com"]["matched"] == "::ffff:169.254.169.254"
    assert by_name["hint.example.com"]["matched"] == "169.254.169.254"
    assert by_name["ecs.example.com"]["matched"] == "169.254.170.2"
    assert not any(n in by_name for n in ("priv.example.com", "public.example.com",
                                          "metadata.google.internal")), got

    s = wait_metric(metrics_port(m), lambda s: val(
        s, "minewall_detections_total", detector="rebinding", **{"class": "metadata"}) == 5,
        "5 metadata detections")
    assert val(s, "minewall_detections_total", detector="rebinding", **{"class": "private"}) == 0
    assert val(s, "minewall_blocks_total", list="rebinding", category="detect",
               where="answer-ip") == 5


def test_blocked_answer_is_never_served_from_cache(start, up):
    """A blocked answer is not cached: every query asks again and is blocked again."""
    m = start()
    for i in range(3):
        assert_blocked(m.query("meta4.example.com"))
    assert up.count("meta4.example.com") == 3
    wait_metric(metrics_port(m), lambda s: val(
        s, "minewall_detections_total", **{"class": "metadata"}) == 3, "3 detections")


def toloop(q):
    """What a recursive upstream answers for a public name CNAMEd to localhost: the chain and
    the address at its end."""
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("toloop.example.com.", 300, "IN", "CNAME", "localhost."))
    r.answer.append(dns.rrset.from_text("localhost.", 300, "IN", "A", "127.0.0.1"))
    return r


def test_private_guard_and_internal_zones(start, tmp_path, up):
    up.set_handler("toloop.example.com", toloop)
    m = start({"private": True, "action": "refused",
               "internal-zones": ["corp.example.com"]})
    assert_blocked(m.query("priv.example.com"), dns.rcode.REFUSED)
    assert_blocked(m.query("loop.example.com"), dns.rcode.REFUSED)
    assert_blocked(m.query("meta4.example.com"), dns.rcode.REFUSED)
    # Under an internal zone: neither private nor metadata addresses are blocked.
    assert_passes(m.query("db.corp.example.com"), ["10.0.0.5"])
    assert_passes(m.query("imds.corp.example.com"), ["169.254.169.254"])
    # A public name CNAMEd into the internal zone is the operator's own alias.
    assert_passes(m.query("alias.example.com"), ["10.0.0.5"])
    # A public name CNAMEd to localhost is the classic rebinding trick.
    assert_blocked(m.query("toloop.example.com"), dns.rcode.REFUSED)
    # Names that are not public keep resolving: localhost, a home network's .lan names.
    assert_passes(m.query("localhost"), ["127.0.0.1"])
    assert_passes(m.query("nas.lan"), ["192.168.1.10"])
    assert_passes(m.query("public.example.com"), ["192.0.2.1"])
    path = str(tmp_path / "blocks.jsonl")
    got = wait_until(lambda: len(blocks(path)) >= 4 and blocks(path), 3, what="4 block lines")
    rules = {e["qname"].rstrip("."): (e["rule"], e["matched"], e["action"]) for e in got}
    assert rules["priv.example.com"] == ("rebinding:private", "10.0.0.1", "refused"), rules
    assert rules["loop.example.com"] == ("rebinding:loopback", "127.0.0.1", "refused"), rules
    assert rules["toloop.example.com"][0] == "rebinding:loopback", rules
    assert not any(n.endswith("corp.example.com") for n in rules), rules
    wait_metric(metrics_port(m), lambda s: val(
        s, "minewall_detections_total", **{"class": "private"}) == 1 and val(
        s, "minewall_detections_total", **{"class": "loopback"}) == 2, "private and loopback")


def test_action_log_alerts_only_and_on_cache_hits(start, tmp_path, up):
    """action: log answers normally and records every detection, cache hits included."""
    m = start({"action": "log"})
    assert_passes(m.query("meta4.example.com"), ["169.254.169.254"])
    assert_passes(m.query("meta4.example.com"), ["169.254.169.254"])
    assert up.count("meta4.example.com") == 1  # the second came from the cache
    wait_metric(metrics_port(m), lambda s: val(
        s, "minewall_detections_total", **{"class": "metadata"}) == 2, "2 detections")
    e = wait_until(lambda: blocks(str(tmp_path / "blocks.jsonl")), 3, what="block line")[0]
    assert e["action"] == "log" and e["rule"] == "rebinding:metadata", e


def test_guard_off_and_reload_applies_to_cached_answers(start, up):
    """private off, a private answer is cached; a reload turning the guard on blocks the cached
    answer without asking upstream again (the cache entry is checked under the new config)."""
    m = start({"private": False})
    assert_passes(m.query("priv.example.com"), ["10.0.0.1"])
    assert up.count("priv.example.com") == 1
    m.config["detect"] = {"rebinding": {"private": True}}
    m.write_config()
    m.sighup()
    m.wait_log("configuration reloaded")
    assert_blocked(m.query("priv.example.com"))
    assert up.count("priv.example.com") == 1
    # Both classes off: nothing is guarded.
    m.config["detect"] = {"rebinding": {"private": False, "metadata": False}}
    m.write_config()
    m.sighup()
    m.wait_log_count("configuration reloaded", 2)
    assert_passes(m.query("meta4.example.com"), ["169.254.169.254"])
    assert_passes(m.query("priv.example.com"), ["10.0.0.1"])


def test_config_errors_refused_with_line(tmp_path):
    path = str(tmp_path / "bad.yaml")
    with open(path, "w") as f:
        f.write("listen: [127.0.0.1:%d]\n"  # 1
                "detect:\n"                  # 2
                "  rebinding:\n"             # 3
                "    private: maybe\n"       # 4
                "    action: block\n"        # 5
                "    internal-zones:\n"      # 6
                "      - corp.example.com\n"  # 7
                "      - Corp.Example.COM.\n"  # 8
                "      - a..b\n"             # 9
                "  tunnel: {block-for: 10 minutes}\n"  # 10
                "  tunel: {}\n" % free_port())  # 11
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line, text in ((4, "expected true or false, found 'maybe'"),
                       (5, "unknown action 'block'"),
                       (8, "duplicate zone 'Corp.Example.COM.' (first on line 7)"),
                       (9, "invalid zone name 'a..b'"),
                       (10, "detect.tunnel.block-for: expected a duration such as 90s, 10m or "
                            "1h, found '10 minutes'"),
                       (11, "unknown key 'tunel' in 'detect'")):
        assert "%s:%d: " % (path, line) in out and text in out, (line, text, out)
    reported = {int(n) for n in re.findall(re.escape(path) + r":(\d+): ", out)}
    assert reported == {4, 5, 8, 9, 10, 11}, out


def test_explain_shows_registered_domain(tmp_path):
    path = str(tmp_path / "c.yaml")
    with open(path, "w") as f:
        f.write(to_yaml({"listen": ["127.0.0.1:%d" % free_port()],
                         "detect": {"rebinding": {"internal-zones": ["corp.example.co.uk"]}}})
                + "\n")
    res = run_minewall(["-c", path, "--explain", "a.b.Example.co.uk"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "a.b.Example.co.uk: registered domain example.co.uk (public suffix list: file " \
        "/usr/share/publicsuffix/public_suffix_list.dafsa)" in out, out
    assert "rebinding guard (metadata addresses): its answers are checked" in out, out
    res = run_minewall(["-c", path, "--explain", "db.corp.example.co.uk"])
    assert "exempt, under detect.rebinding.internal-zones" in res.stdout, res.stdout
    res = run_minewall(["-c", path, "--explain", "nas.lan"])
    assert "nas.lan: registered domain nas.lan" in res.stdout, res.stdout
    assert "exempt, not a public name" in res.stdout, res.stdout
    res = run_minewall(["-c", path, "--explain", "::ffff:169.254.169.254"])
    assert "metadata address: blocked for public names" in res.stdout, res.stdout
    res = run_minewall(["-c", path, "--explain", "10.0.0.1"])
    assert "private address: not guarded" in res.stdout, res.stdout
