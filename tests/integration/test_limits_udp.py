"""The client UDP send queue is bounded (udp.send-queue): when a listen socket's send buffer is
full, answers wait in minewall only up to the bound and are dropped and counted beyond it.

Loopback never fills a UDP send buffer (the kernel hands datagrams over at once), so the load
runs in a network namespace of its own whose loopback sends minewall's answers through a slow htb class
(netns_udp_flood.py); nothing leaves that namespace. Needs root, unshare and tc with htb."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, SANITIZED

HELPER = os.path.join(os.path.dirname(__file__), "netns_udp_flood.py")


def can_run():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("tc"):
        return False
    r = subprocess.run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "handle",
                        "1:", "htb", "default", "20"], capture_output=True, timeout=10)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not can_run(), reason="needs root, unshare -n and tc htb")


def flood(tmp_path, send_queue):
    r = subprocess.run(["unshare", "-n", sys.executable, HELPER, BIN, str(tmp_path),
                        str(send_queue)], capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    log = (tmp_path / "netns-minewall.log").read_text()
    assert "error" not in out, (out, log)
    assert out["alive"] and out["rc"] == 0, (out, log)
    return out


def test_udp_send_queue_bounded_and_counted(tmp_path):
    out = flood(tmp_path, 16384)
    assert out["sent"] > 10000, out
    assert out["dropped"] > 0, out  # the bound was hit and counted
    if not SANITIZED:
        assert out["rss_kb"] < 16 * 1024, out
