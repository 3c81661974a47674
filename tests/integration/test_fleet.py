"""Fleet policy from Redis means what it says (issue 11, items 1-4): list meta (category,
action, type, description) travels with the entries through each list's log, new, changed and
retired lists reach resolvers through the catalog stream minewall:catalog, `minewall-feed rm`
retires a list on purpose while a vanished list stays enforced and stale (/healthz "degraded",
minewall_list_stale), and type changes or emptying need --force.

Every test runs a real redis-server and real minewall processes on loopback; waits are
bounded. "Within a second" is measured from the end of the minewall-feed run.
"""

import http.client
import json
import os
import subprocess
import time

import dns.rcode
import pytest

from fleetlib import EXTRA, FOLLOW_S, POLL_S, SYNC_S, is_blocked, ok, timed
from conftest import (BIN, FEED_BIN, addresses, feed, free_port, metric_value, metrics_text,
                      wait_until)

pytestmark = pytest.mark.skipif(not os.path.exists(FEED_BIN),
                                reason="minewall-feed not built: " + FEED_BIN)


# --- helpers ---------------------------------------------------------------------------------


def resolves(m, name, addr):
    r = m.query(name)
    return r.rcode() == dns.rcode.NOERROR and addresses(r) == [addr]


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(ln + "\n" for ln in lines))
    return str(path)


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def status_list(port, name):
    st, body = http_get(port, "/status")
    assert st == 200
    return next((x for x in json.loads(body)["lists"] if x["name"] == name), None)


def block_lines(path):
    try:
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]
    except FileNotFoundError:
        return []


def cfg(rs, state, lists=("*",), mport=None, blocks=None):
    c = {"redis": {"url": rs.url, "lists": list(lists), "state-dir": str(state)}, "lists": []}
    if mport:
        c["metrics"] = {"listen": "127.0.0.1:%d" % mport}
    if blocks:
        c["log"] = {"level": "debug", "blocks": str(blocks)}
    return c


def state_header(path, field):
    try:
        for line in path.read_text().splitlines():
            if line.startswith("# %s: " % field):
                return line.split(": ", 1)[1]
    except FileNotFoundError:
        return None
    return None


@pytest.fixture
def up(make_upstream):
    return make_upstream(EXTRA)


@pytest.fixture
def rs(redis_server):
    return redis_server()


def state_dir(tmp_path, n=0):
    d = tmp_path / ("state%d" % n)
    d.mkdir(exist_ok=True)
    return d


# --- item 1: meta is part of the synced state ------------------------------------------------


def test_rollout_log_then_sinkhole(rs, up, tmp_path, make_minewall):
    """The rollout the README recommends: publish in `log`, then switch to `sinkhole`."""
    ro = write(tmp_path, "ro.txt", ["pool.evil.test"])
    state = state_dir(tmp_path)
    blocks = tmp_path / "blocks.jsonl"
    mport = free_port()
    ok(feed(["push", "rollout", ro, "--category", "mining", "--action", "log"], rs.url))
    m = make_minewall([up], config=cfg(rs, state, mport=mport, blocks=blocks))
    wait_until(lambda: (status_list(mport, "rollout") or {}).get("action") == "log", SYNC_S,
               what="list rollout synced in log mode")
    assert resolves(m, "pool.evil.test", "192.0.2.200")  # monitor mode: resolved
    wait_until(lambda: any(b["action"] == "log" for b in block_lines(blocks)), 3,
               what="a block-log line with action log")

    p = ok(feed(["push", "rollout", ro, "--action", "sinkhole"], rs.url))
    assert p.stdout.strip() == "+0 -0 =1"
    took = timed(lambda: is_blocked(m, "eu.pool.evil.test"), FOLLOW_S + 1,
                 "the switch to sinkhole applied")
    assert took < FOLLOW_S, took
    assert "list rollout: meta now category mining, action sinkhole" in m.log()
    time.sleep(1.1)  # past the block log's one-second fold of the same client and name
    assert is_blocked(m, "pool.evil.test")
    wait_until(lambda: any(b["action"] == "sinkhole" and b["qname"] == "pool.evil.test"
                           for b in block_lines(blocks)), 3,
               what="a block-log line with action sinkhole")
    sl = status_list(mport, "rollout")
    assert sl["action"] == "sinkhole" and sl["category"] == "mining" and not sl["stale"], sl
    assert metric_value(metrics_text(mport), "minewall_redis_meta_changes_total") == 1

    # saved in the state directory, and --explain reads it from there
    path = state / "rollout.list"
    wait_until(lambda: state_header(path, "action") == "sinkhole", 3,
               what="state file with the new action")
    p = subprocess.run([BIN, "--explain", "pool.evil.test", "-c", m.conf_path],
                                     capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert "blocked by list 'rollout' (category mining, origin redis)" in p.stdout, p.stdout
    assert "action: sinkhole" in p.stdout, p.stdout

    # a restart with Redis away enforces the saved meta at once
    assert m.terminate()[0] == 0
    rs.stop()
    m2 = make_minewall([up], config=cfg(rs, state))
    assert is_blocked(m2, "pool.evil.test")


def test_entries_and_meta_of_one_push_apply_as_one_version(rs, up, tmp_path, make_minewall):
    """A push of up to 1000 changes is one transaction (additions, removals, meta), and the
    resolver applies it as one version: the new entry never shows the old action."""
    ok(feed(["push", "l", write(tmp_path, "a.txt", ["pool.evil.test"]), "--category", "c",
             "--action", "log"], rs.url))
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path)))
    wait_until(lambda: "list l: 1 entries synced" in m.log(), SYNC_S, what="synced")
    p = ok(feed(["push", "l", write(tmp_path, "b.txt", ["late.evil.test"]),
                 "--action", "nxdomain"], rs.url))
    assert p.stdout.strip() == "+1 -1 =0"
    ops = [f["op"] for _, f in rs.client.xrange("minewall:list:{l}:log")]
    assert ops[-3:] == ["add", "del", "meta"], ops
    wait_until(lambda: m.query("late.evil.test").rcode() == dns.rcode.NXDOMAIN, FOLLOW_S + 1,
               what="the new entry with the new action")
    m.wait_log("list l: 3 log records applied in one version", 1)
    assert resolves(m, "pool.evil.test", "192.0.2.200")


