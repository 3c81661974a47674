"""Client groups (issue 13) over real sockets: clients on distinct loopback source addresses
(127.0.0.x, all of them distinct clients to minewall) each get their group's verdict: a subset
of the lists, an action override, their own forward zones (answers from another upstream,
cached apart), their own local data and rate limit; a cached answer and a coalesced fetch are
filtered per group; the most specific client prefix wins; --explain --client and minewall-ctl
explain name the group and its verdict; the block log carries the group; /metrics and /status
count per group (minewall-top shows them); minewall-ctl pause --group stops blocking for that
group only."""

import json
import os
import socket
import subprocess
import threading
import urllib.request

import dns.flags
import dns.message
import dns.rcode
import pytest

import conftest
from conftest import addresses, free_port, make_query, run_minewall, wait_until

CTL = os.environ.get("MINEWALL_CTL_BIN",
                     os.path.join(os.path.dirname(conftest.BIN), "minewall-ctl"))
TOP = os.path.join(conftest.SRCDIR, "tools", "minewall-top")

DEFAULT = "127.0.0.1"
BUILDERS = "127.0.0.2"   # lists: [c2] only; own forward zone corp.test; own local data
MONITOR = "127.0.0.3"    # actions: {mining: log}
LIMITED = "127.0.0.4"    # rate-limit: qps 1, burst 2, refused
WIDE = "127.0.1.6"       # in 127.0.1.0/24
NARROW = "127.0.1.5"     # 127.0.1.5/32, lists: [c2] with c2 -> nxdomain

RECORDS = {
    "pool.evil.test": {"A": ["192.0.2.50"]},
    "c2.evil.test": {"A": ["192.0.2.51"]},
    "alias.test": {"CNAME": ["pool.evil.test."]},
    "slowalias.test": {"CNAME": ["pool.evil.test."]},
    "ok.test": {"A": ["192.0.2.60"]},
    "x.corp.test": {"A": ["192.0.2.9"]},
    "printer.corp.test": {"A": ["192.0.2.8"]},
}


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def ask_from(m, src, name, rdtype="A", tcp=False, timeout=3.0):
    """The reply to a query for name sent to m from source address src (None: no reply)."""
    q = make_query(name, rdtype)
    if tcp:
        with socket.create_connection(m.addr, timeout=timeout, source_address=(src, 0)) as s:
            w = q.to_wire()
            s.sendall(len(w).to_bytes(2, "big") + w)
            data = b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                b = s.recv(65535)
                if not b:
                    return None
                data += b
            return dns.message.from_wire(data[2:])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(q.to_wire(), m.addr)
        try:
            data = s.recvfrom(65535)[0]
        except socket.timeout:
            return None
    r = dns.message.from_wire(data)
    assert r.id == q.id
    return r


def a_of(m, src, name, tcp=False):
    r = ask_from(m, src, name, tcp=tcp)
    assert r is not None, "no reply for %s from %s" % (name, src)
    return addresses(r)


def ctl(m, *args, json_out=False):
    cmd = [CTL, "--socket", m.ctl_path] + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def env(make_minewall, make_upstream, tmp_path):
    up = make_upstream(RECORDS)
    corp = make_upstream({"x.corp.test": {"A": ["198.51.100.9"]}}, origin="corp.test.")
    mining = tmp_path / "mining.txt"
    mining.write_text("pool.evil.test\n")
    c2 = tmp_path / "c2.txt"
    c2.write_text("c2.evil.test\n")
    metrics_port = free_port()
    config = {
        "lists": [{"name": "mining", "category": "mining", "path": str(mining)},
                  {"name": "c2", "category": "c2", "path": str(c2)}],
        "log": {"level": "debug", "blocks": str(tmp_path / "blocks.jsonl")},
        "metrics": {"listen": "127.0.0.1:%d" % metrics_port},
        "groups": {
            "builders": {"clients": [BUILDERS + "/32"], "lists": ["c2"],
                         "forward-zones": {"corp.test": [corp.addr]},
                         "local-data": ["printer.corp.test. 300 A 10.0.0.7"]},
            "monitor": {"clients": [MONITOR], "actions": {"mining": "log"}},
            "limited": {"clients": [LIMITED + "/32"],
                        "rate-limit": {"qps": 1, "burst": 2, "action": "refused"}},
            "wide": {"clients": ["127.0.1.0/24"]},
            "narrow": {"clients": [NARROW + "/32"], "lists": ["category:c2"],
                       "actions": {"c2": "nxdomain"}, "log-queries": False},
        },
    }
    m = make_minewall([up], config=config)
    m.metrics_port = metrics_port
    return m, up, corp, tmp_path


