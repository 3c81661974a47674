"""The shipped lists in blocklists/: every line is a valid entry of its list's type, no
mining/c2 entry or pattern blocks a popular benign name, and the lists block the
well-known names of the pools and cryptojacking families they exist for.

Pure Python (Debian's python3 and pytest only): the tests read the list files and apply
minewall's matching rules themselves. A domain entry blocks itself and every name below
it, the most specific rule wins, an allowlisted name is never tested against patterns, and
a pattern is a shell glob over the whole lowercase name (fnmatch without flags).

The false-positive tests need the shared test data (Tranco top 50k, Cisco Umbrella top
100k) in ../shared/data beside the repository; they are skipped only when that directory
is absent. MINEWALL_SRCDIR names the repository root (default: two directories up).
"""

import fnmatch
import ipaddress
import os
import re

import pytest

SRCDIR = os.environ.get("MINEWALL_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
LISTS = os.path.join(SRCDIR, "blocklists")
DATA = os.path.abspath(os.path.join(SRCDIR, "..", "shared", "data"))

DOMAIN_LISTS = ["mining-pools.txt", "c2.txt", "doh.txt", "doh-canary.txt", "allow.txt"]
BLOCK_LISTS = ["mining-pools.txt", "c2.txt"]  # on by default, checked for false positives
IP_LISTS = ["c2-ips.txt"]
PATTERN_LISTS = ["patterns.txt"]
ALL_LISTS = DOMAIN_LISTS + IP_LISTS + PATTERN_LISTS

# Benign names that a shipped mining/c2 entry or pattern may block, each with the reason.
# Empty on purpose: for pools whose web site is popular the lists name the stratum hosts,
# not the registrable domain. An entry here needs a written reason, and a better fix is
# almost always a more specific list entry.
FALSE_POSITIVE_REASONS = {}

LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
TLD_RE = re.compile(r"^(?:[a-z][a-z0-9-]*[a-z0-9]|[a-z]|xn--[a-z0-9-]+)$")
PATTERN_RE = re.compile(r"^[a-z0-9.\-_*?\[\]!^]+$")


def path(name):
    return os.path.join(LISTS, name)


def entries(name):
    """(line number, entry) of every rule line: '#' comments and blank lines dropped."""
    out = []
    with open(path(name), encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if line:
                out.append((n, line))
    return out


def values(name):
    return [e for _, e in entries(name)]


def is_domain(s):
    if len(s) > 253 or s != s.lower() or s.endswith("."):
        return False
    labels = s.split(".")
    if len(labels) < 2:
        return False
    return all(LABEL_RE.match(lab) for lab in labels) and bool(TLD_RE.match(labels[-1]))


def suffixes(name):
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def glob_regex(patterns):
    """One compiled regex equivalent to fnmatchcase against any of the patterns."""
    return re.compile("|".join("(?:%s)" % fnmatch.translate(p) for p in patterns))


class Matcher:
    """minewall's decision for a name over the shipped default-on lists."""

    def __init__(self, block_lists, pattern_lists, allow_list="allow.txt"):
        self.block = set()
        for name in block_lists:
            self.block.update(values(name))
        self.allow = set(values(allow_list)) if allow_list else set()
        self.patterns = []
        for name in pattern_lists:
            self.patterns.extend(values(name))
        self.pattern_re = glob_regex(self.patterns) if self.patterns else None

    def blocked(self, name):
        name = name.lower().rstrip(".")
        for s in suffixes(name):  # most specific first
            if s in self.allow:
                return False
            if s in self.block:
                return True
        return bool(self.pattern_re and self.pattern_re.match(name))


def benign_names():
    if not os.path.isdir(DATA):
        pytest.skip("shared test data not found at %s (needed for the false-positive check)"
                    % DATA)
    names = set()
    with open(os.path.join(DATA, "benign", "tranco-top-50k.csv"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if "," in line:
                names.add(line.split(",", 1)[1].strip().lower().rstrip("."))
    with open(os.path.join(DATA, "benign", "umbrella-top-100k.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip().lower().rstrip(".")
            if line and not line.startswith("#"):
                names.add(line)
    assert len(names) > 100000, "benign data looks truncated"
    return names


# ---- (a) every line is a valid entry of its list's type ----

@pytest.mark.parametrize("name", ALL_LISTS)
def test_list_exists_with_header(name):
    with open(path(name), encoding="utf-8") as f:
        text = f.read()
    assert text.endswith("\n"), "%s: no newline at end of file" % name
    if name != "doh-canary.txt":
        assert re.search(r"^# category: \S+\s+type: \S+", text, re.M), \
            "%s: header must state category and type" % name


@pytest.mark.parametrize("name", DOMAIN_LISTS)
def test_domain_entries_valid(name):
    bad = ["%s:%d: %r" % (name, n, e) for n, e in entries(name) if not is_domain(e)]
    assert not bad, "invalid domain entries:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", DOMAIN_LISTS + IP_LISTS + PATTERN_LISTS)
def test_no_duplicates(name):
    seen, dups = set(), []
    for n, e in entries(name):
        key = e.lower()
        if key in seen:
            dups.append("%s:%d: %s" % (name, n, e))
        seen.add(key)
    assert not dups, "duplicate entries:\n" + "\n".join(dups)


@pytest.mark.parametrize("name", BLOCK_LISTS + ["allow.txt"])
def test_no_entry_shadowed_by_a_parent_in_the_same_list(name):
    vals = set(values(name))
    shadowed = [e for e in vals if any(s in vals for s in suffixes(e)[1:])]
    assert not shadowed, "%s: entries already covered by a parent entry: %s" % (name, shadowed)


@pytest.mark.parametrize("name", IP_LISTS)
def test_ip_entries_valid(name):
    bad = []
    for n, e in entries(name):
        try:
            net = ipaddress.ip_network(e, strict=True)
        except ValueError as err:
            bad.append("%s:%d: %r (%s)" % (name, n, e, err))
            continue
        if not net.is_global:
            bad.append("%s:%d: %r is not a public address" % (name, n, e))
        if net.num_addresses > 256:
            bad.append("%s:%d: %r is wider than a /24" % (name, n, e))
    assert not bad, "invalid ip entries:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", PATTERN_LISTS)
def test_pattern_entries_valid(name):
    bad = []
    for n, p in entries(name):
        why = None
        if not PATTERN_RE.match(p):
            why = "character outside a-z 0-9 . - _ * ? [ ] ! ^"
        elif p.count("[") != p.count("]"):
            why = "unbalanced bracket set"
        elif not any(c in "*?[" for c in p):
            why = "no wildcard: belongs in a domain list"
        elif p.startswith("*.") and not any(c in "*?[" for c in p[2:]):
            why = "'*.name' is a domain entry, not a pattern"
        elif len(re.sub(r"\[[^\]]*\]|[*?]", "", p).replace(".", "")) < 6:
            why = "fewer than 6 literal characters: too loose"
        if why:
            bad.append("%s:%d: %r: %s" % (name, n, p, why))
        else:
            re.compile(fnmatch.translate(p))
    assert not bad, "invalid patterns:\n" + "\n".join(bad)


def test_canary_file_is_the_one_canary():
    with open(path("doh-canary.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines == ["use-application-dns.net"]


@pytest.mark.parametrize("name", ["mining-pools.txt", "c2.txt", "c2-ips.txt", "patterns.txt"])
def test_every_group_names_its_source(name):
    """Each group of entries sits under a comment naming the public source. Groups are
    separated by '# ---' section headers (domain and ip lists) or blank lines (patterns)."""
    missing = []
    has_source = False
    with open(path(name), encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            new_group = line.startswith("# ---") if name != "patterns.txt" else not line
            if new_group:
                has_source = False
            if line.startswith("#") and "source:" in line:
                has_source = True
            if line and not line.startswith("#") and not has_source:
                missing.append("%s:%d: %s" % (name, n, line))
    assert not missing, "entries without a '# source:' comment in their group:\n" + \
        "\n".join(missing)


def test_allowlist_does_not_disable_shipped_entries():
    allow = set(values("allow.txt"))
    dead = []
    for name in BLOCK_LISTS + ["doh.txt", "doh-canary.txt"]:
        for e in values(name):
            if any(s in allow for s in suffixes(e)[1:]) or e in allow:
                dead.append("%s: %s" % (name, e))
    assert not dead, "block entries under an allow entry (never effective):\n" + "\n".join(dead)


# ---- (b) zero false positives against popular benign names ----

def test_no_false_positives_domains():
    benign = benign_names()
    index = {}
    for n in benign:
        for s in suffixes(n):
            index.setdefault(s, []).append(n)
    hits = []
    for name in BLOCK_LISTS:
        for n, e in entries(name):
            for b in index.get(e, []):
                if b not in FALSE_POSITIVE_REASONS:
                    hits.append("%s:%d: %s blocks benign %s" % (name, n, e, b))
    assert not hits, "%d false positives:\n%s" % (len(hits), "\n".join(sorted(hits)[:50]))


def test_no_false_positives_patterns():
    benign = benign_names()
    pats = [(name, n, p) for name in PATTERN_LISTS for n, p in entries(name)]
    any_rx = glob_regex([p for _, _, p in pats])
    candidates = [b for b in benign if any_rx.match(b) and b not in FALSE_POSITIVE_REASONS]
    hits = []
    for name, n, p in pats:  # attribute each benign match to its pattern
        rx = re.compile(fnmatch.translate(p))
        hits.extend("%s:%d: %s matches benign %s" % (name, n, p, b)
                    for b in candidates if rx.match(b))
    assert not hits, "%d false positives:\n%s" % (len(hits), "\n".join(sorted(hits)[:50]))


def test_reasons_are_still_needed():
    """A reason for a benign name that no list blocks any more is stale."""
    if not FALSE_POSITIVE_REASONS:
        return
    m = Matcher(BLOCK_LISTS, PATTERN_LISTS, allow_list=None)
    stale = [n for n in FALSE_POSITIVE_REASONS if not m.blocked(n)]
    assert not stale, "stale false-positive reasons: %s" % stale


# ---- (c) the lists are substantial and block the names they exist for ----

MIN_SIZES = {
    "mining-pools.txt": 540,
    "c2.txt": 155,
    "c2-ips.txt": 20,
    "patterns.txt": 20,
    "doh.txt": 40,
    "allow.txt": 20,
}


@pytest.mark.parametrize("name,minimum", sorted(MIN_SIZES.items()))
def test_list_size(name, minimum):
    assert len(entries(name)) >= minimum


# Well-known endpoints from the pools' own documentation and from public reporting on
# the cryptojacking families (Trend Micro, Cado Security, Lacework, Sophos, Unit 42,
# Netlab 360, Talos, CrowdStrike, Aqua). Names below a listed entry on purpose, so the
# test checks the suffix rule, not string equality with the lists.
MUST_BLOCK = [
    # pools: stratum hosts of the pools cryptojackers use most
    "pool.supportxmr.com",
    "gulf.moneroocean.stream",
    "xmr-eu1.nanopool.org",
    "xmr-us-east1.nanopool.org",
    "rvn-asia1.nanopool.org",          # pattern only
    "pool.hashvault.pro",
    "auto.c3pool.org",
    "mine.c3pool.com",
    "xmr.2miners.com",
    "de.monero.herominers.com",
    "rx.unmineable.com",
    "randomxmonero.auto.nicehash.com",
    "randomxmonero.eu-west.nicehash.com",
    "xmr.f2pool.com",
    "pool.minexmr.com",
    "xmr.pool.minergate.com",
    "mine.xmrpool.net",
    "xmrpool.eu",
    "xmr-eu.dwarfpool.com",
    "mini.p2pool.observer",
    "mine.zergpool.com",
    "donate.v2.xmrig.com",
    "donate.ssl.xmrig.com",
    "us-east01.miningrigrentals.com",
    # browser miners
    "coinhive.com",
    "authedmine.com",
    "www.crypto-loot.com",
    # TeamTNT
    "teamtnt.red",
    "the.borg.wtf",
    "irc.borg.wtf",
    "chimaera.cc",
    "silentbob.anondns.net",
    # 8220 Gang
    "b.oracleservice.top",
    "bash.givemexyz.in",
    "c4k-rx0.pwndns.pw",
    # WatchDog, Kiss-a-dog
    "oracle.zzhreceive.top",
    "kiss.a-dog.top",
    # LemonDuck
    "t.amynx.com",
    "d.ackng.com",
    "lplp.ackng.com",
    "t.zer9g.com",
    # Rocke
    "lsd.systemten.org",
    # MyKings / Smominru
    "js.mykings.top",
    "xmr.5b6b7b.ru",
    # Prometei, Tor2Mine, Diicot
    "p1.feefreepool.net",
    "eu.minerpool.pw",
    "mexalz.us",
]

# Popular names that must stay resolvable: pool web sites (the lists name their stratum
# hosts instead), NTP, code hosting, and names that look like miners but are not.
MUST_PASS = [
    "github.com",
    "raw.githubusercontent.com",
    "pool.ntp.org",
    "2.debian.pool.ntp.org",
    "0.amazon.pool.ntp.org",
    "dl-cdn.alpinelinux.org",
    "minerva.devices.a2z.com",
    "siriusxmradioinc.us-6.evergage.com",
    "adminer.org",
    "mining.com",
    "nanopool.org",
    "supportxmr.com",
    "moneroocean.stream",
    "xmrig.com",
    "getmonero.org",
    "example.com",
]


def test_known_actor_names_blocked():
    m = Matcher(BLOCK_LISTS, PATTERN_LISTS)
    missed = [n for n in MUST_BLOCK if not m.blocked(n)]
    assert not missed, "not blocked: %s" % missed


def test_benign_names_pass():
    m = Matcher(BLOCK_LISTS, PATTERN_LISTS)
    blocked = [n for n in MUST_PASS if m.blocked(n)]
    assert not blocked, "wrongly blocked: %s" % blocked


def test_doh_list_covers_major_resolvers():
    m = Matcher(["doh.txt"], [], allow_list="allow.txt")
    names = ["dns.google", "cloudflare-dns.com", "mozilla.cloudflare-dns.com",
             "chrome.cloudflare-dns.com", "dns.quad9.net", "doh.opendns.com",
             "dns.adguard-dns.com", "doh.cleanbrowsing.org", "dns.nextdns.io",
             "anycast.dns.nextdns.io", "doh.mullvad.net", "dns.alidns.com"]
    missed = [n for n in names if not m.blocked(n)]
    assert not missed, "DoH endpoints not listed: %s" % missed
    # resolver endpoints only, never the providers' other services
    for n in ["google.com", "www.cloudflare.com", "quad9.net", "opendns.com", "nextdns.io"]:
        assert not m.blocked(n), n
