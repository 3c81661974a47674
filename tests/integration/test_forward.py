"""forward-zones: names under a zone go to that zone's upstreams, the longest suffix wins."""

import dns.rcode

from conftest import addresses


def test_forward_zones_longest_suffix(make_upstream, make_minewall):
    default = make_upstream()
    corp = make_upstream(origin="corp.test.", records={"www.corp.test": {"A": ["10.1.1.1"]}})
    deep = make_upstream(origin="deep.corp.test.",
                         records={"db.deep.corp.test": {"A": ["10.2.2.2"]}})
    m = make_minewall([default], config={"forward-zones": {
        "corp.test": [corp.addr], "deep.corp.test": [deep.addr]}})

    assert addresses(m.query("www.corp.test")) == ["10.1.1.1"]
    assert addresses(m.query("db.deep.corp.test")) == ["10.2.2.2"]
    assert addresses(m.query("example.test")) == ["192.0.2.1"]
    assert m.query("nope.corp.test").rcode() == dns.rcode.NXDOMAIN
    assert m.query("nope.deep.corp.test").rcode() == dns.rcode.NXDOMAIN
    # The zone apex itself belongs to the zone.
    assert m.query("corp.test", "SOA").answer[0].name.to_text() == "corp.test."

    asked = {"www.corp.test.": corp, "nope.corp.test.": corp, "corp.test.": corp,
             "db.deep.corp.test.": deep, "nope.deep.corp.test.": deep,
             "example.test.": default}
    for fake in (default, corp, deep):
        got = sorted(q.name for q in fake.received() if q.name in asked)
        assert got == sorted(n for n, f in asked.items() if f is fake), fake.origin


def test_zone_match_is_by_label(make_upstream, make_minewall):
    default = make_upstream(records={"notcorp.test": {"A": ["192.0.2.50"]}})
    corp = make_upstream(origin="corp.test.")
    m = make_minewall([default], config={"forward-zones": {"corp.test": [corp.addr]}})
    # "notcorp.test" ends with the text "corp.test" but is not under the zone.
    assert addresses(m.query("notcorp.test")) == ["192.0.2.50"]
    assert corp.count("notcorp.test") == 0
    # Zone names match case-insensitively.
    assert m.query("WWW.Corp.TEST").rcode() == dns.rcode.NXDOMAIN
    assert corp.count("www.corp.test") == 1
