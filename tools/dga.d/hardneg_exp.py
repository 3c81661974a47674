#!/usr/bin/python3
"""Experiment (not shipped): hard-negative mining aimed at the far benign tail, for the
shipped linear model (tools/dga-train's trainer and features).

    tools/dga.d/hardneg_exp.py [--top 0.01] [--factor 8]

The training benign registered domains are scored by 5-fold cross-fitting inside the
training split (each by a model that did not see it: in-sample the hashed model memorises
its training names, so in-sample scores find no hard negative); the top --top share of them
(the benign names that look most generated to a model that has not seen them) are weighted
--factor times in a final training on the whole training split, evaluated as tools/dga-train
evaluates (held-out split, thresholds on the held-out benign).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analyse as A  # noqa: E402
from gbdt_exp import fold_ids  # noqa: E402

T = A.T
KINDS = {"char", "hex", "dict", "other"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=float, default=0.01)
    ap.add_argument("--factor", type=float, default=8.0)
    a = ap.parse_args()
    psl = T.load_psl()
    kinds, benign, families = T.load_data(T.DEFAULT_DATA, psl)
    train_b, test_b, fams = T.make_split(kinds, benign, families)
    fb = fold_ids(train_b, 5, "b")
    oof = {}
    for i in range(5):
        bi = [d for d in train_b if fb[d] != i]
        m = T.train(bi, fams, KINDS, T.EPOCHS, log=open(os.devnull, "w"))
        for d in train_b:
            if fb[d] == i:
                oof[d] = m.score(d)
        print("  cross-fit %d/5" % (i + 1), file=sys.stderr)
    hard = sorted(train_b, key=lambda d: -oof[d])[:int(len(train_b) * a.top)]
    print("hard negatives: %d, e.g. %s" % (len(hard), ", ".join("%s.%s" % d for d in hard[:10])))
    m = T.train(train_b, fams, KINDS, T.EPOCHS, log=open(os.devnull, "w"),
                mult={d: a.factor for d in hard})
    thr = A.thresholds([m.score(d) for d in test_b])
    r = A.rates(thr, fams, m.score)
    top = sorted(test_b, key=lambda d: -m.score(d))[:8]
    print("held-out (top %.3f x %.0f): %s" % (a.top, a.factor, A.fmt_rates(r)))
    print("  top benign: " + ", ".join("%s.%s" % d for d in top))


if __name__ == "__main__":
    main()
