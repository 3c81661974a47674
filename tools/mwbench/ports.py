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