def test_category_and_description_change_reach_ede_and_status(rs, up, tmp_path, make_minewall):
    f = write(tmp_path, "a.txt", ["pool.evil.test"])
    mport = free_port()
    ok(feed(["push", "l1", f, "--category", "mining", "--description", "first"], rs.url))
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path), mport=mport))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    ok(feed(["push", "l1", f, "--category", "c2", "--description", "second"], rs.url))

    def ede_text():
        r = m.query("pool.evil.test")
        return next((o.text for o in r.options if o.otype == 15), None)

    took = timed(lambda: ede_text() == "minewall: c2/l1", FOLLOW_S + 1, "new category in EDE")
    assert took < FOLLOW_S, took
    sl = status_list(mport, "l1")
    assert sl["category"] == "c2" and sl["source"] == "second", sl


def test_two_resolvers_converge_on_meta_change_and_retire(rs, up, tmp_path, make_minewall):
    f = write(tmp_path, "a.txt", ["pool.evil.test", "late.evil.test"])
    ok(feed(["push", "mining", f, "--category", "mining"], rs.url))
    states = [state_dir(tmp_path, i) for i in range(2)]
    ms = [make_minewall([up], config=cfg(rs, states[i], lists=["mining"])) for i in range(2)]
    for m in ms:
        wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")

    ok(feed(["push", "mining", f, "--action", "nxdomain"], rs.url))
    took = timed(lambda: all(m.query("late.evil.test").rcode() == dns.rcode.NXDOMAIN
                             for m in ms), FOLLOW_S + 1, "both resolvers answer NXDOMAIN")
    assert took < FOLLOW_S, took

    p = ok(feed(["rm", "mining"], rs.url))
    assert p.stdout.strip() == "retired list 'mining' (2 entries)"
    took = timed(lambda: all(resolves(m, "pool.evil.test", "192.0.2.200") for m in ms),
                 FOLLOW_S + 1, "both resolvers dropped the retired list")
    assert took < FOLLOW_S, took
    for m, st in zip(ms, states):
        m.wait_log("list mining: retired in Redis by its publisher; no longer enforced", 2)
        assert "stale" not in m.log()
        wait_until(lambda: not (st / "mining.list").exists(), 3, what="state file removed")
    r = rs.client
    assert r.smembers("minewall:lists") == set()
    assert not r.exists("minewall:list:{mining}:meta", "minewall:list:{mining}:entries")
    assert [f["op"] for _, f in r.xrange("minewall:list:{mining}:log")] == ["retire"]
    assert r.ttl("minewall:list:{mining}:log") > 0
    assert [(f["op"], f["list"]) for _, f in r.xrange("minewall:catalog")][-1] == \
        ("retire", "mining")

    # published again: followed again (a named list), within a second
    ok(feed(["push", "mining", f, "--category", "mining"], rs.url))
    assert r.ttl("minewall:list:{mining}:log") == -1
    took = timed(lambda: all(is_blocked(m, "pool.evil.test") for m in ms), FOLLOW_S + 1,
                 "the list published again")
    assert took < FOLLOW_S, took


