"""Fleet list sync from Redis: minewall follows lists published with minewall-feed (or written
directly in the public schema) and keeps enforcing them whatever happens to Redis.

Each test starts its own redis-server (conftest.redis_server: loopback, free port, nothing
persisted unless a test SAVEs) and minewall instances (conftest.make_minewall) with a `redis:`
section and no file lists. Every wait is bounded; each test takes a few seconds.
"""

import os
import re
import time

import dns.rcode
import pytest

from fleetlib import EXTRA, FOLLOW_S, POLL_S, SINKHOLE, SYNC_S, is_blocked, ok, timed
from conftest import FEED_BIN, ede, addresses, feed, run_minewall, to_yaml, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(FEED_BIN),
                                reason="minewall-feed not built: " + FEED_BIN)


# --- helpers ---------------------------------------------------------------------------------



def resolves(m, name, addr=None):
    r = m.query(name)
    got = addresses(r)
    return r.rcode() == dns.rcode.NOERROR and got and got != SINKHOLE and (
        addr is None or got == [addr])


def wait_blocked(m, name, timeout=SYNC_S):
    return wait_until(lambda: is_blocked(m, name), timeout, step=0.01,
                      what="%s blocked by %s:%d" % (name, *m.addr))


def wait_resolves(m, name, timeout=SYNC_S):
    return wait_until(lambda: resolves(m, name), timeout, step=0.01,
                      what="%s resolving through %s:%d" % (name, *m.addr))


def state_has(path, entry):
    """The state file exists and lists entry (it is saved at most once a second)."""
    try:
        return entry in path.read_text().splitlines()
    except FileNotFoundError:
        return False


def push(rs, tmp_path, name, lines, *opts):
    path = tmp_path / ("%s-%d.txt" % (name, time.monotonic_ns()))
    path.write_text("".join(ln + "\n" for ln in lines))
    return ok(feed(["push", name, str(path)] + list(opts), rs.url))


def tx(rs, name, op, entries):
    """One change as the schema says writers make it: the SET and the log in one MULTI/EXEC."""
    p = rs.client.pipeline(transaction=True)
    k = "minewall:list:{%s}:" % name
    if op == "add":
        p.sadd(k + "entries", *entries)
    else:
        p.srem(k + "entries", *entries)
    p.xadd(k + "log", {"op": op, "entries": " ".join(entries)})
    p.execute()


def sync_cfg(rs, state, lists=("mining",), **extra):
    return {"redis": dict({"url": rs.url, "lists": list(lists), "state-dir": str(state)},
                          **extra),
            "lists": []}


@pytest.fixture
def up(make_upstream):
    return make_upstream(EXTRA)


@pytest.fixture
def rs(redis_server):
    return redis_server()


