"""Shared harness of the integration suite: free ports, DNS client helpers, fake upstreams
(fakedns.FakeDNS) and a Minewall class that runs the real binary on loopback.

Every wait is bounded. Each test runs under an alarm (TEST_TIMEOUT_S) so nothing can hang the
suite. Every minewall a test started is checked at teardown: it must still be alive and exit 0
within 5 s of SIGTERM. The log of each minewall is attached to the report of a failed test.
"""

import glob
import json
import re
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import redis
except ImportError:  # only the Redis tests need it; they skip without it
    redis = None

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

sys.path.insert(0, os.path.dirname(__file__))
# Helpers shared with tools/bench and tools/soak (free ports, /proc readings, redis-server).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from fakedns import FORGED_A, FakeDNS, family  # noqa: E402
from mwbench import redisproc  # noqa: E402
from mwbench import ports as _ports  # noqa: E402
from mwbench.proc import asan_build, proc_rss_kb  # noqa: E402,F401

# Ports below the ephemeral range, a slice per pytest-xdist worker, handed out in turn: a test
# picks several (the listener, /metrics, an upstream) before any binds, and an ephemeral port
# probed free can become another socket's source port before minewall binds it.
_PORTS = _ports.PortPool(int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0),
                         int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def free_port(host="127.0.0.1"):
    """A loopback port free for UDP and TCP now, never one this process handed out before
    (until its slice wraps around)."""
    return _PORTS.take(host)


