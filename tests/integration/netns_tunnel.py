"""Helper of test_tunnel.py, run inside a network namespace of its own (unshare -n): a real DNS
tunnel through minewall. The tunnel's server (iodined or dns2tcpd) is the authority of a test
zone on 127.0.0.2:53, minewall listens on 127.0.0.1:53 (the tunnel clients take no port) and
reaches the zone through forward-zones, and the tunnel's client (iodine or dns2tcpc) uses
minewall as its DNS server. The tun devices iodine makes live and die with the namespace.

Prints one JSON object: whether the tunnel carried data, when minewall detected it (seconds
from the client's start, and the queries minewall had answered by then, from its /metrics and
from the detection's own features), the detection's block-log line, and what a query under the
zone gets afterwards from the tunnel's client address and from another one."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode

ZONE = {"iodine": "tun.test", "dns2tcp": "d2t.test"}
PASSWORD = "Minewall1"
DETECT_S = 60.0  # the test asserts 30 s; wait longer so a slow detection is measured


def metrics():
    try:
        c = socket.create_connection(("127.0.0.1", 9153), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        body = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            body += chunk
        c.close()
        return body.decode()
    except OSError:
        return ""


def metric_sum(text, name):
    total = 0.0
    for m in re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        total += float(m.group(1))
    return total


def detections(text):
    m = re.search(r'^minewall_detections_total\{detector="tunnel"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


def block_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def ask_from(src, name):
    q = dns.message.make_query(name, "A", use_edns=0)
    try:
        r = dns.query.udp(q, "127.0.0.1", port=53, timeout=3, source=src)
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        return {"error": repr(e)}
    ede = None
    for o in r.options:
        if o.otype == 15:
            ede = getattr(o, "code", None)
    return {"rcode": dns.rcode.to_text(r.rcode()), "ede": ede}


def echo_server(port, stop):
    """What dns2tcpd's resource points at: echoes every byte back."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    srv.settimeout(0.5)

    def serve(c):
        c.settimeout(1.0)
        while not stop.is_set():
            try:
                d = c.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            c.sendall(d)
        c.close()

    while not stop.is_set():
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    srv.close()


def inner_namespace(procs):
    """A second namespace for iodined, joined to this one by a veth pair (10.99.0.1 here,
    10.99.0.2 there), so that the two ends of the tunnel are different hosts and traffic to
    the server's tunnel address really crosses the tunnel. Returns the holder's pid."""
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"], stdin=subprocess.DEVNULL)
    procs.append(holder)
    pid = str(holder.pid)
    inner = ["nsenter", "-t", pid, "-n"]
    deadline = time.monotonic() + 5
    while os.readlink("/proc/%s/ns/net" % pid) == os.readlink("/proc/self/ns/net"):
        if time.monotonic() > deadline:
            raise RuntimeError("unshare did not make a namespace")
        time.sleep(0.02)
    for cmd in (["ip", "link", "add", "vmw", "type", "veth", "peer", "name", "vsrv", "netns", pid],
                ["ip", "addr", "add", "10.99.0.1/30", "dev", "vmw"],
                ["ip", "link", "set", "vmw", "up"],
                inner + ["ip", "link", "set", "lo", "up"],
                inner + ["ip", "addr", "add", "10.99.0.2/30", "dev", "vsrv"],
                inner + ["ip", "link", "set", "vsrv", "up"]):
        subprocess.run(cmd, check=True)
    return pid


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.53.53.1", 7777))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
"""


def start_server(tool, tmp, log, procs):
    """The tunnel's server; returns the address minewall forwards the zone to."""
    zone = ZONE[tool]
    if tool == "iodine":
        pid = inner_namespace(procs)
        # -c: minewall's source port is not the client's; -f foreground; the tunnel network.
        cmd = ["nsenter", "-t", pid, "-n", "iodined", "-f", "-c", "-l", "10.99.0.2", "-p", "53",
               "-P", PASSWORD, "10.53.53.1/27", zone]
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
        # A UDP echo behind the tunnel, started once iodined made its tun device.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "-o", "addr"],
                               capture_output=True, text=True)
            if "10.53.53.1" in r.stdout:
                break
            time.sleep(0.05)
        procs.append(subprocess.Popen(["nsenter", "-t", pid, "-n", sys.executable, "-c",
                                       UDP_ECHO], stdin=subprocess.DEVNULL))
        return "10.99.0.2:53"
    conf = os.path.join(tmp, "dns2tcpd.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.2\nport = 53\nuser = root\nkey = %s\n"
                "domain = %s\nresources = echo:127.0.0.1:7777\n" % (PASSWORD, zone))
    cmd = ["dns2tcpd", "-F", "-d", "1", "-f", conf]
    procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL))
    return "127.0.0.2:53"


