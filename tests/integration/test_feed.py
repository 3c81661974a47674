"""minewall-feed against a real redis-server: the public key schema, push/diff/add/del with
their log records, ls/show/validate/history/hits output, and the error paths.

Each test starts its own redis-server on a free loopback port (no persistence, in tmp_path)
and kills it at teardown. Every wait is bounded. The binary is MINEWALL_FEED_BIN, default
<repo>/build/minewall-feed.
"""

import os
import re
import time

import pytest
import redis

from conftest import FEED_BIN as FEED
from conftest import REDIS_SERVER, feed, free_port

pytestmark = [
    pytest.mark.skipif(not os.path.exists(FEED), reason="minewall-feed not built: " + FEED),
    pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="redis-server not installed"),
]


@pytest.fixture
def rds(redis_server):
    return redis_server()


def ok(p):
    assert p.returncode == 0, "rc=%d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout,
                                                                   p.stderr)
    return p


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def log_records(r, name):
    """The entry records of a list's log (add/del); meta records are left out."""
    return [(f["op"], f["entries"].split(" "))
            for _, f in r.xrange("minewall:list:{%s}:log" % name) if f["op"] in ("add", "del")]


def meta_records(r, name):
    return [f for _, f in r.xrange("minewall:list:{%s}:log" % name) if f["op"] == "meta"]


def catalog(r):
    return [(f["op"], f["list"]) for _, f in r.xrange("minewall:catalog")]


def replay(r, name):
    """What a reader that follows the log from the start would hold."""
    s = set()
    for op, ents in log_records(r, name):
        if op == "add":
            s |= set(ents)
        else:
            s -= set(ents)
    return s


# --- push and the schema ---------------------------------------------------------------------

def test_push_creates_schema(rds, tmp_path):
    f = write(tmp_path, "ads.txt", ["# ads", "Ads.Example.COM.", "*.tracker.example.net",
                                    "ads.example.com"])
    before = int(time.time())
    p = ok(feed(["push", "ads", f, "--category", "advertising", "--action", "nxdomain",
                 "--description", "Ad servers"], rds.url))
    assert p.stdout.strip() == "+2 -0 =0"
    r = rds.client
    assert r.smembers("minewall:lists") == {"ads"}
    assert r.smembers("minewall:list:{ads}:entries") == {"ads.example.com",
                                                           "tracker.example.net"}
    meta = r.hgetall("minewall:list:{ads}:meta")
    assert meta["category"] == "advertising"
    assert meta["action"] == "nxdomain"
    assert meta["type"] == "domain"
    assert meta["description"] == "Ad servers"
    assert before <= int(meta["updated"]) <= int(time.time())
    assert r.type("minewall:list:{ads}:log") == "stream"
    assert log_records(r, "ads") == [("add", ["ads.example.com", "tracker.example.net"])]


def test_push_changed_file_diffs_and_logs(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "m", write(tmp_path, "a.txt", ["a.test", "b.test", "c.test"]),
             "--category", "mining"], rds.url))
    p = ok(feed(["push", "m", write(tmp_path, "b.txt", ["b.test", "c.test", "d.test"])], rds.url))
    assert p.stdout.strip() == "+1 -1 =2"
    assert r.smembers("minewall:list:{m}:entries") == {"b.test", "c.test", "d.test"}
    assert log_records(r, "m")[1:] == [("add", ["d.test"]), ("del", ["a.test"])]
    meta = r.hgetall("minewall:list:{m}:meta")
    assert meta["category"] == "mining"  # kept without --category
    assert meta["action"] == "default"
    p = ok(feed(["push", "m", write(tmp_path, "b.txt", ["b.test", "c.test", "d.test"])], rds.url))
    assert p.stdout.strip() == "+0 -0 =3"
    assert len(log_records(r, "m")) == 3  # no change, no record
    assert replay(r, "m") == r.smembers("minewall:list:{m}:entries")


def test_push_first_needs_category(rds, tmp_path):
    p = feed(["push", "x", write(tmp_path, "a.txt", ["a.test"])], rds.url)
    assert p.returncode == 64
    assert "--category is required" in p.stderr
    assert rds.client.keys("*") == []


