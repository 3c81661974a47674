"""The control API and minewall-ctl (issue 13) against a real minewall: pause (resumes by
itself, would-be blocks in the block log), resume, flush (the next query reaches the upstream),
reload (an edited config takes effect, a broken one is reported), lists, status, top-N and
explain as text and JSON, the bearer token over HTTP, the socket's mode, the bounds (oversized,
garbage, too many connections: refused and counted) and the control events of the journal."""

import http.client
import json
import os
import socket
import stat
import subprocess

import pytest

import conftest
from conftest import addresses, run_minewall, wait_until
from conftest import free_port, metric_value, metrics_text

CTL = os.environ.get("MINEWALL_CTL_BIN",
                     os.path.join(os.path.dirname(conftest.BIN), "minewall-ctl"))

RECORDS = {
    "pool.evil.test": {"A": ["192.0.2.50"]},
    "ok.test": {"A": ["192.0.2.60"]},
    "other.test": {"A": ["192.0.2.61"]},
}
TOKEN = "s3cret-token-0123456789abcdef"


def ctl(m, *args, json_out=False, timeout=20):
    """Run minewall-ctl against m's socket: (exit code, stdout, stderr)."""
    cmd = [CTL, "--socket", m.ctl_path] + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ctl_json(m, *args):
    rc, out, err = ctl(m, *args, json_out=True)
    assert rc == 0, (rc, out, err)
    return json.loads(out)


