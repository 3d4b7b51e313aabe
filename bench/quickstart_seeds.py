#!/usr/bin/env python3
"""The quick start's table over seeds: what a new user should expect from `bash apps/quickstart.sh`.

Trains the quick start's configuration (`sgsf_train --preset tiny` on the built-in dataset; with
`--config tire`, the MVTec 3D-AD tire of the shared data at w = 16, 128², batch 8, 1,500
iterations with DTD textures, calibrated on its validation/good) once per seed, tests each run, and prints every seed's six metrics with their mean and sample standard
deviation. A single run is bit-reproducible only on the same CPU and build (`-march=native` and
the thread count change the floating-point order); the mean ± standard deviation is what carries
over to another machine.

Results are appended to <out>/results.jsonl as they finish; a rerun skips seeds already there.

Usage (from the repository root, after building):
  python3 bench/quickstart_seeds.py --seeds 0 1 2 3 4 [--build build] [--out runs/quickstart-seeds]
  python3 bench/quickstart_seeds.py --config tire --seeds 0 1 2 [--out runs/tire-seeds]
  python3 bench/quickstart_seeds.py --precision bf16 --seeds 0 1 2 3 4 --out runs/quickstart-seeds-bf16
  python3 bench/quickstart_seeds.py --report
"""
import argparse
import json
import os
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared', 'data')
CONFIGS = {
    'quickstart': ['--preset', 'tiny'],
    'tire': ['--data', os.path.join(SHARED, 'mvtec3d_tire_rgb'), '--category', 'tire',
             '--aux', os.path.join(SHARED, 'dtd_subset', 'images'), '--width', '16', '--size', '128', '--batch', '8',
             '--iterations', '1500'],
}
KEYS = [('image_auroc', 'AUROC_det'), ('pixel_auroc', 'AUROC_loc'), ('pixel_ap', 'AP_loc'),
        ('aupro', 'AUPRO'), ('image_f1_max', 'F1max'), ('image_ap', 'AP_det')]


def run_seed(build, out, seed, config, precision):
    run = os.path.join(out, f's{seed}')
    with open(os.path.join(out, f's{seed}.log'), 'w') as log:
        for cmd in ([os.path.join(build, 'sgsf_train')] + CONFIGS[config] + (['--precision', precision] if precision != 'fp32' else []) + ['--seed', str(seed), '--overwrite', '--out', run],
                    [os.path.join(build, 'sgsf_test'), '--run', run, '--overlays', 'none']):
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    cat = json.load(open(os.path.join(run, 'test', 'report.json')))['categories'][0]
    return {k: 100 * cat[k] for k, _ in KEYS}


def report(path):
    rows = sorted((json.loads(l) for l in open(path)), key=lambda r: r['seed']) if os.path.exists(path) else []
    print('| seed | ' + ' | '.join(name for _, name in KEYS) + ' |')
    print('| ---: |' + ' ---: |' * len(KEYS))
    for r in rows:
        print(f"| {r['seed']} | " + ' | '.join(f'{r[k]:.1f}' for k, _ in KEYS) + ' |')
    if len(rows) >= 2:
        print(f'| mean ± sd ({len(rows)}) | ' +
              ' | '.join(f'{statistics.mean(r[k] for r in rows):.1f} ± {statistics.stdev(r[k] for r in rows):.1f}'
                         for k, _ in KEYS) + ' |')


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', type=int, nargs='*', default=[])
    ap.add_argument('--config', choices=sorted(CONFIGS), default='quickstart')
    ap.add_argument('--precision', default='fp32', help='sgsf_train --precision (fp32, bf16, ...)')
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--out', help='default: runs/quickstart-seeds, or runs/<config>-seeds')
    ap.add_argument('--report', action='store_true', help='only print the table of the results so far')
    args = ap.parse_args()
    args.out = args.out or os.path.join(REPO, 'runs', f'{args.config}-seeds')
    os.makedirs(args.out, exist_ok=True)
    results = os.path.join(args.out, 'results.jsonl')
    if not args.report:
        done = {json.loads(l)['seed'] for l in open(results)} if os.path.exists(results) else set()
        for seed in args.seeds:
            if seed in done:
                continue
            t = time.time()
            row = dict(seed=seed, **run_seed(os.path.abspath(args.build), args.out, seed, args.config, args.precision))
            row['seconds'] = round(time.time() - t)
            with open(results, 'a') as f:
                f.write(json.dumps(row) + '\n')
            print(json.dumps(row), flush=True)
    report(results)
