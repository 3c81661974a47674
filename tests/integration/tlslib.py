"""Helpers shared by the DNS-over-TLS and DNS-over-HTTPS tests (test_dot.py, test_doh.py): a
test PKI made with the openssl command, and a real Unbound from Debian serving DoT (tls-port)
or DoH (https-port, http-endpoint) on loopback with that PKI's certificates and a local zone,
with remote control on a UNIX socket for its counters."""

import base64
import hashlib
import os
import shutil
import socket
import subprocess

import pytest

from conftest import free_port, wait_until

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

ANSWER = "192.0.2.53"


def openssl(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=30)


class PKI:
    """A test CA and certificates made with the openssl command in directory d."""

    def __init__(self, d):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.ca_key, self.ca = self.path("ca.key"), self.path("ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "30",
                "-subj", "/CN=minewall test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.d)
        # `openssl ca` is the command that signs with a validity in the past (x509 -req in
        # OpenSSL 3.0 has no -not_before): a minimal database for it.
        open(self.path("index.txt"), "w").close()
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write("""[ca]
default_ca = tca
[tca]
dir = %s
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = %s
private_key = %s
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = copy
[anything]
commonName = supplied
""" % (self.d, self.ca, self.ca_key))

    def path(self, name):
        return os.path.join(self.d, name)

    def leaf(self, name, sans, signed=True, start=None, end=None):
        """Key and certificate NAME.key/NAME.pem with the given subjectAltNames."""
        key, csr, pem = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".pem")
        san = "subjectAltName=" + ",".join(sans)
        if not signed:
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", pem, "-days", "30", "-subj",
                    "/CN=" + name, "-addext", san, cwd=self.d)
            return key, pem
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + name, "-addext", san, cwd=self.d)
        args = ["ca", "-batch", "-config", self.path("ca.cnf"), "-in", csr, "-out", pem,
                "-notext"]
        if start:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", "30"]
        openssl(*args, cwd=self.d)
        return key, pem

    def pin(self, pem):
        """The RFC 7858 pin of a certificate: base64 SHA-256 of its SubjectPublicKeyInfo."""
        pub = subprocess.run([OPENSSL, "x509", "-in", pem, "-pubkey", "-noout"], check=True,
                             capture_output=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "der"], input=pub,
                             check=True, capture_output=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("pki"))
    p.good = p.leaf("good", ["DNS:dns.test", "IP:127.0.0.1"])
    p.wrong = p.leaf("wrong", ["DNS:other.test"])
    p.expired = p.leaf("expired", ["DNS:dns.test"], start="20200101000000Z",
                       end="20210101000000Z")
    p.selfsigned = p.leaf("self", ["DNS:dns.test"], signed=False)
    return p


class Unbound:
    """A real Unbound serving DNS over TLS on 127.0.0.1:port with key/pem, a local zone, and
    remote control on a UNIX socket (for its counters)."""

    def __init__(self, d, key, pem, https=False, extra=""):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.d, "unbound.conf")
        self.ctl = os.path.join(self.d, "ctl.sock")
        with open(self.conf, "w") as f:
            f.write("""server:
    interface: 127.0.0.1@{port}
    {listener}
    {extra}
    tls-service-key: "{key}"
    tls-service-pem: "{pem}"
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: "{d}/unbound.log"
    verbosity: 1
    do-ip6: no
    do-udp: no
    access-control: 127.0.0.0/8 allow
    extended-statistics: yes
    edns-tcp-keepalive: yes
    edns-tcp-keepalive-timeout: 30000
    # Nothing is ever recursed (no traffic off loopback): the root is a local zone too,
    # with the NS record the health probes ask for.
    local-zone: "." static
    local-data: ". 3600 IN NS ns.dot.test."
    local-zone: "dot.test." static
    local-data: "a.dot.test. 300 IN A {answer}"
    local-zone: "bulk.dot.test." redirect
    local-data: "bulk.dot.test. 300 IN A {answer}"
remote-control:
    control-enable: yes
    control-interface: "{ctl}"
    control-use-cert: no
""".format(port=self.port, key=key, pem=pem, d=self.d, answer=ANSWER, ctl=self.ctl,
           listener=("https-port: %d\n    http-endpoint: \"/dns-query\"" % self.port) if https
           else "tls-port: %d" % self.port, extra=extra))
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_until(self._listening, 10, what="unbound listening on %d" % self.port)

    def _listening(self):
        assert self.proc.poll() is None, "unbound exited:\n" + self.log()
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
        except OSError:
            return False
        return os.path.exists(self.ctl)

    def log(self):
        try:
            with open(os.path.join(self.d, "unbound.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stats(self):
        out = subprocess.run([UNBOUND_CONTROL, "-c", self.conf, "stats_noreset"], check=True,
                             capture_output=True, text=True, timeout=10).stdout
        return dict(line.split("=", 1) for line in out.split() if "=" in line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def make_unbound(tmp_path):
    servers = []

    def make(key_pem, name="unbound", https=False, extra=""):
        u = Unbound(tmp_path / ("%s%d" % (name, len(servers))), *key_pem, https=https,
                    extra=extra)
        servers.append(u)
        return u

    yield make
    for u in servers:
        u.stop()
