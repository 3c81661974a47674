#!/usr/bin/python3
"""Experiment driver for the format version 3 model (tools/dga-train's train3: boosted trees
over integer features, scored as src/dga.c scores them): held-out figures as tools/dga-train
prints them, and with --kfold thresholds from k-fold out-of-fold benign scores as
tools/dga.d/analyse.py item 5.

    tools/dga.d/trees_exp.py [--trees 40] [--depth 5] [--lr 0.3] [--kfold 5]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analyse as A  # noqa: E402

T = A.T
KINDS = {"char", "hex", "dict", "other"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=T.TREES)
    ap.add_argument("--depth", type=int, default=T.DEPTH)
    ap.add_argument("--lr", type=float, default=T.TREE_LR)
    ap.add_argument("--neg-weight", type=float, default=T.NEG_WEIGHT)
    ap.add_argument("--kfold", type=int, default=0)
    ap.add_argument("--unused", default="", help="features not given to the trees: 9,13")
    ap.add_argument("--sfx-prior", type=float, default=T.SFX_PRIOR,
                    help="pseudo-count per class of the suffix table")
    a = ap.parse_args()
    T.SFX_PRIOR = a.sfx_prior
    T.UNUSED = tuple(int(x) for x in a.unused.split(",") if x)
    psl = T.load_psl()
    kinds, benign, families = T.load_data(T.DEFAULT_DATA, psl)
    train_b, test_b, fams = T.make_split(kinds, benign, families)

    def fit(tr, fm):
        m = T.train3(tr, fm, KINDS, a.trees, a.depth, a.lr, a.neg_weight,
                     log=open(os.devnull, "w"))
        cache = {}

        def score(d):
            if d not in cache:
                cache[d] = m.score(d)
            return cache[d]
        return score

    t0 = time.time()
    score = fit(train_b, fams)
    thr = A.thresholds([score(d) for d in test_b])
    r = A.rates(thr, fams, score)
    top = sorted(test_b, key=lambda d: -score(d))[:8]
    print("sfx prior %g unused %s: " % (a.sfx_prior, a.unused), end="")
    print("%d x %d lr %g: held-out: %s  (%.0fs)" % (a.trees, a.depth, a.lr, A.fmt_rates(r),
                                                   time.time() - t0), flush=True)
    print("  top benign: " + ", ".join("%s.%s" % d for d in top), flush=True)
    if a.kfold:
        allb = sorted(set(train_b) | set(test_b))
        oof, ds = A.kfold(fit, allb, fams, a.kfold)
        thr, r, top = A.kfold_rates(oof, ds, fams)
        print("sfx prior %g unused %s: " % (a.sfx_prior, a.unused), end="")
        print("%d x %d lr %g: %d-fold: %s" % (a.trees, a.depth, a.lr, a.kfold, A.fmt_rates(r)),
              flush=True)
        print("  top benign: " + ", ".join("%s.%s" % d for d in top), flush=True)


if __name__ == "__main__":
    main()
