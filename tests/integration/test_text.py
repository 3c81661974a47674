"""Bounded text building (issue 10 item 3): names from the config and from Redis are capped,
and every line built from them (block events, block log, metrics labels, /status) is bounded.

The original report: a 1,500-character list name, Redis events on and a long query name made
the block event line overflow a stack buffer (AddressSanitizer: stack-buffer-overflow write).
These tests are meant to run under the ASan build too (MINEWALL_BIN=build-asan/minewall)."""

import json
import os
import re
import time
import urllib.request

import dns.name
import dns.rcode
import pytest

from conftest import FEED_BIN, addresses, free_port, run_minewall, to_yaml, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(FEED_BIN),
                                reason="minewall-feed not built: " + FEED_BIN)

LIST_NAME_MAX = 64  # README: lists.name and Redis list names
CATEGORY_MAX = 63   # README: lists.category and the Redis meta category


def long_qname(suffix="evil.test"):
    """A query name of ~250 octets whose text form is ~1,000 characters: bytes that are
    written as \\DDD in presentation form, under the blocked suffix."""
    labels = [b"\x01" * 60, b"\x7f" * 60, b"\x22" * 60, b"\\" * 30 + b"\x02" * 30]
    name = dns.name.Name(labels + [lb.encode() for lb in suffix.split(".")] + [b""])
    assert len(name.to_wire()) <= 255
    return name


def minewall_text(name):
    """The text form minewall writes: bytes outside [a-z0-9-_*] as \\DDD, no final dot."""
    ok = set(b"abcdefghijklmnopqrstuvwxyz0123456789-_*")
    return ".".join("".join(chr(c) if c in ok else "\\%03d" % c for c in lb)
                    for lb in name.labels if lb)


def events_cfg(rs, tmp_path, list_name, category="mining"):
    (tmp_path / "evil.txt").write_text("evil.test\n")
    return {"redis": {"url": rs.url, "lists": ["unused"], "state-dir": str(tmp_path / "st")},
            "lists": [{"name": list_name, "category": category, "path": "evil.txt"}],
            "log": {"level": "debug", "blocks": str(tmp_path / "blocks.log")},
            "metrics": {"listen": "127.0.0.1:%d" % free_port()}}


def block_events(rs):
    return [f for _, f in rs.client.xrange("minewall:events:blocks")]


def test_issue10_long_list_name_redis_events_long_qname(rs_server, up, make_minewall,
                                                        tmp_path):
    """The reproduction of the report. Either the name is refused at load with FILE:LINE (what
    minewall does), or the server keeps running and every line stays bounded; before the fix
    the ASan build aborted on the first blocked query."""
    rs = rs_server
    name = "L" * 1500
    m = make_minewall([up], config=events_cfg(rs, tmp_path, name), ready=False)
    deadline = time.monotonic() + 10
    while m.alive and time.monotonic() < deadline:
        try:
            m.wait_ready(timeout=0.5, handlers=False)
            break
        except AssertionError:
            pass
    if not m.alive:
        m.stopped = True
        assert m.proc.returncode == 1, m.log()
        assert re.search(re.escape(m.conf_path) + r":\d+: lists\.name: .*longer than %d"
                         % LIST_NAME_MAX, m.log()), m.log()
        return
    r = m.query(long_qname())
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["0.0.0.0"], r
    wait_until(lambda: len(block_events(rs)) >= 1, 5, what="a block event in Redis")
    assert m.alive, m.log()


