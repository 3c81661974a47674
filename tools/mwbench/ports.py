"""Free loopback ports, shared by the bench, the soak and the integration tests."""

import socket


def family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def free_port(host='127.0.0.1', taken=None):
    """A port free on host for both UDP and TCP at the time of the call. With taken (a set), a
    port already in it is never returned, and the one returned is added to it: a run that
    starts several servers before any binds cannot hand the same port out twice."""
    for _ in range(200):
        with socket.socket(family(host), socket.SOCK_STREAM) as t, \
                socket.socket(family(host), socket.SOCK_DGRAM) as u:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if taken is not None and port in taken:
                continue
            try:
                u.bind((host, port))
            except OSError:
                continue
        if taken is not None:
            taken.add(port)
        return port
    raise OSError('no free port on %s' % host)


def ephemeral_low():
    """The first port of the kernel's ephemeral range: below it, no socket gets a port it did
    not ask for."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortPool:
    """Ports handed out in turn from a slice of [lo, first ephemeral port), one slice per
    slot. A port from the ephemeral range, probed free and closed, can meanwhile become the
    source port of any client socket on the machine (an upstream's, another test worker's):
    the slices keep parallel test processes apart and out of the kernel's way. Falls back to
    free_port when the range below the ephemeral ports is too small."""

    def __init__(self, slot=0, slots=1, lo=20000, hi=None):
        hi = min(hi or ephemeral_low(), 65536)
        width = (hi - lo) // max(slots, 1)
        self.taken = set()
        self.lo, self.width = lo + slot * width, width
        self.next = 0

    def take(self, host='127.0.0.1'):
        if self.width < 100:
            return free_port(host, taken=self.taken)
        for _ in range(self.width):
            port = self.lo + self.next
            self.next = (self.next + 1) % self.width
            with socket.socket(family(host), socket.SOCK_STREAM) as t, \
                    socket.socket(family(host), socket.SOCK_DGRAM) as u:
                try:
                    t.bind((host, port))
                    u.bind((host, port))
                except OSError:
                    continue
            return port
        raise OSError('no free port on %s in %d..%d' % (host, self.lo, self.lo + self.width - 1))
