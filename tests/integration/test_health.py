"""Active health checks (health-check: {interval, down-after, up-after}): one prober for the
process probes every upstream, a dead one of two is marked down within 3 s with no client
traffic at all (one upstream_change, however many workers), it comes back after it answers
again, clients keep getting answers meanwhile, a busy healthy upstream is not probed, a
zone-only upstream is asked for its zone, probes never count as client queries, and bad
settings are refused with FILE:LINE."""

import json
import re
import time

import dns.rcode
import pytest

from conftest import addresses, free_port, make_dead, run_minewall, to_yaml, wait_until
from test_journal import events, wait_events
from test_ops import http_get, scrape, val

DETECT_S = 3.0  # the bound: a dead upstream out of two is down within 3 s


def start(make_minewall, tmp_path, ups, **config):
    """minewall over ups with a journal and metrics; returns (minewall, journal, metrics port)."""
    jp = str(tmp_path / "journal.jsonl")
    mport = free_port()
    cfg = {"upstream-timeout": 300, "resolve-timeout": 2000,
           "journal": {"path": jp, "watch": []},
           "metrics": {"listen": "127.0.0.1:%d" % mport}}
    cfg.update(config)
    return make_minewall(ups, config=cfg), jp, mport


def worker_view(mport):
    """{upstream: up} as the workers last published it (/status: up when up for any)."""
    st, _, body = http_get(mport, "/status")
    assert st == 200, body
    return {u["address"]: u["up"] for u in json.loads(body)["upstreams"]}


def probed_twice(*fakes):
    """Every fake has answered a probe (one is outstanding at a time: the second was sent
    after the first answer), so the prober knows their RTTs."""
    wait_until(lambda: all(f.count(".", "NS") >= 2 for f in fakes), 5,
               what="two probes at every upstream")