def test_retired_while_stopped(rs, up, tmp_path, make_minewall):
    f = write(tmp_path, "a.txt", ["pool.evil.test"])
    ok(feed(["push", "mining", f, "--category", "mining"], rs.url))
    state = state_dir(tmp_path)
    m = make_minewall([up], config=cfg(rs, state))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    wait_until(lambda: (state / "mining.list").exists(), 3, what="state saved")
    assert m.terminate()[0] == 0
    ok(feed(["rm", "mining"], rs.url))
    m2 = make_minewall([up], config=cfg(rs, state))
    wait_until(lambda: resolves(m2, "pool.evil.test", "192.0.2.200"), SYNC_S,
               what="the retired list dropped after the restart")
    m2.wait_log("list mining: retired in Redis", 2)
    assert not (state / "mining.list").exists()


# --- item 2: the catalog -------------------------------------------------------------------


def test_new_named_list_through_catalog(rs, up, tmp_path, make_minewall):
    """A list named in the config but published only after the start."""
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path), lists=["fresh"]))
    m.wait_log("following the catalog from id")  # a list created from now on is seen
    ok(feed(["push", "fresh", write(tmp_path, "f.txt", ["late.evil.test"]),
             "--category", "phishing"], rs.url))
    took = timed(lambda: is_blocked(m, "late.evil.test"), FOLLOW_S + 1, "new list enforced")
    assert took < FOLLOW_S, took
    ok(feed(["add", "fresh", "pool.evil.test"], rs.url))  # and followed from then on
    took = timed(lambda: is_blocked(m, "pool.evil.test"), FOLLOW_S + 1, "followed")
    assert took < FOLLOW_S, took


def test_old_writer_set_only_found_by_poll(rs, up, tmp_path, make_minewall):
    """A pipeline that predates the catalog: the SET index, the meta hash and the entries,
    no catalog record. The fallback poll finds it."""
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path)))
    m.wait_log("connected to")
    r = rs.client
    r.hset("minewall:list:{legacy}:meta", mapping={"category": "c2", "type": "domain",
                                                    "action": "nxdomain"})
    r.sadd("minewall:list:{legacy}:entries", "pool.evil.test")
    r.sadd("minewall:lists", "legacy")
    wait_until(lambda: m.query("pool.evil.test").rcode() == dns.rcode.NXDOMAIN, POLL_S,
               what="a SET-only list picked up by the poll")


def test_old_writer_meta_hash_only_found_by_poll(rs, up, tmp_path, make_minewall):
    """A pipeline that changes the meta hash without a meta log record: the poll applies it
    (and says writers should append the record)."""
    ok(feed(["push", "mining", write(tmp_path, "a.txt", ["pool.evil.test"]),
             "--category", "mining"], rs.url))
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path)))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    rs.client.hset("minewall:list:{mining}:meta", "action", "nxdomain")
    wait_until(lambda: m.query("pool.evil.test").rcode() == dns.rcode.NXDOMAIN, POLL_S,
               what="a meta changed in the hash only, applied by the poll")
    assert "changed without a meta log record" in m.log()


def test_hostile_catalog_and_index_are_bounded(rs, up, tmp_path, make_minewall):
    mport = free_port()
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path), mport=mport))
    m.wait_log("following the catalog from id")
    r = rs.client
    for rec in ({"op": "create", "list": "../../etc/x"}, {"op": "create", "list": "x" * 65},
                {"op": "explode", "list": "ok"}, {"op": "create"}, {"junk": "y" * 10000}):
        r.xadd("minewall:catalog", rec)
    r.sadd("minewall:lists", "../escape", "a b")
    wait_until(lambda: metric_value(metrics_text(mport),
                                    "minewall_redis_catalog_ignored_total") == 5, 3,
               what="5 catalog records ignored")
    wait_until(lambda: (metric_value(metrics_text(mport),
                                     "minewall_redis_lists_refused_total") or 0) >= 1,
               POLL_S, what="bad index names refused")
    assert not list((tmp_path / "state0").iterdir())  # nothing written outside or inside
    # still following: a good list arrives within a second
    ok(feed(["push", "good", write(tmp_path, "g.txt", ["pool.evil.test"]), "--category", "x"],
            rs.url))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), FOLLOW_S + 1, what="a good list")


# --- item 3: --force ---------------------------------------------------------------------------


