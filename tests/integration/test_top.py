"""tools/minewall-top against a fake metrics server (http.server serving canned /metrics and
/status): the --once snapshot, the unreachable case, and the curses view driven inside tmux."""

import http.server
import json
import os
import shlex
import shutil
import subprocess
import threading
import time

import pytest

import conftest
from conftest import wait_until

TOP = os.path.join(conftest.SRCDIR, "tools", "minewall-top")
RUN_TIMEOUT_S = 15

BLOCKED = "pool.evil-mining.test"
CLIENT_A = "10.0.0.5"
CLIENT_B = "10.0.0.7"
UP1, UP2 = "9.9.9.9:53", "[2620:fe::fe]:53"

STATUS = {
    "version": "0.9.0-test",
    "uptime_seconds": 93784,
    "config": "/etc/minewall/minewall.yaml",
    "listeners": ["127.0.0.1:53/udp", "127.0.0.1:53/tcp"],
    "upstreams": [
        {"address": UP1, "up": True, "srtt_ms": 12.5, "queries": 1000, "timeouts": 2},
        {"address": UP2, "up": False, "srtt_ms": 250.0, "queries": 10, "timeouts": 9},
    ],
    "lists": [{"name": "mining", "category": "mining", "origin": "file", "entries": 1234,
               "stale": False}],
    "redis": {"configured": True, "up": True},
    "groups": [
        {"name": "default", "clients": 0, "lists": "all", "queries": 500, "blocks": 20},
        {"name": "builders", "clients": 2, "lists": "some", "queries": 900, "blocks": 5},
        {"name": "sandbox", "clients": 1, "lists": "all", "queries": 0, "blocks": 0},
    ],
    "control": {"paused": True, "pause_remaining_s": 42,
                "paused_groups": [{"group": "sandbox", "remaining_s": 17}],
                "top_clients": [{"client": CLIENT_A, "count": 77}],
                "top_names": [{"name": "busy.test", "count": 55}, {"name": BLOCKED, "count": 9}]},
    "blocks_recent": [
        {"qname": BLOCKED, "client": CLIENT_A, "list": "mining", "category": "mining",
         "count": 30},
        {"qname": BLOCKED, "client": CLIENT_B, "list": "mining", "category": "mining",
         "count": 12},
        {"qname": "c2.bad.test", "client": CLIENT_B, "list": "malware",
         "category": "malware", "count": 3},
    ],
    "journal": {"path": "/nonexistent/journal.jsonl"},
}

EVENTS = [
    {"ts": "2024-05-01T12:00:0%dZ" % i, "type": "answer_change", "host": "h",
     "name": "old%d.example.test" % i, "qtype": "A"} for i in range(4)
] + [
    {"ts": "2024-05-01T12:01:00Z", "type": "upstream_change", "host": "h", "upstream": UP2},
    {"ts": "2024-05-01T12:02:00Z", "type": "host_config_change", "host": "h",
     "file": "/etc/resolv.conf"},
    {"ts": "2024-05-01T12:03:00Z", "type": "config_change", "host": "h"},
] + [
    {"ts": "2024-05-01T12:04:0%dZ" % i, "type": "answer_change", "host": "h",
     "name": "new%d.example.test" % i, "qtype": "AAAA"} for i in range(3)
]


