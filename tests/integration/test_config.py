"""The command line and the configuration file: --check-config, --version, overrides,
upstreams from resolv.conf."""

import random
import re
import socket
import time

import pytest

from conftest import SRCDIR, addresses, ask, free_port, run_minewall, to_yaml

BROKEN = """\
listen: ["127.0.0.1:5353"]
upstreams:
  - "not an address"
threads: 1000
access:
  allow:
    - "10.0.0.1/8"
log:
  level: loud
cache:
  size: -5
upstream-timeout: soon
"""
BROKEN_LINES = [3, 4, 7, 9, 11, 12]

GOOD = {
    "listen": ["127.0.0.1:5353", "[::1]:5353"],
    "upstreams": ["127.0.0.1:5300", "192.0.2.53"],
    "forward-zones": {"corp.test": ["127.0.0.1:5301"], "deep.corp.test": ["[::1]:5302"]},
    "threads": 2,
    "access": {"allow": ["127.0.0.0/8", "10.0.0.0/8", "::1/128", "fd00::/8"]},
    "cache": {"size": 1000, "min-ttl": 5, "max-ttl": 3600, "serve-stale": 600},
    "upstream-timeout": 500,
    "resolve-timeout": 3000,
    "tcp": {"idle-timeout": 5, "max-connections": 100, "max-pipeline": 16},
    "log": {"level": "warn"},
}


def write(tmp_path, text, name="minewall.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_check_config_reports_every_error_with_line(tmp_path):
    path = write(tmp_path, BROKEN)
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line in BROKEN_LINES:
        assert "%s:%d: " % (path, line) in out, "no error for line %d in:\n%s" % (line, out)
    # Nothing is reported on a line that is fine.
    reported = {int(n) for n in re.findall(re.escape(path) + r":(\d+): ", out)}
    assert reported <= set(BROKEN_LINES), reported


def test_check_config_error_quotes_offending_text(tmp_path):
    path = write(tmp_path, BROKEN)
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    for text in ("not an address", "1000", "10.0.0.1/8", "loud", "soon"):
        assert text in out, "error message does not quote %r:\n%s" % (text, out)


def test_check_config_good(tmp_path):
    path = write(tmp_path, to_yaml(GOOD) + "\n")
    res = run_minewall(["-c", path, "--check-config"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert not re.search(re.escape(path) + r":\d+: ", res.stdout + res.stderr)


def test_check_config_missing_file(tmp_path):
    path = str(tmp_path / "absent.yaml")
    res = run_minewall(["-c", path, "--check-config"])
    assert res.returncode == 1
    assert path in res.stdout + res.stderr


def test_check_config_yaml_syntax_error(tmp_path):
    path = write(tmp_path, 'listen: ["127.0.0.1:5353"]\nupstreams: [\n'
                           '  "127.0.0.1:53"\nthreads: 1\n')
    res = run_minewall(["-c", path, "--check-config"])
    assert res.returncode == 1
    assert re.search(re.escape(path) + r":\d+: ", res.stdout + res.stderr), res.stdout


def test_start_with_broken_config_fails(tmp_path):
    path = write(tmp_path, BROKEN)
    res = run_minewall(["-c", path])
    assert res.returncode != 0
    assert "%s:%d: " % (path, BROKEN_LINES[0]) in res.stdout + res.stderr


def test_version():
    res = run_minewall(["--version"])
    assert res.returncode == 0
    with open(SRCDIR + "/meson.build") as f:
        version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    assert version in res.stdout


def test_help_and_bad_option():
    res = run_minewall(["--help"])
    assert res.returncode == 0 and "--check-config" in res.stdout
    res = run_minewall(["--no-such-option"])
    assert res.returncode == 2


def port_is_free(port):
    """True when nothing holds 127.0.0.1:port over UDP or TCP."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_command_line_overrides_listen_and_upstream(make_upstream, make_minewall):
    in_config, on_cli = make_upstream(), make_upstream()
    cli_port = free_port()
    m = make_minewall([in_config], ready=False,
                      args=["--listen", "127.0.0.1:%d" % cli_port, "--upstream", on_cli.addr])
    m.wait_ready(("127.0.0.1", cli_port))
    for tcp in (False, True):
        r = ask(("127.0.0.1", cli_port), "example.test", "A", tcp=tcp)
        assert addresses(r) == ["192.0.2.1"]
    assert on_cli.count("example.test") == 1
    assert in_config.count("example.test") == 0
    assert port_is_free(m.port), "the config's listen address is bound despite --listen"


def bind_port53_pair():
    """Two fresh 127.x.y.z addresses (minewall's, the upstream's) for servers on port 53,
    which resolv.conf cannot give a port for."""
    base = "127.53.%d.%d" % (random.randrange(256), random.randrange(1, 250))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((base, 53))
        except PermissionError:
            pytest.skip("binding port 53 needs root or CAP_NET_BIND_SERVICE")
    a, b, c, d = base.split(".")
    return base, "%s.%s.%s.%d" % (a, b, c, int(d) + 1)


@pytest.mark.parametrize("self_first", [False, True])
def test_upstreams_from_resolv_conf(tmp_path, make_upstream, make_minewall, self_first):
    own, up_ip = bind_port53_pair()
    up = make_upstream(host=up_ip, port=53)
    resolv = tmp_path / "resolv.conf"
    lines = ["# written by the test", "search example.invalid", "options timeout:1"]
    if self_first:
        lines.append("nameserver %s" % own)  # minewall itself: must be skipped
    lines.append("nameserver %s" % up_ip)
    resolv.write_text("\n".join(lines) + "\n")
    m = make_minewall(listen=(own, 53), env={"MINEWALL_RESOLV_CONF": str(resolv)},
                      config={"upstreams": None, "upstream-timeout": 1000,
                              "resolve-timeout": 3000})
    for i in range(3):
        name = "rc%d.bulk.test" % i
        t0 = time.monotonic()
        assert addresses(m.query(name, timeout=4)) == ["192.0.2.99"]
        # Forwarding to itself first would cost at least one upstream timeout (1 s).
        assert time.monotonic() - t0 < 0.5
        assert up.count(name) == 1
