"""Memory across reloads: a list generation is freed back to the system when the next one
replaces it, so RSS stays flat however often the lists are reloaded."""
import random
import string

from conftest import feed, needs_plain_malloc, wait_until

NAMES = 300_000
RELOADS = 8
RESYNCS = 5


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def write_list(path, n, seed=1):
    rnd = random.Random(seed)
    alphabet = string.ascii_lowercase + string.digits
    with open(path, "w") as f:
        for i in range(n):
            label = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(6, 14)))
            f.write("x%s%d.%s\n" % (label, i, rnd.choice(("com", "net", "org", "io"))))


@needs_plain_malloc
def test_rss_flat_across_reloads(make_minewall, upstream, tmp_path):
    big = tmp_path / "big.txt"
    write_list(big, NAMES)
    m = make_minewall([upstream], config={
        "lists": [{"name": "big", "category": "mining", "path": str(big)}]})
    first = rss_kb(m.proc.pid)
    after = []
    for i in range(RELOADS):
        m.sighup()
        needle = "configuration reloaded (generation %d," % (i + 2)
        wait_until(lambda: needle in m.log(), 30, what="reload %d" % (i + 1))
        after.append(rss_kb(m.proc.pid))
    # The old generation is released by the workers shortly after the swap.
    wait_until(lambda: rss_kb(m.proc.pid) <= 1.3 * first, 10,
               what="RSS within 1.3x of the first load (first %d kB, after reloads %s)"
               % (first, after))
    assert m.query("ready.test.").rcode() is not None


@needs_plain_malloc
def test_rss_flat_across_redis_full_resyncs(make_minewall, upstream, redis_server, tmp_path):
    """A Redis-synced list whose keys vanish and come back is synced again in full each time:
    the copy it replaces must go back to the system, so RSS stays flat."""
    rs = redis_server()
    src = tmp_path / "fleet.txt"
    write_list(src, NAMES // 3, seed=2)
    state = tmp_path / "state"
    state.mkdir()

    def publish():
        p = feed(["push", "fleet", str(src), "--category", "mining"], rs.url)
        assert p.returncode == 0, p.stderr

    publish()
    m = make_minewall([upstream], config={
        "redis": {"url": rs.url, "lists": ["fleet"], "state-dir": str(state)}, "lists": []})
    m.wait_log("list fleet: %d entries synced" % (NAMES // 3), 30)
    first = None
    for i in range(RESYNCS):
        rs.client.delete("minewall:list:{fleet}:meta", "minewall:list:{fleet}:entries")
        m.wait_log_count("its keys are gone from Redis", i + 1, 10)
        publish()
        m.wait_log_count("list fleet is back in Redis: full resync, %d entries" % (NAMES // 3),
                         i + 1, 20)
        if first is None:
            first = rss_kb(m.proc.pid)
    wait_until(lambda: rss_kb(m.proc.pid) <= 1.3 * first, 10,
               what="RSS within 1.3x after %d full resyncs (first %d kB, now %d kB)"
               % (RESYNCS, first, rss_kb(m.proc.pid)))