def test_push_dry_run_changes_nothing(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "m", write(tmp_path, "a.txt", ["a.test", "b.test"]), "--category", "c"],
            rds.url))
    updated = r.hget("minewall:list:{m}:meta", "updated")
    p = ok(feed(["push", "m", write(tmp_path, "b.txt", ["b.test", "z.test"]), "--dry-run"],
                rds.url))
    assert p.stdout.strip() == "+1 -1 =1"
    assert r.smembers("minewall:list:{m}:entries") == {"a.test", "b.test"}
    assert len(log_records(r, "m")) == 1
    assert r.hget("minewall:list:{m}:meta", "updated") == updated


def test_push_large_list_in_batches(rds, tmp_path):
    r = rds.client
    names = ["h%05d.big.test" % i for i in range(2500)]
    ok(feed(["push", "big", write(tmp_path, "a.txt", names), "--category", "malware"], rds.url))
    assert r.scard("minewall:list:{big}:entries") == 2500
    recs = log_records(r, "big")
    assert [len(e) for _, e in recs] == [1000, 1000, 500]
    # a new list: its meta with the first batch, its catalog record with the last
    ops = [f["op"] for _, f in r.xrange("minewall:list:{big}:log")]
    assert ops == ["add", "meta", "add", "add"], ops
    assert catalog(r) == [("create", "big")]
    p = ok(feed(["push", "big", write(tmp_path, "b.txt", names[1200:] + ["new.big.test"]),
                 "--action", "nxdomain"], rds.url))
    assert p.stdout.strip() == "+1 -1200 =1300"
    # an existing list: the meta change goes with the last batch, and so does its catalog record
    ops = [f["op"] for _, f in r.xrange("minewall:list:{big}:log")][4:]
    assert ops == ["add", "del", "del", "meta"], ops
    assert catalog(r) == [("create", "big"), ("meta", "big")]
    recs = log_records(r, "big")[3:]
    assert [(op, len(e)) for op, e in recs] == [("add", 1), ("del", 1000), ("del", 200)]
    assert replay(r, "big") == r.smembers("minewall:list:{big}:entries")


def test_push_ip_and_asn_normalised(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "c2", write(tmp_path, "ip.txt", ["192.0.2.1/32", "10.0.0.0/8",
                                                      "2001:DB8::1", "2001:db8:1::/48"]),
             "--category", "c2", "--type", "ip", "--action", "drop"], rds.url))
    assert r.smembers("minewall:list:{c2}:entries") == {"192.0.2.1", "10.0.0.0/8",
                                                          "2001:db8::1", "2001:db8:1::/48"}
    assert r.hget("minewall:list:{c2}:meta", "type") == "ip"
    ok(feed(["push", "asns", write(tmp_path, "asn.txt", ["13335", "AS64500", "as64501"]),
             "--category", "hosting", "--format", "asn"], rds.url))
    assert r.smembers("minewall:list:{asns}:entries") == {"AS13335", "AS64500", "AS64501"}
    assert r.hget("minewall:list:{asns}:meta", "type") == "asn"


def test_push_skips_exceptions_with_count(rds, tmp_path):
    f = write(tmp_path, "ab.txt", ["[Adblock Plus 2.0]", "||ads.example.com^",
                                   "@@||ok.example.com^", "@@||fine.example.com^",
                                   "||tracker.test^$third-party"])
    p = ok(feed(["push", "ab", f, "--category", "ads"], rds.url))
    assert p.stdout.strip() == "+2 -0 =0"
    assert "2 exception rules skipped" in p.stderr
    assert rds.client.smembers("minewall:list:{ab}:entries") == {"ads.example.com",
                                                                   "tracker.test"}


