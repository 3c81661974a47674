"""The routing journal (journal: in the config): answer changes with geo data, same-ASN churn,
CNAME retargets, the max-names bound, track all/listed/none, host file watches (hosts and
resolv.conf, edited in place, renamed over, deleted and recreated), upstream down/up, config
changes on SIGHUP, an unwritable journal path, and the tools/minewall-journal reader.

Answers change only on cache misses, so the records use TTL 1 and each test waits a little
over a second (CACHE_EXPIRE_S) before asking again. Every minewall runs one worker thread, so
the per-worker state (tracked names, upstream health) is the process's."""

import datetime
import json
import os
import subprocess
import sys
import time

import dns.rcode
import pytest

import conftest
from conftest import FAST_FAIL, to_yaml, wait_until

MKMMDB = os.path.join(conftest.SRCDIR, "tests", "tools", "mkmmdb.pl")
READER = os.path.join(conftest.SRCDIR, "tools", "minewall-journal")
CACHE_EXPIRE_S = 1.3  # TTL 1 plus margin
FLUSH_S = 0.2  # the journal writer's period
QUIET_S = 0.6  # how long to wait to be sure no event comes (3 flushes)

OLD_IP, SAME_AS_IP, OTHER_AS_IP = "192.0.2.9", "192.0.2.10", "198.51.100.1"


# --- helpers ---------------------------------------------------------------------------------


