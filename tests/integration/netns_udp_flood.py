"""Helper of test_limits_udp.py, run inside a network namespace of its own (unshare -n): the
loopback there goes through a slow token-bucket qdisc with a deep queue, so minewall's UDP send
buffer fills and answers must wait in minewall (udp.send-queue) or be dropped. Starts the
minewall binary given, floods it with queries for a listed name for a bounded time, and prints
one JSON object: queries sent, answers dropped at the bound (from /metrics), RSS, exit code."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

SO_SNDBUFFORCE = 32
FAST = 0x10010  # skb priority = htb class 1:10
FLOOD_S = 8.0
MAX_QUERIES = 400000


def main():
    binary, tmp, send_queue = sys.argv[1], sys.argv[2], int(sys.argv[3])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Two classes: everything by default in a slow one with a deep queue (minewall's answers),
    # and a fast one that the test's own sockets pick with SO_PRIORITY (queries, /metrics).
    for cmd in ("qdisc add dev lo root handle 1: htb default 20",
                "class add dev lo parent 1: classid 1:10 htb rate 10gbit quantum 200000",
                "class add dev lo parent 1: classid 1:20 htb rate 8mbit",
                "qdisc add dev lo parent 1:20 handle 20: pfifo limit 1000000"):
        subprocess.run(["tc"] + cmd.split(), check=True)
    lst = os.path.join(tmp, "netns-list.txt")
    with open(lst, "w") as f:
        f.write("blocked.test\n")
    cfg = os.path.join(tmp, "netns-minewall.yaml")
    with open(cfg, "w") as f:
        f.write('listen: ["127.0.0.1:5300"]\nupstreams: ["127.0.0.1:9"]\nuser: root\n'
                'metrics: {listen: "127.0.0.1:9153"}\nudp: {send-queue: %d}\n'
                'lists: [{name: t, category: c2, path: %s}]\n' % (send_queue, lst))
    log = open(os.path.join(tmp, "netns-minewall.log"), "w")
    p = subprocess.Popen([binary, "-c", cfg], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        run(p)
    finally:  # never leave minewall behind, whatever failed
        if p.poll() is None:
            p.kill()
            p.wait(10)


def run(p):
    def dropped():
        c = socket.create_connection(("127.0.0.1", 9153), timeout=5)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, FAST)
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        body = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            body += chunk
        c.close()
        m = re.search(r'limit_hits_total\{limit="udp-send-queue"\} (\d+)', body.decode())
        return int(m.group(1)) if m else -1

    deadline = time.monotonic() + 10
    while True:
        try:
            dropped()
            break
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                print(json.dumps({"error": "minewall did not start", "rc": p.poll()}))
                p.kill()
                return
            time.sleep(0.1)
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07blocked\x04test\x00\x00\x01\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 64 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, FAST)
    s.setblocking(False)
    stop = threading.Event()
    sent = [0]

    def flood():
        while not stop.is_set() and sent[0] < MAX_QUERIES:
            try:
                s.sendto(q, ("127.0.0.1", 5300))
                sent[0] += 1
            except BlockingIOError:
                time.sleep(0.001)

    t = threading.Thread(target=flood)
    t.start()
    t0 = time.monotonic()
    time.sleep(1.5)  # workers publish counters once a second
    while time.monotonic() - t0 < FLOOD_S and t.is_alive() and not dropped():
        time.sleep(0.5)
    stop.set()
    t.join()
    sent = sent[0]
    time.sleep(1.5)
    with open("/proc/%d/status" % p.pid) as f:
        rss = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
    out = {"sent": sent, "dropped": dropped(), "rss_kb": rss, "alive": p.poll() is None}
    p.terminate()
    out["rc"] = p.wait(10)
    print(json.dumps(out))


main()
