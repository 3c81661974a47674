"""Issue 14, generated-domain (DGA) scoring: the shipped conf/dga.model scored by the C
implementation (build/dgascore, src/dga.c) over the held-out split of ../shared/data/dga and
the benign lists (registered domains: label and public suffix). tools/dga-train --eval-only recomputes the split, checks that every C score
equals the training script's (so the figures it prints, and the README's, are the C
scorer's), and the false positives at each level stay within the level's bound."""

import json
import os
import re
import subprocess

import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import BIN, SRCDIR, blocks, ede, free_port, run_minewall, wait_until
from test_ops import val, wait_metric

DATA = os.path.join(SRCDIR, "..", "shared", "data")
SCORER = os.path.join(os.path.dirname(BIN), "dgascore")
TRAIN = os.path.join(SRCDIR, "tools", "dga-train")
MODEL = os.path.join(SRCDIR, "conf", "dga.model")


def test_c_scorer_equals_training_script_on_held_out_split():
    if not os.path.isdir(os.path.join(DATA, "dga")):
        pytest.skip("shared data not present: %s" % DATA)
    if not os.path.exists(SCORER):
        pytest.skip("no dgascore next to %s" % BIN)
    p = subprocess.run(["/usr/bin/python3", TRAIN, "--eval-only", "--model", MODEL, "--data",
                        DATA, "--scorer", SCORER, "--json"],
                       capture_output=True, text=True, timeout=50)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    fams = res["families"]
    labels = res["benign"]["labels"] + sum(f["labels"] for f in fams.values())
    assert res["c_scorer_agrees"] == labels > 20000
    for level, per in (("LOW", 100), ("MEDIUM", 1000), ("HIGH", 10000)):
        b = res["benign"][level]
        assert b["fp"] <= b["allowed"] == res["benign"]["labels"] // per
    # The figures the README states for the shipped model, format version 3 (char 38.0% HIGH,
    # 67.7% MEDIUM, 92.5% LOW; hex 64.6%, 96.0%, 99.8%), as floors a little under them: a
    # retrained model must not fall below them unnoticed (version 2: char 20.7%, 63.9%, 89.8%).
    char = res["kinds"]["char"]
    assert char["names"] > 12000
    assert char["HIGH"] / char["names"] >= 0.37
    assert char["MEDIUM"] / char["names"] >= 0.67
    assert char["LOW"] / char["names"] >= 0.92
    hexk = res["kinds"]["hex"]
    assert hexk["HIGH"] / hexk["names"] >= 0.64
    assert hexk["MEDIUM"] / hexk["names"] >= 0.95
    assert hexk["LOW"] / hexk["names"] >= 0.99
    # The suffix is a feature: the families under one rare suffix are caught at MEDIUM.
    for fam in ("symmi", "pushdo"):
        f = fams[fam]
        assert f["MEDIUM"] / f["names"] >= 0.75, (fam, f)