def blocklog(tmp_path):
    return read_jsonl(str(tmp_path / "blocks.jsonl"))


def test_lists_subset_and_block_log_group(env):
    m, up, corp, tmp = env
    assert a_of(m, DEFAULT, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, DEFAULT, "c2.evil.test") == ["0.0.0.0"]
    # builders take only the c2 list: the mining pool resolves, c2 is blocked (TCP too).
    assert a_of(m, BUILDERS, "pool.evil.test") == ["192.0.2.50"]
    assert a_of(m, BUILDERS, "c2.evil.test", tcp=True) == ["0.0.0.0"]
    lines = wait_until(lambda: [e for e in blocklog(tmp) if e["qname"] == "c2.evil.test"
                                and e["client"] == BUILDERS], 5, what="builders' block line")
    assert lines[0]["group"] == "builders" and lines[0]["list"] == "c2", lines
    d = wait_until(lambda: [e for e in blocklog(tmp) if e["client"] == DEFAULT], 5,
                   what="default's block lines")
    assert {e["group"] for e in d} == {"default"}, d
    assert not [e for e in blocklog(tmp) if e["client"] == BUILDERS
                and e["qname"] == "pool.evil.test"]


def test_action_override_and_most_specific(env):
    m, up, corp, tmp = env
    # monitor: the mining category only logs for this group.
    assert a_of(m, MONITOR, "pool.evil.test") == ["192.0.2.50"]
    assert a_of(m, MONITOR, "c2.evil.test") == ["0.0.0.0"]
    e = wait_until(lambda: [x for x in blocklog(tmp) if x["client"] == MONITOR
                            and x["qname"] == "pool.evil.test"], 5, what="monitor's log line")
    assert e[0]["action"] == "log" and e[0]["group"] == "monitor", e
    # 127.0.1.5/32 (narrow: c2 answered NXDOMAIN, mining not applied) beats 127.0.1.0/24.
    r = ask_from(m, NARROW, "c2.evil.test")
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert a_of(m, NARROW, "pool.evil.test") == ["192.0.2.50"]
    assert a_of(m, WIDE, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, WIDE, "c2.evil.test") == ["0.0.0.0"]
    groups = {(x["client"], x["group"]) for x in
              wait_until(lambda: [x for x in blocklog(tmp) if x["client"].startswith("127.0.1.")
                                  and x["qname"] == "c2.evil.test"] if len(
                  [x for x in blocklog(tmp) if x["client"].startswith("127.0.1.")
                   and x["qname"] == "c2.evil.test"]) >= 2 else None, 5, what="two lines")}
    assert groups == {(NARROW, "narrow"), (WIDE, "wide")}, groups


def test_cached_answer_filtered_per_group(env):
    m, up, corp, tmp = env
    # alias.test is a CNAME to the listed pool: answer-side for the mining list.
    assert a_of(m, BUILDERS, "alias.test") == ["192.0.2.50"]     # miss: cached
    assert a_of(m, DEFAULT, "alias.test") == ["0.0.0.0"]         # hit, filtered for default
    assert a_of(m, BUILDERS, "alias.test") == ["192.0.2.50"]     # hit again
    assert a_of(m, DEFAULT, "alias.test") == ["0.0.0.0"]
    assert a_of(m, MONITOR, "alias.test") == ["192.0.2.50"]      # log override
    assert up.count("alias.test") == 1, up.received("alias.test")
    # The other order: blocked for default first (not cached then), builders still resolve.
    assert a_of(m, DEFAULT, "slowalias.test") == ["0.0.0.0"]
    assert a_of(m, BUILDERS, "slowalias.test") == ["192.0.2.50"]
    assert a_of(m, DEFAULT, "slowalias.test") == ["0.0.0.0"]