@pytest.mark.parametrize("dead", ["drop", "stopped"])
def test_dead_upstream_down_within_3s_without_traffic(make_upstream, make_minewall, tmp_path,
                                                      dead):
    a, b = make_upstream(), make_upstream()
    m, jp, mport = start(make_minewall, tmp_path, [a, b], threads=2)
    probed_twice(a, b)
    t_start = time.monotonic()
    b_probes0 = b.count(".", "NS")
    make_dead(a, dead)
    t0 = time.monotonic()
    e = wait_events(jp, "upstream_change", 1, timeout=DETECT_S + 2)[0]
    took = time.monotonic() - t0
    assert e["state"] == "down" and e["upstream"] == a.addr, e
    assert e["zones"] == {".": b.addr}, e
    assert took < DETECT_S, "marked down after %.2fs" % took
    print("marked down after %.2fs" % took)
    # No client asked anything: the probes found it, and they are not client queries.
    assert a.count() == 0 and b.count() == 0
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_up", upstream=a.addr) == 0
    assert val(s, "minewall_upstream_up", upstream=b.addr) == 1
    assert val(s, "minewall_upstream_probe_failures_total", upstream=a.addr) >= 3
    assert val(s, "minewall_upstream_probes_total", upstream=b.addr) >= 2
    assert val(s, "minewall_upstream_queries_total") == 0
    st, _, body = http_get(mport, "/healthz")
    assert st == 200, body

    # Every worker follows the board (within 250 ms; /status shows what the workers
    # published, once a second): then clients are answered by b at once, a is not tried.
    wait_until(lambda: not worker_view(mport)[a.addr], 3, what="workers see a down")
    for i in range(5):
        t = time.monotonic()
        r = m.query("h%d.bulk.test" % i, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.99"]
        assert time.monotonic() - t < 0.25, "query %d took %.2fs" % (i, time.monotonic() - t)
        assert b.count("h%d.bulk.test" % i) == 1
    assert a.count() == 0

    # Back: up_after (2) answered probes, a down upstream is probed once a second.
    if dead == "stopped":
        a.start()  # the same port again
    else:
        a.set_mode("normal")
    t1 = time.monotonic()
    e = wait_events(jp, "upstream_change", 2, timeout=4)[1]
    assert e["state"] == "up" and e["upstream"] == a.addr, e
    assert e["zones"] == {".": a.addr}, e
    assert time.monotonic() - t1 < 3.5
    assert len(events(jp, "upstream_change")) == 2  # one per change, not one per worker
    wait_until(lambda: val(scrape(mport)[0], "minewall_upstream_up", upstream=a.addr) == 1, 2,
               what="upstream_up back to 1")
    # Two workers, one prober: the idle upstream got about one probe a second, not two.
    elapsed = time.monotonic() - t_start
    got = b.count(".", "NS") - b_probes0
    assert got <= elapsed + 2, "%d probes of b in %.1fs" % (got, elapsed)
    log = m.log()
    assert log.count("upstream %s is down" % a.addr) == 1, log[-3000:]


def test_clients_answered_during_detection(make_upstream, make_minewall, tmp_path):
    a, b = make_upstream(), make_upstream()
    m, jp, _ = start(make_minewall, tmp_path, [a, b])
    probed_twice(a, b)
    make_dead(a, "drop")
    t0 = time.monotonic()
    i = 0
    # Questions all along the detection: every one is answered (by b, after a's timeout when
    # a was asked first).
    while not events(jp, "upstream_change") or i < 10:
        assert time.monotonic() - t0 < DETECT_S + 2, "no upstream_change"
        r = m.query("c%d.bulk.test" % i, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.99"], i
        i += 1
        time.sleep(0.05)
    e = events(jp, "upstream_change")[0]
    assert e["state"] == "down" and e["upstream"] == a.addr, e
    assert time.monotonic() - t0 < DETECT_S + 1.5


def test_refusing_upstream_down_by_client_queries(make_upstream, make_minewall, tmp_path):
    """REFUSED answers to client queries are failures in a row (the answer does not end the
    run): down-after of them mark the upstream down, even though it answers probes."""
    refuser = make_upstream(origin="other.")  # answers ". NS", REFUSES every *.test name
    good = make_upstream()
    good.set_mode("delay:30")  # the slower one: the refuser is asked first every time
    m, jp, _ = start(make_minewall, tmp_path, [refuser, good],
                     **{"health-check": {"interval": 60000}})
    wait_until(lambda: refuser.count(".", "NS") >= 1, 5, what="a probe")
    for i in range(10):  # answered by good every time
        r = m.query("r%d.bulk.test" % i, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.99"], i
    assert refuser.count() >= 3
    # the prober reads the workers' reports every 250 ms
    wait_events(jp, "upstream_change", 1, timeout=5)
    e = events(jp, "upstream_change")[0]
    assert e["state"] == "down" and e["upstream"] == refuser.addr, e
    assert "failed client queries" in m.log()


def test_busy_upstream_not_probed(make_upstream, make_minewall, tmp_path):
    up = make_upstream()
    m, jp, mport = start(make_minewall, tmp_path, [up])
    probed_twice(up)
    n0 = up.count(".", "NS")
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 3.0:  # three intervals of client traffic
        assert addresses(m.query("b%d.bulk.test" % i, timeout=3)) == ["192.0.2.99"]
        i += 1
        time.sleep(0.05)
    # Answers to clients are the proof of life: at most the probe already due was sent.
    assert up.count(".", "NS") - n0 <= 1, (up.count(".", "NS") - n0, i)
    # Idle again: probed once an interval.
    n1 = up.count(".", "NS")
    wait_until(lambda: up.count(".", "NS") >= n1 + 2, 4, what="probes when idle")
    assert events(jp, "upstream_change") == []


def test_zone_only_upstream_asked_for_its_zone(make_upstream, make_minewall, tmp_path):
    default = make_upstream()
    corp = make_upstream(origin="corp.test.")  # REFUSES ". NS", as an authoritative does
    m, jp, mport = start(make_minewall, tmp_path, [default],
                         **{"forward-zones": {"corp.test": [corp.addr]}})
    wait_until(lambda: corp.count("corp.test", "NS") >= 3, 5, what="zone probes of corp")
    assert corp.count(".", "NS") == 0
    assert corp.count() == 0  # probes are not client queries
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_up", upstream=corp.addr) == 1
    assert val(s, "minewall_upstream_probe_failures_total", upstream=corp.addr) == 0
    assert events(jp, "upstream_change") == []
    corp.set_mode("servfail")  # SERVFAIL is a failed probe
    e = wait_events(jp, "upstream_change", 1, timeout=DETECT_S + 1)[0]
    assert e["state"] == "down" and e["upstream"] == corp.addr, e
    assert e["zones"] == {".": default.addr, "corp.test": None}, e
    # Every upstream of the zone is down: it is still asked (and its answer given).
    assert m.query("www.corp.test").rcode() == dns.rcode.SERVFAIL
    assert corp.count("www.corp.test") >= 1
    corp.set_mode("normal")
    e = wait_events(jp, "upstream_change", 2, timeout=4)[1]
    assert e["state"] == "up" and e["zones"]["corp.test"] == corp.addr, e


def test_ipv6_upstream_probed(make_upstream, make_minewall, tmp_path):
    v4, v6 = make_upstream(), make_upstream(host="::1")
    m, jp, mport = start(make_minewall, tmp_path, [v4, v6])
    probed_twice(v4, v6)
    make_dead(v6, "drop")
    e = wait_events(jp, "upstream_change", 1, timeout=DETECT_S + 2)[0]
    assert e["state"] == "down" and e["upstream"] == v6.addr, e
    s, _ = scrape(mport)
    assert val(s, "minewall_upstream_up", upstream=v4.addr) == 1
    assert val(s, "minewall_upstream_probe_send_errors_total") == 0


def test_settings_change_on_reload(make_upstream, make_minewall, tmp_path):
    """A reload keeps the state of upstreams that stay and applies new settings."""
    a, b = make_upstream(), make_upstream()
    m, jp, _ = start(make_minewall, tmp_path, [a, b])
    probed_twice(a, b)
    make_dead(a, "drop")
    wait_events(jp, "upstream_change", 1, timeout=DETECT_S + 2)
    cfg = dict(m.config)
    cfg["health-check"] = {"interval": 300, "down-after": 2, "up-after": 3}
    m.reload_with(to_yaml(cfg) + "\n")
    m.wait_log("configuration reloaded")
    time.sleep(0.5)
    assert len(events(jp, "upstream_change")) == 1  # still down: no second event
    a.set_mode("normal")
    t = time.monotonic()
    e = wait_events(jp, "upstream_change", 2, timeout=3)[1]
    assert e["state"] == "up" and e["upstream"] == a.addr, e
    assert time.monotonic() - t < 2.5  # three probes at the faster pace


BAD_HEALTH = """\
upstreams: ["127.0.0.1:5300"]
health-check:
  interval: 10
  down-after: 0
  up-after: soon
  timeout: 5
"""


def test_bad_settings_refused(tmp_path):
    path = str(tmp_path / "minewall.yaml")
    with open(path, "w") as f:
        f.write(BAD_HEALTH)
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line, text in ((3, "10"), (4, "0"), (5, "soon"), (6, "timeout")):
        assert re.search(re.escape("%s:%d: " % (path, line)) + r".*" + re.escape(text), out), (
            line, out)
    with open(path, "w") as f:
        f.write('upstreams: ["127.0.0.1:5300"]\n'
                "health-check: {interval: 500, down-after: 1, up-after: 5}\n")
    res = run_minewall(["-c", path, "--check-config"])
    assert res.returncode == 0, res.stdout + res.stderr
