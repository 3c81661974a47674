"""`meson install` into a scratch DESTDIR: every file lands where the build's prefix and
directory options say, the installed config names the installed lists (and is valid), the
systemd unit passes `systemd-analyze verify`, and both man pages render without groff
warnings and document every option, command and top-level config key.

The build directory is $MINEWALL_BUILDDIR, else the one holding $MINEWALL_BIN (what `meson test`
passes), else <repo>/build. Nothing is installed outside the scratch directory.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

SRC = os.path.abspath(os.environ.get("MINEWALL_SRCDIR",
                                     os.path.join(os.path.dirname(__file__), "..", "..")))


def _builddir():
    if os.environ.get("MINEWALL_BUILDDIR"):
        return os.path.abspath(os.environ["MINEWALL_BUILDDIR"])
    bin_ = os.environ.get("MINEWALL_BIN")
    if bin_ and os.path.isdir(os.path.join(os.path.dirname(bin_), "meson-private")):
        return os.path.dirname(os.path.abspath(bin_))
    return os.path.join(SRC, "build")


BUILD = _builddir()
MAN_PAGES = [("doc/minewall.8", "man8", "minewall.8"),
             ("doc/minewall-feed.1", "man1", "minewall-feed.1"),
             ("doc/minewall-ctl.8", "man8", "minewall-ctl.8")]


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Installed:
    """The result of one `meson install --destdir`: absolute install paths (as on the target
    system) and where they are under the scratch directory."""

    def __init__(self, destdir, opts):
        self.destdir = destdir
        self.opts = opts
        prefix = opts["prefix"]
        self.prefix = prefix
        d = {k: os.path.join(prefix, opts[k])  # join keeps an absolute option (/etc) as is
             for k in ("bindir", "sbindir", "sysconfdir", "datadir", "mandir")}
        self.bindir, self.sbindir, self.mandir = d["bindir"], d["sbindir"], d["mandir"]
        self.confdir = os.path.join(d["sysconfdir"], "minewall")
        self.listdir = os.path.join(d["datadir"], "minewall", "blocklists")
        self.unitdir = self._unitdir()

    def _unitdir(self):
        if shutil.which("pkg-config"):
            p = run(["pkg-config", "--define-variable=rootprefix=" + self.prefix,
                     "--variable=systemdsystemunitdir", "systemd"])
            if p.returncode == 0 and p.stdout.strip():
                return p.stdout.strip()
        return os.path.join(self.prefix, "lib", "systemd", "system")

    def at(self, path):
        """path (absolute on the target system) inside the scratch DESTDIR."""
        return os.path.join(self.destdir, path.lstrip("/"))


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    meson = shutil.which("meson")
    if not meson:
        pytest.skip("meson is not installed")
    if not os.path.isfile(os.path.join(BUILD, "build.ninja")):
        pytest.skip("no configured build directory at %s" % BUILD)
    p = run([meson, "introspect", "--buildoptions", BUILD])
    assert p.returncode == 0, p.stderr
    opts = {o["name"]: o["value"] for o in json.loads(p.stdout)}
    destdir = str(tmp_path_factory.mktemp("destdir"))
    p = run([meson, "install", "-C", BUILD, "--destdir", destdir], timeout=600)
    assert p.returncode == 0, "meson install failed:\n%s\n%s" % (p.stdout[-4000:], p.stderr[-4000:])
    i = Installed(destdir, opts)
    assert os.path.isdir(i.at(i.prefix)), "nothing installed under %s" % i.at(i.prefix)
    return i


def shipped_lists():
    return sorted(os.listdir(os.path.join(SRC, "blocklists")))


def test_files_land_at_their_paths(inst):
    executables = [os.path.join(inst.sbindir, "minewall"),
                   os.path.join(inst.sbindir, "minewall-ctl"),
                   os.path.join(inst.bindir, "minewall-feed"),
                   os.path.join(inst.bindir, "minewall-update-feeds")]
    if os.path.exists(os.path.join(SRC, "tools", "minewall-journal")):
        executables.append(os.path.join(inst.bindir, "minewall-journal"))
    for f in executables:
        assert os.path.isfile(inst.at(f)), "missing %s" % f
        assert os.access(inst.at(f), os.X_OK), "%s is not executable" % f
    files = [os.path.join(inst.confdir, "minewall.yaml"),
             os.path.join(inst.confdir, "feeds.yaml"),
             os.path.join(inst.unitdir, "minewall.service")]
    files += [os.path.join(inst.mandir, sect, name) for _, sect, name in MAN_PAGES]
    for f in files:
        assert os.path.isfile(inst.at(f)), "missing %s" % f
    # Every shipped list, byte for byte.
    for name in shipped_lists():
        with open(os.path.join(SRC, "blocklists", name), "rb") as a, \
                open(inst.at(os.path.join(inst.listdir, name)), "rb") as b:
            assert a.read() == b.read(), "installed %s differs from blocklists/%s" % (name, name)
    for src, sect, name in MAN_PAGES:
        with open(os.path.join(SRC, src), "rb") as a, \
                open(inst.at(os.path.join(inst.mandir, sect, name)), "rb") as b:
            assert a.read() == b.read()
    # The DGA model, byte for byte, at the path the binary looks for it (--explain).
    model = os.path.join(inst.prefix, inst.opts["datadir"], "minewall", "dga.model")
    with open(os.path.join(SRC, "conf", "dga.model"), "rb") as a, open(inst.at(model), "rb") as b:
        assert a.read() == b.read(), "installed %s differs from conf/dga.model" % model
    p = run([inst.at(os.path.join(inst.sbindir, "minewall")), "--help"])
    assert "(model %s)" % model in p.stdout, p.stdout
    # The installed binaries run.
    p = run([inst.at(os.path.join(inst.sbindir, "minewall")), "--version"])
    assert p.returncode == 0 and p.stdout.startswith("minewall "), p.stderr


def test_installed_config_names_the_installed_lists(inst):
    conf = inst.at(os.path.join(inst.confdir, "minewall.yaml"))
    with open(conf) as f:
        text = f.read()
    assert "../blocklists/" not in text
    with open(os.path.join(SRC, "conf", "minewall.yaml")) as f:
        src_text = f.read()
    installed, shipped = yaml.safe_load(text), yaml.safe_load(src_text)
    # Only the list paths change; every other setting and every comment stays.
    assert text == src_text.replace("../blocklists/", inst.listdir + "/")
    assert [dict(l, path=None) for l in installed["lists"]] == \
        [dict(l, path=None) for l in shipped["lists"]]
    assert installed["lists"], "the installed config has no lists"
    for l in installed["lists"]:
        path = l["path"]
        assert os.path.isabs(path) and os.path.dirname(path) == inst.listdir, path
        assert os.path.isfile(inst.at(path)), "%s names %s, not installed" % (conf, path)

    # The installed binary accepts the installed config once its absolute list paths are
    # pointed into the scratch DESTDIR (on the target system they are used as they are).
    checked = os.path.join(inst.destdir, "check.yaml")
    with open(checked, "w") as f:
        f.write(text.replace(inst.listdir + "/", inst.at(inst.listdir) + "/"))
    # --user root: the scratch DESTDIR under pytest's 0700 tmp is not readable by the minewall
    # account (--check-config checks access as that account; see test_ops.py).
    p = run([inst.at(os.path.join(inst.sbindir, "minewall")), "--check-config", "-c", checked,
             "--user", "root"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "configuration is valid" in p.stdout


def test_installed_feeds_config_and_tools(inst):
    feeds = inst.at(os.path.join(inst.confdir, "feeds.yaml"))
    with open(feeds) as a, open(os.path.join(SRC, "conf", "feeds.yaml")) as b:
        assert a.read() == b.read()
    upd = inst.at(os.path.join(inst.bindir, "minewall-update-feeds"))
    with open(upd) as f:
        text = f.read()
    # The defaults point at the installed files, not at a source tree next to the script.
    assert '"%s"' % os.path.join(inst.confdir, "feeds.yaml") in text
    assert '"%s"' % os.path.join(inst.sbindir, "minewall") in text
    assert '"build", "minewall"' not in text and '"conf", "feeds.yaml"' not in text
    # Run it as installed (its #! interpreter), on the installed feeds file (no feeds).
    p = run([upd, "-c", feeds, "--minewall",
             inst.at(os.path.join(inst.sbindir, "minewall")), "--dry-run"], timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_installed_unit_runs_the_installed_binary(inst):
    with open(inst.at(os.path.join(inst.unitdir, "minewall.service"))) as f:
        text = f.read()
    exec_start = [l for l in text.splitlines() if l.startswith("ExecStart=")]
    assert exec_start == ["ExecStart=%s -c %s" % (os.path.join(inst.sbindir, "minewall"),
                                                  os.path.join(inst.confdir, "minewall.yaml"))]
    with open(os.path.join(SRC, "conf", "minewall.service")) as f:
        src = f.read()
    assert "ExecStart=/usr/sbin/minewall -c /etc/minewall/minewall.yaml\n" in src
    # Apart from the paths, the installed unit is the shipped one.
    strip = [l for l in text.splitlines() if not l.startswith("ExecStart=")]
    assert strip == [l for l in src.splitlines() if not l.startswith("ExecStart=")]


def unit_settings():
    settings = {}
    with open(os.path.join(SRC, "conf", "minewall.service")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")):
                k, _, v = line.partition("=")
                settings.setdefault(k, []).append(v)
    return settings


def test_unit_sandboxing():
    s = unit_settings()
    want = {
        "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "SystemCallFilter": "@system-service", "SystemCallArchitectures": "native",
        "ReadWritePaths": "/var/lib/minewall /var/log/minewall",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes", "UMask": "0027",
        "LimitNOFILE": "65536", "WantedBy": "multi-user.target",
        "Documentation": "man:minewall(8)",
        "RuntimeDirectory": "minewall", "RuntimeDirectoryMode": "0755",
    }
    for k, v in want.items():
        assert s.get(k) == [v], "%s=%s, want %s" % (k, s.get(k), v)
    assert "AmbientCapabilities" not in s
    # The directories are created by tmpfiles.d owned by the account minewall drops to;
    # StateDirectory= would create them owned by root (the unit has no User=).
    assert "StateDirectory" not in s and "LogsDirectory" not in s


def test_systemd_analyze_verify(inst, tmp_path):
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify needs ExecStart's binary to exist and resolves Documentation=man: with man(1):
    # point both at the scratch install.
    binary = inst.at(os.path.join(inst.sbindir, "minewall"))
    with open(os.path.join(SRC, "conf", "minewall.service")) as f:
        text = f.read()
    unit = tmp_path / "minewall.service"
    unit.write_text(text.replace("/usr/sbin/minewall", binary))
    env = dict(os.environ, MANPATH=inst.at(inst.mandir), SYSTEMD_LOG_COLOR="0")
    p = run([sa, "verify", str(unit)], env=env, timeout=120)
    out = (p.stdout + p.stderr).strip()
    if p.returncode and re.search(r"Failed to (initialize manager|start up manager|allocate "
                                  r"manager)|Operation not permitted|No such file or "
                                  r"directory.*(/run|/sys)", out) and "minewall.service" not in out:
        pytest.skip("systemd-analyze verify cannot run in this environment: " + out[:300])
    assert p.returncode == 0 and out == "", "systemd-analyze verify:\n" + out


@pytest.mark.parametrize("page", [m[0] for m in MAN_PAGES])
def test_man_page_renders_without_warnings(page):
    path = os.path.join(SRC, page)
    groff = shutil.which("groff")
    if not groff:
        pytest.skip("groff is not installed (apt-get install groff-base)")
    p = run([groff, "-man", "-Tutf8", "-ww", "-z", path])
    assert p.returncode == 0 and p.stderr == "", "groff warnings in %s:\n%s" % (page, p.stderr)
    if not shutil.which("man"):
        pytest.skip("man is not installed (apt-get install man-db)")
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat", MAN_DISABLE_SECCOMP="1")
    p = run(["man", "--warnings=w", "-l", path], env=env)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "NAME" in p.stdout and "SYNOPSIS" in p.stdout and "EXIT STATUS" in p.stdout


def rendered(page):
    if not shutil.which("groff"):
        pytest.skip("groff is not installed (apt-get install groff-base)")
    p = run(["groff", "-man", "-Tascii", "-P-cbou", os.path.join(SRC, page)])
    assert p.returncode == 0
    return re.sub(r"\s+", " ", p.stdout)


def help_text(binary):
    if not binary or not os.path.exists(binary):
        pytest.skip("not built: %s" % binary)
    p = run([binary, "--help"])
    assert p.returncode == 0
    return p.stdout


def test_minewall_page_documents_every_option_and_key():
    text = rendered("doc/minewall.8")
    binary = os.environ.get("MINEWALL_BIN", os.path.join(BUILD, "minewall"))
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", help_text(binary)))
    assert "--check-config" in options
    for opt in sorted(options):
        assert opt in text, "minewall(8) does not document %s" % opt
    with open(os.path.join(SRC, "conf", "minewall.yaml")) as f:
        keys = set(re.findall(r"^#?([a-z][a-z-]*):", f.read(), re.M))
    # And every key the parser knows (the top_keys table of src/config.c).
    with open(os.path.join(SRC, "src", "config.c")) as f:
        table = re.search(r"top_keys\[\] = \{(.*?)\n\};", f.read(), re.S)
    assert table, "top_keys not found in src/config.c"
    keys |= set(re.findall(r'(?:\.path = |NUM\()"([a-z][a-z-]*)"', table.group(1)))
    assert {"listen", "lists", "journal"} <= keys
    for key in sorted(keys):
        assert key in text, "minewall(8) does not document the config key %s" % key
    for word in ("/etc/minewall/minewall.yaml", "SIGHUP", "SIGTERM", "MINEWALL_RESOLV_CONF",
                 "minewall-feed(1)", "EXAMPLES"):
        assert word in text
    for code in "0123":
        assert re.search(r"EXIT STATUS .*\b%s\b" % code, text)


def test_minewall_feed_page_documents_every_command_and_option():
    text = rendered("doc/minewall-feed.1")
    binary = os.environ.get("MINEWALL_FEED_BIN", os.path.join(BUILD, "minewall-feed"))
    usage = help_text(binary)
    commands = re.findall(r"^  ([a-z]+) ", usage, re.M)
    assert "push" in commands and "hits" in commands
    for cmd in commands:
        assert re.search(r"\b%s\b" % cmd, text), "minewall-feed(1) lacks the command %s" % cmd
    for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))):
        assert opt in text, "minewall-feed(1) does not document %s" % opt
    for key in ("minewall:lists", "minewall:list:{NAME}:meta", "minewall:list:{NAME}:entries",
                "minewall:list:{NAME}:log", "minewall:events:blocks", "MINEWALL_REDIS_URL"):
        assert key in text, key
    for code in ("0", "1", "2", "64"):
        assert re.search(r"EXIT STATUS .*\b%s\b" % code, text)


def test_minewall_ctl_page_documents_every_command_and_option():
    text = rendered("doc/minewall-ctl.8")
    binary = os.path.join(os.path.dirname(os.environ.get("MINEWALL_BIN",
                                                         os.path.join(BUILD, "minewall"))),
                          "minewall-ctl")
    usage = help_text(binary)
    commands = re.findall(r"^  ([a-z][a-z-]+) ", usage, re.M)
    assert "pause" in commands and "top-names" in commands and "explain" in commands
    for cmd in commands:
        assert re.search(r"\b%s\b" % cmd, text), "minewall-ctl(8) lacks the command %s" % cmd
    for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))):
        assert opt in text, "minewall-ctl(8) does not document %s" % opt
    for code in "012":
        assert re.search(r"EXIT STATUS .*\b%s\b" % code, text)


def test_account_and_directories(inst):
    """sysusers.d creates the account minewall drops to; tmpfiles.d its state and log
    directories, owned by it."""
    def installed(rel):
        return os.path.join(inst.destdir + inst.prefix, rel)
    with open(installed("lib/sysusers.d/minewall.conf")) as f:
        users = [l.split() for l in f if l.strip() and not l.startswith("#")]
    assert users and users[0][:2] == ["u", "minewall"]
    with open(installed("lib/tmpfiles.d/minewall.conf")) as f:
        dirs = [l.split() for l in f if l.strip() and not l.startswith("#")]
    assert ["d", "/var/lib/minewall", "0750", "minewall", "minewall", "-"] in dirs
    assert ["d", "/var/log/minewall", "0750", "minewall", "minewall", "-"] in dirs


def test_installed_binary_reads_the_installed_config_path(inst, tmp_path):
    """Issue 11 item 5/6: the built-in config path is the install's sysconfdir, where `meson
    install` put the config; without one, minewall says loudly that nothing is filtered."""
    binary = inst.at(os.path.join(inst.sbindir, "minewall"))
    want = os.path.join(inst.confdir, "minewall.yaml")
    p = run([binary, "--help"])
    assert p.returncode == 0
    assert "default %s " % want in p.stdout, p.stdout
    assert os.path.isfile(inst.at(want))
    # On the target system that file exists; here it is under the DESTDIR, so the binary
    # must warn that it runs with no config and no lists (unless a real install is there).
    if not os.path.exists(want):
        p = run([binary, "--explain", "pool.supportxmr.com"])
        assert "WARNING: no configuration file" in p.stderr and want in p.stderr
        assert "NO blocklists" in p.stderr
    # The installed config, pointed into the DESTDIR, decides the name the issue tried.
    with open(inst.at(want)) as f:
        text = f.read()
    conf = tmp_path / "minewall.yaml"
    conf.write_text(text.replace(inst.listdir + "/", inst.at(inst.listdir) + "/"))
    p = run([binary, "-c", str(conf), "--explain", "pool.supportxmr.com"])
    assert p.returncode == 0 and "blocked by list" in p.stdout, p.stdout + p.stderr
    assert inst.at(inst.listdir) in p.stdout