def test_push_bad_file(rds, tmp_path):
    f = write(tmp_path, "bad.txt", ["good.test", "bad..name", "also-good.test"])
    p = feed(["push", "l", f, "--category", "c"], rds.url)
    assert p.returncode == 1
    assert re.search(r"bad\.txt:2: .*bad\.\.name", p.stderr)
    assert "nothing pushed" in p.stderr
    assert rds.client.keys("*") == []
    p = ok(feed(["push", "l", f, "--category", "c", "--skip-bad"], rds.url))
    assert p.stdout.strip() == "+2 -0 =0"
    p = feed(["push", "l", str(tmp_path / "missing.txt")], rds.url)
    assert p.returncode == 1
    assert "missing.txt: cannot read" in p.stderr


def test_push_refuses_to_empty_a_list(rds, tmp_path):
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["a.test"]), "--category", "c"], rds.url))
    empty = write(tmp_path, "empty.txt", ["# nothing"])
    p = feed(["push", "l", empty], rds.url)
    assert p.returncode == 1
    assert "--allow-empty" in p.stderr
    assert rds.client.scard("minewall:list:{l}:entries") == 1
    p = ok(feed(["push", "l", empty, "--allow-empty"], rds.url))
    assert p.stdout.strip() == "+0 -1 =0"
    assert rds.client.scard("minewall:list:{l}:entries") == 0


# --- add / del -------------------------------------------------------------------------------

def test_add_del(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["a.test"]), "--category", "c"], rds.url))
    p = ok(feed(["add", "l", "B.Test.", "a.test", "c.test"], rds.url))
    assert p.stdout.splitlines() == [" a.test (already listed)", "+b.test", "+c.test",
                                     "+2 -0 =1"]
    assert r.smembers("minewall:list:{l}:entries") == {"a.test", "b.test", "c.test"}
    assert log_records(r, "l")[-1] == ("add", ["b.test", "c.test"])
    p = ok(feed(["del", "l", "a.test", "zz.test"], rds.url))
    assert "-a.test" in p.stdout.splitlines()
    assert " zz.test (not listed)" in p.stdout.splitlines()
    assert p.stdout.splitlines()[-1] == "+0 -1 =1"
    assert log_records(r, "l")[-1] == ("del", ["a.test"])
    assert replay(r, "l") == r.smembers("minewall:list:{l}:entries") == {"b.test", "c.test"}


def test_add_bad_entry_applies_nothing(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["a.test"]), "--category", "c"], rds.url))
    p = feed(["add", "l", "good.test", "bad..entry"], rds.url)
    assert p.returncode == 1
    assert "bad..entry" in p.stderr
    p = feed(["add", "l", "10.0.0.0/8"], rds.url)  # an ip entry in a domain list
    assert p.returncode == 1
    assert r.smembers("minewall:list:{l}:entries") == {"a.test"}
    assert len(log_records(r, "l")) == 1
    p = feed(["del", "nosuch", "a.test"], rds.url)
    assert p.returncode == 1
    assert "unknown list 'nosuch'" in p.stderr


def test_add_creates_list_with_category(rds):
    p = feed(["add", "fresh", "x.test"], rds.url)
    assert p.returncode == 64
    ok(feed(["add", "fresh", "x.test", "--category", "phishing"], rds.url))
    r = rds.client
    assert "fresh" in r.smembers("minewall:lists")
    assert r.hget("minewall:list:{fresh}:meta", "category") == "phishing"
    assert r.hget("minewall:list:{fresh}:meta", "type") == "domain"


# --- read-only commands ----------------------------------------------------------------------

