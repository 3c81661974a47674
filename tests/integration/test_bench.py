"""tools/bench and its package tools/mwbench without the resolvers it measures: the command line,
the order servers run in (minewall and minewall-base back to back), the shared port helper."""

import os
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
