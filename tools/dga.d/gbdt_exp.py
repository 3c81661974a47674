#!/usr/bin/python3
"""Experiment (not shipped): gradient-boosted trees over dense features of the registered
domain, evaluated like tools/dga-train (held-out split, thresholds on held-out benign) and
with k-fold thresholds (tools/dga.d/analyse.py).

    tools/dga.d/gbdt_exp.py [--kfold 5] [--with-linear] [--trees N] [--depth D] ...

Features of a registered domain (label, suffix), all integers:
  length, digits, hyphens, vowels, longest consonant run, longest digit run, distinct
  characters, letter/digit switches, character classes used (bit set), the suffix's class
  (com/net/org, other generic, country code, private suffix, unknown), the suffix's
  smoothed log-ratio of DGA to benign training registered domains (x100), and the label's
  bits per character (x100) under a benign and under a DGA interpolated character 3-gram
  model trained on the training split, their difference, and the label's character entropy
  (x100). Training rows get the character-model and suffix figures by 5-fold cross-fitting,
  so the trees see the same kind of numbers they will see on unseen names.
"""

import argparse
import collections
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analyse as A  # noqa: E402

T = A.T
GENERIC = {"com", "net", "org", "info", "biz", "edu", "gov", "mil", "int"}


def suffix_class(sfx, psl_private):
    tld = sfx.rsplit(".", 1)[-1]
    if sfx in ("com", "net", "org"):
        return 0
    if sfx in psl_private:
        return 4
    if "." in sfx:
        return 5
    if tld in GENERIC:
        return 1
    if len(tld) == 2:
        return 2
    return 3


def entropy(lab):
    c = collections.Counter(lab)
    n = len(lab)
    return -sum(v / n * math.log2(v / n) for v in c.values())


def shape(lab):
    digits = hyph = vowels = run = best = drun = dbest = switches = 0
    prev = 0
    cls = 0
    for ch in lab:
        kind = 0
        if ch.isdigit():
            digits += 1
            kind = 2
            cls |= 1
            drun += 1
            dbest = max(dbest, drun)
        else:
            drun = 0
            if "a" <= ch <= "z":
                kind = 1
                if ch in "aeiou":
                    vowels += 1
                    cls |= 2
                else:
                    cls |= 4 if ch > "f" else 8
            else:
                hyph += 1
                cls |= 16
        if kind == 1 and ch not in "aeiou":
            run += 1
            best = max(best, run)
        else:
            run = 0
        if kind and prev and kind != prev:
            switches += 1
        if kind:
            prev = kind
    return [len(lab), digits, hyph, vowels, best, dbest, len(set(lab)), switches, cls]


class SuffixPrior:
    def __init__(self, benign, dga):
        self.b = collections.Counter(s for _, s in benign)
        self.d = collections.Counter(s for _, s in dga)
        self.nb, self.nd = len(benign), len(dga)

    def __call__(self, sfx):
        return int(round(100 * math.log(((self.d[sfx] + 0.5) / (self.nd + 1)) /
                                        ((self.b[sfx] + 0.5) / (self.nb + 1)))))


def fold_ids(doms, k, tag):
    labels = sorted({lab for lab, _ in doms})
    random.Random("%d:%s:xfit" % (A.SEED, tag)).shuffle(labels)
    f = {lab: i % k for i, lab in enumerate(labels)}
    return {d: f[d[0]] for d in doms}


class Featurizer:
    """Fitted on training benign and DGA registered domains."""

    def __init__(self, benign, dga, private):
        self.private = private
        self.cb = A.CharModel(sorted({lab for lab, _ in benign}))
        self.cd = A.CharModel(sorted({lab for lab, _ in dga}))
        self.sp = SuffixPrior(benign, dga)

    def row(self, d, cb=None, cd=None, sp=None):
        lab, sfx = d
        cb, cd, sp = cb or self.cb, cd or self.cd, sp or self.sp
        b = int(round(100 * cb.bits(lab)))
        g = int(round(100 * cd.bits(lab)))
        return shape(lab) + [suffix_class(sfx, self.private), sp(sfx), b, g, b - g,
                             int(round(100 * entropy(lab)))]


def training_rows(benign, dga, private, k=5):
    """Rows of the training registered domains with cross-fitted character models and suffix
    prior."""
    fb, fd = fold_ids(benign, k, "b"), fold_ids(dga, k, "d")
    rows = {}
    for i in range(k):
        bi = [d for d in benign if fb[d] != i]
        di = [d for d in dga if fd[d] != i]
        f = Featurizer(bi, di, private)
        for d in benign:
            if fb[d] == i:
                rows[d] = f.row(d)
        for d in dga:
            if fd[d] == i:
                rows[d] = f.row(d)
    return rows