def raw(path, data, timeout=5.0):
    """Send data on the control socket, return what comes back until EOF."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def http_get(port, path, token=None, method="GET", with_headers=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        out = (r.status, r.read().decode())
        return out + (dict(r.getheaders()),) if with_headers else out
    finally:
        c.close()


@pytest.fixture
def up(make_upstream):
    return make_upstream(RECORDS)


@pytest.fixture
def start(make_minewall, up, tmp_path):
    """start(**config) -> Minewall blocking pool.evil.test (list 'mining'), with a block log
    and a journal in tmp_path."""
    def go(**config):
        lst = tmp_path / "mining.txt"
        if not lst.exists():
            lst.write_text("pool.evil.test\n")
        config.setdefault("lists", [{"name": "mining", "category": "mining",
                                     "path": str(lst)}])
        config.setdefault("log", {"level": "debug", "blocks": str(tmp_path / "blocks.jsonl")})
        config.setdefault("journal", {"path": str(tmp_path / "journal.jsonl"), "watch": []})
        return make_minewall([up], config=dict({"threads": 2}, **config))
    return go


def blocked(r):
    return addresses(r) == ["0.0.0.0"]


def test_socket_mode_and_status(start):
    m = start()
    st = os.stat(m.ctl_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    rc, out, err = ctl(m, "status")
    assert rc == 0, err
    assert "blocking: active" in out and "2 workers" in out, out
    s = ctl_json(m, "status")
    assert s["ok"] and s["paused"] is False and s["workers"] == 2 and s["lists"] == 1, s
    # Usage errors exit 2 and never reach minewall; refusals by minewall exit 1.
    assert ctl(m)[0] == 2
    assert ctl(m, "status", "--bogus")[0] == 2
    rc, out, err = ctl(m, "pause", "--group", "builders")
    assert rc == 1 and "no such group" in err, (rc, out, err)
    rc, out, err = ctl(m, "pause", "--group", "builders", json_out=True)
    assert rc == 1 and json.loads(out)["ok"] is False, out
    p = subprocess.run([CTL, "--socket", m.ctl_path + ".none", "status"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and "cannot connect" in p.stderr, p.stderr


def test_pause_resolves_and_resumes_by_itself(start, up, tmp_path):
    m = start()
    assert blocked(m.query("pool.evil.test"))
    rc, out, err = ctl(m, "pause", "--for", "2s")
    assert rc == 0 and "resumes in 2s" in out, (out, err)
    r = m.query("pool.evil.test")
    assert addresses(r) == ["192.0.2.50"], r
    assert up.count("pool.evil.test") >= 1
    s = ctl_json(m, "status")
    assert s["paused"] is True and 0 < s["pause_remaining_s"] <= 2, s
    # The would-be block is in the block log, marked paused, with the action it would have had.
    lines = wait_until(lambda: [e for e in read_jsonl(str(tmp_path / "blocks.jsonl"))
                                if e.get("paused")], 3, what="paused block line")
    assert lines[0]["qname"] == "pool.evil.test" and lines[0]["action"] == "sinkhole", lines
    # Resumes by itself: a cached answer of the paused time is checked again, and blocked.
    wait_until(lambda: blocked(m.query("pool.evil.test")), 6, what="blocking resumed")
    assert ctl_json(m, "status")["paused"] is False
    wait_until(lambda: [e for e in read_jsonl(str(tmp_path / "journal.jsonl"))
                        if e["type"] == "control" and e["via"] == "timer"], 3,
               what="the timer's resume in the journal")
    j = [e for e in read_jsonl(str(tmp_path / "journal.jsonl")) if e["type"] == "control"]
    pause = [e for e in j if e["command"] == "pause"][0]
    assert pause["via"] == "unix" and pause["uid"] == os.geteuid() and pause["pid"] > 0, pause
    assert pause["ok"] is True and pause["request"] == "pause?for=2s", pause
    assert "resumes in" in pause["result"] and pause["ts"].endswith("Z"), pause
    assert "pause?for=2s" in m.log()


def test_resume_and_log_action_still_records(start, tmp_path):
    lst = tmp_path / "watch.txt"
    lst.write_text("ok.test\n")
    m = start(lists=[{"name": "mining", "category": "mining",
                      "path": str(tmp_path / "mining.txt")},
                     {"name": "watch", "category": "watch", "path": str(lst), "action": "log"}])
    rc, out, _ = ctl(m, "pause", "--for", "1h")
    assert rc == 0 and "resumes in 1h" in out, out
    assert addresses(m.query("pool.evil.test")) == ["192.0.2.50"]
    assert addresses(m.query("ok.test")) == ["192.0.2.60"]
    rc, out, _ = ctl(m, "resume")
    assert rc == 0 and "blocking active" in out, out
    assert blocked(m.query("pool.evil.test"))
    lines = wait_until(lambda: [e for e in read_jsonl(str(tmp_path / "blocks.jsonl"))
                                if e["qname"] == "ok.test"], 3, what="log-action line")
    assert lines[0]["action"] == "log" and "paused" not in lines[0], lines


def test_flush_makes_the_next_query_a_miss(start, up):
    m = start(threads=1)
    for _ in range(2):
        assert addresses(m.query("ok.test")) == ["192.0.2.60"]
        assert addresses(m.query("other.test")) == ["192.0.2.61"]
    assert up.count("ok.test") == 1 and up.count("other.test") == 1
    rc, out, err = ctl(m, "flush", "OK.test")
    assert rc == 0 and "flushed 1 cache entries (OK.test)" in out, (out, err)
    m.query("ok.test")
    m.query("other.test")
    assert up.count("ok.test") == 2 and up.count("other.test") == 1
    d = ctl_json(m, "flush", "--all")
    assert d["ok"] and "flushed 2 cache entries (all names)" in d["message"], d
    m.query("ok.test")
    m.query("other.test")
    assert up.count("ok.test") == 3 and up.count("other.test") == 2
    assert ctl(m, "flush")[0] == 1
    assert ctl(m, "flush", "a..b")[0] == 1


def test_reload_picks_up_an_edited_config_and_reports_failure(start, tmp_path):
    m = start()
    assert addresses(m.query("ok.test")) == ["192.0.2.60"]
    new = tmp_path / "new.txt"
    new.write_text("ok.test\n")
    m.config["lists"] = m.config["lists"] + [{"name": "new", "category": "x", "path": str(new)}]
    m.write_config()
    rc, out, err = ctl(m, "reload")
    assert rc == 0 and "reloaded" in out, (out, err)
    assert blocked(m.query("ok.test"))
    names = [x["name"] for x in ctl_json(m, "lists")["lists"]]
    assert names == ["mining", "new"], names
    m.write_config("listen: [oops\n")
    rc, out, err = ctl(m, "reload")
    assert rc == 1 and "reload failed" in err, (out, err)
    assert blocked(m.query("ok.test"))  # the running config stays


def test_lists_top_and_explain(start, tmp_path):
    m = start()
    for _ in range(3):
        m.query("ok.test")
    m.query("other.test")
    m.query("pool.evil.test")
    d = ctl_json(m, "lists")
    assert d["lists"] == [{"name": "mining", "origin": "file", "entries": 1, "category": "mining",
                           "action": "sinkhole", "stale": False}], d
    rc, out, _ = ctl(m, "lists")
    assert rc == 0 and "mining" in out and "sinkhole" in out, out
    # Workers publish their counts once a second.
    top = wait_until(lambda: (lambda t: t if t["total"] >= 5 else None)(
        ctl_json(m, "top-names", "-n", "2")), 4, what="top-names")
    assert top["top"][0]["name"] == "ok.test" and top["top"][0]["count"] == 3, top
    assert len(top["top"]) == 2
    tc = ctl_json(m, "top-clients")
    assert tc["top"][0]["client"] == "127.0.0.1" and tc["top"][0]["count"] >= 5, tc
    rc, out, _ = ctl(m, "top-names")
    assert rc == 0 and "ok.test" in out, out
    s = ctl_json(m, "status")
    assert s["top_names"][0]["name"] == "ok.test" and s["queries"] >= 5, s
    d = ctl_json(m, "explain", "x.pool.evil.test", "--client", "10.1.2.3")
    assert d["decision"] == "blocked" and d["list"] == "mining" and d["group"] == "default", d
    assert d["action"] == "sinkhole" and d["client"] == "10.1.2.3" and d["holders"] == 1, d
    rc, out, _ = ctl(m, "explain", "ok.test")
    assert rc == 0 and "no list matches" in out, out
    rc, out, err = ctl(m, "explain", "bad..name")
    assert rc == 1 and "not a name" in err, err
    assert ctl(m, "explain", "x.test", "--client", "nope")[0] == 1


def test_http_needs_the_token(start, tmp_path):
    port = free_port()
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    m = start(metrics={"listen": "127.0.0.1:%d" % port},
              control={"token-file": str(tok)})
    assert http_get(port, "/control/status")[0] == 401
    assert http_get(port, "/control/status", token=TOKEN + "x")[0] == 401
    assert http_get(port, "/control/status", token=TOKEN[:-1])[0] == 401
    st, body = http_get(port, "/control/status?format=json", token=TOKEN)
    assert st == 200 and json.loads(body)["ok"], body
    # An action over GET is refused (405, Allow: POST) and changes nothing; POST acts.
    st, body, hdr = http_get(port, "/control/pause?for=1h", token=TOKEN, with_headers=True)
    assert st == 405 and hdr.get("Allow") == "POST" and "use POST" in body, (st, hdr, body)
    assert blocked(m.query("pool.evil.test"))
    st, body = http_get(port, "/control/pause?for=1h", token=TOKEN, method="POST")
    assert st == 200 and "resumes in 1h" in body, body
    st, _, hdr = http_get(port, "/metrics", method="POST", with_headers=True)
    assert st == 405 and hdr.get("Allow") == "GET, HEAD", (st, hdr)
    assert addresses(m.query("pool.evil.test")) == ["192.0.2.50"]
    st, body = http_get(port, "/control/nonsense", token=TOKEN)
    assert st == 400, body
    url = "http://127.0.0.1:%d" % port
    p = subprocess.run([CTL, "--url", url, "--token-file", str(tok), "--json", "resume"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and json.loads(p.stdout)["paused"] is False, (p.stdout, p.stderr)
    bad = tmp_path / "bad"
    bad.write_text("not-the-token-at-all\n")
    p = subprocess.run([CTL, "--url", url, "--token-file", str(bad), "status"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "Bearer" in p.stderr, p.stderr
    text = metrics_text(port)
    assert metric_value(text, "minewall_control_requests_total", result="unauthorized") == 4
    # status, pause and resume
    assert metric_value(text, "minewall_control_requests_total", result="ok") == 3
    assert metric_value(text, "minewall_control_requests_total", result="bad_request") == 2
    assert blocked(m.query("pool.evil.test"))
    st, body = http_get(port, "/status")
    assert st == 200 and json.loads(body)["control"]["paused"] is False, body
    j = wait_until(lambda: [e for e in read_jsonl(str(tmp_path / "journal.jsonl"))
                            if e["type"] == "control"], 3, what="control events")
    assert j[0]["via"] == "http" and j[0]["peer"].startswith("127.0.0.1:"), j


def test_token_problems_are_refused(tmp_path):
    tok = tmp_path / "short"
    tok.write_text("short\n")
    conf = tmp_path / "c.yaml"
    conf.write_text("upstreams: ['127.0.0.1:53']\ncontrol:\n  token-file: %s\n" % tok)
    p = run_minewall(["-c", str(conf), "--check-config"])
    assert p.returncode == 1 and "%s:3: control.token-file needs metrics.listen" % conf \
        in p.stdout + p.stderr, p.stdout + p.stderr


def test_short_token_stops_start(make_minewall, up, tmp_path):
    tok = tmp_path / "short"
    tok.write_text("short\n")
    m = make_minewall([up], ready=False,
                      config={"metrics": {"listen": "127.0.0.1:%d" % free_port()},
                              "control": {"token-file": str(tok)}})
    assert m.proc.wait(10) == 1  # a config error, as --check-config says
    assert "control.token-file %s: the token must be 16 to 510 printable characters" % tok \
        in m.log(), m.log()
    m.stopped = True
    p = run_minewall(["-c", m.conf_path, "--check-config"])
    assert p.returncode == 1 and "the token must be 16 to 510" in p.stdout + p.stderr, \
        p.stdout + p.stderr


def test_rotated_token_takes_effect_on_reload(start, tmp_path):
    port = free_port()
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    m = start(metrics={"listen": "127.0.0.1:%d" % port}, control={"token-file": str(tok)})
    assert http_get(port, "/control/status", token=TOKEN)[0] == 200
    new = "rotated-" + TOKEN
    tok.write_text(new + "\n")
    m.sighup()
    wait_until(lambda: http_get(port, "/control/status", token=new)[0] == 200, 10,
               what="the rotated token accepted")
    assert http_get(port, "/control/status", token=TOKEN)[0] == 401
    # A bad token file fails the reload, which keeps the token in force.
    tok.write_text("short\n")
    m.sighup()
    wait_until(lambda: "the token must be 16 to 510" in m.log(), 10, what="the reload refused")
    assert http_get(port, "/control/status", token=new)[0] == 200


def test_bounds_are_refused_and_counted(start):
    port = free_port()
    m = start(metrics={"listen": "127.0.0.1:%d" % port})
    # A line of 1024 bytes without its end: over the bound (more unread bytes would reset).
    assert raw(m.ctl_path, b"x" * 1024).startswith(b"413\n")
    assert raw(m.ctl_path, b"\x01\x02garbage\n").startswith(b"400\nerror: unknown command")
    assert raw(m.ctl_path, b"status?x=%zz\n").startswith(b"400\n")
    # Eight idle connections fill the table; the ninth is closed at once.
    idle = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(m.ctl_path)
            idle.append(s)
        wait_until(lambda: metric_value(metrics_text(port), "minewall_control_refused_total",
                                        reason="connections") == 0, 2, what="metrics")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(m.ctl_path)
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        assert got == b"", got
        s.close()
    finally:
        for s in idle:
            s.close()
    # The slots free up again.
    def served():
        try:
            return raw(m.ctl_path, b"status\n").startswith(b"200\n")
        except OSError:
            return False  # the closes of the idle ones are not through yet
    wait_until(served, 3, what="served")
    text = metrics_text(port)
    assert metric_value(text, "minewall_control_refused_total", reason="oversized") == 1
    assert metric_value(text, "minewall_control_refused_total", reason="connections") >= 1
    assert metric_value(text, "minewall_control_requests_total", result="bad_request") == 2
    assert m.alive


def test_socket_directory_and_stale_socket(make_minewall, up, tmp_path):
    import tempfile
    base = tempfile.mkdtemp(prefix="mwctl")
    path = os.path.join(base, "run", "c.sock")
    m = make_minewall([up], config={"control": {"socket": path}})
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    m.stop()
    assert not os.path.exists(path)
    # A stale socket (no one accepts) is replaced.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    m2 = make_minewall([up], config={"control": {"socket": path}})
    assert ctl_json(type("M", (), {"ctl_path": path}), "status")["ok"]
    # A second minewall on a live socket starts without one, and says so.
    m3 = make_minewall([up], config={"control": {"socket": path}})
    assert "another process answers on this socket" in m3.log()
    assert m2.alive and m3.alive
    # No directory that can be made: a warning, never a failed start.
    m4 = make_minewall([up], config={"control": {"socket": os.path.join(base, "a", "b",
                                                                          "c.sock")}})
    assert "no control socket" in m4.log()
