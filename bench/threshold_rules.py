#!/usr/bin/env python3
"""How candidate decision-threshold rules do on trained runs: false-positive rate and recall on the
labelled test images, for a threshold set from the held-out normal images only.

For every run folder given (a trained and tested run: <run>/calibration.csv holds the held-out
normal images' scores and those of anomalies forged on them, <run>/test/scores.csv the test images'
scores and labels), each rule sets a threshold from the calibration scores alone; the script prints, per rule, the false-positive rate on
the normal test images and the recall on the defective ones, per run and as mean ± sd. The last
line per run is the best any threshold could do at that run's FPR (the test labels chosen the
threshold): the bound a rule can at most reach.

    python3 bench/threshold_rules.py [--markdown] runs/quickstart-seeds/s0 runs/quickstart-seeds/s1 ...
"""
import csv
import statistics
import sys


def quantile(v, q):  # linear interpolation, numpy's default
    v = sorted(v)
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def mad(v):
    m = statistics.median(v)
    return statistics.median([abs(x - m) for x in v])


def gaussian_crossing(h, f):
    """Where the normal densities fitted to the normal and forged scores cross (equal priors), between
    the two means; the midpoint of the means when the fit is degenerate."""
    import math
    mh, mf = statistics.mean(h), statistics.mean(f)
    sh, sf = max(statistics.pstdev(h), 1e-6), max(statistics.pstdev(f), 1e-6)
    if mf <= mh:
        return (mh + mf) / 2
    # log N(x; mh, sh) = log N(x; mf, sf)  ->  a x^2 + b x + c = 0
    a = 1 / (2 * sf * sf) - 1 / (2 * sh * sh)
    b = mh / (sh * sh) - mf / (sf * sf)
    c = mf * mf / (2 * sf * sf) - mh * mh / (2 * sh * sh) + math.log(sf / sh)
    if abs(a) < 1e-12:
        roots = [-c / b]
    else:
        d = b * b - 4 * a * c
        if d < 0:
            return (mh + mf) / 2
        roots = [(-b + s * math.sqrt(d)) / (2 * a) for s in (1, -1)]
    between = [r for r in roots if mh <= r <= mf]
    return between[0] if between else (mh + mf) / 2


def balanced(h, f):
    """The threshold that best separates normal from forged (most of (1 - FPR) + recall on them), the
    middle of the best interval."""
    cand = sorted(set(h + f))
    mids = [(a + b) / 2 for a, b in zip(cand, cand[1:])] or cand
    best = max(mids, key=lambda t: (sum(x <= t for x in h) / len(h) + sum(x > t for x in f) / len(f)))
    return best


# Each rule sets the threshold from the held-out normal scores h and the forged scores f alone.
RULES = {
    'spread: q99 + 0.5 (q99 - median) (the former default)': lambda h, f: min(1.0, quantile(h, .99) + 0.5 * (quantile(h, .99) - statistics.median(h))),
    'maximum': lambda h, f: max(h),
    'target-fpr 0.05: q95': lambda h, f: quantile(h, .95),
    'target-fpr 0.10: q90': lambda h, f: quantile(h, .90),
    'median + 3 MAD': lambda h, f: statistics.median(h) + 3 * 1.4826 * mad(h),
    'mean + 2 sd': lambda h, f: statistics.mean(h) + 2 * statistics.stdev(h),
    'mean + 3 sd': lambda h, f: statistics.mean(h) + 3 * statistics.stdev(h),
    'forged: q10 of the forged (the default)': lambda h, f: quantile(f, .10),
    'forged: q20': lambda h, f: quantile(f, .20),
    'forged: q30': lambda h, f: quantile(f, .30),
    'forged: balanced': balanced,
    'forged: gaussian crossing': gaussian_crossing,
    'forged: mid(max h, median f)': lambda h, f: (max(h) + statistics.median(f)) / 2,
    'forged: mid(median h, median f)': lambda h, f: (statistics.median(h) + statistics.median(f)) / 2,
    'forged: max(q10 f, max h)': lambda h, f: max(quantile(f, .10), max(h)),
    'forged: min(q20 f, spread)': lambda h, f: min(quantile(f, .20), quantile(h, .99) + 0.5 * (quantile(h, .99) - statistics.median(h))),
}


