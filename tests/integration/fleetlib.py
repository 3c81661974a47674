"""What the Redis fleet tests (test_redis_sync.py, test_fleet.py) share: the upstream's names,
the sinkhole answer, the promised delays, and the small checks both make."""

import time

import dns.rcode

from conftest import addresses, wait_until

EXTRA = {
    "pool.evil.test": {"A": ["192.0.2.200"]},
    "eu.pool.evil.test": {"A": ["192.0.2.201"]},
    "other.evil.test": {"A": ["192.0.2.202"]},
    "late.evil.test": {"A": ["192.0.2.203"]},
    "ipbad.test": {"A": ["198.51.100.7"]},
    "ipgood.test": {"A": ["198.51.100.8"]},
    "*.burst.test": {"A": ["192.0.2.98"]},
}
SINKHOLE = ["0.0.0.0"]
SYNC_S = 5.0  # bound on a full sync of a small list after start or reconnect
FOLLOW_S = 1.0  # the promise: a change reaches every resolver within a second
POLL_S = 7.0  # the 5 s fallback poll (SET-only writers, vanished keys) plus slack


def ok(p):
    assert p.returncode == 0, "rc=%d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout,
                                                                   p.stderr)
    return p


def is_blocked(m, name):
    r = m.query(name)
    return r.rcode() == dns.rcode.NOERROR and addresses(r) == SINKHOLE


def timed(pred, timeout, what):
    """Seconds until pred() first holds (polled every 5 ms), bounded."""
    t0 = time.monotonic()
    wait_until(pred, timeout, step=0.005, what=what)
    return time.monotonic() - t0
