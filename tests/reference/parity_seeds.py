#!/usr/bin/env python3
"""Detection quality over seeds, the project beside the PyTorch reference, on one configuration.

For each seed it trains and tests the project (sgsf_train + sgsf_test) and the reference
(shared/reference/torch_sgsf_train.py) with the same data, textures, width, size, batch,
iterations, saliency and contrast-set refresh, then prints every seed's image AUROC, pixel AUROC
and pixel AP with each side's mean and standard deviation, and the parity verdict: ours is at
parity when each of our means is at least the reference's mean minus one standard deviation.
Results are appended to <out>/results.jsonl (JSON lines) as they finish, so an interrupted sweep
keeps what it has and a rerun skips the seeds already there. The sweeps measured so far are kept in
tests/reference/results/<config>.jsonl: copy one to runs/parity-<config>/results.jsonl to continue
that sweep or print its table with --report.

Usage (from the repository root; Debian's python3 with python3-torch for the reference side):
  python3 tests/reference/parity_seeds.py --config builtin-tiny --seeds 0 1 2 3 4
  python3 tests/reference/parity_seeds.py --config tire --seeds 0 1 2
  python3 tests/reference/parity_seeds.py --config tire --side ours --seeds 0 1 2   # one side only
  python3 tests/reference/parity_seeds.py --config tire --report                    # table only
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, '..', 'shared')
DTD = os.path.join(SHARED, 'data', 'dtd_subset', 'images')

# name -> (data folder, width, size, batch, iterations, contrast refresh in epochs)
CONFIGS = {
    'builtin-tiny': ('runs/builtin-data/widget', 8, 64, 16, 1500, 1),
    'tire': (os.path.join(SHARED, 'data', 'mvtec3d_tire_rgb', 'tire'), 16, 128, 8, 1500, 1),
}


def sh(cmd, log):
    with open(log, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)


def same_scoring(train):
    """sgsf_train arguments that make our image score the reference's: a 21 x 21 mean pool at every
    size. Builds from before --score-pool existed always pooled 21 x 21 and take no argument."""
    usage = subprocess.run([train, '--help'], capture_output=True, text=True)
    return ['--score-pool', '21'] if '--score-pool' in usage.stdout + usage.stderr else []


def run_ours(cfg, seed, out, log, extra):
    # --holdout 0: the reference trains on every training image, so ours does too (no calibration
    # hold-out; a layout with validation/good is calibrated on that folder without touching training)
    data, w, s, b, iters, refresh = cfg
    run = os.path.join(out, f'ours-s{seed}')
    train = os.path.join(args.build, 'sgsf_train')
    sh([train, '--data', data, '--aux', DTD, '--width', str(w), '--size', str(s),
        '--batch', str(b), '--iterations', str(iters), '--saliency', 'border', '--contrast-refresh', str(refresh),
        '--seed', str(seed), '--holdout', '0', '--overwrite', '--out', run] + same_scoring(train) + extra, log)
    sh([os.path.join(args.build, 'sgsf_test'), '--run', run, '--overlays', 'none'], log)
    rep = json.load(open(os.path.join(run, 'test', 'report.json')))
    cat = rep['categories'][0] if 'categories' in rep else rep
    return {k: 100 * cat[k] for k in ('image_auroc', 'pixel_auroc', 'pixel_ap')}


def run_ref(cfg, seed, out, log):
    data, w, s, b, iters, refresh = cfg
    res = os.path.join(out, f'ref-s{seed}.json')
    sh([args.python, os.path.join(SHARED, 'reference', 'torch_sgsf_train.py'), '--data', data, '--aux', DTD,
        '--width', str(w), '--size', str(s), '--batch', str(b), '--iters', str(iters), '--saliency', 'border',
        '--contrast-refresh', str(refresh), '--seed', str(seed), '--out', res,
        '--save', os.path.join(out, f'ref-s{seed}.pt')]
       + (['--threads', str(args.ref_threads)] if args.ref_threads else []), log)
    m = json.load(open(res))['metrics']
    return {k: 100 * m[k] for k in ('image_auroc', 'pixel_auroc', 'pixel_ap')}


def auroc(pos, neg):
    """Area under the ROC curve of scores pos (label 1) against neg (label 0): the probability that a
    positive outranks a negative, ties counted half (the Mann-Whitney statistic)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return 100.0 * wins / (len(pos) * len(neg))


def image_scores(out, side, seed):
    """{'<defect>/<file>': score} of one finished run, or None when its files are gone."""
    if side == 'ours':
        path = os.path.join(out, f'ours-s{seed}', 'test', 'scores.csv')
        if not os.path.exists(path):
            return None
        import csv
        # paths are test/<defect>/<file>
        return {'/'.join(r['path'].split('/')[-2:]): float(r['score']) for r in csv.DictReader(open(path))}
    path = os.path.join(out, f'ref-s{seed}.json')
    return json.load(open(path)).get('image_scores') if os.path.exists(path) else None