def fit(train_b, fams, private, args):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    dga = []
    for fam, d in sorted(fams.items()):
        dga += d["train"]
    dga = sorted(set(dga) - set(train_b))
    rows = training_rows(train_b, dga, private)
    lin = None
    if args.with_linear:
        # The linear model's score as one more feature: cross-fitted for the training rows
        # (5 models of the version 2 configuration, each trained without a fifth), one trained
        # on this whole training split for unseen names. Held-out only.
        fb, fd = fold_ids(train_b, 5, "b"), fold_ids(dga, 5, "d")
        for i in range(5):
            bi = [d for d in train_b if fb[d] != i]
            fi = {"all": {"kind": "char", "train": [d for d in dga if fd[d] != i]}}
            m = T.train(bi, fi, {"char"}, T.EPOCHS, log=open(os.devnull, "w"))
            for d in train_b:
                if fb[d] == i:
                    rows[d] = rows[d] + [m.score(d)]
            for d in dga:
                if fd[d] == i:
                    rows[d] = rows[d] + [m.score(d)]
            print("  linear cross-fit %d/5" % (i + 1), file=sys.stderr)
        lin = T.train(train_b, fams, {"char", "hex", "dict", "other"}, T.EPOCHS,
                      log=open(os.devnull, "w"))
    X = np.array([rows[d] for d in train_b] + [rows[d] for d in dga], dtype=np.float64)
    y = np.array([0] * len(train_b) + [1] * len(dga))
    w = np.where(y == 0, args.neg_weight * len(y) / (2 * len(train_b)),
                 len(y) / (2 * len(dga)))
    clf = HistGradientBoostingClassifier(max_iter=args.trees, max_depth=args.depth,
                                         learning_rate=args.lr, max_leaf_nodes=None,
                                         min_samples_leaf=args.min_leaf, l2_regularization=1.0,
                                         early_stopping=False, random_state=A.SEED)
    clf.fit(X, y, sample_weight=w)
    feat = Featurizer(train_b, dga, private)

    def score(d):
        return score_many([d])[0]

    cache = {}

    def score_many(ds):
        todo = [d for d in ds if d not in cache]
        if todo:
            Xt = np.array([feat.row(d) + ([lin.score(d)] if lin else []) for d in todo],
                          dtype=np.float64)
            for d, s in zip(todo, clf.decision_function(Xt)):
                cache[d] = float(s)
        return [cache[d] for d in ds]
    score.many = score_many
    return score


def private_suffixes():
    priv = set()
    section = None
    with open(T.PSL_PATH, encoding="utf-8") as f:
        for line in f:
            if "BEGIN PRIVATE DOMAINS" in line:
                section = "p"
            if section == "p" and line.strip() and not line.startswith("//"):
                r = line.split()[0].lower().lstrip("*.!")
                priv.add(r)
    return priv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--min-leaf", type=int, default=20)
    ap.add_argument("--neg-weight", type=float, default=4.0)
    ap.add_argument("--kfold", type=int, default=0)
    ap.add_argument("--with-linear", action="store_true",
                    help="the shipped linear score as a feature (held-out only)")
    a = ap.parse_args()
    psl = T.load_psl()
    kinds, benign, families = T.load_data(T.DEFAULT_DATA, psl)
    train_b, test_b, fams = T.make_split(kinds, benign, families)
    priv = private_suffixes()
    t0 = time.time()
    score = fit(train_b, fams, priv, a)
    allx = list(test_b) + [x for d in fams.values() for x in d["test"]]
    score.many(allx)
    thr = A.thresholds([score(d) for d in test_b])
    r = A.rates(thr, fams, score)
    top = sorted(test_b, key=lambda d: -score(d))[:8]
    print("held-out: %s  (%.0fs)" % (A.fmt_rates(r), time.time() - t0))
    print("  top benign: " + ", ".join("%s.%s" % d for d in top))
    if a.kfold:
        def f2(tr, fm):
            s = fit(tr, fm, priv, a)
            s.many([d for d in test_b] + [x for d in fm.values() for x in d["test"]])
            return s
        allb = sorted(set(train_b) | set(test_b))

        # the out-of-fold benign are scored one by one through the cache; prefill by fold
        oof, ds = kfold_many(f2, allb, fams, a.kfold)
        thr, r, top = A.kfold_rates(oof, ds, fams)
        print("%d-fold: %s" % (a.kfold, A.fmt_rates(r)))
        print("  top benign: " + ", ".join("%s.%s" % d for d in top))


def kfold_many(fit2, benign, fams, k):
    folds = A.folds_of(benign, k, "benign")
    oof, dga_scores = {}, []
    for i, part in enumerate(folds):
        tr = [d for j, p in enumerate(folds) if j != i for d in p]
        s = fit2(tr, fams)
        for d, v in zip(part, s.many(part)):
            oof[d] = v
        xs = [x for d in fams.values() for x in d["test"]]
        dga_scores.append(dict(zip(xs, s.many(xs))))
        print("  fold %d/%d" % (i + 1, k), file=sys.stderr)
    return oof, dga_scores


if __name__ == "__main__":
    main()
