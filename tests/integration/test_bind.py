"""No silent bypass at bind (issue 10 item 4): minewall refuses to start (exit 3, naming the
address and the process that holds it) when anything else serves one of its listen addresses,
and once it runs nothing else can bind them, with or without SO_REUSEPORT, so every query goes
through the filter. With threads: 2 its own workers still share the load."""

import os
import socket

import pytest

from conftest import addresses, ask, free_port, to_yaml, wait_until
from test_ops import LISTED, write_list

EXIT_WAIT_S = 10


def foreign(host, port, kind, opts):
    """A socket of this test process bound to (host, port): kind udp or tcp (listening)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    for o in opts:
        s.setsockopt(socket.SOL_SOCKET, o, 1)
    s.bind((host, port))
    if kind == "tcp":
        s.listen(8)
    return s


def refused(m):
    """m exits with 3 on its own; returns its log."""
    rc = m.proc.wait(EXIT_WAIT_S)
    m.stopped = True
    m._log.close()
    assert rc == 3, "exit %s, expected 3:\n%s" % (rc, m.log())
    return m.log()


def test_second_minewall_exits_3_naming_first(make_minewall, upstream, tmp_path):
    first = make_minewall([upstream])
    second = make_minewall([upstream], ready=False, listen=first.addr)
    log = refused(second)
    assert "127.0.0.1:%d" % first.port in log, log
    assert "pid %d" % first.proc.pid in log, log
    assert first.query("example.test").answer  # the first one is untouched


def test_refused_start_with_everything_configured_goes_down_clean(make_minewall, upstream,
                                                                  tmp_path):
    """A start refused at the listen step after Redis, the events publisher, the journal, the
    new-domains detector, dnstap and the query log were built: exit 3, and (under ASan) nothing
    of them leaked. CI once saw the events publisher leak on this path."""
    port = free_port()
    s = foreign("127.0.0.1", port, "udp", ())
    tap = tmp_path / "tap"
    tap.mkdir()
    try:
        m = make_minewall([upstream], ready=False, listen=("127.0.0.1", port), config={
            "redis": {"url": "redis://127.0.0.1:%d" % free_port(), "lists": ["*"],
                      "state-dir": str(tmp_path / "state")},
            "journal": {"path": str(tmp_path / "journal.jsonl"), "watch": []},
            "detect": {"new-domains": {"state-dir": str(tmp_path / "nod")}},
            "dnstap": {"address": "127.0.0.1:%d" % free_port()},
            "log": {"level": "debug", "queries": str(tmp_path / "queries.jsonl")}})
        log = refused(m)
    finally:
        s.close()
    assert "cannot listen on 127.0.0.1:%d (udp)" % port in log, log
    assert "LeakSanitizer" not in log, log


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("kind", ["udp", "tcp"])
@pytest.mark.parametrize("opts", [(), (socket.SO_REUSEPORT,),
                                  (socket.SO_REUSEPORT, socket.SO_REUSEADDR)],
                         ids=["plain", "reuseport", "reuseport+reuseaddr"])
def test_foreign_socket_refused(make_minewall, upstream, host, kind, opts):
    port = free_port(host)
    s = foreign(host, port, kind, opts)
    try:
        m = make_minewall([upstream], ready=False, listen=(host, port))
        log = refused(m)
    finally:
        s.close()
    shown = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    assert "cannot listen on %s (%s)" % (shown, kind) in log, log
    assert "pid %d" % os.getpid() in log, log


def test_wildcard_foreign_socket_refused(make_minewall, upstream):
    port = free_port()
    s = foreign("0.0.0.0", port, "udp", (socket.SO_REUSEPORT,))
    try:
        m = make_minewall([upstream], ready=False, listen=("127.0.0.1", port))
        refused(m)
    finally:
        s.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_nothing_joins_after_start(make_minewall, upstream, tmp_path, threads):
    m = make_minewall([upstream], config={
        "threads": threads,
        "lists": [{"name": "c2", "category": "c2", "path": write_list(tmp_path)}]})
    for host in (m.host, "0.0.0.0"):
        for kind in ("udp", "tcp"):
            for opts in ((socket.SO_REUSEPORT,), (socket.SO_REUSEADDR,),
                         (socket.SO_REUSEPORT, socket.SO_REUSEADDR)):
                with pytest.raises(OSError) as e:
                    foreign(host, m.port, kind, opts).close()
                assert e.value.errno == 98, (host, kind, opts, e.value)  # EADDRINUSE
    # Every query for the listed name still meets the filter.
    for i in range(20):
        r = m.query(LISTED, tcp=bool(i % 2))
        assert set(addresses(r)) <= {"0.0.0.0"}, "query %d got %s" % (i, addresses(r))


def task_runtimes(pid):
    """{tid: ns on CPU} of every thread of pid (/proc/PID/task/TID/schedstat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = int(f.read().split()[0])
        except OSError:
            pass
    return out


def test_threads_2_share_the_load(make_minewall, upstream):
    m = make_minewall([upstream], config={"threads": 2})
    m.query("example.test")
    before = task_runtimes(m.proc.pid)
    # Many source ports: the kernel spreads them over the workers' sockets by hash.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(100)]
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x01"
    try:
        for _ in range(10):
            for s in socks:
                s.sendto(q, m.addr)
            for s in socks:
                s.settimeout(2)
                s.recv(512)
    finally:
        for s in socks:
            s.close()
    after = task_runtimes(m.proc.pid)
    busy = [t for t in after if after[t] - before.get(t, 0) > 2_000_000]
    assert len(busy) >= 2, "threads that worked: %s" % {
        t: after[t] - before.get(t, 0) for t in after}


@pytest.mark.parametrize("threads", [1, 2])
def test_reload_adding_a_taken_address_keeps_running_config(make_minewall, upstream, tmp_path,
                                                             threads):
    m = make_minewall([upstream], config={"threads": threads})
    port2 = free_port()
    s = foreign("127.0.0.1", port2, "udp", (socket.SO_REUSEPORT,))
    try:
        cfg = dict(m.config, listen=["127.0.0.1:%d" % m.port, "127.0.0.1:%d" % port2])
        m.reload_with(to_yaml(cfg) + "\n")
        m.wait_log("cannot listen on 127.0.0.1:%d (udp)" % port2)
        m.wait_log("reload failed")
    finally:
        s.close()
    assert m.query("example.test").answer
    # The same reload once the address is free: both addresses answer.
    m.sighup()
    wait_until(lambda: m.log().count("configuration reloaded") >= 1, 5, what="reload")
    for i in range(10):  # every worker serves both, and nothing else can join the new one
        assert ask(("127.0.0.1", port2), "example.test", tcp=bool(i % 2)).answer
        assert m.query("example.test", tcp=bool(i % 2)).answer
    with pytest.raises(OSError):
        foreign("127.0.0.1", port2, "udp", (socket.SO_REUSEPORT,)).close()
