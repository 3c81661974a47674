#!/usr/bin/python3
"""Feasibility analysis of the DGA target (issue 14): can any model of the registered domain
flag 90% of the char families' names at no more than 1 false positive per 10,000 benign
registered domains, with this data?

    tools/dga.d/analyse.py [--data DIR] [--model FILE] [--folds 5] [--skip-train] [--json]

It prints, reproducibly (fixed seeds, the split of tools/dga-train):

 1. Benign registered domains indistinguishable in kind from char-family output. A
    character model (interpolated 3-gram, trained on the training benign labels only) gives
    every label its randomness: bits per character. A benign registered domain is counted
    against a char family when it has the same label length, the same public suffix and the
    same alphabet (letters only; letters and digits; ...) as at least one of that family's
    names, and a randomness at least that family's median. Training-split benign labels are
    scored by 5-fold cross-fitting within the training split, so no label is scored by a
    model that saw it. Counted over all 57,398 benign registered domains and the held-out
    17,159.
 2. The shipped model's HIGH threshold and char HIGH if those benign names did not exist
    (thresholds re-set on the held-out benign minus them).
 3. The benign names at the top of the shipped model's held-out scores: the ones that set
    HIGH (1 allowed out of 17,159).
 4. (training) An in-sample ceiling of the feature set: the shipped trainer fitted on every
    benign and every DGA name, thresholds on all benign (5 allowed out of 57,398), evaluated
    on the same names.
 6. An upper bound on char HIGH for any model of the registered domain, from item 1's
    held-out counts, assuming a benign name counted against family F is like a name drawn
    from the more random half of F's names (same length, suffix and alphabet, at least F's
    median randomness): a model that flags a share r of F's held-out names flags at least
    2r - 1 of that half, so each of F's t held-out twins is flagged with probability at
    least 2r - 1, and at most n/10,000 of the n held-out benign may be. Per family
    r <= 1/2 + (n/10,000) / (2t) (each family alone given the whole allowance: looser than
    sharing it, so a true bound under the assumption); families without twins count whole.
 5. (training) k-fold thresholds: the benign registered domains are split by label into
    --folds folds; each fold is scored by a model trained on the other folds' benign names
    and the DGA training split; HIGH is the lowest score that at most 5 of the 57,398
    out-of-fold benign scores reach (the same rate as 1 in 17,159, a far steadier
    estimate); a held-out DGA name counts at a level by the mean, over the fold models, of
    whether it reaches it.

Items 4 and 5 train 1 + folds models of the shipped configuration (about a minute each on
this machine); --skip-train leaves them out.
"""

