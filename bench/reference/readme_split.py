#!/usr/bin/python3
"""Does the routing README's literal split reproduce its split-only figures?

Reference tooling only. The README's table gives, for RouterBench's three
tasks pooled and split "random 70/30 (seed 7)", the test part's best single
model quality 0.878, oracle 0.980 and single models' AIQ 0.824 (dcrouter:
0.617 / 0.801 / 0.573). bench/routers' BenchmarkREADMESplit emulated numpy
and scikit-learn in Go; this script asks real pandas 1.5 and scikit-learn 1.2
the same question, so that any parsing difference (NaN handling, the prompt
column's dtype, duplicated rows) shows up: for each plausible file order and
blank-row rule it reads the CSVs with pd.read_csv, concatenates them and
splits with train_test_split(test_size=0.3, random_state=7) (and with
df.sample(frac=..., random_state=7)), then prints the test part's figures.

Figures: best single = the highest per-model mean score over the test rows
(pandas' mean skips blanks); oracle = the mean over test rows of the row's
best score; single-model AIQ = the area under the non-decreasing upper
convex hull of the models' (mean total_cost, mean score) points between the
cheapest and dearest model's mean cost, divided by that span (as
internal/ml/eval computes it). dcrouter has no per-prompt cost, so only its
best single and oracle are printed.

The search over all 720 orders of the six RouterBench files takes about 15
minutes on two shared cores (pandas re-concatenates the prompts each time).

Usage: /usr/bin/python3 bench/reference/readme_split.py [--quick] [DATA_DIR]
(--quick skips the 720-order search)
(DATA_DIR defaults to ../shared/data/routing from the repository root).
"""

import glob
import itertools
import os
import sys

import pandas as pd
from sklearn.model_selection import train_test_split

README = {"routerbench": (0.878, 0.980, 0.824), "dcrouter": (0.617, 0.801, 0.573)}


def hull_aiq(points):
    """AIQ of (cost, quality) points over their own cost span."""
    lo, hi = min(c for c, _ in points), max(c for c, _ in points)
    pts = sorted(points, key=lambda p: (p[0], -p[1]))
    front = []
    for c, q in pts:
        if not front or q > front[-1][1]:
            if front and c == front[-1][0]:
                continue
            front.append((c, q))
    h = []
    for p in front:
        while len(h) >= 2:
            (ox, oy), (ax, ay) = h[-2], h[-1]
            if (ax - ox) * (p[1] - oy) - (ay - oy) * (p[0] - ox) >= 0:
                h.pop()
            else:
                break
        h.append(p)

    def at(c):
        if c < h[0][0]:
            return 0.0
        for (ax, ay), (bx, by) in zip(h, h[1:]):
            if c <= bx:
                return ay + (by - ay) * (c - ax) / (bx - ax)
        return h[-1][1]

    xs = sorted({lo, hi} | {c for c, _ in h if lo < c < hi})
    area = sum((at(a) + at(b)) / 2 * (b - a) for a, b in zip(xs, xs[1:]) if b > h[0][0])
    return area / (hi - lo)


def figures(test, models, costs):
    q = test[models].astype(float)
    best = q.mean().max()
    oracle = q.max(axis=1, skipna=True).mean()
    aiq = float("nan")
    if costs:
        pts = [(test[c].astype(float).mean(), test[m].astype(float).mean()) for m, c in zip(models, costs)]
        aiq = hull_aiq(pts)
    return best, oracle, aiq


def splits(df):
    _, te = train_test_split(df, test_size=0.3, random_state=7)
    yield "train_test_split", te
    tr = df.sample(frac=0.7, random_state=7)
    yield "sample-train0.7", df.drop(tr.index)
    yield "sample-test0.3", df.sample(frac=0.3, random_state=7)


def report(set_name, order, rule, test, models, costs):
    best, oracle, aiq = figures(test, models, costs)
    want = README[set_name]
    got = (round(best, 3), round(oracle, 3), round(aiq, 3))
    match = got[0] == want[0] and got[1] == want[1] and (not costs or got[2] == want[2])
    print(f"{set_name:11} {order:52} {rule:17} n_test={len(test):4}  best {best:.4f} oracle {oracle:.4f} aiq {aiq:.4f}{'  MATCH' if match else ''}")
    return match


def main():
    args = [a for a in sys.argv[1:] if a != "--quick"]
    quick = len(args) < len(sys.argv) - 1
    root = args[0] if args else os.path.join("..", "shared", "data", "routing")
    rb = os.path.join(root, "routerbench-zeroshot")
    files = sorted(glob.glob(os.path.join(rb, "*.csv")))
    if not files:
        raise SystemExit(f"no RouterBench CSVs under {rb}")
    frames = {os.path.basename(f)[:-4]: pd.read_csv(f) for f in files}
    first = next(iter(frames.values()))
    models = [c for c in first.columns if c not in ("Unnamed: 0", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to") and "|" not in c]
    costs = [m + "|total_cost" for m in models]
    matches = 0
    names = list(frames)
    orders = {"sorted glob": names}
    tasks = ["arc_challenge", "mbpp", "winograde"]
    orders["per task, train then test"] = [f"{t}_{p}" for t in tasks for p in ("train", "test")]
    orders["all train, then all test"] = [f"{t}_{p}" for p in ("train", "test") for t in tasks]
    orders["all test, then all train"] = [f"{t}_{p}" for p in ("test", "train") for t in tasks]
    for label, order in orders.items():
        df = pd.concat([frames[n] for n in order])
        for blank, d in (("kept", df), ("dropna(models)", df.dropna(subset=models))):
            for ignore in (False, True):
                dd = d.reset_index(drop=True) if ignore else d
                for rule, test in splits(dd):
                    matches += report("routerbench", f"{label}, blanks {blank}{', ignore_index' if ignore else ''}", rule, test, models, costs)
    # Every order of the six files, concat as pandas does by default.
    for perm in [] if quick else itertools.permutations(names):
        df = pd.concat([frames[n] for n in perm])
        for rule, test in splits(df):
            best, oracle, aiq = figures(test, models, costs)
            if (round(best, 3), round(oracle, 3), round(aiq, 3)) == README["routerbench"]:
                print("routerbench permutation match:", perm, rule)
                matches += 1
    dc = os.path.join(root, "llmrouter-dcrouter")
    tr, te = pd.read_json(os.path.join(dc, "train.json")), pd.read_json(os.path.join(dc, "test.json"))
    for label, df in (("train then test", pd.concat([tr, te])), ("test then train", pd.concat([te, tr])),
                      ("train then test, repeats dropped", pd.concat([tr, te[~te["question"].isin(tr["question"])]]))):
        sc = pd.DataFrame(list(df["scores"]), index=df.index)
        flat = pd.concat([df[["question"]], sc], axis=1)
        for ignore in (False, True):
            dd = flat.reset_index(drop=True) if ignore else flat
            for rule, test in splits(dd):
                matches += report("dcrouter", label + (", ignore_index" if ignore else ""), rule, test, list(sc.columns), None)
    print(f"{matches} matches")


if __name__ == "__main__":
    main()