def read_journal(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def events(path, etype=None, name=None):
    out = []
    for e in read_journal(path):
        if etype and e.get("type") != etype:
            continue
        if name and str(e.get("name", "")).rstrip(".").lower() != name.rstrip(".").lower():
            continue
        out.append(e)
    return out


def wait_events(path, etype, n=1, timeout=3.0, name=None):
    return wait_until(lambda: len(events(path, etype, name)) >= n and events(path, etype, name),
                      timeout, what="%d %s event(s)%s in %s" % (
                          n, etype, " for %s" % name if name else "", path))


def no_new_events(path, etype, before, name=None):
    """No event of etype beyond the `before` already there shows up within QUIET_S."""
    time.sleep(QUIET_S)
    evs = events(path, etype, name)
    assert len(evs) == before, "unexpected %s events: %s" % (etype, evs[before:])


def mkmmdb(tmp_path, kind, *specs):
    out = str(tmp_path / ("%s.mmdb" % kind))
    subprocess.run(["perl", MKMMDB, out, kind] + list(specs), check=True, timeout=30)
    return out


def assert_ok(r, addrs=None):
    assert r.rcode() == dns.rcode.NOERROR, r
    if addrs is not None:
        assert conftest.addresses(r) == sorted(addrs), r


@pytest.fixture
def jstart(make_minewall, make_upstream, tmp_path):
    """jstart(records=None, journal={...}, **config) -> (minewall, upstream, journal path).
    The journal watches nothing under /etc unless journal["watch"] says so."""
    def go(records=None, journal=None, upstreams=None, **config):
        up = make_upstream(records or {})
        jpath = str(tmp_path / "journal.jsonl")
        j = {"path": jpath, "watch": []}
        j.update(journal or {})
        config = dict(FAST_FAIL, threads=1, **config)
        m = make_minewall(upstreams if upstreams is not None else [up],
                          config=dict(config, journal=j))
        return m, up, j["path"]
    return go


def churn(m, up, name, values, rdtype="A"):
    """Point name at values (TTL 1), wait for the cached answer to expire, ask again."""
    up.set_record(name, rdtype, 1, values)
    time.sleep(CACHE_EXPIRE_S)
    return m.query(name, rdtype)


# --- answer_change ---------------------------------------------------------------------------


@pytest.fixture
def geo(tmp_path):
    asn = mkmmdb(tmp_path, "asn", "192.0.2.0/24=64500:Doc Org", "198.51.100.0/24=64501:Other Net")
    country = mkmmdb(tmp_path, "country", "192.0.2.0/24=DE", "198.51.100.0/24=FR")
    return {"asn": asn, "country": country}


def test_answer_change_other_asn_with_geo(jstart, geo):
    m, up, jp = jstart({"move.test": {"A": (1, [OLD_IP])}}, journal={"geoip": geo})
    assert_ok(m.query("move.test"), [OLD_IP])
    assert_ok(churn(m, up, "move.test", [OTHER_AS_IP]), [OTHER_AS_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["name"].rstrip(".") == "move.test" and e["qtype"] == "A", e
    assert e["old"] == [OLD_IP] and e["new"] == [OTHER_AS_IP], e
    assert e["added"] == [OTHER_AS_IP] and e["removed"] == [OLD_IP], e
    assert e["asn_changed"] is True and e["country_changed"] is True, e
    assert e["cname_changed"] is False and e["truncated"] is False, e
    assert e["ttl"] == 1 and e["upstream"] and str(up.port) in e["upstream"], e
    assert e["old_geo"] == [{"ip": OLD_IP, "asn": 64500, "as_org": "Doc Org", "country": "DE"}], e
    assert e["new_geo"] == [{"ip": OTHER_AS_IP, "asn": 64501, "as_org": "Other Net",
                             "country": "FR"}], e
    datetime.datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert "host" in e
    assert len(events(jp, "answer_change")) == 1


def test_geo_defaults_to_top_level_geoip(jstart, geo):
    m, up, jp = jstart({"move.test": {"A": (1, [OLD_IP])}}, geoip=geo)
    m.query("move.test")
    churn(m, up, "move.test", [OTHER_AS_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["asn_changed"] is True, e
    assert [g["asn"] for g in e["new_geo"]] == [64501], e


def test_same_asn_churn(jstart, geo):
    m, up, jp = jstart({"churn.test": {"A": (1, [OLD_IP])}}, journal={"geoip": geo})
    m.query("churn.test")
    churn(m, up, "churn.test", [SAME_AS_IP, OLD_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["added"] == [SAME_AS_IP] and e["removed"] == [], e
    assert e["asn_changed"] is False and e["country_changed"] is False, e
    assert {g["asn"] for g in e["new_geo"]} == {64500}, e


def test_ignore_same_asn(jstart, geo):
    m, up, jp = jstart({"churn.test": {"A": (1, [OLD_IP])}},
                       journal={"geoip": geo, "ignore-same-asn": True})
    m.query("churn.test")
    assert_ok(churn(m, up, "churn.test", [SAME_AS_IP]), [SAME_AS_IP])
    no_new_events(jp, "answer_change", 0)
    # a move to another ASN still counts
    churn(m, up, "churn.test", [OTHER_AS_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["old"] == [SAME_AS_IP] and e["new"] == [OTHER_AS_IP] and e["asn_changed"], e


def test_asn_unknown_is_null_never_false(jstart, tmp_path):
    """Issue 11 item 10: without geoip (or an address the database does not know) the flags
    are null, not false; ignore-same-asn without an ASN database is a config error with its
    line."""
    m, up, jp = jstart({"move.test": {"A": (1, [OLD_IP])}})
    m.query("move.test")
    churn(m, up, "move.test", [OTHER_AS_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["asn_changed"] is None and e["country_changed"] is None, e
    assert "old_geo" not in e, e
    conf = tmp_path / "bad.yaml"
    conf.write_text("upstreams: ['127.0.0.1:53']\njournal:\n  path: %s\n"
                    "  ignore-same-asn: true\n" % (tmp_path / "j.jsonl"))
    p = conftest.run_minewall(["--check-config", "-c", str(conf)])
    assert p.returncode == 1, p.stdout
    assert "%s:4: journal.ignore-same-asn needs an ASN database" % conf in p.stdout, p.stdout


def test_asn_unknown_address_with_geo_is_null(jstart, geo):
    unknown = "203.0.113.99"  # not in the test databases
    m, up, jp = jstart({"gone.test": {"A": (1, [OLD_IP])}}, journal={"geoip": geo})
    m.query("gone.test")
    churn(m, up, "gone.test", [unknown])
    e = wait_events(jp, "answer_change")[0]
    assert e["asn_changed"] is None and e["country_changed"] is None, e
    assert e["new_geo"] == [{"ip": unknown, "asn": None, "as_org": None, "country": None}], e


def test_cname_retarget(jstart):
    recs = {"svc.test": {"CNAME": (1, ["edge-a.test."])},
            "edge-a.test": {"A": (1, ["192.0.2.50"])},
            "edge-b.test": {"A": (1, ["192.0.2.51"])}}
    m, up, jp = jstart(recs)
    assert_ok(m.query("svc.test"), ["192.0.2.50"])
    up.set_record("svc.test", "CNAME", 1, ["edge-b.test."])
    time.sleep(CACHE_EXPIRE_S)
    assert_ok(m.query("svc.test"), ["192.0.2.51"])
    e = wait_events(jp, "answer_change", name="svc.test")[0]
    assert e["qtype"] == "A" and e["cname_changed"] is True, e
    assert [c.rstrip(".") for c in e["old_cname"]] == ["edge-a.test"], e
    assert [c.rstrip(".") for c in e["new_cname"]] == ["edge-b.test"], e
    assert e["added"] == ["192.0.2.51"] and e["removed"] == ["192.0.2.50"], e


def test_first_sight_and_unchanged_are_no_event(jstart):
    m, up, jp = jstart({"new.test": {"A": (1, ["192.0.2.60"])},
                        "mx.test": {"MX": (1, ["10 a.test."])}})
    m.query("new.test")
    m.query("mx.test", "MX")
    time.sleep(CACHE_EXPIRE_S)
    # the same answer again (from upstream: the cache expired) and TTL-only changes
    up.set_record("new.test", "A", 1, ["192.0.2.60"])
    m.query("new.test")
    m.query("mx.test", "MX")
    no_new_events(jp, "answer_change", 0)
    assert up.count("new.test") == 2, "second query was not a cache miss"
    # while an MX change is one
    churn(m, up, "mx.test", ["20 b.test."], "MX")
    e = wait_events(jp, "answer_change")[0]
    assert e["qtype"] == "MX" and e["added"] == ["20 b.test"] and \
        e["removed"] == ["10 a.test"], e


def test_max_names_bound(jstart):
    names = ["n%d.test" % i for i in range(10)]
    m, up, jp = jstart({n: {"A": (1, ["192.0.2.%d" % (100 + i)])} for i, n in enumerate(names)},
                       journal={"max-names": 3})
    for n in names:
        m.query(n)
    # n0 was evicted long ago: its change is a first sight again; n9 (tracked) is a change
    up.set_record("n0.test", "A", 1, ["192.0.2.200"])
    up.set_record("n9.test", "A", 1, ["192.0.2.209"])
    time.sleep(CACHE_EXPIRE_S)
    m.query("n0.test")
    m.query("n9.test")
    wait_events(jp, "answer_change", name="n9.test")
    no_new_events(jp, "answer_change", 1)
    # and n0 is tracked now
    churn(m, up, "n0.test", ["192.0.2.201"])
    wait_events(jp, "answer_change", name="n0.test")


def test_track_none(jstart):
    m, up, jp = jstart({"x.test": {"A": (1, [OLD_IP])}}, journal={"track": "none"})
    m.query("x.test")
    assert_ok(churn(m, up, "x.test", [OTHER_AS_IP]), [OTHER_AS_IP])
    no_new_events(jp, "answer_change", 0)


def test_track_listed(jstart, tmp_path):
    lst = tmp_path / "watched.txt"
    lst.write_text("watched.test\n")
    recs = {"watched.test": {"A": (1, [OLD_IP])}, "other.test": {"A": (1, [OLD_IP])}}
    m, up, jp = jstart(recs, journal={"track": "listed"},
                       lists=[{"name": "watched", "category": "watch-names", "path": str(lst),
                               "action": "log"}])
    assert_ok(m.query("watched.test"), [OLD_IP])
    assert_ok(m.query("other.test"), [OLD_IP])
    up.set_record("watched.test", "A", 1, [OTHER_AS_IP])
    up.set_record("other.test", "A", 1, [OTHER_AS_IP])
    time.sleep(CACHE_EXPIRE_S)
    assert_ok(m.query("watched.test"), [OTHER_AS_IP])  # action log: still resolves
    assert_ok(m.query("other.test"), [OTHER_AS_IP])
    e = wait_events(jp, "answer_change")[0]
    assert e["name"].rstrip(".") == "watched.test", e
    no_new_events(jp, "answer_change", 1)


# --- host_config_change ----------------------------------------------------------------------


@pytest.fixture
def etc(tmp_path):
    d = tmp_path / "etc"
    d.mkdir()
    return d


def write_atomic(path, text):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, str(path))


HOSTS0 = "127.0.0.1 localhost\n192.0.2.5 intranet.example\n"


def test_hosts_edits(jstart, etc):
    hosts = etc / "hosts"
    hosts.write_text(HOSTS0)
    m, up, jp = jstart(journal={"watch": [str(hosts)]})
    time.sleep(0.2)
    # 1. edited in place (append)
    with open(hosts, "a") as f:
        f.write("203.0.113.7 pool.miner.example\n")
    e = wait_events(jp, "host_config_change", 1)[0]
    assert e["file"] == str(hosts) and e["kind"] == "hosts", e
    assert e["lines_added"] == 1 and e["lines_removed"] == 0, e
    assert e["added_lines"] == ["203.0.113.7 pool.miner.example"] and e["removed_lines"] == [], e
    assert e["names_changed"] == ["pool.miner.example"], e
    assert e["old_sha256"] and e["new_sha256"] and e["old_sha256"] != e["new_sha256"], e
    assert e["lines_truncated"] is False, e
    # 2. replaced by rename: intranet.example moves
    write_atomic(hosts, "127.0.0.1 localhost\n192.0.2.6 intranet.example\n"
                        "203.0.113.7 pool.miner.example\n")
    e = wait_events(jp, "host_config_change", 2)[1]
    assert e["added_lines"] == ["192.0.2.6 intranet.example"], e
    assert e["removed_lines"] == ["192.0.2.5 intranet.example"], e
    assert e["names_changed"] == ["intranet.example"], e
    assert e["old_sha256"] == events(jp, "host_config_change")[0]["new_sha256"], e
    # 3. deleted and recreated at once (within the settle time): one event
    os.unlink(str(hosts))
    hosts.write_text(HOSTS0)
    e = wait_events(jp, "host_config_change", 3)[2]
    assert sorted(e["removed_lines"]) == ["192.0.2.6 intranet.example",
                                          "203.0.113.7 pool.miner.example"], e
    assert e["added_lines"] == ["192.0.2.5 intranet.example"], e
    assert sorted(e["names_changed"]) == ["intranet.example", "pool.miner.example"], e
    no_new_events(jp, "host_config_change", 3)
    # 4. deleted for good: the new hash is null; recreated later: the old one is null
    os.unlink(str(hosts))
    e = wait_events(jp, "host_config_change", 4)[3]
    assert e["new_sha256"] is None and e["lines_removed"] == 2, e
    hosts.write_text(HOSTS0)
    e = wait_events(jp, "host_config_change", 5)[4]
    assert e["old_sha256"] is None and e["lines_added"] == 2, e
    # 5. rewritten with the same content: no event
    write_atomic(hosts, HOSTS0)
    no_new_events(jp, "host_config_change", 5)


def test_resolv_conf_bypass(jstart, etc):
    rc = etc / "resolv.conf"
    other = etc / "other.conf"
    other.write_text("a\n")
    m, up, jp = jstart(journal={"watch": [str(rc), str(other)]})
    rc_text = "nameserver %s\n" % m.host
    write_atomic(rc, rc_text)  # created, pointing at minewall
    e = wait_events(jp, "host_config_change", 1)[0]
    assert e["kind"] == "resolv.conf" and e["old_sha256"] is None, e
    assert e["nameservers_new"] == [m.host] and e["resolver_bypass"] is False, e
    # re-pointed elsewhere: bypass
    with open(rc, "w") as f:
        f.write("# changed\nnameserver 8.8.8.8\n")
    e = wait_events(jp, "host_config_change", 2)[1]
    assert e["nameservers_old"] == [m.host] and e["nameservers_new"] == ["8.8.8.8"], e
    assert e["resolver_bypass"] is True and e["resolver_bypass_old"] is False, e
    assert sorted(e["added_lines"]) == ["# changed", "nameserver 8.8.8.8"], e
    m.wait_log("resolver bypass")
    # back to minewall's listen IP
    write_atomic(rc, rc_text)
    e = wait_events(jp, "host_config_change", 3)[2]
    assert e["resolver_bypass"] is False and e["resolver_bypass_old"] is True, e
    # a file of another kind
    other.write_text("b\n")
    e = wait_events(jp, "host_config_change", 4)[3]
    assert e["kind"] == "other" and e["file"] == str(other), e
    assert "nameservers_new" not in e and "names_changed" not in e, e


def test_watched_files_recognised_by_content_and_kind(jstart, etc):
    """Issue 11 item 9: a resolv.conf under another name (a systemd-resolved style path, a
    container's bind mount) is recognised by its content; `kind:` forces a kind (a file that
    starts empty, or that an attacker fills with junk); a hosts file under another name too."""
    by_content = etc / "resolv.conf.upstream"
    by_content.write_text("# managed\nnameserver 127.0.0.1\n")
    forced = etc / "dns-config"
    forced.write_text("")
    hosts = etc / "hosts.local"
    hosts.write_text(HOSTS0)
    m, up, jp = jstart(journal={"watch": [str(by_content),
                                          {"path": str(forced), "kind": "resolv"},
                                          str(hosts)]})
    write_atomic(by_content, "# managed\nnameserver 9.9.9.9\n")
    e = wait_events(jp, "host_config_change", 1)[0]
    assert e["file"] == str(by_content) and e["kind"] == "resolv.conf", e
    assert e["nameservers_new"] == ["9.9.9.9"] and e["resolver_bypass"] is True, e
    m.wait_log("resolver bypass")
    # forced: junk lines do not hide the nameserver that points elsewhere
    forced.write_text("x=1\ny=2\nz=3\nnameserver 8.8.4.4\n")
    e = wait_events(jp, "host_config_change", 2)[1]
    assert e["file"] == str(forced) and e["kind"] == "resolv.conf", e
    assert e["nameservers_new"] == ["8.8.4.4"] and e["resolver_bypass"] is True, e
    with open(hosts, "a") as f:
        f.write("203.0.113.7 pool.miner.example\n")
    e = wait_events(jp, "host_config_change", 3)[2]
    assert e["file"] == str(hosts) and e["kind"] == "hosts", e
    assert e["names_changed"] == ["pool.miner.example"], e
    # once judged resolv.conf, junk appended to the auto-detected file keeps the kind
    write_atomic(by_content, "# managed\nnameserver 9.9.9.9\n" + "junk\n" * 10)
    e = wait_events(jp, "host_config_change", 4)[3]
    assert e["kind"] == "resolv.conf" and e["resolver_bypass"] is True, e


# --- upstream_change, config_change ----------------------------------------------------------


def kill_upstream(m, up, jp):
    """Stop the only upstream and ask until it is marked down; returns the down event."""
    assert_ok(m.query("live.test"))
    up.stop()
    for i in range(3):  # distinct names: every one a miss that times out upstream
        m.query("dead%d.test" % i, timeout=3.0)
        if events(jp, "upstream_change"):
            break
    e = wait_events(jp, "upstream_change", 1, timeout=3)[0]
    assert e["state"] == "down" and e["upstream"] == up.addr, e
    assert e["reason"] == "consecutive failures", e
    assert e["zones"] == {".": None}, e
    return e


def test_upstream_down_and_up(jstart):
    m, up, jp = jstart({"live.test": {"A": (1, [OLD_IP])}})
    kill_upstream(m, up, jp)
    up.restart()
    # a client query still tries the upstream marked down (nothing else is left) and its answer
    # marks it up again
    wait_until(lambda: m.query("live.test").rcode() == dns.rcode.NOERROR, 5, step=0.3,
               what="answers again")
    e = wait_events(jp, "upstream_change", 2, timeout=3)[1]
    assert e["state"] == "up" and e["upstream"] == up.addr, e
    assert e["reason"] == "answered again", e
    assert e["zones"] == {".": up.addr}, e
    assert len(events(jp, "upstream_change")) == 2


def test_upstream_probed_back_without_traffic(jstart):
    m, up, jp = jstart({"live.test": {"A": (1, [OLD_IP])}})
    kill_upstream(m, up, jp)
    time.sleep(1.5)  # the first probe (1 s after down) goes out and times out
    up.restart()
    # a down upstream is probed once a second (health-check.interval); two answers bring it back
    e = wait_events(jp, "upstream_change", 2, timeout=6)[1]
    assert e["state"] == "up" and e["reason"] == "answered again", e
    assert up.count(".", "NS") >= 1


def test_config_change_on_sighup(jstart, make_upstream, tmp_path):
    lst = tmp_path / "l.txt"
    lst.write_text("a.test\nb.test\n")
    m, up, jp = jstart(lists=[{"name": "l", "category": "ads", "path": str(lst)}])
    up2 = make_upstream()
    time.sleep(0.3)
    assert events(jp, "config_change") == []
    lst.write_text("a.test\nb.test\nc.test\n")
    cfg = dict(m.config, upstreams=[up2.addr])
    m.reload_with(to_yaml(cfg) + "\n")
    m.wait_log("configuration reloaded")
    e = wait_events(jp, "config_change", 1)[0]
    assert e["upstreams_added"] == [up2.addr] and e["upstreams_removed"] == [up.addr], e
    assert e["listeners_added"] == [] and e["listeners_removed"] == [], e
    assert {"list": "l", "added": 1, "removed": 0} in e["lists"], e
    # a reload that changes nothing: no event
    m.sighup()
    time.sleep(0.3)
    no_new_events(jp, "config_change", 1)


# --- the journal file ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing-dir", "a-directory"])
def test_unwritable_journal_path(jstart, tmp_path, where):
    jp = str(tmp_path / "no" / "such" / "dir" / "j.jsonl") if where == "missing-dir" \
        else str(tmp_path)
    m, up, _ = jstart({"x.test": {"A": (1, [OLD_IP])}}, journal={"path": jp})
    m.wait_log("cannot open the journal")
    assert_ok(m.query("x.test"), [OLD_IP])
    assert_ok(churn(m, up, "x.test", [OTHER_AS_IP]), [OTHER_AS_IP])
    time.sleep(2 * FLUSH_S)
    assert_ok(m.query("example.test"), ["192.0.2.1"])
    assert m.log().count("cannot open the journal") == 1, m.log()


def test_reopen_on_sighup(jstart):
    m, up, jp = jstart({"x.test": {"A": (1, [OLD_IP])}})
    m.query("x.test")
    churn(m, up, "x.test", [SAME_AS_IP])
    wait_events(jp, "answer_change", 1)
    os.rename(jp, jp + ".1")
    m.sighup()
    m.wait_log("configuration reloaded")
    churn(m, up, "x.test", [OTHER_AS_IP])
    e = wait_events(jp, "answer_change", 1)[0]
    assert e["new"] == [OTHER_AS_IP], e
    assert len(events(jp + ".1", "answer_change")) == 1


# --- tools/minewall-journal ------------------------------------------------------------------


def reader(*args, stdin=None):
    return subprocess.run([sys.executable, READER] + list(args), capture_output=True, text=True,
                          input=stdin, timeout=20)


def test_reader_tool(jstart, geo, etc):
    assert os.access(READER, os.X_OK)
    hosts = etc / "hosts"
    hosts.write_text(HOSTS0)
    m, up, jp = jstart({"move.test": {"A": (1, [OLD_IP])}, "stay.test": {"A": (1, [OLD_IP])}},
                       journal={"geoip": geo, "watch": [str(hosts)]})
    m.query("move.test")
    m.query("stay.test")
    up.set_record("move.test", "A", 1, [OTHER_AS_IP])
    up.set_record("stay.test", "A", 1, [SAME_AS_IP])
    time.sleep(CACHE_EXPIRE_S)
    m.query("move.test")
    m.query("stay.test")
    with open(hosts, "a") as f:
        f.write("192.0.2.8 new.example\n")
    wait_events(jp, "answer_change", 2)
    wait_events(jp, "host_config_change", 1)

    r = reader(jp)
    assert r.returncode == 0 and r.stderr == "", r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:5] == ["TIME", "TYPE", "HOST", "SUBJECT", "SUMMARY"], r.stdout
    assert len(lines) == 4, r.stdout
    mv = next(ln for ln in lines if "move.test" in ln)
    assert "+%s -%s AS64500->AS64501 DE->FR" % (OTHER_AS_IP, OLD_IP) in mv, mv
    st = next(ln for ln in lines if "stay.test" in ln)
    assert "AS64500" not in st and "+%s -%s" % (SAME_AS_IP, OLD_IP) in st, st
    hl = next(ln for ln in lines if str(hosts) in ln)
    assert "names new.example" in hl, hl

    r = reader(jp, "--type", "answer_change", "--json")
    got = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert sorted(e["name"].rstrip(".") for e in got) == ["move.test", "stay.test"], r.stdout
    r = reader(jp, "--type", "host_config", "--json")
    assert [json.loads(ln)["file"] for ln in r.stdout.splitlines()] == [str(hosts)], r.stdout
    r = reader(jp, "--name", "move.test.", "--json")
    assert [json.loads(ln)["name"].rstrip(".") for ln in r.stdout.splitlines()] == \
        ["move.test"], r.stdout
    r = reader(jp, "--name", "hosts", "--type", "host_config_change")
    assert len(r.stdout.splitlines()) == 2 and str(hosts) in r.stdout, r.stdout
    assert len(reader(jp, "--since", "5m", "--json").stdout.splitlines()) == 3
    # --since against a journal with an old line and bad lines, from stdin
    old = dict(events(jp, "answer_change")[0], ts="2020-01-01T00:00:00.000Z")
    text = json.dumps(old) + "\nnot json\n" + open(jp).read() + "[1]\n"
    r = reader("-", "--since", "2d", "--json", stdin=text)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3, r
    assert "stdin:2:" in r.stderr and "stdin:6:" in r.stderr, r.stderr
    r = reader("-", "--json", stdin=text)
    assert len(r.stdout.splitlines()) == 4, r.stdout
    r = reader(str(etc / "missing.jsonl"))
    assert r.returncode == 1 and "missing.jsonl" in r.stderr, r
    assert reader(jp, "--type", "bogus").returncode == 2