def test_long_names_rejected_with_file_line(tmp_path):
    (tmp_path / "evil.txt").write_text("evil.test\n")
    cfg = {"listen": ["127.0.0.1:%d" % free_port()],
           "lists": [{"name": "L" * (LIST_NAME_MAX + 1), "category": "mining",
                      "path": "evil.txt"},
                     {"name": "ok", "category": "c" * (CATEGORY_MAX + 1), "path": "evil.txt"},
                     {"name": "L" * LIST_NAME_MAX, "category": "c" * CATEGORY_MAX,
                      "path": "evil.txt"}],
           "redis": {"url": "redis://127.0.0.1:1", "lists": ["R" * (LIST_NAME_MAX + 1)]}}
    path = tmp_path / "minewall.yaml"
    text = to_yaml(cfg) + "\n"
    path.write_text(text)
    res = run_minewall(["-c", str(path), "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    lines = text.splitlines()

    def line_of(needle):
        return next(i + 1 for i, ln in enumerate(lines) if needle in ln)

    assert "%s:%d: lists.name: " % (path, line_of("L" * (LIST_NAME_MAX + 1))) in out, out
    assert "%s:%d: lists.category: " % (path, line_of("c" * (CATEGORY_MAX + 1))) in out, out
    assert "%s:%d: redis.lists: " % (path, line_of("R" * (LIST_NAME_MAX + 1))) in out, out
    assert out.count("longer than") == 3, out  # the names at the cap are fine


def test_longest_names_and_qname_give_whole_lines(rs_server, up, make_minewall, tmp_path):
    """Names at their caps and a query name whose text is ~1,000 characters: the Redis event,
    the block log line, the metrics labels and /status all carry them whole and valid."""
    rs = rs_server
    name, cat = "L" * LIST_NAME_MAX, "c" * CATEGORY_MAX
    cfg = events_cfg(rs, tmp_path, name, cat)
    m = make_minewall([up], config=cfg)
    q = long_qname()
    r = m.query(q)
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["0.0.0.0"], r
    wait_until(lambda: len(block_events(rs)) >= 1, 5, what="a block event in Redis")
    e = block_events(rs)[0]
    text = minewall_text(q)
    assert len(text) > 900
    assert e["list"] == name and e["category"] == cat and e["qname"] == text, e
    assert e["rule"] == "evil.test" and e["where"] == "qname" and e["host"], e

    blocks = tmp_path / "blocks.log"
    wait_until(lambda: blocks.exists() and blocks.read_text().strip(), 5, what="block log")
    hit = json.loads(blocks.read_text().splitlines()[0])
    assert hit["list"] == name and hit["category"] == cat and hit["qname"] == text, hit

    base = "http://%s" % cfg["metrics"]["listen"]
    want = 'minewall_blocks_total{category="%s",list="%s"' % (cat, name)
    wait_until(lambda: want in urllib.request.urlopen(base + "/metrics", timeout=2).read()
               .decode(), 3, what="the block counter in /metrics (published once a second)")
    status = json.loads(urllib.request.urlopen(base + "/status", timeout=2).read())
    assert any(b["list"] == name and b["category"] == cat for b in status["blocks"]), status
    assert m.alive


def test_redis_list_names_rejected_at_sync(rs_server, up, make_minewall, tmp_path):
    """Names published in minewall:lists that are too long or not of the allowed characters
    (a '/' would leave the state directory) are refused with a logged reason; the rest syncs."""
    rs = rs_server
    bad = ["R" * 1500, "../escape", "a b"]
    for n in bad + ["good"]:
        rs.client.sadd("minewall:lists", n)
        k = "minewall:list:{%s}:" % n
        rs.client.hset(k + "meta", mapping={"category": "mining", "type": "domain"})
        rs.client.sadd(k + "entries", "%d.bad.test" % len(n))
    rs.client.hset("minewall:list:{good}:meta", "category", "x" * 200)
    rs.client.sadd("minewall:lists", "fine")
    rs.client.hset("minewall:list:{fine}:meta", mapping={"category": "mining", "type": "domain"})
    rs.client.sadd("minewall:list:{fine}:entries", "evil.test")
    state = tmp_path / "st"
    mlisten = "127.0.0.1:%d" % free_port()
    m = make_minewall([up], config={"redis": {"url": rs.url, "lists": ["*"],
                                              "state-dir": str(state)}, "lists": [],
                                    "metrics": {"listen": mlisten}})
    wait_until(lambda: addresses(m.query("evil.test")) == ["0.0.0.0"], 5,
               what="the list `fine` synced")
    log = m.log()
    assert "refusing list name" in log and "longer than %d" % LIST_NAME_MAX in log, log
    assert "'../escape'" in log and "'a b'" in log, log
    assert re.search(r"list good: .*category .*longer than %d" % CATEGORY_MAX, log), log
    metrics = urllib.request.urlopen("http://%s/metrics" % mlisten, timeout=2).read().decode()
    assert "minewall_redis_lists_refused_total 4\n" in metrics, metrics
    wait_until(lambda: (state / "fine.list").exists(), 3, what="fine.list saved")
    assert sorted(os.listdir(state)) == ["fine.list"], os.listdir(state)
    assert not (tmp_path / "escape.list").exists()
    assert m.alive


@pytest.fixture
def rs_server(redis_server):
    return redis_server()


@pytest.fixture
def up(make_upstream):
    return make_upstream({})