import argparse
import collections
import importlib.machinery
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_trainer():
    path = os.path.join(ROOT, "tools", "dga-train")
    loader = importlib.machinery.SourceFileLoader("dga_train", path)
    spec = importlib.util.spec_from_loader("dga_train", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


T = load_trainer()
SEED = 14
LEVELS = T.LEVELS


# ---- a character 3-gram model of benign labels -------------------------------------------

class CharModel:
    """Interpolated (absolute-discount-free, additive backoff) character 3-gram model over
    "^^label$": P(c|ab) = (n(abc) + A * P(c|b)) / (n(ab) + A), and so down to a uniform
    distribution over the 38 label characters and the end mark."""
    A = 2.0
    V = 39

    def __init__(self, labels):
        self.n3, self.n2, self.n1 = (collections.Counter() for _ in range(3))
        self.c2, self.c1 = collections.Counter(), collections.Counter()
        self.total = 0
        for lab in labels:
            s = "^^" + lab + "$"
            for i in range(2, len(s)):
                a, b, c = s[i - 2], s[i - 1], s[i]
                self.n3[a, b, c] += 1
                self.c2[a, b] += 1
                self.n2[b, c] += 1
                self.c1[b] += 1
                self.n1[c] += 1
                self.total += 1

    def bits(self, lab):
        """Bits per predicted character (the label's characters and its end)."""
        s = "^^" + lab + "$"
        tot = 0.0
        for i in range(2, len(s)):
            a, b, c = s[i - 2], s[i - 1], s[i]
            p1 = (self.n1[c] + 1.0) / (self.total + self.V)
            p2 = (self.n2[b, c] + self.A * p1) / (self.c1[b] + self.A)
            p3 = (self.n3[a, b, c] + self.A * p2) / (self.c2[a, b] + self.A)
            tot -= math.log2(p3)
        return tot / (len(s) - 2)


def alphabet(lab):
    d = any(c.isdigit() for c in lab)
    letter = any(c.isalpha() for c in lab)
    h = "-" in lab
    return ("L" if letter else "") + ("D" if d else "") + ("H" if h else "")


def folds_of(doms, k, tag):
    """Benign registered domains split by label into k folds (seeded)."""
    labels = sorted({lab for lab, _ in doms})
    random.Random("%d:%s:folds" % (SEED, tag)).shuffle(labels)
    fold = {lab: i % k for i, lab in enumerate(labels)}
    return [[d for d in sorted(doms) if fold[d[0]] == i] for i in range(k)]


def randomness(train_b, test_b, fams):
    """Bits per character of every benign and DGA registered domain's label: held-out benign
    and DGA names under the model of all training benign labels, training benign labels by
    5-fold cross-fitting inside the training split."""
    full = CharModel(sorted({lab for lab, _ in train_b}))
    r = {}
    for d in test_b:
        r[d] = full.bits(d[0])
    for i, part in enumerate(folds_of(train_b, 5, "charmodel")):
        held = {lab for lab, _ in part}
        m = CharModel(sorted({lab for lab, _ in train_b if lab not in held}))
        for d in part:
            r[d] = m.bits(d[0])
    fam_r = {}
    for fam, d in fams.items():
        fam_r[fam] = {x: full.bits(x[0]) for x in d["names"]}
    return r, fam_r


def indistinguishable(benign_r, fams, fam_r):
    """Per char family: the benign registered domains with a (length, suffix, alphabet) of
    the family's and a randomness at least the family's median."""
    out = {}
    for fam, d in sorted(fams.items()):
        if d["kind"] != "char":
            continue
        keys = {(len(lab), sfx, alphabet(lab)) for lab, sfx in d["names"]}
        med = statistics.median(fam_r[fam].values())
        hit = sorted(b for b, r in benign_r.items()
                     if (len(b[0]), b[1], alphabet(b[0])) in keys and r >= med)
        out[fam] = {"median_bits": med, "benign": hit}
    return out


def twin_bound(ind, held, fams, n_benign):
    """Item 6: the most char names (held out, counted as dga-train counts them) any model
    could flag at HIGH under item 6's assumption, per family and in all."""
    allow = n_benign / 10000.0
    rows, tot, best = [], 0, 0.0
    for fam, v in sorted(ind.items()):
        d = fams[fam]
        n = sum(len(d["names"][x]) for x in d["test"])
        t = sum(1 for b in v["benign"] if b in held)
        r = 1.0 if t == 0 else min(1.0, 0.5 + allow / (2 * t))
        rows.append((fam, n, t, r))
        tot += n
        best += r * n
    return rows, tot, best


# ---- thresholds and rates -----------------------------------------------------------------

def thresholds(benign_scores):
    """Lowest score at most len // per benign scores reach, per level (as dga-train)."""
    s = sorted(benign_scores, reverse=True)
    thr = []
    for _, per in LEVELS:
        k = len(s) // per
        # Just above the (k+1)-th highest: the next integer for integer scores, the next
        # float for log-odds.
        if k >= len(s):
            thr.append(s[-1])
        elif isinstance(s[k], int):
            thr.append(s[k] + 1)
        else:
            thr.append(math.nextafter(s[k], math.inf))
    for i in range(1, len(thr)):
        thr[i] = max(thr[i], thr[i - 1])
    return thr


def rates(thr, fams, score_of, which="test"):
    """Share of the names of each kind at each level (names, not registered domains, as
    dga-train counts them)."""
    tot = collections.defaultdict(lambda: [0, 0, 0, 0])
    for fam, d in fams.items():
        for x in d[which]:
            n = len(d["names"][x])
            t = tot[d["kind"]]
            t[0] += n
            for i, th in enumerate(thr):
                if score_of(x) >= th:
                    t[1 + i] += n
    return {k: {"names": v[0], "LOW": v[1] / v[0], "MEDIUM": v[2] / v[0], "HIGH": v[3] / v[0]}
            for k, v in tot.items()}


def fmt_rates(r, kinds=("char", "hex", "dict")):
    return "  ".join("%s %5.1f%% / %5.1f%% / %5.1f%%" % (k, 100 * r[k]["HIGH"],
                                                         100 * r[k]["MEDIUM"],
                                                         100 * r[k]["LOW"])
                     for k in kinds if k in r)


# ---- pluggable trainers -------------------------------------------------------------------

def linear_fit(train_b, fams_train, epochs):
    """The shipped trainer (tools/dga-train's train()) on train_b and, per family, the
    registered domains in fams_train[fam]["train"]; returns a scoring function."""
    m = T.train(train_b, fams_train, {"char", "hex", "dict", "other"}, epochs,
                log=open(os.devnull, "w"))
    # In log-odds: each model has its own quantization scale, and k-fold pools the scores of
    # several models.
    return lambda d: m.score(d) * m.scale


def kfold(fit, benign, fams, k):
    """Out-of-fold benign scores and, per fold model, the held-out DGA names' scores."""
    folds = folds_of(benign, k, "benign")
    oof = {}
    dga_scores = []
    for i, part in enumerate(folds):
        t0 = time.time()
        tr = [d for j, p in enumerate(folds) if j != i for d in p]
        score = fit(tr, fams)
        for d in part:
            oof[d] = score(d)
        s = {}
        for d in fams.values():
            for x in d["test"]:
                s[x] = score(x)
        dga_scores.append(s)
        print("  fold %d/%d: %.0fs" % (i + 1, k, time.time() - t0), file=sys.stderr)
    return oof, dga_scores


def kfold_rates(oof, dga_scores, fams):
    """Thresholds from the pooled out-of-fold benign scores; each held-out DGA name counts by
    the share of fold models that put it at the level."""
    thr = thresholds(list(oof.values()))
    tot = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for fam, d in fams.items():
        for x in d["test"]:
            n = len(d["names"][x])
            t = tot[d["kind"]]
            t[0] += n
            for i, th in enumerate(thr):
                t[1 + i] += n * sum(s[x] >= th for s in dga_scores) / len(dga_scores)
    top = sorted(oof, key=lambda d: -oof[d])[:12]
    return thr, {k: {"names": v[0], "LOW": v[1] / v[0], "MEDIUM": v[2] / v[0],
                     "HIGH": v[3] / v[0]} for k, v in tot.items()}, top


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=T.DEFAULT_DATA)
    ap.add_argument("--model", default=T.DEFAULT_MODEL, help="the shipped model to analyse")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=T.EPOCHS)
    ap.add_argument("--skip-train", action="store_true", help="leave out items 4 and 5")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    psl = T.load_psl()
    kinds, benign, families = T.load_data(a.data, psl)
    train_b, test_b, fams = T.make_split(kinds, benign, families)
    allb = sorted(set(train_b) | set(test_b))
    res = {"benign": len(allb), "held_out_benign": len(test_b)}
    out = []

    # 1. indistinguishable benign names
    br, fr = randomness(train_b, test_b, fams)
    ind = indistinguishable(br, fams, fr)
    held = set(test_b)
    union_all, union_held = set(), set()
    out.append("1. Benign registered domains indistinguishable in kind from a char family's "
               "output\n   (same label length, suffix and alphabet as one of its names; "
               "randomness >= its median)\n")
    out.append("   %-14s %8s %8s %8s  examples" % ("family", "median", "all", "held"))
    res["indistinguishable"] = {}
    for fam, v in ind.items():
        h = [b for b in v["benign"] if b in held]
        union_all.update(v["benign"])
        union_held.update(h)
        res["indistinguishable"][fam] = {"median_bits": round(v["median_bits"], 3),
                                         "all": len(v["benign"]), "held_out": len(h),
                                         "names": ["%s.%s" % b for b in v["benign"]]}
        ex = sorted(v["benign"], key=lambda b: -br[b])[:3]
        out.append("   %-14s %8.2f %8d %8d  %s" % (fam, v["median_bits"], len(v["benign"]),
                                                  len(h), ", ".join("%s.%s" % b for b in ex)))
    out.append("   %-14s %8s %8d %8d" % ("any family", "", len(union_all), len(union_held)))
    res["indistinguishable_any"] = {"all": len(union_all), "held_out": len(union_held)}

    # 6. the bound those twins put on any model (printed after item 3)
    rows, tot, best = twin_bound(ind, held, fams, len(test_b))
    bound_out = ["\n6. Upper bound on char HIGH for any model of the registered domain, from "
                 "item 1's held-out twins\n   (%d held-out benign: %.2f false positives "
                 "allowed; per family r <= 1/2 + allowed / (2 t))\n" % (len(test_b),
                                                                       len(test_b) / 10000.0)]
    bound_out.append("   %-14s %8s %8s %8s" % ("family", "names", "twins", "max r"))
    for fam, n, t, r in rows:
        bound_out.append("   %-14s %8d %8d %7.1f%%" % (fam, n, t, 100 * r))
    bound_out.append("   %-14s %8d %8s %7.1f%%  (the target: 90%%)" % ("all char", tot, "",
                                                                    100 * best / tot))
    res["bound"] = {"families": {f: {"names": n, "twins": t, "max_share": r}
                                 for f, n, t, r in rows},
                    "char_names": tot, "max_char_high": best / tot}

    # 2./3. the shipped model with and without them
    with open(a.model, "rb") as f:
        model = T.load_model(f.read())
    bsc = {d: model.score(d) for d in test_b}
    dsc = {}
    for d in fams.values():
        for x in d["test"]:
            dsc[x] = model.score(x)
    thr = thresholds(list(bsc.values()))
    r0 = rates(thr, fams, dsc.__getitem__)
    keep = [bsc[d] for d in test_b if d not in union_held]
    thr1 = thresholds(keep)
    r1 = rates(thr1, fams, dsc.__getitem__)
    out.append("\n2. The shipped model (HIGH / MEDIUM / LOW), thresholds on the %d held-out "
               "benign:" % len(test_b))
    out.append("   as shipped (HIGH from %d): %s" % (thr[2], fmt_rates(r0)))
    out.append("   without the %d held-out indistinguishable benign names (HIGH from %d): %s" %
               (len(union_held), thr1[2], fmt_rates(r1)))
    top = sorted(test_b, key=lambda d: -bsc[d])[:12]
    out.append("\n3. Held-out benign registered domains the shipped model scores highest "
               "(HIGH allows 1):")
    for d in top:
        out.append("   %9d  %s.%s%s" % (bsc[d], d[0], d[1],
                                        "  (indistinguishable)" if d in union_held else ""))
    out.extend(bound_out)
    res["shipped"] = {"thresholds": thr, "rates": r0, "without_indistinguishable": {
        "thresholds": thr1, "rates": r1}, "top_benign": ["%s.%s" % d for d in top]}

    if not a.skip_train:
        # 4. in-sample ceiling
        t0 = time.time()
        fams_all = {f: dict(d, train=sorted(d["names"]), test=sorted(d["names"]))
                    for f, d in fams.items()}
        score = linear_fit(allb, fams_all, a.epochs)
        thr = thresholds([score(d) for d in allb])
        r = rates(thr, fams_all, score)
        out.append("\n4. In-sample ceiling (the shipped trainer on all names, evaluated on "
                   "them; %d benign, HIGH allows %d, from %.3f): %s  (%.0fs)" %
                   (len(allb), len(allb) // 10000, thr[2], fmt_rates(r), time.time() - t0))
        res["in_sample"] = {"thresholds": thr, "rates": r}
        # 5. k-fold thresholds
        oof, ds = kfold(lambda tr, fm: linear_fit(tr, fm, a.epochs), allb, fams, a.folds)
        thr, r, top = kfold_rates(oof, ds, fams)
        out.append("\n5. %d-fold thresholds (%d out-of-fold benign scores, HIGH allows %d, "
                   "from %.3f): %s" % (a.folds, len(oof), len(oof) // 10000, thr[2], fmt_rates(r)))
        out.append("   out-of-fold benign scored highest: " +
                   ", ".join("%s.%s" % d for d in top))
        res["kfold"] = {"thresholds": thr, "rates": r, "top_benign": ["%s.%s" % d for d in top]}
        oof2 = {d: v for d, v in oof.items() if d not in union_all}
        thr2, r2, _ = kfold_rates(oof2, ds, fams)
        out.append("   without the %d indistinguishable benign names (HIGH from %.3f, allows %d): %s"
                   % (len(oof) - len(oof2), thr2[2], len(oof2) // 10000, fmt_rates(r2)))
        res["kfold"]["without_indistinguishable"] = {"thresholds": thr2, "rates": r2}

    if a.json:
        json.dump(res, sys.stdout, indent=1, sort_keys=True)
        print()
    else:
        print("\n".join(out))


if __name__ == "__main__":
    main()