class FakeMetrics:
    """A metrics server whose counters grow by a fixed step on every /metrics scrape."""

    def __init__(self):
        self.scrapes = 0
        self.status = STATUS
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/status":
                    body, ctype = json.dumps(fake.status).encode(), "application/json"
                elif self.path == "/metrics":
                    fake.scrapes += 1
                    body, ctype = fake.metrics().encode(), "text/plain; version=0.0.4"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def metrics(self):
        n = self.scrapes
        return "\n".join([
            "# HELP minewall_queries_total Queries received.",
            "# TYPE minewall_queries_total counter",
            'minewall_queries_total{transport="udp",qtype="A",rcode="NOERROR"} %d' % (900 * n),
            'minewall_queries_total{transport="udp",qtype="AAAA",rcode="NOERROR"} %d' % (100 * n),
            'minewall_queries_total{transport="tcp",qtype="A",rcode="NOERROR"} %d' % (50 * n),
            "# TYPE minewall_blocks_total counter",
            'minewall_blocks_total{category="mining",list="mining",action="sinkhole",'
            'where="qname"} %d' % (40 * n),
            'minewall_blocks_total{category="malware",list="malware",action="nxdomain",'
            'where="cname"} %d' % (2 * n),
            "minewall_cache_hits_total %d" % (800 * n),
            "minewall_cache_misses_total %d" % (200 * n),
            "minewall_cache_entries 4321",
            'minewall_upstream_queries_total{upstream="%s"} %d' % (UP1, 200 * n),
            'minewall_upstream_queries_total{upstream="%s"} %d' % (UP2, n),
            'minewall_upstream_up{upstream="%s"} 1' % UP1,
            'minewall_upstream_up{upstream="%s"} 0' % UP2,
            'minewall_upstream_srtt_seconds{upstream="%s"} 0.0125' % UP1,
            'minewall_upstream_srtt_seconds{upstream="%s"} 0.25' % UP2,
            'minewall_list_entries{list="mining"} 1234',
            'minewall_dropped_packets_total{reason="ratelimit"} 0',
            'minewall_group_queries_total{group="default"} %d' % (100 * n),
            'minewall_group_queries_total{group="builders"} %d' % (300 * n),
            'minewall_group_queries_total{group="sandbox"} 0',
            'minewall_group_blocks_total{group="default"} %d' % (10 * n),
            'minewall_group_blocks_total{group="builders"} 0',
            'minewall_group_blocks_total{group="sandbox"} 0',
            'minewall_weird_label{a="x\\"y,z}",b="2"} 1 1714564800000',
            "",
        ])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeMetrics()
    yield f
    f.close()


@pytest.fixture
def journal(tmp_path):
    p = tmp_path / "journal.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in EVENTS) + "not json\n")
    return str(p)