def load(run):
    rows = list(csv.DictReader(open(f'{run}/calibration.csv')))
    held = [float(r['score']) for r in rows if r.get('kind', 'normal') == 'normal']
    forged = [float(r['score']) for r in rows if r.get('kind') == 'forged']
    test = [(float(r['score']), r['label'] not in ('0', 'good', 'ok')) for r in csv.DictReader(open(f'{run}/test/scores.csv'))]
    return held, forged, test


def rates(test, t):
    neg = [s for s, d in test if not d]
    pos = [s for s, d in test if d]
    return sum(s > t for s in neg) / len(neg), sum(s > t for s in pos) / len(pos)


def main():
    runs = [a for a in sys.argv[1:] if a != '--markdown']
    markdown = '--markdown' in sys.argv[1:]
    if not runs:
        sys.exit(__doc__)
    data = {run: load(run) for run in runs}
    print(f"{'rule':40} " + ' '.join(f'{run.rstrip("/").split("/")[-1]:>13}' for run in runs) + f" {'FPR mean±sd':>13} {'recall mean±sd':>15}")
    summary = {}
    md = ['| rule | ' + ' | '.join(run.rstrip('/').split('/')[-1] for run in runs) +
          ' | FPR % mean ± sd | recall % mean ± sd | lowest recall | highest FPR | goal |',
          '| --- |' + ' ---: |' * (len(runs) + 5)]
    for name, rule in RULES.items():
        cells, fprs, recalls = [], [], []
        for run in runs:
            held, forged, test = data[run]
            t = rule(held, forged)
            f, r = rates(test, t)
            fprs.append(100 * f)
            recalls.append(100 * r)
            cells.append(f'{100 * f:4.0f}/{100 * r:4.0f}%')
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        summary[name] = (statistics.mean(fprs), statistics.mean(recalls))
        verdict = (statistics.mean(recalls) >= 70 and statistics.mean(fprs) <= 10 and min(recalls) >= 40
                   and max(fprs) <= 20)
        if markdown:
            md.append(f'| {name} | ' + ' | '.join(c.replace('/', ' /').replace('%', '') for c in cells) +
                      f' | {statistics.mean(fprs):.1f} ± {sd(fprs):.1f} | {statistics.mean(recalls):.1f} ± {sd(recalls):.1f}'
                      f' | {min(recalls):.0f} | {max(fprs):.0f} | {"yes" if verdict else "no"} |')
        print(f'{name:40} ' + ' '.join(f'{c:>13}' for c in cells) +
              f' {statistics.mean(fprs):6.1f}±{sd(fprs):<5.1f} {statistics.mean(recalls):8.1f}±{sd(recalls):<5.1f}'
              f'  goal {"met" if verdict else "not met"}')
    # The best recall any threshold reaches at FPR <= the maximum rule's FPR on each run (an oracle).
    cells = []
    for run in runs:
        held, _, test = data[run]
        f_max, _ = rates(test, max(held))
        best = max((rates(test, s)[1], s) for s, _ in test + [(1.0, False)] if rates(test, s)[0] <= f_max)[0]
        cells.append(f'{100 * f_max:4.0f}/{100 * best:4.0f}%')
    print(f"{'(labels: best at max FPR)':40} " + ' '.join(f'{c:>13}' for c in cells))
    # The best recall any threshold reaches at FPR <= 10 % (the goal's FPR), by the test labels.
    cells = []
    for run in runs:
        _, _, test = data[run]
        ok = [(rates(test, s)[1], rates(test, s)[0]) for s, _ in test + [(1.0, False)] if rates(test, s)[0] <= 0.10]
        r, f = max(ok)
        cells.append(f'{100 * f:4.0f}/{100 * r:4.0f}%')
    print(f"{'(labels: best at FPR <= 10 %)':40} " + ' '.join(f'{c:>13}' for c in cells))
    if markdown:
        md.append('| (the test labels: best recall at FPR ≤ 10 %) | ' + ' | '.join(c.replace('/', ' /').replace('%', '') for c in cells) + ' | | | | | |')
    print('cells: FPR on the normal test images / recall on the defective ones; goal: mean recall >= 70 % at mean '
          'FPR <= 10 %, no run below 40 % recall or above 20 % FPR')
    if markdown:
        print('\n'.join(md))


if __name__ == '__main__':
    main()
