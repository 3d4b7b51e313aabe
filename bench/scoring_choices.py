#!/usr/bin/env python3
"""How the test-time scoring choices do on trained runs: the image score's pooling window and
test-time flips, each applied to the same trained weights (nothing is retrained).

For every run folder given (a trained run with its dataset still in place), sgsf_test scores the
test split once per variant (--score-pool N, --test-flip on|off); the script prints, per variant,
image AUROC / pixel AUROC / pixel AP as mean ± sd over the runs, and each run's image AUROC.
The variants: the paper's 21 x 21 window, the size rule (the odd size nearest 21 * size / 256,
sgsf_train's default), each with and without flips, and any other windows given with --pools.

    python3 bench/scoring_choices.py runs/quickstart-seeds/s0 runs/quickstart-seeds/s1 ... [--pools 3 11]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

KEYS = ('image_auroc', 'pixel_auroc', 'pixel_ap')


def size_rule(size):
    return 2 * (21 * size // 512) + 1


def score(build, run, pool, flip, out):
    subprocess.run([os.path.join(build, 'sgsf_test'), '--run', run, '--out', out, '--overlays', 'none', '--quiet',
                    '--score-pool', str(pool), '--test-flip', 'on' if flip else 'off'],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rep = json.load(open(os.path.join(out, 'report.json')))
    cat = rep['categories'][0] if 'categories' in rep else rep
    return [100 * cat[k] for k in KEYS]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('runs', nargs='+')
    ap.add_argument('--build', default='build')
    ap.add_argument('--pools', type=int, nargs='*', default=[], help='more windows to try (odd), without flips')
    args = ap.parse_args()
    sizes = {int(json.load(open(os.path.join(r, 'config.json')))['size']) for r in args.runs}
    assert len(sizes) == 1, 'the runs must share one input size, got %s' % sorted(sizes)
    size = sizes.pop()
    rule = size_rule(size)
    variants = [('paper: 21 x 21', 21, False), ('size rule: %d x %d' % (rule, rule), rule, False)]
    variants += [('%d x %d' % (p, p), p, False) for p in args.pools if p not in (21, rule)]
    variants += [('paper + flips', 21, True), ('size rule + flips', rule, True)]
    print('%d runs at %d x %d; image AUROC / pixel AUROC / pixel AP, mean ± sd; then each run\'s image AUROC'
          % (len(args.runs), size, size))
    with tempfile.TemporaryDirectory() as tmp:
        for name, pool, flip in variants:
            rows = [score(args.build, r, pool, flip, os.path.join(tmp, 'out')) for r in args.runs]
            cols = list(zip(*rows))
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
            print('%-22s %s   %s' % (name, ' / '.join('%.1f ± %.1f' % (statistics.mean(c), sd(c)) for c in cols),
                                     ' '.join('%.1f' % v for v in cols[0])), flush=True)


if __name__ == '__main__':
    main()