def test_ls_and_show(rds, tmp_path):
    ok(feed(["push", "zeta", write(tmp_path, "z.txt", ["b.test", "a.test"]),
             "--category", "malware", "--action", "sinkhole", "--description", "Zeta list"],
            rds.url))
    ok(feed(["push", "alpha", write(tmp_path, "a.txt", ["10.0.0.0/8"]), "--category", "c2",
             "--type", "ip"], rds.url))
    p = ok(feed(["ls"], rds.url))
    lines = p.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "ENTRIES", "CATEGORY", "ACTION", "TYPE"]
    assert [line.split()[0] for line in lines[1:]] == ["alpha", "zeta"]
    assert lines[2].split()[:5] == ["zeta", "2", "malware", "sinkhole", "domain"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", lines[2])
    p = ok(feed(["show", "zeta"], rds.url))
    lines = p.stdout.splitlines()
    assert "# category: malware" in lines
    assert "# description: Zeta list" in lines
    assert "# entries: 2" in lines
    assert [line for line in lines if not line.startswith("#")] == ["a.test", "b.test"]
    p = feed(["show", "nosuch"], rds.url)
    assert p.returncode == 1
    assert "unknown list 'nosuch'" in p.stderr


def test_diff(rds, tmp_path):
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["a.test", "c.test", "e.test"]),
             "--category", "c"], rds.url))
    p = ok(feed(["diff", "l", write(tmp_path, "b.txt", ["d.test", "b.test", "c.test"])],
                rds.url))
    assert p.stdout.splitlines() == ["-a.test", "+b.test", "+d.test", "-e.test", "+2 -2 =1"]
    assert rds.client.smembers("minewall:list:{l}:entries") == {"a.test", "c.test", "e.test"}


def test_validate_needs_no_redis(tmp_path):
    down = "redis://127.0.0.1:%d" % free_port()
    good = write(tmp_path, "good.txt", ["a.test", "b.test", "a.test"])
    p = ok(feed(["validate", good], down))
    assert "3 entries, 2 distinct domain entries, 0 bad lines" in p.stdout
    bad = write(tmp_path, "bad.txt", ["a.test", "com", "x..y"])
    p = feed(["validate", bad], down)
    assert p.returncode == 1
    assert re.search(r"bad\.txt:2: ", p.stderr)
    assert re.search(r"bad\.txt:3: ", p.stderr)
    assert "2 bad lines" in p.stdout
    asn = write(tmp_path, "asn.txt", ["13335", "AS1"])
    p = ok(feed(["validate", asn, "--format", "asn"], down))
    assert "2 distinct asn entries" in p.stdout


def test_history(rds, tmp_path):
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["a%d.test" % i for i in range(8)]),
             "--category", "c"], rds.url))
    ok(feed(["add", "l", "x.test"], rds.url))
    ok(feed(["del", "l", "a0.test"], rds.url))
    p = ok(feed(["history", "l"], rds.url))
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "TIME", "OP"]
    assert len(lines) == 5
    first = lines[1].split()
    assert re.match(r"\d+-\d+$", first[0])
    assert first[4:7] == ["add", "8", "a0.test"]
    assert lines[1].endswith("...")
    # the new list's meta, in the same transaction as its first entries
    assert lines[2].split()[4:6] == ["meta", "0"] and "action=default" in lines[2], lines[2]
    assert lines[3].split()[4:7] == ["add", "1", "x.test"]
    assert lines[4].split()[4:7] == ["del", "1", "a0.test"]
    p = ok(feed(["history", "l", "-n", "1"], rds.url))
    assert len(p.stdout.splitlines()) == 2
    assert p.stdout.splitlines()[1].split()[4] == "del"
    p = feed(["history", "nosuch"], rds.url)
    assert p.returncode == 1
    assert "unknown list" in p.stderr


def block_event(r, host, client, lst, rule, qname="q.test", id="*"):
    r.xadd("minewall:events:blocks",
           {"host": host, "ts": str(int(time.time())), "client": client, "qname": qname,
            "qtype": "A", "list": lst, "category": "c", "action": "nxdomain", "rule": rule,
            "where": "qname"}, id=id)


