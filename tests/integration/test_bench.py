"""tools/bench and its package tools/mwbench without the resolvers it measures: the command line,
the order servers run in (minewall and minewall-base back to back), the shared port helper."""

import os
import socket
import subprocess
import sys

from conftest import SRCDIR

sys.path.insert(0, os.path.join(SRCDIR, "tools"))
from mwbench import cli, ports  # noqa: E402
from mwbench.workloads.blocklist import bl_groups  # noqa: E402


def run_tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(SRCDIR, "tools", name)] + list(args),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_help():
    r = run_tool("bench", "--help")
    assert r.returncode == 0, r.stderr
    for opt in ("--baseline", "--minewall-bin", "--workloads", "--miss-shared"):
        assert opt in r.stdout
    r = run_tool("soak", "--help")
    assert r.returncode == 0, r.stderr
    for opt in ("--minutes", "--bin", "--rss-bound-mb", "--json"):
        assert opt in r.stdout


def test_baseline_server_follows_minewall(tmp_path):
    a = cli.parse_args(["--baseline", "/bin/true"])
    assert a.servers == ["minewall", "minewall-base", "unbound", "dnsdist"]
    a = cli.parse_args(["--only", "unbound,minewall", "--baseline", "/bin/true"])
    assert a.servers == ["unbound", "minewall", "minewall-base"]
    r = run_tool("bench", "--only", "minewall-base")
    assert r.returncode == 2 and "needs --baseline" in r.stderr


def test_round_order_keeps_the_pair_together():
    servers = ["minewall", "minewall-base", "unbound", "dnsdist"]
    firsts = set()
    for rnd in range(6):
        order = cli.round_order(servers, rnd)
        assert sorted(order) == sorted(servers)
        i = order.index("minewall")
        j = order.index("minewall-base")
        assert abs(i - j) == 1, order
        assert (i < j) == (rnd % 2 == 0), order  # the pair alternates which goes first
        firsts.add(order[0])
    assert firsts == {"minewall-base", "minewall", "unbound", "dnsdist"}
    # without a baseline: a plain rotation, as before
    assert cli.round_order(["minewall", "unbound", "dnsdist"], 1) == ["unbound", "dnsdist",
                                                                      "minewall"]
    assert bl_groups(servers) == [["minewall", "minewall-base"], ["unbound"], ["dnsdist"]]
    assert bl_groups(["unbound", "minewall"]) == [["unbound"], ["minewall"]]


def test_free_port_never_repeats_within_a_run():
    taken = set()
    got = [ports.free_port(taken=taken) for _ in range(20)]
    assert len(set(got)) == 20 and taken == set(got)
    assert ports.free_port("::1") > 0


def test_port_pool_slices_stay_below_the_ephemeral_range():
    # two test workers' pools never hand out the same port, nor one the kernel picks itself
    low = ports.ephemeral_low()
    a, b = ports.PortPool(0, 2), ports.PortPool(1, 2)
    got_a = [a.take() for _ in range(30)]
    got_b = [b.take() for _ in range(30)]
    assert len(set(got_a)) == 30 and len(set(got_b)) == 30
    assert not set(got_a) & set(got_b)
    assert all(20000 <= p < low for p in got_a + got_b), (got_a, got_b, low)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        c = ports.PortPool(0, 2)
        first = c.take()
        c.next = first - c.lo  # again from there, with that port now taken
        busy.bind(("127.0.0.1", first))
        assert c.take() > first  # a port in use is passed over
    finally:
        busy.close()