def run_top(*args):
    return subprocess.run([TOP, *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def test_once_snapshot(fake, journal):
    p = run_top("--url", fake.url, "--journal", journal, "--interval", "0.3", "--once")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    qline = next(l for l in out.splitlines() if l.startswith("queries/s:"))
    assert "udp" in qline and "tcp" in qline
    assert qline.split()[1] != "-", qline  # a rate from two scrapes
    assert float(qline.split()[1]) > 0
    bline = next(l for l in out.splitlines() if l.startswith("blocks/s:"))
    assert "mining" in bline and "malware" in bline and "block rate:" in bline
    name_line = next(l for l in out.splitlines() if l.startswith(BLOCKED))
    assert CLIENT_A in name_line and CLIENT_B in name_line and " 42 " in name_line
    up1 = next(l for l in out.splitlines() if l.startswith(UP1))
    assert " up " in up1 and "12.5ms" in up1
    up2 = next(l for l in out.splitlines() if l.startswith(UP2))
    assert "DOWN" in up2 and "250.0ms" in up2
    # the last 8 events of the journal, the bad last line skipped, subjects derived
    assert "old0.example.test" not in out and "old1.example.test" not in out
    assert "old2.example.test/A" in out
    assert "new2.example.test/AAAA" in out
    assert "upstream_change" in out and UP2 in out
    assert "/etc/resolv.conf" in out and "config_change" in out
    assert "2024-05-01T12:04:02Z" in out
    # the control API's part of /status: pause state and the top-N
    assert "blocking PAUSED (minewall-ctl pause): resumes in 42s" in out
    assert "top clients: %s 77" % CLIENT_A in out
    assert "top names: busy.test 55, %s 9" % BLOCKED in out
    assert "Traceback" not in p.stderr


def group_rows(out):
    lines = out.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith("GROUP "))
    return {l.split()[0]: l for l in lines[i + 1:i + 1 + len(STATUS["groups"])]}


def test_once_groups(fake):
    """The client groups: busiest first, rates from the per-group counters, totals from
    /status, and each group's pause state."""
    p = run_top("--url", fake.url, "--interval", "0.3", "--once")
    assert p.returncode == 0, p.stderr
    rows = group_rows(p.stdout)
    assert list(rows) == ["builders", "default", "sandbox"], p.stdout
    b, d = rows["builders"].split(), rows["default"].split()
    assert float(b[1]) > float(d[1]) > 0, rows  # queries/s: 300 vs 100 per scrape step
    assert float(d[2]) > 0 and b[2] in ("0", "0.0"), rows  # blocks/s
    assert b[3:7] == ["900", "5", "2", "some"], rows
    assert "paused (everyone)" in rows["sandbox"], rows
    st = dict(STATUS, control=dict(STATUS["control"], paused=False, pause_remaining_s=0))
    fake.status = st
    p = run_top("--url", fake.url, "--interval", "0.3", "--once")
    rows = group_rows(p.stdout)
    assert "PAUSED, resumes in 17s" in rows["sandbox"], rows
    assert rows["builders"].rstrip().endswith("blocking"), rows


def test_once_journal_from_status(fake):
    p = run_top("--url", fake.url, "--interval", "0.1", "--once")
    assert p.returncode == 0, p.stderr
    assert "cannot read /nonexistent/journal.jsonl" in p.stdout


def test_once_unreachable():
    url = "http://127.0.0.1:%d" % conftest.free_port()
    p = run_top("--url", url, "--once", "--interval", "0.1")
    assert p.returncode == 1
    assert "minewall not reachable:" in p.stderr
    assert "refused" in p.stderr.lower()
    assert "Traceback" not in p.stderr


class Tmux:
    """A private tmux server (its own socket, no user config)."""

    def __init__(self, tmp_path):
        self.sock = "mwtop-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        self.tmp = tmp_path

    def __call__(self, *args, check=True):
        env = dict(os.environ)
        env.pop("TMUX", None)
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=10, check=check, env=env)

    def screen(self):
        p = self("capture-pane", "-p", "-t", "top", check=False)
        return p.stdout if p.returncode == 0 else ""

    def kill(self):
        self("kill-server", check=False)


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (tools/setup installs it)")
def test_curses_view_in_tmux(fake, journal, tmp_path):
    rc_file = tmp_path / "rc"
    err_file = tmp_path / "stderr"
    cmd = "%s --url %s --journal %s 2>%s; echo $? >%s" % (
        shlex.quote(TOP), fake.url, shlex.quote(journal), shlex.quote(str(err_file)),
        shlex.quote(str(rc_file)))
    tmux = Tmux(tmp_path)
    try:
        tmux("new-session", "-d", "-s", "top", "-x", "120", "-y", "40", "sh", "-c", cmd)
        screen = wait_until(lambda: (lambda s: s if BLOCKED in s else None)(tmux.screen()),
                            5, step=0.1, what="blocked name on screen")
        assert CLIENT_A in screen
        assert "minewall not reachable" not in screen
        # queries/s turns into a number once two scrapes are in
        wait_until(lambda: any(l.startswith("queries/s:") and l.split()[1] != "-"
                               for l in tmux.screen().splitlines()),
                   5, step=0.1, what="queries/s rate on screen")

        tmux("resize-window", "-t", "top", "-x", "80", "-y", "24")

        def redrawn():
            p = tmux("display-message", "-p", "-t", "top", "#{pane_width}x#{pane_height}",
                     check=False)
            if p.stdout.strip() != "80x24":
                return None
            s = tmux.screen()
            lines = s.splitlines()
            # redrawn at the new size: the footer sits on the last row
            if len(lines) >= 24 and lines[23].startswith("q: quit") and BLOCKED in s:
                return s
            return None

        screen = wait_until(redrawn, 5, step=0.1, what="view redrawn at 80x24")
        assert "Traceback" not in screen
        assert all(len(l) <= 80 for l in screen.splitlines()), screen
        assert "queries/s:" in screen

        tmux("send-keys", "-t", "top", "q")
        wait_until(lambda: rc_file.exists() and rc_file.read_text().strip(), 5, step=0.1,
                   what="minewall-top exited after 'q'")
        assert rc_file.read_text().strip() == "0"
        assert "Traceback" not in err_file.read_text()
    finally:
        tmux.kill()