def test_hits(rds, tmp_path):
    r = rds.client
    ok(feed(["push", "ads", write(tmp_path, "a.txt", ["a.test", "b.test", "c.test"]),
             "--category", "ads"], rds.url))
    ok(feed(["push", "ips", write(tmp_path, "i.txt", ["192.0.2.1", "10.0.0.0/8"]),
             "--category", "c2"], rds.url))
    block_event(r, "r1", "10.0.0.1", "ads", "a.test", id="1000-0")  # long before the window
    block_event(r, "r1", "10.0.0.1", "ads", "a.test")
    block_event(r, "r1", "10.0.0.2", "ads", "a.test")
    block_event(r, "r2", "10.0.0.1", "ads", "a.test")
    block_event(r, "r2", "10.0.0.3", "ads", "b.test")
    block_event(r, "r1", "10.0.0.3", "ips", "192.0.2.1/32")  # resolvers write /32
    block_event(r, "r1", "10.0.0.3", "local", "evil.test")  # a list not published
    p = ok(feed(["hits", "--since", "15m"], rds.url))
    out = p.stdout
    assert "6 events" in out.splitlines()[0]
    assert re.search(r"^list ads: 4 hits on 2 rules$", out, re.M)
    assert re.search(r"^\s+3\s+2\s+2\s+a\.test$", out, re.M)
    assert re.search(r"^\s+1\s+1\s+1\s+b\.test$", out, re.M)
    assert re.search(r"^\s+1\s+1\s+1\s+192\.0\.2\.1$", out, re.M)
    assert "never hit: 1 of 3 entries" in out
    assert "never hit: 1 of 2 entries" in out
    assert re.search(r"^list local: 1 hits on 1 rules \(not published", out, re.M)
    p = ok(feed(["hits", "ads", "--since", "1h"], rds.url))
    assert "list ips" not in p.stdout
    assert p.stdout.splitlines()[-2:] == ["  never hit: 1 of 3 entries", "    c.test"]
    p = ok(feed(["hits", "--since", "2d"], rds.url))
    assert re.search(r"^list ads: 4 hits", p.stdout, re.M)  # id 1000-0 is from 1970
    p = feed(["hits", "--since", "5x"], rds.url)
    assert p.returncode == 64


# --- errors ----------------------------------------------------------------------------------

def test_redis_down(tmp_path):
    port = free_port()
    f = write(tmp_path, "a.txt", ["a.test"])
    for args in (["ls"], ["push", "l", f, "--category", "c"], ["show", "l"]):
        p = feed(args, "redis://127.0.0.1:%d" % port)
        assert p.returncode == 2, args
        assert p.stderr.startswith("minewall-feed: cannot connect to redis://127.0.0.1:%d: "
                                   % port)
    p = feed(["ls"], env_url="redis://127.0.0.1:%d" % port)  # the environment's default
    assert p.returncode == 2
    assert "127.0.0.1:%d" % port in p.stderr


def test_password(tmp_path, redis_server):
    rs = redis_server(password="secret")
    base = "redis://127.0.0.1:%d" % rs.port
    p = feed(["ls"], base)
    assert p.returncode == 2
    assert "authentication failed" in p.stderr
    p = feed(["ls"], "redis://:wrong@127.0.0.1:%d" % rs.port)
    assert p.returncode == 2
    assert "authentication failed" in p.stderr
    assert "wrong" not in p.stderr.split(":", 1)[1].split("authentication")[0]
    f = write(tmp_path, "a.txt", ["a.test"])
    ok(feed(["push", "l", f, "--category", "c"], rs.url + "/3"))
    assert rs.client.keys("*") == []  # db 0 untouched
    db3 = redis.Redis(host="127.0.0.1", port=rs.port, password="secret", db=3,
                      decode_responses=True, socket_timeout=5)
    assert db3.smembers("minewall:list:{l}:entries") == {"a.test"}


def test_usage(rds):
    p = ok(feed(["--help"]))
    assert "usage: minewall-feed" in p.stdout
    for args in ([], ["bogus"], ["push", "only-name"], ["show"], ["history", "l", "-n", "x"]):
        p = feed(args, rds.url)
        assert p.returncode == 64, args
    p = feed(["ls"], "http://127.0.0.1:1")
    assert p.returncode == 64
    assert "bad Redis URL" in p.stderr
    # The resolver's URL parser: a malformed %XX is an error, and the password is not shown.
    for url in ("redis://:se%zzcret@127.0.0.1:1", "redis://:se%00cret@127.0.0.1:1"):
        p = feed(["ls"], url)
        assert p.returncode == 64, url
        assert "bad Redis URL" in p.stderr and "cret" not in p.stderr, p.stderr
    p = feed(["push", "bad{name}", "/dev/null", "--category", "c"], rds.url)
    assert p.returncode == 64