def per_defect(out, rows):
    """Image AUROC of each defect type against the good test images, per side (mean over the seeds
    whose score files are still in <out>): where the two sides rank images differently."""
    table = {}
    for r in rows:
        sc = image_scores(out, r['side'], r['seed'])
        if not sc:
            continue
        good = [v for k, v in sc.items() if k.startswith('good/')]
        for d in sorted({k.split('/')[0] for k in sc} - {'good'}):
            table.setdefault(d, {}).setdefault(r['side'], []).append(
                auroc([v for k, v in sc.items() if k.startswith(d + '/')], good))
    if not table:
        return
    print('\nimage AUROC per defect type against the good images (mean over the seeds with score files kept, count)')
    print('| defect | reference | ours |\n| --- | ---: | ---: |')
    for d, sides in table.items():
        cell = lambda v: f'{statistics.mean(v):.1f} ({len(v)})' if v else '-'
        print(f"| {d} | {cell(sides.get('reference', []))} | {cell(sides.get('ours', []))} |")


def report(path):
    rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    keys = ('image_auroc', 'pixel_auroc', 'pixel_ap')
    print(f'| side | seed | image AUROC | pixel AUROC | pixel AP |\n| --- | ---: | ---: | ---: | ---: |')
    stats = {}
    for side in ('reference', 'ours'):
        rs = sorted((r for r in rows if r['side'] == side), key=lambda r: r['seed'])
        for r in rs:
            print(f"| {side} | {r['seed']} | " + ' | '.join(f"{r[k]:.1f}" for k in keys) + ' |')
        if len(rs) >= 2:
            stats[side] = {k: (statistics.mean(r[k] for r in rs), statistics.stdev(r[k] for r in rs)) for k in keys}
            print(f'| {side} | mean ± sd ({len(rs)}) | ' +
                  ' | '.join(f'{m:.1f} ± {d:.1f}' for m, d in stats[side].values()) + ' |')
    if len(stats) == 2:
        ok = {k: stats['ours'][k][0] >= stats['reference'][k][0] - stats['reference'][k][1] for k in keys}
        print('parity (our mean >= reference mean - 1 sd): ' +
              ', '.join(f"{k} {'yes' if v else 'NO'}" for k, v in ok.items()))
    per_defect(os.path.dirname(path), rows)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', choices=sorted(CONFIGS), required=True)
    ap.add_argument('--seeds', type=int, nargs='*', default=[])
    ap.add_argument('--side', choices=['both', 'ours', 'reference'], default='both')
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--python', default='/usr/bin/python3', help="Debian's python3 (with python3-torch)")
    ap.add_argument('--ref-threads', type=int, default=0,
                    help="the reference's torch threads (default: its own, 2); 1 lets two seeds share two cores")
    ap.add_argument('--out', default=None, help='default: runs/parity-<config>')
    ap.add_argument('--report', action='store_true', help='only print the table of the results so far')
    ap.add_argument('--ours-flag', action='append', default=[], help='extra sgsf_train argument (repeatable)')
    ap.add_argument('--tag', default='', help='label for results of a variant (e.g. a flag being tried)')
    args = ap.parse_args()
    cfg = CONFIGS[args.config]
    out = os.path.abspath(args.out or os.path.join(REPO, 'runs', f'parity-{args.config}{args.tag}'))
    os.makedirs(out, exist_ok=True)
    results = os.path.join(out, 'results.jsonl')
    if not args.report:
        if args.config == 'builtin-tiny' and not os.path.exists(os.path.join(REPO, cfg[0])):
            # sgsf_train without --data generates the built-in dataset next to its --out folder
            subprocess.run([os.path.join(args.build, 'sgsf_train'), '--iterations', '1', '--overwrite', '--out',
                            os.path.join(REPO, 'runs', 'builtin-gen')], check=True, cwd=REPO)
        done = set()
        if os.path.exists(results):
            done = {(r['side'], r['seed']) for r in map(json.loads, open(results))}
        for seed in args.seeds:
            for side in (('reference', 'ours') if args.side == 'both' else (args.side,)):
                if (side, seed) in done:
                    continue
                t = time.time()
                log = os.path.join(out, f'{side}-s{seed}.log')
                m = run_ours(cfg, seed, out, log, args.ours_flag) if side == 'ours' else run_ref(cfg, seed, out, log)
                row = dict(side=side, seed=seed, seconds=round(time.time() - t), **m)
                with open(results, 'a') as f:
                    f.write(json.dumps(row) + '\n')
                print(json.dumps(row), flush=True)
    report(results)
