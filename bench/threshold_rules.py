#!/usr/bin/env python3
"""How candidate decision-threshold rules do on trained runs: false-positive rate and recall on the
labelled test images, for a threshold set from the held-out normal images only.

For every run folder given (a trained and tested run: <run>/calibration.csv holds the held-out
normal images' scores, <run>/test/scores.csv the test images' scores and labels), each rule sets a
threshold from the held-out scores alone; the script prints, per rule, the false-positive rate on
the normal test images and the recall on the defective ones, per run and as mean ± sd. The last
line per run is the best any threshold could do at that run's FPR (the test labels chosen the
threshold): the bound a rule can at most reach.

    python3 bench/threshold_rules.py runs/quickstart-seeds/s0 runs/quickstart-seeds/s1 ...
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


RULES = {
    'q99 + 0.5 (q99 - median)': lambda h: min(1.0, quantile(h, .99) + 0.5 * (quantile(h, .99) - statistics.median(h))),
    'maximum': lambda h: max(h),
    'q99': lambda h: quantile(h, .99),
    'q95': lambda h: quantile(h, .95),
    'q90': lambda h: quantile(h, .90),
    'median + 3 MAD': lambda h: statistics.median(h) + 3 * 1.4826 * mad(h),
    'mean + 2 sd': lambda h: statistics.mean(h) + 2 * statistics.stdev(h),
    'mean + 3 sd': lambda h: statistics.mean(h) + 3 * statistics.stdev(h),
}


def load(run):
    held = [float(r['score']) for r in csv.DictReader(open(f'{run}/calibration.csv'))]
    test = [(float(r['score']), r['label'] not in ('0', 'good', 'ok')) for r in csv.DictReader(open(f'{run}/test/scores.csv'))]
    return held, test


def rates(test, t):
    neg = [s for s, d in test if not d]
    pos = [s for s, d in test if d]
    return sum(s > t for s in neg) / len(neg), sum(s > t for s in pos) / len(pos)


def main():
    runs = sys.argv[1:]
    if not runs:
        sys.exit(__doc__)
    data = {run: load(run) for run in runs}
    print(f"{'rule':28} " + ' '.join(f'{run.rstrip("/").split("/")[-1]:>13}' for run in runs) + f" {'FPR mean±sd':>13} {'recall mean±sd':>15}")
    summary = {}
    for name, rule in RULES.items():
        cells, fprs, recalls = [], [], []
        for run in runs:
            held, test = data[run]
            t = rule(held)
            f, r = rates(test, t)
            fprs.append(100 * f)
            recalls.append(100 * r)
            cells.append(f'{100 * f:4.0f}/{100 * r:4.0f}%')
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        summary[name] = (statistics.mean(fprs), statistics.mean(recalls))
        print(f'{name:28} ' + ' '.join(f'{c:>13}' for c in cells) +
              f' {statistics.mean(fprs):6.1f}±{sd(fprs):<5.1f} {statistics.mean(recalls):8.1f}±{sd(recalls):<5.1f}')
    # The best recall any threshold reaches at FPR <= the maximum rule's FPR on each run (an oracle).
    cells = []
    for run in runs:
        held, test = data[run]
        f_max, _ = rates(test, max(held))
        best = max((rates(test, s)[1], s) for s, _ in test + [(1.0, False)] if rates(test, s)[0] <= f_max)[0]
        cells.append(f'{100 * f_max:4.0f}/{100 * best:4.0f}%')
    print(f"{'(labels: best at max FPR)':28} " + ' '.join(f'{c:>13}' for c in cells))
    print('cells: FPR on the normal test images / recall on the defective ones')


if __name__ == '__main__':
    main()