def test_feasibility_analysis_reproduces_the_readme():
    """tools/dga.d/analyse.py --skip-train: the benign twins of char-family output (README,
    "Is the HIGH target reachable") are the same on every run, and removing them from the
    held-out benign only lowers the shipped model's HIGH threshold."""
    if not os.path.isdir(os.path.join(DATA, "dga")):
        pytest.skip("shared data not present: %s" % DATA)
    p = subprocess.run(["/usr/bin/python3", os.path.join(SRCDIR, "tools", "dga.d", "analyse.py"),
                        "--skip-train", "--json", "--data", DATA, "--model", MODEL],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["benign"] == 57398 and res["held_out_benign"] == 17159
    assert res["indistinguishable_any"] == {"all": 2775, "held_out": 798}
    ind = res["indistinguishable"]
    assert "kbz0pwvxmv.com" in ind["reconyc"]["names"]
    assert ind["zloader"]["all"] == ind["symmi"]["all"] == 0
    shipped = res["shipped"]
    without = shipped["without_indistinguishable"]
    assert without["thresholds"][2] <= shipped["thresholds"][2]
    assert without["rates"]["char"]["HIGH"] >= shipped["rates"]["char"]["HIGH"]
    # The shipped model's thresholds are the ones this recomputes from held-out benign.
    assert shipped["rates"]["char"]["HIGH"] >= 0.20


def test_dgascore_refuses_a_corrupt_model(tmp_path):
    if not os.path.exists(SCORER):
        pytest.skip("no dgascore next to %s" % BIN)
    bad = tmp_path / "dga.model"
    data = bytearray(open(MODEL, "rb").read())
    data[1000] ^= 0x40
    bad.write_bytes(bytes(data))
    p = subprocess.run([SCORER, str(bad)], input="example\n", capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1
    assert "%s: bad DGA model: checksum mismatch" % bad in p.stderr
    assert p.stdout == ""


# ---- the detector on live queries (detect.dga) ----

EDE_FILTERED = 17
EDE_TEXT = "minewall: detect/dga"
BENIGN = ["google.com", "wikipedia.com", "example.com", "amazonaws.com", "github.com",
          "microsoft.com", "bbc.com"]
# Generated labels (zloader, ranbyus, sisron, newgoz generators), under .com; the model decides
# which are HIGH: the test takes the first that is, as dgascore (the same C code) scores them.
CANDIDATES = ["sqbfivaaaxbvcdptmhbv", "kmgavokjtrjlahxjgwsb", "mdeymtiymgq", "bmtmmdiymq",
              "ndiwmtiymge", "xyqpfrdkvbsbtxhjfalr", "ulnydqwoyxyhcsvpghtkxwrrwx",
              "gkpsyaqyafhefiljyfbrkxwlq", "tnjxvqkrmebrhqyotdmhxncdas"]


def dgascore(labels):
    p = subprocess.run([SCORER, MODEL], input="\n".join(labels) + "\n", capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return [line.split("\t")[1] for line in p.stdout.splitlines()]


@pytest.fixture
def names():
    if not os.path.exists(SCORER):
        pytest.skip("no dgascore next to %s" % BIN)
    levels = dgascore([c + ".com" for c in CANDIDATES])
    high = [c for c, lv in zip(CANDIDATES, levels) if lv == "HIGH"]
    assert len(high) >= 2, list(zip(CANDIDATES, levels))
    assert set(dgascore(BENIGN)) <= {"NONE", "LOW"}, list(zip(BENIGN, dgascore(BENIGN)))
    return high


@pytest.fixture
def start(make_minewall, make_upstream, tmp_path):
    up = make_upstream({}, origin="com.")

    def go(dga, names, **extra):
        for n in names + BENIGN:
            for host in (n, "www." + n):
                up.set_record(host, "A", 300, ["192.0.2.7"])
        config = {"log": {"level": "debug", "blocks": str(tmp_path / "blocks.jsonl")},
                  "metrics": {"listen": "127.0.0.1:%d" % free_port()},
                  "detect": {"dga": dga}}
        config.update(extra)
        return make_minewall([up], config=config), up
    return go


def mport(m):
    return int(m.config["metrics"]["listen"].rsplit(":", 1)[1])


def test_dga_log_answers_and_records(start, names, tmp_path):
    """action log (the default): a generated name is answered and recorded once in the block
    log and the metrics; a second query of it is a cache hit (no check, no record), a name
    under the same registered domain is checked through the memo (not scored again); benign
    names are not recorded."""
    dga = names[0] + ".com"
    m, up = start({}, [names[0] + ".com"])
    for b in BENIGN:
        r = m.query(b)
        assert r.rcode() == dns.rcode.NOERROR and r.answer and ede(r) is None, r
    r = m.query(dga)
    assert r.rcode() == dns.rcode.NOERROR and r.answer and ede(r) is None, r
    path = str(tmp_path / "blocks.jsonl")
    got = wait_until(lambda: blocks(path), 5, what="a block line")
    assert len(got) == 1, got
    e = got[0]
    assert (e["qname"].rstrip("."), e["list"], e["category"], e["rule"], e["action"],
            e["where"]) == (dga, "dga", "detect", "dga:high", "log", "qname"), e
    assert re.fullmatch(re.escape(dga) + r" score=-?\d+", e["matched"]), e
    s = wait_metric(mport(m), lambda s: val(s, "minewall_detections_total", detector="dga",
                                            level="high") == 1, "1 dga detection")
    scored = val(s, "minewall_dga_scored_total")
    assert scored == len(BENIGN) + 1, s
    # Cache hit: answered without a check.
    r = m.query(dga)
    assert r.answer and up.count(dga) == 1
    # Another name of the same registered domain: a miss, checked through the memo.
    r = m.query("www." + dga)
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    s = wait_metric(mport(m), lambda s: val(s, "minewall_dga_memo_hits_total") == 1,
                    "a memo hit")
    assert val(s, "minewall_dga_scored_total") == scored
    assert val(s, "minewall_detections_total", detector="dga", level="high") == 2
    assert val(s, "minewall_blocks_total", list="dga", category="detect", action="log") == 2
    assert len(wait_until(lambda: len(blocks(path)) == 2 and blocks(path), 5,
                          what="2 block lines")) == 2


def test_dga_block_answers_with_ede(start, names, tmp_path):
    """A block action: the generated name is answered NXDOMAIN with EDE 17 and never asked
    upstream, every time; benign names resolve."""
    dga = names[1] + ".com"
    m, up = start({"action": "nxdomain", "level": "high"}, [dga])
    for _ in range(3):
        r = m.query(dga)
        assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer, r
        assert ede(r) == (EDE_FILTERED, EDE_TEXT), r
    r = m.query("www." + dga, "AAAA")
    assert r.rcode() == dns.rcode.NXDOMAIN and ede(r) == (EDE_FILTERED, EDE_TEXT), r
    assert up.count(dga) == 0 and up.count("www." + dga) == 0
    for b in BENIGN:
        r = m.query(b)
        assert r.rcode() == dns.rcode.NOERROR and r.answer and ede(r) is None, r
    path = str(tmp_path / "blocks.jsonl")
    got = wait_until(lambda: len(blocks(path)) >= 2 and blocks(path), 5, what="block lines")
    assert {(e["rule"], e["action"]) for e in got} == {("dga:high", "nxdomain")}, got
    assert {e["qname"].rstrip(".") for e in got} == {dga, "www." + dga}, got
    s = wait_metric(mport(m), lambda s: val(s, "minewall_detections_total", detector="dga",
                                            level="high") == 4, "4 dga detections")
    # One label scored for the four queries of the generated domain, the rest from the memo.
    assert val(s, "minewall_dga_memo_hits_total") == 3, s
    assert val(s, "minewall_dga_scored_total") == 1 + len(BENIGN), s


def test_dga_detection_in_redis_blocks_stream(start, names, redis_server, tmp_path):
    """A detection is an event of the Redis blocks stream, as every other block."""
    rs = redis_server()
    dga = names[0] + ".com"
    m, up = start({"action": "refused"}, [dga],
                  redis={"url": rs.url, "lists": [], "state-dir": str(tmp_path / "state")})
    r = m.query(dga)
    assert r.rcode() == dns.rcode.REFUSED and ede(r) == (EDE_FILTERED, EDE_TEXT), r
    evs = wait_until(lambda: [f for _, f in rs.client.xrange("minewall:events:blocks")], 5,
                     what="a block event in Redis")
    e = evs[0]
    assert (e["qname"].rstrip("."), e["list"], e["category"], e["rule"], e["action"],
            e["where"]) == (dga, "dga", "detect", "dga:high", "refused", "qname"), e
    assert re.fullmatch(re.escape(dga) + r" score=-?\d+", e["matched"]), e


def test_dga_group_action(start, names, tmp_path):
    """A group's `actions:` overrides the detector's action for its clients (list name
    `dga`), also for a name the default group already resolved and cached (the entry, checked
    under the default's policy, is checked again under the group's)."""
    dga = names[0] + ".com"
    m, up = start({}, [dga], groups={"strict": {"clients": ["127.0.0.2/32"],
                                                "actions": {"dga": "nxdomain"}}})
    r = m.query(dga)  # from 127.0.0.1: the default group, action log
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    q = dns.message.make_query(dga, "A", use_edns=0)
    for _ in range(2):
        r = dns.query.udp(q, m.addr[0], port=m.addr[1], source="127.0.0.2", timeout=2)
        assert r.rcode() == dns.rcode.NXDOMAIN and ede(r) == (EDE_FILTERED, EDE_TEXT), r
    assert up.count(dga) == 1
    path = str(tmp_path / "blocks.jsonl")
    got = wait_until(lambda: len(blocks(path)) >= 2 and blocks(path), 5, what="block lines")
    assert [(e["action"], e.get("group")) for e in got][:2] == [("log", "default"),
                                                                ("nxdomain", "strict")], got


def test_dga_config_errors(tmp_path):
    path = str(tmp_path / "bad.yaml")
    with open(path, "w") as f:
        f.write("listen: [127.0.0.1:%d]\n"      # 1
                "detect:\n"                      # 2
                "  dga:\n"                       # 3
                "    level: extreme\n"           # 4
                "    action: block\n"            # 5
                "    cache-size: 3\n"            # 6
                "    model: missing.model\n"     # 7
                % free_port())
    res = run_minewall(["-c", path, "--check-config"])
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    for line, text in ((4, "unknown level 'extreme'"), (5, "unknown action 'block'"),
                       (6, "cache-size"),
                       (7, "%s: cannot read DGA model" % (tmp_path / "missing.model"))):
        assert "%s:%d: " % (path, line) in out and text in out, (line, text, out)