SRCDIR = os.environ.get("MINEWALL_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("MINEWALL_BIN", os.path.join(SRCDIR, "build", "minewall"))
FEED_BIN = os.environ.get("MINEWALL_FEED_BIN", os.path.join(SRCDIR, "build", "minewall-feed"))
REDIS_SERVER = os.environ.get("MINEWALL_REDIS_SERVER", "/usr/bin/redis-server")


SANITIZED = asan_build(BIN)
# Tests that measure RSS run only on builds with the system allocator.
needs_plain_malloc = pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")

TEST_TIMEOUT_S = 60
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

# Timeouts short enough that a dead upstream turns into SERVFAIL within about a second.
FAST_FAIL = {"upstream-timeout": 200, "resolve-timeout": 1000}

# The zone every default fake upstream serves.
BIG_TXT = ["%02d" % i + "x" * 98 for i in range(40)]  # 40 strings of 100 bytes: > 4 KB
ZONE = {
    "example.test": {
        "A": ["192.0.2.1"],
        "AAAA": ["2001:db8::1"],
        "MX": ["10 mail.example.test.", "20 mx2.example.test."],
        "TXT": ['"hello world"', '"v=spf1 -all"'],
    },
    "mail.example.test": {"A": ["192.0.2.25"]},
    "www.example.test": {"CNAME": ["alias.example.test."]},
    "alias.example.test": {"CNAME": ["host.example.test."]},
    "host.example.test": {"A": ["192.0.2.10", "192.0.2.11"]},
    "nodata.test": {"A": ["192.0.2.2"]},
    "big.test": {"TXT": ['"%s"' % s for s in BIG_TXT]},
    "short.test": {"A": (1, ["192.0.2.3"])},
    "*.bulk.test": {"A": ["192.0.2.99"]},
    "*.slow.test": {"A": ["192.0.2.77"]},
}


# --- ports and plain DNS exchanges -----------------------------------------------------------


def make_query(name, rdtype="A", edns=True, do=False, payload=1232, qid=None):
    if edns:
        return dns.message.make_query(name, rdtype, use_edns=0, payload=payload,
                                      want_dnssec=do, id=qid)
    return dns.message.make_query(name, rdtype, use_edns=False, id=qid)


def recv_exact(sock, n, deadline):
    """Read exactly n bytes before deadline (monotonic); b"" when the peer closed first."""
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read of %d bytes timed out (got %d)" % (n, len(buf)))
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf


def tcp_read_msg(sock, deadline):
    """One length-prefixed message from a TCP socket; b"" when the peer closed."""
    head = recv_exact(sock, 2, deadline)
    if not head:
        return b""
    return recv_exact(sock, struct.unpack("!H", head)[0], deadline)


def tcp_connect(addr, timeout=2.0):
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(addr, wire, tcp=False, timeout=2.0):
    """Send one query in wire form to addr (host, port); return the reply bytes, or None
    when nothing came within timeout (TCP: or the server closed without a reply)."""
    deadline = time.monotonic() + timeout
    if tcp:
        try:
            with tcp_connect(addr, timeout) as s:
                s.sendall(struct.pack("!H", len(wire)) + wire)
                return tcp_read_msg(s, deadline) or None
        except (TimeoutError, socket.timeout, ConnectionError):
            return None
    with socket.socket(family(addr[0]), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, addr)
        try:
            return s.recvfrom(65535)[0]
        except (socket.timeout, ConnectionRefusedError):
            return None


def ask(addr, name, rdtype="A", tcp=False, edns=True, do=False, payload=1232, timeout=2.0,
        q=None):
    """Send a query (or the given message q) and return the parsed reply; fails when no reply
    came or its ID does not match."""
    q = q if q is not None else make_query(name, rdtype, edns, do, payload)
    data = exchange(addr, q.to_wire(), tcp, timeout)
    assert data is not None, "no reply from %s:%d for %s/%s (tcp=%s) within %.1fs" % (
        addr[0], addr[1], name, rdtype, tcp, timeout)
    r = dns.message.from_wire(data)
    assert r.id == q.id, "reply ID %d for query ID %d" % (r.id, q.id)
    assert r.flags & dns.flags.QR
    return r


def udp_send(addr, q):
    """Send query q from a new UDP socket without waiting; pair with udp_recv."""
    s = socket.socket(family(addr[0]), socket.SOCK_DGRAM)
    s.sendto(q.to_wire(), addr)
    return s


def udp_recv(s, q, timeout=2.0):
    """The reply to q on socket s (closed afterwards); fails on timeout or a wrong ID."""
    s.settimeout(timeout)
    try:
        data = s.recvfrom(65535)[0]
    except socket.timeout:
        raise AssertionError("no reply for %s within %.1fs" % (q.question[0], timeout))
    finally:
        s.close()
    r = dns.message.from_wire(data)
    assert r.id == q.id, "reply ID %d for query ID %d" % (r.id, q.id)
    return r


def make_dead(fake, how):
    """Take a fake upstream out: 'stopped' closes its sockets (ICMP port unreachable),
    'drop' keeps them open and never answers."""
    if how == "stopped":
        fake.stop()
    else:
        fake.set_mode("drop")


def rcode_of(data):
    """Header rcode of raw reply bytes (no parsing beyond the header)."""
    return struct.unpack("!H", data[2:4])[0] & 0xF


def section_key(section):
    """A section as a comparable set: (lowercase owner, type, sorted rdata texts)."""
    return {(rr.name.to_text().lower(), rr.rdtype, tuple(sorted(r.to_text() for r in rr)))
            for rr in section}


def addresses(r):
    return sorted(rd.address for rr in r.answer if rr.rdtype in (1, 28) for rd in rr)


def ede(r):
    """(info code, extra text) of the reply's Extended DNS Error option, or None."""
    for o in r.options:
        if o.otype == 15:
            if hasattr(o, "code"):
                return o.code, o.text or ""
            return struct.unpack("!H", o.data[:2])[0], o.data[2:].decode()
    return None


def blocks(path):
    """The block log's lines as objects ([] before the file exists)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def assert_same_answer(got, ref):
    """The forwarded reply carries the upstream's rcode and records (TTLs may only drop)."""
    assert got.rcode() == ref.rcode(), (dns.rcode.to_text(got.rcode()),
                                        dns.rcode.to_text(ref.rcode()))
    assert section_key(got.answer) == section_key(ref.answer)
    assert section_key(got.authority) == section_key(ref.authority)
    ttls = {(rr.name, rr.rdtype): rr.ttl for rr in ref.answer + ref.authority}
    for rr in got.answer + got.authority:
        assert rr.ttl <= ttls[(rr.name, rr.rdtype)], rr.to_text()


def assert_not_forged(r):
    assert FORGED_A not in addresses(r), "forged data reached the client:\n%s" % r


def thread_names(pid):
    """The names of a process's threads (/proc/PID/task/TID/comm), one per thread."""
    task = "/proc/%d/task" % pid
    names = []
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return names


def wait_until(pred, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    # what may be a function: a message built from what the last try saw
    raise AssertionError("%s not met within %.1fs" % (what() if callable(what) else what,
                                                      timeout))


# --- /metrics ------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_text(port, timeout=2.0):
    """The body of http://127.0.0.1:PORT/metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as f:
        return f.read().decode()


def metric_value(text, name, **labels):
    """The value of one sample of a /metrics text, or None when it is absent. name is a sample
    name ("minewall_queries_total", labels as keywords) or a whole sample as written
    ('minewall_reloads_total{result="failed"}'). Labels must match exactly, in any order."""
    if "{" in name:
        name, rest = name.split("{", 1)
        labels = dict(_LABEL.findall(rest.rstrip("}")))
    want = {k: str(v) for k, v in labels.items()}
    for m in _SAMPLE.finditer(text):
        if m.group(1) == name and dict(_LABEL.findall(m.group(2) or "")) == want:
            return float(m.group(3))
    return None


# --- the minewall process ------------------------------------------------------------------


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # a double-quoted JSON string is a YAML string


def to_yaml(obj, indent=0):
    """Block-style YAML for nested dicts of scalars, flow lists, and lists of mappings (each
    written as a JSON flow mapping, which is valid YAML)."""
    lines = []
    for k, v in obj.items():
        pad = " " * indent
        if isinstance(v, (list, tuple)) and any(isinstance(d, dict) for d in v):
            lines.append("%s%s:" % (pad, k))
            lines += ["%s  - %s" % (pad, json.dumps(d) if isinstance(d, dict) else _yaml_scalar(d))
                      for d in v]
        elif isinstance(v, dict):
            lines.append("%s%s:" % (pad, k))
            lines.append(to_yaml(v, indent + 2))
        elif isinstance(v, (list, tuple)):
            lines.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
        else:
            lines.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    return "\n".join(lines)


def _addr(u):
    return u.addr if isinstance(u, FakeDNS) else u


class Minewall:
    """One minewall process. config is a dict rendered to YAML (a value None drops that key);
    listen defaults to 127.0.0.1 on a free port; upstreams are FakeDNS objects or strings."""

    def __init__(self, tmp_path, upstreams=(), config=None, args=(), env=None, listen=None,
                 name="minewall"):
        self.dir = tmp_path
        self.host, self.port = listen or ("127.0.0.1", free_port())
        self.conf_path = str(tmp_path / ("%s.yaml" % name))
        self.log_path = str(tmp_path / ("%s.log" % name))
        cfg = {"listen": [("[%s]:%d" if ":" in self.host else "%s:%d") % self.addr],
               "upstreams": [_addr(u) for u in upstreams],
               "log": {"level": "debug"}}
        if os.geteuid() == 0:
            # Tests run as root in CI; keeping root must then be explicit (the privilege drop
            # itself has its own test).
            cfg["user"] = "root"
        # The control socket in a short private directory: the default /run/minewall is shared
        # by every minewall on the machine, and sun_path holds only 107 bytes.
        self.ctl_dir = tempfile.mkdtemp(prefix="mwctl")
        self.ctl_path = os.path.join(self.ctl_dir, "%s.sock" % name)
        cfg["control"] = {"socket": self.ctl_path}
        cfg.update(config or {})
        if isinstance(cfg.get("control"), dict):
            cfg["control"] = dict({"socket": self.ctl_path}, **cfg["control"])
        self.config = {k: v for k, v in cfg.items() if v is not None}
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.stopped = False

    @property
    def addr(self):
        return (self.host, self.port)

    def write_config(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else to_yaml(self.config) + "\n")

    def start(self, ready=True):
        self.write_config()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "-c", self.conf_path] + self.args,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL)
        if ready:
            self.wait_ready()
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, addr=None, timeout=READY_TIMEOUT_S, poll=0.05, handlers=True):
        """Wait until minewall answers a NOTIFY (answered locally with NOTIMP, so no upstream
        sees the probe) over UDP and accepts TCP connections; poll is the pause between
        probes. With handlers, also wait until SIGHUP and SIGTERM are caught: answering does
        not prove that yet, a race with its own test (test_signal_right_after_first_answer),
        so the other tests are not failed by it."""
        addr = addr or self.addr
        deadline = time.monotonic() + timeout
        while not self._answers(addr):
            assert time.monotonic() < deadline, "minewall did not answer on %s:%d within " \
                "%.0fs:\n%s" % (addr[0], addr[1], timeout, self.log())
            time.sleep(poll)
        if handlers:
            wait_until(lambda: self.handles(signal.SIGHUP) and self.handles(signal.SIGTERM),
                       timeout, what="signal handlers installed")

    def _answers(self, addr):
        assert self.alive, "minewall exited with %s before it answered:\n%s" % (
            self.proc.returncode, self.log())
        q = make_query("ready.invalid", "SOA")
        q.set_opcode(dns.opcode.NOTIFY)
        if exchange(addr, q.to_wire(), timeout=0.2) is None:
            return False
        try:
            tcp_connect(addr, 0.5).close()
            return True
        except OSError:
            return False

    def handles(self, sig):
        """Would sig reach minewall's code rather than kill it: caught by a handler, or
        blocked in every thread (signalfd, sigwait)? Read from Linux /proc."""
        def mask(path, field):
            with open(path) as f:
                return next(int(ln.split()[1], 16) for ln in f if ln.startswith(field))

        bit = 1 << (sig - 1)
        try:
            if mask("/proc/%d/status" % self.proc.pid, "SigCgt:") & bit:
                return True
            tasks = glob.glob("/proc/%d/task/*/status" % self.proc.pid)
            return bool(tasks) and all(mask(t, "SigBlk:") & bit for t in tasks)
        except OSError:  # a thread or the process went away while we looked
            return False

    def query(self, name, rdtype="A", tcp=False, edns=True, do=False, payload=1232,
              timeout=2.0, q=None):
        return ask(self.addr, name, rdtype, tcp, edns, do, payload, timeout, q)

    def raw(self, wire, tcp=False, timeout=2.0):
        return exchange(self.addr, wire, tcp, timeout)

    def signal(self, sig):
        assert self.alive, "minewall is not running:\n" + self.log()
        self.proc.send_signal(sig)

    def sighup(self):
        self.signal(signal.SIGHUP)

    def reload_with(self, text):
        """Rewrite the config file with text and send SIGHUP."""
        self.write_config(text)
        self.sighup()

    def wait_log(self, needle, timeout=5.0):
        return wait_until(lambda: needle in self.log(), timeout, what="log line %r" % needle)

    def wait_log_count(self, needle, count, timeout=5.0):
        """Wait until the log holds needle at least count times."""
        return wait_until(lambda: self.log().count(needle) >= count, timeout,
                          what="log line %r %d times" % (needle, count))

    def terminate(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns (exit code, seconds taken). Kills on timeout."""
        self.stopped = True
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            rc = None
        self._log.close()
        return rc, time.monotonic() - t0

    def stop(self):
        """Teardown check: the process must still be alive and exit 0 within 5 s of SIGTERM."""
        if self.stopped or self.proc is None:
            return
        was_alive = self.alive
        if not was_alive:
            self.stopped = True
            self._log.close()
            raise AssertionError("minewall died during the test (exit %s):\n%s"
                                 % (self.proc.returncode, self.log()[-8000:]))
        rc, took = self.terminate()
        _rmtree_quiet(self.ctl_dir)
        assert rc == 0, "minewall exit code %s after SIGTERM (%.1fs):\n%s" % (
            rc, took, self.log()[-8000:])


def _rmtree_quiet(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def run_minewall(args, timeout=10, env=None):
    """Run the binary to completion (--check-config, --version); returns CompletedProcess."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL)


# --- a real redis-server ---------------------------------------------------------------------


class RedisServer(redisproc.RedisServer):
    """A redis-server of the test's own on loopback (tools/mwbench/redisproc.py: no persistence,
    stop() kills it, start() again reuses the same port and comes back empty), its directory in
    tmp_path unless data_dir is given. `client` is a redis-py client with decoded replies."""

    def __init__(self, tmp_path, password=None, port=None, data_dir=None):
        port = port or free_port()
        d = data_dir or tmp_path / ("redis-%d" % port)
        d.mkdir(exist_ok=True)
        super().__init__(d, port=port, password=password, exe=REDIS_SERVER)

    def start(self, timeout=READY_TIMEOUT_S):
        return super().start(timeout)


def feed(args, url=None, env_url=None, timeout=30):
    """Run build/minewall-feed [--redis url] args; returns the CompletedProcess (text)."""
    env = dict(os.environ)
    env.pop("MINEWALL_REDIS_URL", None)
    if env_url:
        env["MINEWALL_REDIS_URL"] = env_url
    cmd = [FEED_BIN] + (["--redis", url] if url else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path):
    """Factory: redis_server(password=None, port=None, data_dir=None) -> a started RedisServer;
    every one is killed at teardown. Skips the test when redis-server or redis-py is missing."""
    if redis is None:
        pytest.skip("python3-redis not installed")
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed: " + REDIS_SERVER)
    servers = []

    def make(password=None, port=None, data_dir=None):
        r = RedisServer(tmp_path, password=password, port=port, data_dir=data_dir)
        servers.append(r)
        return r.start()

    yield make
    for r in servers:
        r.stop()



@pytest.fixture
def make_upstream():
    """Factory: a started FakeDNS serving ZONE (plus extra records); stopped at teardown."""
    fakes = []

    def make(records=None, **kw):
        recs = dict(ZONE) if kw.get("origin", "test.") == "test." else {}
        recs.update(records or {})
        f = FakeDNS(records=recs, **kw).start()
        fakes.append(f)
        return f

    yield make
    for f in fakes:
        f.stop()


@pytest.fixture
def upstream(make_upstream):
    return make_upstream()


@pytest.fixture
def make_minewall(request, tmp_path):
    """Factory: a started Minewall; every one is checked alive and stopped at teardown."""
    procs = []
    request.node.minewalls = procs

    def make(upstreams=(), ready=True, **kw):
        m = Minewall(tmp_path, upstreams, name="minewall%d" % len(procs), **kw)
        procs.append(m)
        return m.start(ready=ready)

    yield make
    errors = []
    for m in procs:
        try:
            m.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait(5)
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def mw(make_minewall, upstream):
    """A minewall forwarding to one default fake upstream."""
    return make_minewall([upstream])


# --- hooks: a time limit per test, and minewall logs in failure reports --------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    def expired(signum, frame):
        raise TimeoutError("test exceeded %ds" % TEST_TIMEOUT_S)

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for m in getattr(item, "minewalls", []):
            rep.sections.append(("minewall log %s" % m.log_path, m.log()[-12000:]))