def start_client(tool, log):
    zone = ZONE[tool]
    if tool == "iodine":
        # -r: no raw UDP straight to the server, everything through the resolver.
        cmd = ["iodine", "-f", "-r", "-I1", "-P", PASSWORD, "127.0.0.1", zone]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    cmd = ["dns2tcpc", "-z", zone, "-k", PASSWORD, "-r", "echo", "-l", "-", "127.0.0.1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE)


def drive_dns2tcp(p, carried, stop):
    """Lines into the tunnel; each that comes back echoed proves the tunnel carries data."""
    i = 0
    buf = b""
    os.set_blocking(p.stdout.fileno(), False)
    while not stop.is_set() and p.poll() is None:
        line = b"minewall tunnel test line %06d %s\n" % (i, b"x" * 40)
        try:
            p.stdin.write(line)
            p.stdin.flush()
        except OSError:
            return
        i += 1
        t_end = time.monotonic() + 0.3
        while time.monotonic() < t_end:
            try:
                d = p.stdout.read(65536)
            except (OSError, ValueError):
                d = None
            if d:
                buf += d
                if b"minewall tunnel test line" in buf:
                    carried.set()
            time.sleep(0.02)


def drive_iodine(carried, stop, log_path):
    """Once iodine says the tunnel is up (its password login went through minewall), send
    datagrams to the echo behind the server's tunnel address; one that comes back proves the
    tunnel carries data both ways."""
    while not stop.is_set():
        try:
            with open(log_path) as f:
                if "Connection setup complete" in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    i = 0
    while not stop.is_set():
        try:
            # Random octets: iodine compresses what it carries.
            s.sendto(b"minewall tunnel test %06d " % i + os.urandom(300), ("10.53.53.1", 7777))
        except OSError:
            pass
        i += 1
        try:
            if s.recv(65536).startswith(b"minewall tunnel test"):
                carried.set()
        except OSError:
            pass
        time.sleep(0.1)
    s.close()


def main():
    binary, tmp, tool, action = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    extra = ", " + (sys.argv[5] if len(sys.argv) > 5 else "block-for: 10m")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    blocks = os.path.join(tmp, "tunnel-blocks.jsonl")
    cfg = os.path.join(tmp, "tunnel-minewall.yaml")
    logs = {n: open(os.path.join(tmp, "tunnel-%s.log" % n), "w")
            for n in ("minewall", "server", "client")}
    procs = []
    stop = threading.Event()
    out = {"tool": tool, "action": action, "carried": False, "detected": False}
    mw = None
    try:
        if tool == "dns2tcp":
            threading.Thread(target=echo_server, args=(7777, stop), daemon=True).start()
        authority = start_server(tool, tmp, logs["server"], procs)
        with open(cfg, "w") as f:
            f.write('listen: ["127.0.0.1:53"]\nupstreams: ["127.0.0.3:53"]\nuser: root\n'
                    'forward-zones: {"%s": ["%s"]}\n'
                    'metrics: {listen: "127.0.0.1:9153"}\n'
                    'log: {level: info, blocks: "%s"}\n'
                    # iodine's lazy mode: its server holds a query up to the interval (-I1).
                    'upstream-timeout: 3000\nresolve-timeout: 6000\n'
                    'detect: {tunnel: {action: %s%s}}\n'
                    % (ZONE[tool], authority, blocks, action, extra))
        mw = subprocess.Popen([binary, "-c", cfg], stdout=logs["minewall"],
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(mw)
        deadline = time.monotonic() + 10
        while not metrics() and time.monotonic() < deadline:
            time.sleep(0.05)
        base = metric_sum(metrics(), "minewall_queries_total")
        carried = threading.Event()
        t0 = time.monotonic()
        client = start_client(tool, logs["client"])
        procs.append(client)
        if tool == "dns2tcp":
            drv = threading.Thread(target=drive_dns2tcp, args=(client, carried, stop), daemon=True)
        else:
            drv = threading.Thread(target=drive_iodine,
                                   args=(carried, stop, logs["client"].name), daemon=True)
        drv.start()
        hit = None
        while time.monotonic() - t0 < DETECT_S:
            lines = [b for b in block_lines(blocks) if b.get("list") == "tunnel"]
            if lines:
                hit = lines[0]
                out["seconds"] = round(time.monotonic() - t0, 2)
                break
            time.sleep(0.05)
        if hit:
            out["detected"] = True
            out["block"] = hit
            m = re.search(r"queries=(\d+)", hit.get("matched", ""))
            out["queries_features"] = int(m.group(1)) if m else None
            # Hold the client still while /metrics catches up (workers publish once a
            # second): the answered queries then count those up to the detection.
            client.send_signal(signal.SIGSTOP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and detections(metrics()) < 1:
                time.sleep(0.1)
            time.sleep(1.2)
            client.send_signal(signal.SIGCONT)
        text = metrics()
        out["queries_metrics"] = int(metric_sum(text, "minewall_queries_total") - base)
        out["detections"] = detections(text)
        # The tunnel's data path: give it a few seconds when detection came first.
        carried.wait(15 if action == "log" else 3)
        out["carried"] = carried.is_set()
        out["after_same_client"] = ask_from("127.0.0.1", "zz1after." + ZONE[tool])
        out["after_other_client"] = ask_from("127.0.0.5", "zz2after." + ZONE[tool])
    finally:
        stop.set()
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        out["minewall_exit"] = mw.returncode if mw else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
