"""The query log (log.queries): one JSON line per answered client query, written by a thread of
its own from bounded per-worker queues; sampling (log.sample), the queue bound (log.queue) and
its drop counter, reopening on SIGHUP after a rotation, a clean flush at shutdown, and nothing
at all when it is not configured."""

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

import dns.message
import dns.rcode
import pytest

from conftest import (addresses, free_port, make_query, run_minewall, thread_names,
                      wait_until)

EXTRA = {"pool.evil.test": {"A": ["192.0.2.200"]}, "slow.evil.test": {"A": ["192.0.2.201"]}}
LOCAL = "printer.corp.internal. 300 A 10.0.0.7"
KEYS = {"time", "client", "client_port", "transport", "group", "qname", "qtype", "rcode",
        "answers", "upstream", "latency_ms", "cache", "verdict", "rule"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def lines(path, probes=False):
    """The query log's lines as objects ([] before the file exists), without the harness's
    readiness probes (NOTIFY, answered NOTIMP) unless probes."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        got = [json.loads(ln) for ln in f if ln.strip()]
    return got if probes else [x for x in got if x["rcode"] != "NOTIMP"]


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as f:
        return f.read().decode()


def metric(port, name):
    m = re.search(r"^minewall_%s (\d+)$" % name, metrics(port), re.M)
    return int(m.group(1)) if m else None


def start(make_minewall, up, tmp_path, log=None, **config):
    path = str(tmp_path / "queries.jsonl")
    lst = tmp_path / "mining.txt"
    lst.write_text("pool.evil.test\nslow.evil.test\n")
    watch = tmp_path / "watch.txt"
    watch.write_text("mail.example.test\n")
    cfg = {"log": dict({"level": "debug", "queries": path}, **(log or {})),
           "lists": [{"name": "mining", "category": "mining", "path": str(lst)},
                     {"name": "watch", "category": "watch", "path": str(watch),
                      "action": "log"}]}
    cfg.update(config)
    return make_minewall([up], config=cfg), path


def wait_lines(path, n, timeout=5):
    return wait_until(lambda: len(lines(path)) >= n and lines(path), timeout,
                      what="%d query log lines" % n)


def test_fields(make_minewall, make_upstream, tmp_path):
    up = make_upstream(EXTRA)
    m, path = start(make_minewall, up, tmp_path, **{"local-data": [LOCAL]})
    r = m.query("example.test", "A")
    assert addresses(r) == ["192.0.2.1"]
    miss = wait_lines(path, 1)[0]
    assert set(miss) == KEYS, miss
    assert TIME_RE.match(miss["time"]), miss
    assert miss["client"] == "127.0.0.1" and miss["transport"] == "udp"
    assert miss["group"] == "default"
    assert (miss["qname"], miss["qtype"], miss["rcode"]) == ("example.test", "A", "NOERROR")
    assert miss["answers"] == ["192.0.2.1"]
    assert miss["upstream"] == up.addr
    assert miss["cache"] == "miss" and miss["verdict"] == "pass" and miss["rule"] is None
    assert isinstance(miss["latency_ms"], int) and 0 <= miss["latency_ms"] < 2000

    m.query("example.test", "A", tcp=True)
    hit = wait_lines(path, 2)[1]
    assert hit["cache"] == "hit" and hit["upstream"] is None and hit["transport"] == "tcp"
    assert hit["answers"] == ["192.0.2.1"] and hit["latency_ms"] == 0

    r = m.query("pool.evil.test", "A")
    assert addresses(r) == ["0.0.0.0"]
    blk = wait_lines(path, 3)[2]
    assert (blk["verdict"], blk["rule"], blk["cache"]) == ("block", "pool.evil.test", "local")
    assert blk["answers"] == ["0.0.0.0"] and blk["upstream"] is None

    r = m.query("nothing-here.test", "AAAA")
    assert r.rcode() == dns.rcode.NXDOMAIN
    nx = wait_lines(path, 4)[3]
    assert (nx["qname"], nx["qtype"], nx["rcode"]) == ("nothing-here.test", "AAAA", "NXDOMAIN")
    assert nx["answers"] == [] and nx["cache"] == "miss" and nx["upstream"] is not None

    r = m.query("printer.corp.internal", "A")
    assert addresses(r) == ["10.0.0.7"]
    loc = wait_lines(path, 5)[4]
    assert (loc["cache"], loc["upstream"], loc["answers"]) == ("local", None, ["10.0.0.7"])
    # A list with action log: resolved, and the verdict and rule say so on the miss and the hit.
    for i in (5, 6):
        assert addresses(m.query("mail.example.test", "A")) == ["192.0.2.25"]
        got = wait_lines(path, i + 1)[i]
        assert (got["verdict"], got["rule"]) == ("log", "mail.example.test"), got
        assert got["cache"] == ("miss", "hit")[i - 5] and got["answers"] == ["192.0.2.25"]
    assert len(lines(path)) == 7, "every answer is logged once"


def test_sampling(make_minewall, upstream, tmp_path):
    port = free_port()
    m, path = start(make_minewall, upstream, tmp_path, log={"sample": 10},
                    metrics={"listen": "127.0.0.1:%d" % port})
    for i in range(200):
        m.query("example.test", "A")
    # One answer in 10 is logged, counted per worker (one here): 20 of the 200, whatever the
    # readiness probes before them left in the count.
    wait_until(lambda: len(lines(path)) >= 20, 5, what="20 lines")
    assert metric(port, "querylog_dropped_total") == 0
    # Every record is queued before its answer is sent: no more lines can come.
    assert len(lines(path)) == 20
    wait_until(lambda: metric(port, "querylog_written_total") == len(lines(path, probes=True)),
               5, what="the written counter")


def test_queue_bound_counted(make_minewall, upstream, tmp_path):
    """A 16-record queue and a burst of 3000 answers sent without waiting for them: the writer
    (polling every 10 ms) cannot keep up, the surplus is dropped and counted, minewall answers
    on, and written + dropped is every answer."""
    port = free_port()
    m, path = start(make_minewall, upstream, tmp_path, log={"queue": 16},
                    metrics={"listen": "127.0.0.1:%d" % port})
    m.query("example.test", "A")  # cached: the burst is answered from the cache
    wait_lines(path, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.connect(m.addr)
    wire = make_query("example.test", "A").to_wire()
    n, got = 3000, 0
    s.settimeout(2)
    for i in range(n):
        s.send(wire)
        if i % 100 == 99:  # stay under the socket buffers: read what came back so far
            while got < i - 200:
                s.recv(4096)
                got += 1
    try:
        while got < n:
            s.recv(4096)
            got += 1
    except socket.timeout:
        pass
    s.close()
    assert got > n * 0.9, got
    wait_until(lambda: metric(port, "querylog_written_total") + metric(
        port, "querylog_dropped_total") >= got + 1, 5, what="every answer written or dropped")
    dropped = metric(port, "querylog_dropped_total")
    assert dropped > 0
    assert metric(port, "querylog_written_total") == len(lines(path, probes=True))
    assert m.query("example.test", "A").rcode() == dns.rcode.NOERROR


def test_reopen_on_sighup(make_minewall, upstream, tmp_path):
    m, path = start(make_minewall, upstream, tmp_path)
    m.query("example.test", "A")
    wait_lines(path, 1)
    os.rename(path, path + ".1")
    m.query("example.test", "AAAA")  # still written to the renamed file
    wait_until(lambda: len(lines(path + ".1")) == 2, 5, what="line in the rotated file")
    m.sighup()
    wait_until(lambda: os.path.exists(path), 5, what="the query log reopened")
    m.wait_log("configuration reloaded")
    m.query("example.test", "MX")
    new = wait_lines(path, 1)
    assert [x["qtype"] for x in new] == ["MX"]
    assert [x["qtype"] for x in lines(path + ".1")] == ["A", "AAAA"]


def test_shutdown_flushes(make_minewall, upstream, tmp_path):
    m, path = start(make_minewall, upstream, tmp_path)
    for i in range(50):
        m.query("example.test", "A")
    rc, _ = m.terminate()
    assert rc == 0
    assert len(lines(path)) == 50


def fs_type(path):
    """The file system type of the mount that holds path (/proc/mounts: longest prefix)."""
    best, kind = "", None
    with open("/proc/mounts") as f:
        for ln in f:
            parts = ln.split()
            mnt = parts[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, parts[2]
    return kind


def resident_bytes(path):
    """Bytes of the file in the page cache, by util-linux's fincore."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    return int(out.split()[0])


def test_page_cache_bounded(make_minewall, upstream, tmp_path):
    """Drop-behind: the log is written back and dropped from the page cache a few MiB behind
    its end, so 12 MiB of lines leave at most about 3 MiB of it in memory (without it all
    12 MiB stay cached until memory runs short)."""
    kind = fs_type(str(tmp_path))
    if kind in ("tmpfs", "ramfs"):
        pytest.skip("the test directory is on %s: its pages cannot be dropped" % kind)
    m, path = start(make_minewall, upstream, tmp_path)
    name = ".".join(["a" * 60] * 3) + ".example.test"  # a long line: ~450 bytes each
    m.query(name, "A")
    wait_lines(path, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.connect(m.addr)
    s.settimeout(2)
    wire = make_query(name, "A").to_wire()
    want = 12 << 20
    deadline = time.monotonic() + 60
    while os.path.getsize(path) < want and time.monotonic() < deadline:
        for _ in range(200):  # bursts answered from the cache; read each burst's answers back
            s.send(wire)
        try:
            for _ in range(200):
                s.recv(4096)
        except socket.timeout:
            pass
    s.close()
    assert os.path.getsize(path) >= want
    # the writer drops a window once the one two later is written: ends within ~3 MiB
    bound = (3 << 20) + (512 << 10)
    try:
        wait_until(lambda: resident_bytes(path) <= bound, 5, what="the log's page cache bounded")
    except AssertionError:
        raise AssertionError("%d bytes of the %d-byte log in the page cache, over %d" % (
            resident_bytes(path), os.path.getsize(path), bound))
    assert m.query("example.test", "A").rcode() == dns.rcode.NOERROR


def test_thread_names(make_minewall, upstream, tmp_path):
    """Each kind of thread has a name an operator sees in top -H (and tools/bench splits CPU
    by): the workers, the query log's writer; the control loop keeps the program's."""
    m, path = start(make_minewall, upstream, tmp_path, threads=2)
    m.query("example.test", "A")
    wait_lines(path, 1)
    names = thread_names(m.proc.pid)
    assert sorted(n for n in names if n.startswith("mw-")) == [
        "mw-querylog", "mw-worker-0", "mw-worker-1"], names
    assert "minewall" in names


def test_off_when_unset(make_minewall, upstream, tmp_path):
    port = free_port()
    m = make_minewall([upstream], config={"metrics": {"listen": "127.0.0.1:%d" % port}})
    m.query("example.test", "A")
    assert metric(port, "querylog_written_total") is None
    assert not [f for f in os.listdir(tmp_path) if "quer" in f]


def test_bad_config(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("listen: [\"127.0.0.1:%d\"]\nupstreams: [\"127.0.0.1:53\"]\nlog:\n"
                    "  queries: %s\n  sample: 0\n  queue: 1\n" % (free_port(), tmp_path / "q"))
    out = run_minewall(["-c", str(conf), "--check-config"])
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert re.search(r"%s:5: .*log\.sample" % re.escape(str(conf)), text), text
    assert re.search(r"%s:6: .*log\.queue" % re.escape(str(conf)), text), text


def test_reload_new_path_and_rate(make_minewall, upstream, tmp_path):
    """A reload that changes log.queries moves the log to the new file; one that sets it
    where it was unset starts it; one that drops it stops the lines."""
    m = make_minewall([upstream])
    path = str(tmp_path / "q1.jsonl")
    m.config["log"] = {"level": "debug", "queries": path}
    m.reload_with(None)
    m.wait_log("configuration reloaded")
    m.query("example.test", "A")
    wait_lines(path, 1)
    path2 = str(tmp_path / "q2.jsonl")
    m.config["log"]["queries"] = path2
    m.reload_with(None)
    m.wait_log_count("configuration reloaded", 2)
    wait_until(lambda: os.path.exists(path2), 5, what="the new query log")
    m.query("example.test", "AAAA")
    assert [x["qtype"] for x in wait_lines(path2, 1)] == ["AAAA"]
    del m.config["log"]["queries"]
    m.reload_with(None)
    m.wait_log_count("configuration reloaded", 3)
    m.query("example.test", "MX")
    m.query("example.test", "TXT", tcp=True)
    # On again in a third file: an MX or TXT line, had one been queued, would be written
    # before the SOA's, to the second file or the third.
    path3 = str(tmp_path / "q3.jsonl")
    m.config["log"]["queries"] = path3
    m.reload_with(None)
    m.wait_log_count("configuration reloaded", 4)
    m.query("example.test", "SOA")
    assert [x["qtype"] for x in wait_lines(path3, 1)] == ["SOA"]
    assert [x["qtype"] for x in lines(path2)] == ["AAAA"]
    assert [x["qtype"] for x in lines(path)] == ["A"]


def test_unwritable_path(tmp_path):
    """--check-config names the line of a query log that cannot be written; minewall does not
    start with it, as with the block log."""
    conf = tmp_path / "bad.yaml"
    conf.write_text("listen: [\"127.0.0.1:%d\"]\nupstreams: [\"127.0.0.1:53\"]\nlog:\n"
                    "  queries: %s\n" % (free_port(), tmp_path / "missing" / "q.jsonl"))
    out = run_minewall(["-c", str(conf), "--check-config"])
    assert out.returncode != 0
    assert "%s:4: query log" % conf in out.stdout + out.stderr, out.stdout + out.stderr
    out = run_minewall(["-c", str(conf)] + (["--user", "root"] if os.geteuid() == 0 else []))
    assert out.returncode == 1
    assert "cannot open the query log" in out.stdout + out.stderr


def ask_from(m, src, name, rdtype="A"):
    q = make_query(name, rdtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(3)
        s.sendto(q.to_wire(), m.addr)
        return dns.message.from_wire(s.recvfrom(65535)[0])


def test_groups(make_minewall, make_upstream, tmp_path):
    """Each line carries the client's group; a group with log-queries: false has no lines, also
    when its query waits on the same fetch as another group's."""
    up = make_upstream(EXTRA)
    m, path = start(make_minewall, up, tmp_path, groups={
        "lab": {"clients": ["127.0.0.3/32"], "actions": {"mining": "log"}},
        "quiet": {"clients": ["127.0.0.2/32"], "actions": {"mining": "log"},
                  "log-queries": False}})
    assert addresses(ask_from(m, "127.0.0.3", "pool.evil.test")) == ["192.0.2.200"]
    lab = wait_lines(path, 1)[0]
    assert (lab["group"], lab["client"], lab["verdict"], lab["rule"], lab["cache"]) == (
        "lab", "127.0.0.3", "log", "pool.evil.test", "miss"), lab
    assert addresses(ask_from(m, "127.0.0.1", "pool.evil.test")) == ["0.0.0.0"]
    dflt = wait_lines(path, 2)[1]
    assert (dflt["group"], dflt["verdict"], dflt["cache"]) == ("default", "block", "local")
    assert addresses(ask_from(m, "127.0.0.2", "example.test")) == ["192.0.2.1"]
    # Both at once (waiting on the same name upstream): one line, lab's.
    up.set_mode("delay:700", "slow.evil.test")
    out = {}
    ts = [threading.Thread(target=lambda s=s: out.update({s: addresses(ask_from(
        m, s, "slow.evil.test"))})) for s in ("127.0.0.2", "127.0.0.3")]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert out == {"127.0.0.2": ["192.0.2.201"], "127.0.0.3": ["192.0.2.201"]}, out
    assert addresses(ask_from(m, "127.0.0.3", "example.test")) == ["192.0.2.1"]
    got = wait_lines(path, 4)
    assert [(x["group"], x["qname"], x["verdict"]) for x in got[2:]] == [
        ("lab", "slow.evil.test", "log"), ("lab", "example.test", "pass")], got
