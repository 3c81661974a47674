"""A short run of tools/soak: every hostile load at once for 20 s against the real binary, with a
real redis-server restarted during it. Checks what must hold on any machine: no listed name
ever answered with its real address, no crash, exit 0 on SIGTERM, no sanitizer report. The
latency and memory bounds are loose here (a shared CI machine, an ASan build); the soak itself,
run for minutes, checks the real ones."""

import json
import os
import subprocess
import sys

import pytest

from conftest import BIN, FEED_BIN, REDIS_SERVER, SRCDIR

pytestmark = [
    pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="redis-server not installed"),
    pytest.mark.skipif(not os.path.exists(FEED_BIN), reason="minewall-feed not built"),
]


def test_soak_smoke(tmp_path):
    out = tmp_path / "soak.json"
    cmd = [sys.executable, os.path.join(SRCDIR, "tools", "soak"), "--minutes", "0.34",
           "--bin", BIN, "--feed-bin", FEED_BIN, "--json", str(out),
           "--settle-seconds", "0", "--p99-ms", "1000", "--rss-bound-mb", "4096",
           "--noread-rate", "2000", "--flood-rate", "200", "--malformed-rate", "100",
           "--halfopen", "16", "--flap-seconds", "3", "--reload-seconds", "2",
           "--redis-restart-seconds", "8"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=55, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "tools/soak exit %d:\n%s\n%s" % (r.returncode, r.stdout,
                                                               r.stderr[-4000:])
    res = json.loads(out.read_text())
    assert res["violations"] == []
    assert res["exit_status"] == 0
    listed = res["probe"]["listed"]
    for name, s in listed.items():
        assert s["sent"] > 0 and s["real_address"] == 0 and s["forged"] == 0, (name, s)
    assert listed["listed-file.soak.test"]["blocked"] > 0
    assert listed["listed-redis.soak.test"]["blocked"] > 0
    assert res["probe"]["cached"]["sent"] > 100
    assert res["reloads"] >= 5 and res["redis_restarts"] >= 1
    for load in ("noread", "slowread", "halfopen", "flood", "malformed", "upstream"):
        assert load in res["loads"], load