@pytest.fixture
def state(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def synced(rs, up, state, tmp_path, make_minewall):
    """The list `mining` (category mining) with pool.evil.test published, and a minewall that
    has synced it."""
    push(rs, tmp_path, "mining", ["pool.evil.test"], "--category", "mining")
    m = make_minewall([up], config=sync_cfg(rs, state))
    wait_blocked(m, "pool.evil.test")
    return m


# --- sync and follow -------------------------------------------------------------------------


def test_push_blocks_name_and_subdomain_del_and_add(rs, synced, tmp_path):
    m = synced
    r = m.query("pool.evil.test")
    assert addresses(r) == SINKHOLE and ede(r) == (15, "minewall: mining/mining"), r
    r = m.query("eu.pool.evil.test")
    assert addresses(r) == SINKHOLE and ede(r) == (15, "minewall: mining/mining"), r
    r = m.query("pool.evil.test", "AAAA")
    assert addresses(r) == ["::"], r
    assert resolves(m, "other.evil.test", "192.0.2.202")
    assert "list mining: 1 entries synced" in m.log()

    ok(feed(["del", "mining", "pool.evil.test"], rs.url))
    took = timed(lambda: resolves(m, "pool.evil.test", "192.0.2.200"), FOLLOW_S + 1,
                 "pool.evil.test resolving after del")
    assert took < FOLLOW_S, took
    assert resolves(m, "eu.pool.evil.test", "192.0.2.201")

    ok(feed(["add", "mining", "other.evil.test"], rs.url))
    took = timed(lambda: is_blocked(m, "other.evil.test"), FOLLOW_S + 1,
                 "other.evil.test blocked after add")
    assert took < FOLLOW_S, took


def test_category_and_action_from_meta(rs, up, state, tmp_path, make_minewall):
    push(rs, tmp_path, "mining", ["pool.evil.test"], "--category", "c2", "--action", "nxdomain")
    m = make_minewall([up], config=sync_cfg(rs, state))
    wait_until(lambda: m.query("pool.evil.test").rcode() == dns.rcode.NXDOMAIN, SYNC_S,
               what="NXDOMAIN from the list's action")
    assert ede(m.query("eu.pool.evil.test")) == (15, "minewall: c2/mining")


def test_unfollowed_list_is_ignored(rs, synced, tmp_path):
    push(rs, tmp_path, "other", ["other.evil.test"], "--category", "ads")
    ok(feed(["add", "mining", "late.evil.test"], rs.url))
    wait_blocked(synced, "late.evil.test", FOLLOW_S + 1)
    assert resolves(synced, "other.evil.test")


def test_ip_list_blocks_answer_address(rs, up, state, tmp_path, make_minewall):
    push(rs, tmp_path, "c2ips", ["198.51.100.7"], "--category", "c2", "--type", "ip")
    m = make_minewall([up], config=sync_cfg(rs, state, lists=["c2ips"]))
    wait_blocked(m, "ipbad.test")
    r = m.query("ipbad.test")
    assert ede(r) == (17, "minewall: c2/c2ips"), r
    assert resolves(m, "ipgood.test", "198.51.100.8")
    ok(feed(["add", "c2ips", "198.51.100.8/32"], rs.url))
    wait_blocked(m, "ipgood.test", FOLLOW_S + 1)


def test_star_follows_every_list_and_picks_up_new_ones(rs, up, state, tmp_path, make_minewall):
    push(rs, tmp_path, "mining", ["pool.evil.test"], "--category", "mining")
    m = make_minewall([up], config=sync_cfg(rs, state, lists=["*"]))
    wait_blocked(m, "pool.evil.test")
    assert resolves(m, "late.evil.test")
    push(rs, tmp_path, "fresh", ["late.evil.test"], "--category", "phishing")
    took = timed(lambda: is_blocked(m, "late.evil.test"), POLL_S,
                 "a list published after start picked up")
    assert took < FOLLOW_S, took  # through the catalog, not the poll
    assert ede(m.query("late.evil.test")) == (15, "minewall: phishing/fresh")
    ok(feed(["add", "fresh", "other.evil.test"], rs.url))  # and followed from then on
    wait_blocked(m, "other.evil.test", FOLLOW_S + 1)


# --- Redis away ------------------------------------------------------------------------------


def test_redis_lost_then_restart_from_state(rs, up, state, synced, tmp_path, make_minewall):
    m = synced
    ok(feed(["add", "mining", "late.evil.test"], rs.url))
    wait_blocked(m, "late.evil.test", FOLLOW_S + 1)
    rs.stop()
    m.wait_log("enforcing the lists as last synced")
    for name in ("pool.evil.test", "eu.pool.evil.test", "late.evil.test"):
        assert is_blocked(m, name), name
    # queries never seen before are still answered promptly (the query path never waits)
    t0 = time.monotonic()
    for i in range(20):
        assert resolves(m, "n%d.burst.test" % i, "192.0.2.98")
    assert time.monotonic() - t0 < 2.0

    # the state file: written by minewall, at most a second after the last change
    path = state / "mining.list"
    wait_until(lambda: state_has(path, "late.evil.test"), 3,
               what="state file with the last change")
    assert path.read_text().splitlines()[0] == "# minewall-state v1"
    rc, _ = m.terminate()
    assert rc == 0

    # restarted while Redis is still down: enforces the state copy at once
    m2 = make_minewall([up], config=sync_cfg(rs, state))
    for name in ("pool.evil.test", "eu.pool.evil.test", "late.evil.test"):
        assert is_blocked(m2, name), name
    assert resolves(m2, "other.evil.test")
    assert "list mining: 2 entries from the state directory" in m2.log()


def test_reconnect_catches_up_on_changes_made_meanwhile(rs, synced, redis_server, tmp_path):
    """Redis goes away and comes back (same port) holding changes minewall has not seen: made
    through another server on the same data (as after a failover), then saved."""
    m = synced
    rs.client.save()
    port, data = rs.port, rs.dir
    rs.stop()
    m.wait_log("enforcing the lists as last synced")
    other = redis_server(data_dir=data)  # another port, the same dump.rdb
    assert other.client.smembers("minewall:list:{mining}:entries") == {"pool.evil.test"}
    ok(feed(["add", "mining", "late.evil.test", "other.evil.test"], other.url))
    ok(feed(["del", "mining", "pool.evil.test"], other.url))
    other.client.save()
    other.stop()
    assert is_blocked(m, "pool.evil.test") and resolves(m, "late.evil.test")
    back = redis_server(port=port, data_dir=data)
    assert back.client.scard("minewall:list:{mining}:entries") == 2
    # backoff is at most a few seconds here (100 ms doubling); then follow on from the last id
    wait_blocked(m, "late.evil.test", 8)
    wait_blocked(m, "other.evil.test", 1)
    wait_resolves(m, "pool.evil.test", 1)
    assert "full resync" not in m.log()  # the log still reached back: no resync needed


def test_restart_catches_up_from_state(rs, up, state, synced, tmp_path, make_minewall):
    rc, _ = synced.terminate()
    assert rc == 0
    ok(feed(["add", "mining", "late.evil.test"], rs.url))
    ok(feed(["del", "mining", "pool.evil.test"], rs.url))
    m = make_minewall([up], config=sync_cfg(rs, state))
    took = timed(lambda: is_blocked(m, "late.evil.test") and resolves(m, "pool.evil.test"), 3,
                 "caught up with the changes made while stopped")
    assert "list mining: 1 entries from the state directory" in m.log()
    assert took < 3.0


@pytest.mark.parametrize("keep", [
    1, 0])
def test_trimmed_log_forces_full_resync(rs, up, state, synced, tmp_path, make_minewall, keep):
    """Changes made while minewall is stopped, then the log trimmed past the last id it saw
    (keep=1: one newer record left; keep=0: the log emptied). A restart from the state dir
    must notice that the log no longer covers the gap and resync the whole list."""
    m = synced
    ok(feed(["add", "mining", "late.evil.test"], rs.url))
    wait_blocked(m, "late.evil.test", FOLLOW_S + 1)
    wait_until(lambda: state_has(state / "mining.list", "late.evil.test"), 3,
               what="state saved")
    assert m.terminate()[0] == 0
    tx(rs, "mining", "del", ["pool.evil.test"])
    tx(rs, "mining", "add", ["other.evil.test"])
    tx(rs, "mining", "del", ["late.evil.test"])
    rs.client.xtrim("minewall:list:{mining}:log", maxlen=keep, approximate=False)
    assert rs.client.xlen("minewall:list:{mining}:log") == keep
    m2 = make_minewall([up], config=sync_cfg(rs, state))
    wait_until(lambda: is_blocked(m2, "other.evil.test") and resolves(m2, "pool.evil.test")
               and resolves(m2, "late.evil.test"), 3,
               what="the list as Redis holds it after a trimmed log (keep=%d); log:\n%s"
               % (keep, m2.log()[-3000:]))


def test_trimmed_while_running_then_changed(rs, synced):
    """The log trimmed to nothing while minewall follows it, then more changes: following goes
    on from the last id (nothing is lost: every record after it is still read)."""
    m = synced
    rs.client.xtrim("minewall:list:{mining}:log", maxlen=0, approximate=False)
    time.sleep(0.3)
    tx(rs, "mining", "add", ["late.evil.test"])
    wait_blocked(m, "late.evil.test", FOLLOW_S + 1)


def test_keys_deleted_keeps_copy_stale_then_recreated(rs, synced, tmp_path):
    m = synced
    rs.client.delete("minewall:list:{mining}:meta", "minewall:list:{mining}:entries")
    m.wait_log("list mining: its keys are gone from Redis", POLL_S)
    assert "stale" in m.log()
    assert is_blocked(m, "pool.evil.test") and is_blocked(m, "eu.pool.evil.test")
    push(rs, tmp_path, "mining", ["late.evil.test"], "--category", "mining")
    m.wait_log("list mining is back in Redis: full resync", POLL_S)
    wait_blocked(m, "late.evil.test", 2)
    wait_resolves(m, "pool.evil.test", 2)


def test_redis_back_empty_keeps_copy(rs, synced, redis_server, tmp_path):
    """Redis restarted without its data: the lists are not applied as empty."""
    m = synced
    port = rs.port
    rs.stop()
    m.wait_log("enforcing the lists as last synced")
    back = redis_server(port=port)
    m.wait_log("list mining: its keys are gone from Redis", 10)
    assert is_blocked(m, "pool.evil.test")
    push(back, tmp_path, "mining", ["late.evil.test"], "--category", "mining")
    wait_blocked(m, "late.evil.test", POLL_S)
    wait_resolves(m, "pool.evil.test", 2)


# --- fleet -----------------------------------------------------------------------------------


def test_two_instances_converge(rs, up, tmp_path, make_minewall):
    names = ["n%d.burst.test" % i for i in range(60)]
    push(rs, tmp_path, "mining", names[:30], "--category", "mining")
    ms = []
    for i in range(2):
        d = tmp_path / ("state%d" % i)
        d.mkdir()
        ms.append(make_minewall([up], config=sync_cfg(rs, d)))
    for m in ms:
        wait_blocked(m, names[0])
    # a burst: 100 small transactions and two minewall-feed runs, back to back
    import random
    rng = random.Random(7)
    for _ in range(100):
        tx(rs, "mining", rng.choice(["add", "del"]), rng.sample(names, rng.randint(1, 4)))
    ok(feed(["add", "mining"] + names[50:55], rs.url))
    ok(feed(["del", "mining"] + names[:3], rs.url))
    want = rs.client.smembers("minewall:list:{mining}:entries")
    assert want - set(names) == set()

    def view(m):
        return {n for n in names if is_blocked(m, n)}

    for m in ms:
        wait_until(lambda: view(m) == want, 3,
                   what="%s:%d matching Redis after the burst" % m.addr)
    assert view(ms[0]) == view(ms[1]) == want


def block_events(rs):
    return [f for _, f in rs.client.xrange("minewall:events:blocks")]


def test_block_events_and_feed_hits(rs, synced, tmp_path):
    m = synced
    push(rs, tmp_path, "mining", ["pool.evil.test", "late.evil.test", "never.evil.test"])
    wait_blocked(m, "late.evil.test", FOLLOW_S + 1)
    time.sleep(1.2)  # past the one-second fold of the polls above; their events are sent
    rs.client.delete("minewall:events:blocks")
    t0 = time.time()
    for name in ("pool.evil.test", "eu.pool.evil.test", "late.evil.test"):
        assert is_blocked(m, name)
    wait_until(lambda: len(block_events(rs)) >= 3, 5, what="3 block events in Redis")
    time.sleep(0.3)
    evs = block_events(rs)
    assert sorted(e["qname"] for e in evs) == ["eu.pool.evil.test", "late.evil.test",
                                               "pool.evil.test"], evs
    e = next(e for e in evs if e["qname"] == "eu.pool.evil.test")
    assert e["list"] == "mining" and e["category"] == "mining" and e["rule"] == "pool.evil.test"
    assert e["qtype"] in ("A", "1") and e["client"] == "127.0.0.1" and e["where"] == "qname"
    assert e["action"] == "sinkhole" and e["host"]
    assert abs(int(e["ts"]) - t0) < 5

    p = ok(feed(["hits", "mining", "--since", "1h"], rs.url))
    out = p.stdout
    assert "3 events" in out.splitlines()[0], out
    assert re.search(r"^list mining: 3 hits on 2 rules$", out, re.M), out
    assert re.search(r"^\s+2\s+1\s+1\s+pool\.evil\.test$", out, re.M), out
    assert re.search(r"^\s+1\s+1\s+1\s+late\.evil\.test$", out, re.M), out
    assert "never hit: 1 of 3 entries" in out and "never.evil.test" in out, out


def test_block_events_folded_per_client_and_name(rs, synced):
    m = synced
    time.sleep(1.2)
    rs.client.delete("minewall:events:blocks")
    names = ["h%d.pool.evil.test" % i for i in range(8)]
    t0 = time.monotonic()
    for _ in range(5):
        for n in names:
            assert is_blocked(m, n)
    assert time.monotonic() - t0 < 0.5
    wait_until(lambda: len(block_events(rs)) >= len(names), 5, what="block events in Redis")
    time.sleep(0.5)
    per = {}
    for e in block_events(rs):
        per[e["qname"]] = per.get(e["qname"], 0) + 1
    assert max(per.values()) <= 2, "events per name for 5 queries each within 0.5 s: %s" % per


def test_explain_shows_redis_origin(rs, synced, state, tmp_path):
    """--explain lists a Redis list (from the state directory) beside the file lists holding
    the name, with its origin."""
    wait_until(lambda: (state / "mining.list").exists(), 5, what="the state file")
    (tmp_path / "evil.txt").write_text("evil.test\n")
    conf = tmp_path / "explain.yaml"
    cfg = dict(synced.config)
    cfg["lists"] = [{"name": "filelist", "category": "c2", "path": str(tmp_path / "evil.txt")}]
    conf.write_text(to_yaml(cfg) + "\n")
    p = run_minewall(["-c", str(conf), "--explain", "pool.evil.test"])
    assert p.returncode == 0, p.stderr
    assert "held by 2 lists" in p.stdout, p.stdout
    assert "- mining (category mining, origin redis): rule pool.evil.test at redis list " \
        "mining (state %s/mining.list)" % state in p.stdout, p.stdout
    assert "- filelist (category c2, origin file): rule evil.test at %s:1" % (
        tmp_path / "evil.txt") in p.stdout
    assert "blocked by list 'mining'" in p.stdout and "most specific rule wins" in p.stdout