def test_coalesced_fetch_answers_each_group(env):
    m, up, corp, tmp = env
    up.set_mode("delay:700", "slowalias.test")
    out = {}

    def go(src):
        out[src] = a_of(m, src, "slowalias.test")

    ts = [threading.Thread(target=go, args=(s,)) for s in (DEFAULT, BUILDERS, MONITOR, WIDE)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert out == {DEFAULT: ["0.0.0.0"], BUILDERS: ["192.0.2.50"], MONITOR: ["192.0.2.50"],
                   WIDE: ["0.0.0.0"]}, out
    assert up.count("slowalias.test") == 1, up.received("slowalias.test")


def test_forward_zones_and_local_data(env):
    m, up, corp, tmp = env
    for _ in range(2):  # the second round from the cache: kept apart per group
        assert a_of(m, BUILDERS, "x.corp.test") == ["198.51.100.9"]
        assert a_of(m, DEFAULT, "x.corp.test") == ["192.0.2.9"]
        assert a_of(m, WIDE, "x.corp.test") == ["192.0.2.9"]
    assert corp.count("x.corp.test") == 1 and up.count("x.corp.test") == 1
    r = ask_from(m, BUILDERS, "printer.corp.test")
    assert addresses(r) == ["10.0.0.7"] and r.flags & dns.flags.AA, r
    assert corp.count("printer.corp.test") == 0
    r = ask_from(m, DEFAULT, "printer.corp.test")
    assert addresses(r) == ["192.0.2.8"] and not r.flags & dns.flags.AA, r


def test_rate_limit_per_group(env):
    m, up, corp, tmp = env
    rcodes = [ask_from(m, LIMITED, "ok.test").rcode() for _ in range(8)]
    assert rcodes.count(dns.rcode.REFUSED) >= 4 and rcodes[0] == dns.rcode.NOERROR, rcodes
    # Other groups (and default, loopback exempt at the top level) are not limited.
    assert all(ask_from(m, DEFAULT, "ok.test").rcode() == dns.rcode.NOERROR for _ in range(8))
    assert all(ask_from(m, BUILDERS, "ok.test").rcode() == dns.rcode.NOERROR for _ in range(8))


def test_explain_client(env):
    m, up, corp, tmp = env
    p = run_minewall(["-c", m.conf_path, "--explain", "pool.evil.test", "--client", BUILDERS])
    assert p.returncode == 0, p.stderr
    assert "client %s: group builders" % BUILDERS in p.stdout, p.stdout
    assert "lists: c2 (no other list applies)" in p.stdout, p.stdout
    assert "no list of the group matches" in p.stdout, p.stdout
    p = run_minewall(["-c", m.conf_path, "--explain", "pool.evil.test", "--client", MONITOR])
    assert "group monitor" in p.stdout and "action: log" in p.stdout, p.stdout
    assert "monitored by list 'mining'" in p.stdout and "blocked by" not in p.stdout, p.stdout
    p = run_minewall(["-c", m.conf_path, "--explain", "pool.evil.test", "--client", DEFAULT])
    assert "group default" in p.stdout and "blocked by list 'mining'" in p.stdout, p.stdout
    p = run_minewall(["-c", m.conf_path, "--explain", "printer.corp.test", "--client", BUILDERS])
    assert "decided by local data" in p.stdout, p.stdout
    p = run_minewall(["-c", m.conf_path, "--explain", "pool.evil.test", "--client", "nope"])
    assert p.returncode != 0
    rc, out, err = ctl(m, "explain", "c2.evil.test", "--client", NARROW, json_out=True)
    j = json.loads(out)
    assert rc == 0 and j["group"] == "narrow" and j["action"] == "nxdomain", j


def test_pause_group(env):
    m, up, corp, tmp = env
    rc, out, err = ctl(m, "pause", "--group", "builders", "--for", "1m")
    assert rc == 0 and "paused for group builders" in out, (out, err)
    assert a_of(m, BUILDERS, "c2.evil.test") == ["192.0.2.51"]
    assert a_of(m, DEFAULT, "c2.evil.test") == ["0.0.0.0"]
    assert a_of(m, WIDE, "c2.evil.test") == ["0.0.0.0"]
    e = wait_until(lambda: [x for x in blocklog(tmp) if x["client"] == BUILDERS
                            and x.get("paused")], 5, what="paused line")
    assert e[0]["group"] == "builders", e
    st = json.loads(ctl(m, "status", json_out=True)[1])
    assert st["paused"] is False and st["paused_groups"][0]["group"] == "builders", st
    assert 50 <= st["paused_groups"][0]["remaining_s"] <= 60, st
    assert "PAUSED for group builders" in ctl(m, "status")[1]
    rc, out, err = ctl(m, "pause", "--group", "nosuch")
    assert rc == 1 and "no such group" in err, (rc, out, err)
    rc, out, err = ctl(m, "resume", "--group", "builders")
    assert rc == 0 and "active for group builders" in out, out
    assert a_of(m, BUILDERS, "c2.evil.test") == ["0.0.0.0"]
    # Pausing default leaves the groups blocking.
    assert ctl(m, "pause", "--group", "default")[0] == 0
    assert a_of(m, DEFAULT, "c2.evil.test") == ["192.0.2.51"]
    assert a_of(m, WIDE, "c2.evil.test") == ["0.0.0.0"]
    assert ctl(m, "resume")[0] == 0
    assert a_of(m, DEFAULT, "c2.evil.test") == ["0.0.0.0"]


def test_pause_group_ends_by_itself(env):
    m, up, corp, tmp = env
    assert ctl(m, "pause", "--group", "builders", "--for", "1s")[0] == 0
    assert a_of(m, BUILDERS, "c2.evil.test") == ["192.0.2.51"]
    wait_until(lambda: a_of(m, BUILDERS, "c2.evil.test") == ["0.0.0.0"], 6,
               what="the group's pause to end")


def test_metrics_and_status(env):
    m, up, corp, tmp = env
    a_of(m, BUILDERS, "c2.evil.test")
    a_of(m, DEFAULT, "ok.test")
    url = "http://127.0.0.1:%d" % m.metrics_port

    def get(path):
        with urllib.request.urlopen(url + path, timeout=5) as r:
            return r.read().decode()

    wait_until(lambda: 'minewall_group_blocks_total{group="builders"} 1' in get("/metrics"), 5,
               what="the builders' block counted")
    text = get("/metrics")
    assert 'minewall_group_queries_total{group="default"}' in text
    assert 'minewall_group_queries_total{group="narrow"} 0' in text, text
    st = json.loads(get("/status"))
    g = {x["name"]: x for x in st["groups"]}
    assert set(g) == {"default", "builders", "monitor", "limited", "wide", "narrow"}, g
    assert g["builders"]["queries"] >= 1 and g["builders"]["blocks"] == 1, g
    assert g["builders"]["lists"] == "some" and g["default"]["lists"] == "all", g
    # A group paused on its own: in /status, and minewall-top's groups view shows it.
    assert ctl(m, "pause", "--group", "builders", "--for", "5m")[0] == 0
    st = json.loads(get("/status"))
    pg = st["control"]["paused_groups"]
    assert pg[0]["group"] == "builders" and 290 <= pg[0]["remaining_s"] <= 300, st["control"]
    top = subprocess.run([TOP, "--url", url, "--interval", "0.2", "--once"], capture_output=True,
                         text=True, timeout=30)
    assert top.returncode == 0, top.stderr
    rows = {l.split()[0]: l for l in top.stdout.splitlines() if l.split()[:1] and
            l.split()[0] in g}
    assert "PAUSED, resumes in" in rows["builders"], top.stdout
    assert rows["default"].rstrip().endswith("blocking"), top.stdout
    assert ctl(m, "resume", "--group", "builders")[0] == 0


def test_config_errors_refuse_start(tmp_path):
    lst = tmp_path / "l.txt"
    lst.write_text("a.test\n")
    base = "lists:\n  - {name: l, category: mining, path: %s}\n" % lst
    cases = [
        ("groups:\n  default:\n    clients: ['10.0.0.0/8']\n", ":4: groups: 'default'"),
        ("groups:\n  a:\n    clients: ['10.0.0.0/8']\n    lists: [nope]\n",
         ":6: groups.a.lists: unknown list 'nope'"),
        ("groups:\n  a:\n    clients: ['10.0.0.0/8']\n  b:\n    clients: ['10.0.0.0/8']\n",
         ":7: groups.b.clients: 10.0.0.0/8 is also a client prefix of group 'a' (line 5)"),
        ("groups:\n  a:\n    clients: ['10.0.0.0/8']\n    actions: {nope: log}\n",
         ":6: groups.a.actions: unknown list or category 'nope'"),
    ]
    for i, (text, want) in enumerate(cases):
        conf = tmp_path / ("c%d.yaml" % i)
        conf.write_text(base + text)
        p = run_minewall(["-c", str(conf), "--check-config"])
        assert p.returncode == 1 and str(conf) + want in p.stdout + p.stderr, (p.stdout, p.stderr)


def test_bench_generator_config_is_valid(tmp_path):
    """tools/mwbench/groupsgen.py (the cost target's config): 1,000 groups, 10,000 prefixes,
    accepted by --check-config."""
    import sys
    sys.path.insert(0, os.path.join(conftest.SRCDIR, "tools"))
    from mwbench.groupsgen import groups_yaml
    import yaml
    text = groups_yaml(1000, 10000, "127.0.0.0/8")
    d = yaml.safe_load(text)
    assert len(d["groups"]) == 1000
    assert sum(len(g["clients"]) for g in d["groups"].values()) == 10000
    conf = tmp_path / "g.yaml"
    conf.write_text('listen: ["127.0.0.1:%d"]\n' % free_port() + text)
    p = run_minewall(["-c", str(conf), "--check-config"], timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_listener_restricted_group(make_minewall, make_upstream, tmp_path):
    """A group restricted to one listen address: its clients get its verdict there only; at
    equal prefix it wins over the unrestricted group, elsewhere that one applies."""
    up = make_upstream(RECORDS)
    mining = tmp_path / "mining.txt"
    mining.write_text("pool.evil.test\n")
    p1, p2 = free_port(), free_port()
    config = {
        "listen": ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2],
        "lists": [{"name": "mining", "category": "mining", "path": str(mining)}],
        "groups": {
            "open": {"clients": ["127.0.0.0/24"], "listeners": ["127.0.0.1:%d" % p2],
                     "actions": {"mining": "log"}},
            "all": {"clients": ["127.0.0.0/24"], "actions": {"mining": "nxdomain"}},
        },
    }
    m = make_minewall([up], config=config, listen=("127.0.0.1", p1))
    m.wait_ready(addr=("127.0.0.1", p2))
    r1 = ask_from(m, BUILDERS, "pool.evil.test")            # on p1: group all
    assert r1.rcode() == dns.rcode.NXDOMAIN, r1
    m.port = p2
    assert a_of(m, BUILDERS, "pool.evil.test") == ["192.0.2.50"]            # on p2: open
    assert a_of(m, BUILDERS, "pool.evil.test", tcp=True) == ["192.0.2.50"]  # TCP too
    m.port = p1
    assert ask_from(m, BUILDERS, "pool.evil.test", tcp=True).rcode() == dns.rcode.NXDOMAIN
    # --explain picks the group as a query does: by the arrival listener too.
    ex = ["-c", m.conf_path, "--explain", "pool.evil.test", "--client", BUILDERS]
    p = run_minewall(ex + ["--listener", "127.0.0.1:%d" % p2])
    assert p.returncode == 0, p.stderr
    assert "client %s on listener 127.0.0.1:%d: group open" % (BUILDERS, p2) in p.stdout, p.stdout
    assert "action: mining -> log" in p.stdout, p.stdout
    p = run_minewall(ex + ["--listener", "127.0.0.1:%d" % p1])
    assert "group all" in p.stdout and "action: mining -> nxdomain" in p.stdout, p.stdout
    p = run_minewall(ex)  # no listener: only unrestricted groups, and it says so
    assert "group all" in p.stdout and "--listener" not in p.stdout, p.stdout
    p = run_minewall(ex + ["--listener", "not-an-address"])
    assert p.returncode != 0 and "listener 'not-an-address'" in p.stderr, p.stderr
    # minewall-ctl explain: the same choice on the running config.
    rc, out, err = ctl(m, "explain", "pool.evil.test", "--client", BUILDERS, "--listener",
                       "127.0.0.1:%d" % p2, json_out=True)
    j = json.loads(out)
    assert rc == 0 and j["group"] == "open" and j["action"] == "log", j
    assert j["listener"] == "127.0.0.1:%d" % p2, j
    rc, out, err = ctl(m, "explain", "pool.evil.test", "--client", BUILDERS, "--listener",
                       "127.0.0.1:%d" % p1)
    assert rc == 0 and "group all" in out, (out, err)
    rc, out, err = ctl(m, "explain", "pool.evil.test", "--client", BUILDERS, "--listener", "x:y")
    assert rc != 0 and "listener" in err + out, (out, err)


def test_reload_changes_groups(env):
    m, up, corp, tmp = env
    assert a_of(m, BUILDERS, "pool.evil.test") == ["192.0.2.50"]
    cfg = dict(m.config)
    groups = dict(cfg["groups"])
    groups["builders"] = dict(groups["builders"], lists=["c2", "mining"])
    cfg["groups"] = groups
    m.reload_with(conftest.to_yaml(cfg) + "\n")
    wait_until(lambda: a_of(m, BUILDERS, "pool.evil.test") == ["0.0.0.0"], 10,
               what="the reloaded group's lists")
    # A broken groups config is refused and the running one stays.
    bad = dict(cfg, groups=dict(groups, default={"clients": ["10.0.0.0/8"]}))
    m.reload_with(conftest.to_yaml(bad) + "\n")
    m.wait_log("'default' is the group")
    assert a_of(m, BUILDERS, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, MONITOR, "pool.evil.test") == ["192.0.2.50"]


def test_lists_subset_exact_where_lists_overlap(make_minewall, make_upstream, tmp_path):
    """A group's verdict is the one its lists alone would give, also for inputs that several
    lists hold (the merged sets keep one rule for each): a name, an answer prefix (the same,
    and a longer one of a list outside the group) and a pattern in a list outside the group
    and in the group's own, and an allowlist outside the group, which allows nothing for it."""
    up = make_upstream({"pool.evil.test": {"A": ["192.0.2.50"]},
                        "both.test": {"A": ["192.0.2.61"]},
                        "same.test": {"A": ["198.51.100.9"]},
                        "nested.test": {"A": ["203.0.113.9"]},
                        "x.mine.test": {"A": ["192.0.2.62"]}})
    files = {"mining.txt": "pool.evil.test\nboth.test\n", "okay.txt": "both.test\n",
             "c2.txt": "pool.evil.test\nboth.test\n",
             "ipa.txt": "198.51.100.0/24\n203.0.113.0/25\n",
             "ipb.txt": "198.51.100.0/24\n203.0.113.0/24\n",
             "pata.txt": "*.mine.test\n", "patb.txt": "*.mine.test\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    p = lambda n: str(tmp_path / n)  # noqa: E731
    config = {
        "lists": [{"name": "mining", "category": "mining", "path": p("mining.txt")},
                  {"name": "okay", "category": "allow", "path": p("okay.txt")},
                  {"name": "c2", "category": "c2", "path": p("c2.txt"), "action": "nxdomain"},
                  {"name": "ipa", "category": "c2", "type": "ip", "path": p("ipa.txt")},
                  {"name": "ipb", "category": "c2", "type": "ip", "path": p("ipb.txt"),
                   "action": "nxdomain"},
                  {"name": "pata", "category": "mining", "type": "pattern",
                   "path": p("pata.txt")},
                  {"name": "patb", "category": "mining", "type": "pattern",
                   "path": p("patb.txt"), "action": "nxdomain"}],
        "log": {"blocks": p("blocks.jsonl")},
        "groups": {"second": {"clients": [BUILDERS + "/32"], "lists": ["c2", "ipb", "patb"]},
                   "first": {"clients": [MONITOR + "/32"], "lists": ["mining"]}},
    }
    m = make_minewall([up], config=config)
    nx = lambda src, name: ask_from(m, src, name).rcode() == dns.rcode.NXDOMAIN  # noqa: E731
    # Everyone: the first list's rules, the allowlist, the longer prefix.
    assert a_of(m, DEFAULT, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, DEFAULT, "both.test") == ["192.0.2.61"]
    assert a_of(m, DEFAULT, "nested.test") == ["0.0.0.0"]
    assert a_of(m, DEFAULT, "x.mine.test") == ["0.0.0.0"]
    # The group with the second list of each pair gets that list's verdict (NXDOMAIN).
    names = ("pool.evil.test", "both.test", "same.test", "nested.test", "x.mine.test")
    missed = [n for n in names if not nx(BUILDERS, n)]
    # An allowlist outside the group allows nothing for it.
    if a_of(m, MONITOR, "both.test") != ["0.0.0.0"]:
        missed.append("both.test for the first list's group")
    assert not missed, missed
    lines = wait_until(lambda: [e for e in blocklog(tmp_path) if e["client"] == BUILDERS]
                       if len([e for e in blocklog(tmp_path) if e["client"] == BUILDERS]) >= 5
                       else None, 5, what="five block lines of the group")
    assert {(e["qname"], e["list"]) for e in lines} == {
        ("pool.evil.test", "c2"), ("both.test", "c2"), ("same.test", "ipb"),
        ("nested.test", "ipb"), ("x.mine.test", "patb")}, lines
    assert a_of(m, MONITOR, "same.test") == ["198.51.100.9"]


def test_redis_list_overlapping_a_file_list(make_minewall, make_upstream, redis_server, tmp_path):
    """Redis lists take part like file lists: a name in a file list and in a Redis list gets,
    for a group with only one of them, that list's verdict; a Redis allowlist outside a group
    allows nothing for it."""
    from conftest import FEED_BIN, feed
    from fleetlib import ok
    if not os.path.exists(FEED_BIN):
        pytest.skip("minewall-feed not built: " + FEED_BIN)
    rs = redis_server()
    for name, cat, extra, text in (("rc2", "c2", ["--action", "nxdomain"], "pool.evil.test\n"),
                                   ("rokay", "allow", [], "both.test\n")):
        path = tmp_path / (name + ".txt")
        path.write_text(text)
        ok(feed(["push", name, str(path), "--category", cat] + extra, rs.url))
    up = make_upstream({"pool.evil.test": {"A": ["192.0.2.50"]},
                        "both.test": {"A": ["192.0.2.61"]}})
    mining = tmp_path / "mining.txt"
    mining.write_text("pool.evil.test\nboth.test\n")
    state = tmp_path / "state"
    state.mkdir()
    config = {
        "lists": [{"name": "mining", "category": "mining", "path": str(mining)}],
        "redis": {"url": rs.url, "lists": ["rc2", "rokay"], "state-dir": str(state)},
        "groups": {"redis": {"clients": [BUILDERS + "/32"], "lists": ["rc2"]},
                   "files": {"clients": [MONITOR + "/32"], "lists": ["mining"]}},
    }
    m = make_minewall([up], config=config)
    wait_until(lambda: a_of(m, DEFAULT, "both.test") == ["192.0.2.61"], 10,
               what="the Redis allowlist synced")
    wait_until(lambda: ask_from(m, BUILDERS, "pool.evil.test").rcode() == dns.rcode.NXDOMAIN,
               10, what="the Redis list's verdict for its group")
    assert a_of(m, DEFAULT, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, BUILDERS, "both.test") == ["192.0.2.61"]
    assert a_of(m, MONITOR, "pool.evil.test") == ["0.0.0.0"]
    assert a_of(m, MONITOR, "both.test") == ["0.0.0.0"]
