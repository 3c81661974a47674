#!/usr/bin/python3
"""Write a large RPZ zone for load measurements: gen-rpz.py N OUT [--hard].

The plain mix is what policy feeds ship: CNAME . (50%), CNAME *. (20%), "*." wildcards (20%)
and rpz-ip triggers (10%), one line each. --hard puts in their last fifth what rpz.c leaves to
ldns or holds until the end of the zone: A local data (10%), records split by parentheses
(5%) and TXT records with quoted strings (5%). Deterministic (fixed seed).

    tests/tools/gen-rpz.py 1000000 /tmp/rpz1m.zone
    /usr/bin/time -f '%e s %M KB' build/minewall --check-list /tmp/rpz1m.zone
"""
import random
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n, hard = int(sys.argv[1]), "--hard" in sys.argv[3:]
    rnd = random.Random(15)
    with open(sys.argv[2], "w") as out:
        out.write("$TTL 300\n$ORIGIN rpz.local.\n"
                  "@ SOA ns.rpz.local. hostmaster.rpz.local. ( 1 3600\n  600 86400 60 )\n"
                  "@ NS ns.rpz.local.\n")
        for i in range(n):
            r = i % 20
            d = "d%x-%d.example%d.com" % (rnd.getrandbits(32), i, i % 97)
            ip = "32.%d.%d.%d.%d.rpz-ip" % (i & 255, (i >> 8) & 255, (i >> 16) & 255,
                                             10 + (i >> 24))
            if hard and r >= 16:
                if r < 18:
                    out.write("%s A 10.%d.%d.%d\n" % (d, (i >> 16) & 255, (i >> 8) & 255,
                                                      i & 255))
                elif r == 18:
                    out.write("%s ( CNAME\n   . ) ; split\n" % d)
                else:
                    out.write("%s TXT \"blocked ; reason %d\"\n" % (d, i))
            elif r < 10:
                out.write("%s CNAME .\n" % d)
            elif r < 14:
                out.write("%s CNAME *.\n" % d)
            elif r < 18:
                out.write("*.%s CNAME .\n" % d)
            else:
                out.write("%s CNAME .\n" % ip)


if __name__ == "__main__":
    main()