def test_type_change_and_emptying_need_force(rs, up, tmp_path, make_minewall):
    r = rs.client
    ok(feed(["push", "l", write(tmp_path, "d.txt", ["pool.evil.test", "late.evil.test"]),
             "--category", "c2"], rs.url))
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path), lists=["l"]))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    ips = write(tmp_path, "ip.txt", ["198.51.100.7"])
    p = feed(["push", "l", ips, "--type", "ip"], rs.url)
    assert p.returncode == 1, p
    assert "list 'l' holds domain entries; changing its type to ip would replace its 2 " \
        "entries: refusing without --force" in p.stderr, p.stderr
    assert r.smembers("minewall:list:{l}:entries") == {"pool.evil.test", "late.evil.test"}
    assert r.hget("minewall:list:{l}:meta", "type") == "domain"

    empty = write(tmp_path, "empty.txt", ["# nothing"])
    p = feed(["push", "l", empty], rs.url)
    assert p.returncode == 1 and "without --force" in p.stderr, p.stderr
    assert r.scard("minewall:list:{l}:entries") == 2

    p = ok(feed(["push", "l", ips, "--type", "ip", "--force"], rs.url))
    assert p.stdout.strip() == "+1 -2 =0"
    assert r.hget("minewall:list:{l}:meta", "type") == "ip"
    # the running resolver converges on the new type: the address blocks, the names resolve
    wait_until(lambda: is_blocked(m, "ipbad.test") and
               resolves(m, "pool.evil.test", "192.0.2.200"), 3, what="type change applied")
    m.wait_log("list l: type changed to ip: full resync")

    p = ok(feed(["push", "l", empty, "--force"], rs.url))
    assert p.stdout.strip() == "+0 -1 =0"


def test_rm_unknown_and_usage(rs):
    p = feed(["rm", "nosuch"], rs.url)
    assert p.returncode == 1 and "unknown list 'nosuch'" in p.stderr
    assert feed(["rm"], rs.url).returncode == 64
    assert feed(["rm", "bad/name"], rs.url).returncode == 64


# --- item 4: stale is visible and distinct from down ----------------------------------------


def test_vanished_list_stale_in_healthz_and_metric(rs, up, tmp_path, make_minewall):
    f = write(tmp_path, "a.txt", ["pool.evil.test"])
    ok(feed(["push", "mining", f, "--category", "mining"], rs.url))
    mport = free_port()
    m = make_minewall([up], config=cfg(rs, state_dir(tmp_path), mport=mport))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    assert http_get(mport, "/healthz") == (200, "ok\n")
    labels = 'list="mining"'
    assert metric_value(metrics_text(mport), "minewall_list_stale{%s}" % labels) == 0
    entries = 'list="mining",category="mining",origin="redis"'
    assert metric_value(metrics_text(mport), "minewall_list_entries{%s}" % entries) == 1

    rs.client.delete("minewall:list:{mining}:meta", "minewall:list:{mining}:entries",
                     "minewall:list:{mining}:log")  # vanished, no retire record
    wait_until(lambda: metric_value(metrics_text(mport), "minewall_list_stale{%s}" % labels) == 1,
               POLL_S, what="minewall_list_stale 1")
    assert http_get(mport, "/healthz") == (200, "degraded: 1 stale list: mining\n")
    # the same series, with the same labels
    assert metric_value(metrics_text(mport), "minewall_list_entries{%s}" % entries) == 1
    assert status_list(mport, "mining")["stale"] is True
    assert is_blocked(m, "pool.evil.test")  # still enforced
    assert "retired" not in m.log()

    ok(feed(["push", "mining", f, "--category", "mining"], rs.url))
    wait_until(lambda: metric_value(metrics_text(mport), "minewall_list_stale{%s}" % labels) == 0,
               POLL_S, what="back from stale")
    assert http_get(mport, "/healthz") == (200, "ok\n")


def test_rm_force_drops_a_stale_list(rs, up, tmp_path, make_minewall):
    """A vanished list stays stale until its publisher retires it on purpose."""
    ok(feed(["push", "mining", write(tmp_path, "a.txt", ["pool.evil.test"]),
             "--category", "mining"], rs.url))
    mport = free_port()
    state = state_dir(tmp_path)
    m = make_minewall([up], config=cfg(rs, state, mport=mport))
    wait_until(lambda: is_blocked(m, "pool.evil.test"), SYNC_S, what="synced")
    rs.client.flushall()
    wait_until(lambda: http_get(mport, "/healthz")[1].startswith("degraded"), POLL_S,
               what="stale")
    p = feed(["rm", "mining"], rs.url)
    assert p.returncode == 1 and "--force retires it anyway" in p.stderr, p.stderr
    p = ok(feed(["rm", "mining", "--force"], rs.url))
    took = timed(lambda: resolves(m, "pool.evil.test", "192.0.2.200"), FOLLOW_S + 1,
                 "the stale list dropped")
    assert took < FOLLOW_S, took
    assert http_get(mport, "/healthz") == (200, "ok\n")
    assert metric_value(metrics_text(mport), 'minewall_list_stale{list="mining"}') is None
    assert metric_value(metrics_text(mport), "minewall_redis_lists_retired_total") == 1
    wait_until(lambda: not (state / "mining.list").exists(), 3, what="state file removed")
